//! The lease expiry loop: a thread that periodically asks the writer to
//! revoke leases past their deadline (which deletes their keys exactly like
//! a client's revoke).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::error::StoreError;

use super::shared::Shared;
use super::writer::WriteCmd;
use super::writer_handle::WriterHandle;

pub fn run(shared: Arc<Shared>, writer: WriterHandle) {
    let interval = shared.options.lease_check_interval;
    loop {
        std::thread::park_timeout(interval);
        if shared.shutdown.load(Ordering::Acquire) {
            break;
        }
        let expired = shared.lessor().take_expired(Instant::now());
        for id in expired {
            let (reply, answer) = oneshot::channel();
            if writer.submit(WriteCmd::LeaseRevoke { id, reply }).is_err() {
                return;
            }
            match answer.blocking_recv() {
                Ok(Ok(header)) => {
                    tracing::debug!(lease = id, revision = header.revision, "lease expired");
                }
                Ok(Err(StoreError::LeaseNotFound)) => {}
                Ok(Err(err)) => {
                    tracing::warn!(lease = id, %err, "revoking an expired lease failed");
                    shared.lessor().revoke_failed(id);
                }
                Err(_) => return,
            }
        }
    }
}
