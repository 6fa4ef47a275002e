//! Lock helpers shared by the store's modules.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, going on with its data if a holder panicked: every
/// holder leaves the data consistent between statements that can panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
