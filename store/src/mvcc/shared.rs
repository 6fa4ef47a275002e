//! The state every part of the engine shares: the RocksDB backend, the
//! published key index and revisions, the lessor, the event log and the
//! revision signal watchers wait on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::watch;

use crate::error::StoreError;
use crate::kv::ResponseHeader;

use super::backend::Backend;
use super::eventlog::EventLog;
use super::lease::Lessor;
use super::options::EngineOptions;
use super::view::State;

pub struct Shared {
    pub backend: Backend,
    pub state: RwLock<State>,
    pub lessor: Mutex<Lessor>,
    pub log: EventLog,
    /// The published revision; changes after the log holds its events.
    pub published: watch::Receiver<i64>,
    pub options: EngineOptions,
    pub cluster_id: u64,
    pub member_id: u64,
    /// The raft term reported in headers (set by the replication layer).
    pub term: AtomicU64,
    /// Set when a durable write failed: the engine refuses further writes.
    pub poisoned: OnceLock<StoreError>,
    pub shutdown: AtomicBool,
}

impl Shared {
    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member_id,
            revision,
            raft_term: self.term.load(Ordering::Relaxed),
        }
    }

    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lessor(&self) -> MutexGuard<'_, Lessor> {
        self.lessor.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn current_rev(&self) -> i64 {
        self.state().rev
    }
}
