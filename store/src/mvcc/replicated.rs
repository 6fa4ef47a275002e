//! What a replication layer needs from the engine: applying log entries in
//! order with their [`LogMark`] in the same batch, reading back the last
//! mark on start, dumping and installing snapshots, and the leader's part
//! of lease expiry (finding expired leases, refreshing deadlines when it
//! takes over).

use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::error::StoreError;

pub use super::backend::Dump;
use super::backend::{META_LOG_APPLIED, META_LOG_MEMBERSHIP};
use super::engine::{Engine, blocking};
use super::op::{LogMark, WriteOp, WriteResult};
use super::recovery;
use super::revision::Revision;
use super::writer::WriteCmd;
use crate::kv::{
    CompactResponse, DeleteRangeResponse, LeaseGrantResponse, PutResponse, ResponseHeader,
    TxnResponse,
};

/// The writer's typed answer to one logged command.
enum Pending {
    Mark(Receiver<()>),
    Put(Receiver<PutResponse>),
    Delete(Receiver<DeleteRangeResponse>),
    Txn(Receiver<TxnResponse>),
    LeaseGrant(Receiver<LeaseGrantResponse>),
    LeaseRevoke(Receiver<ResponseHeader>),
    Compact(Receiver<(ResponseHeader, Vec<Revision>)>),
}

type Receiver<T> = oneshot::Receiver<Result<T, StoreError>>;

async fn wait<T>(rx: Receiver<T>) -> Result<Result<T, StoreError>, StoreError> {
    rx.await
        .map_err(|_| StoreError::Backend("store writer stopped".to_string()))
}

impl Engine {
    /// Applies log entries in order: `Some(op)` entries change the store,
    /// `None` entries only move the mark. Each answer is the op's own
    /// result (a refused op is still applied: it changed nothing
    /// everywhere). `Err` means the engine itself failed.
    pub async fn apply_logged(
        &self,
        entries: Vec<(Option<WriteOp>, LogMark)>,
    ) -> Result<Vec<Result<WriteResult, StoreError>>, StoreError> {
        let mut pending = Vec::with_capacity(entries.len());
        for (op, mark) in entries {
            let (cmd, answer) = match op {
                None => {
                    let (reply, rx) = oneshot::channel();
                    (WriteCmd::Mark { mark, reply }, Pending::Mark(rx))
                }
                Some(op) => {
                    let (cmd, answer) = op_cmd(op);
                    (
                        WriteCmd::Logged {
                            cmd: Box::new(cmd),
                            mark,
                        },
                        answer,
                    )
                }
            };
            self.writer
                .send(cmd)
                .map_err(|_| StoreError::Backend("store is shut down".to_string()))?;
            pending.push(answer);
        }
        let mut out = Vec::with_capacity(pending.len());
        for answer in pending {
            let result = match answer {
                Pending::Mark(rx) => wait(rx).await?.map(|()| WriteResult::None),
                Pending::Put(rx) => wait(rx).await?.map(WriteResult::Put),
                Pending::Delete(rx) => wait(rx).await?.map(WriteResult::Delete),
                Pending::Txn(rx) => wait(rx).await?.map(WriteResult::Txn),
                Pending::LeaseGrant(rx) => wait(rx).await?.map(WriteResult::LeaseGrant),
                Pending::LeaseRevoke(rx) => wait(rx).await?.map(WriteResult::LeaseRevoke),
                Pending::Compact(rx) => match wait(rx).await? {
                    Ok((header, removed)) => {
                        let shared = self.shared.clone();
                        blocking(move || recovery::remove_records(&shared.backend, &removed))
                            .await?;
                        Ok(WriteResult::Compact(CompactResponse { header }))
                    }
                    Err(err) => Err(err),
                },
            };
            // The engine failing is not an answer to the op: stop applying.
            if let Err(StoreError::Backend(msg)) = &result {
                return Err(StoreError::Backend(msg.clone()));
            }
            out.push(result);
        }
        Ok(out)
    }

    /// The last applied entry's mark (`applied` empty when none).
    pub fn log_mark(&self) -> Result<Option<LogMark>, StoreError> {
        let applied = self.shared.backend.meta_bytes(META_LOG_APPLIED)?;
        let membership = self.shared.backend.meta_bytes(META_LOG_MEMBERSHIP)?;
        Ok(applied.map(|applied| LogMark {
            applied,
            membership,
        }))
    }

    /// A consistent dump of the whole store (with its mark), after making
    /// every applied entry durable.
    pub async fn snapshot(&self) -> Result<Dump, StoreError> {
        let shared = self.shared.clone();
        blocking(move || {
            shared.backend.sync()?;
            shared.backend.dump()
        })
        .await
    }

    /// Replaces the store with a [`Engine::snapshot`] taken elsewhere.
    pub async fn install_snapshot(&self, data: Vec<u8>) -> Result<(), StoreError> {
        self.send(|reply| WriteCmd::Install { data, reply }).await
    }

    /// Leases past their deadline, marked as being revoked.
    pub fn take_expired_leases(&self) -> Vec<i64> {
        self.shared.lessor().take_expired(Instant::now())
    }

    /// A revoke proposed for an expired lease did not happen.
    pub fn lease_revoke_failed(&self, id: i64) {
        self.shared.lessor().revoke_failed(id);
    }

    /// Gives every lease a full TTL from now (a new leader takes over).
    pub fn renew_all_leases(&self) {
        self.shared.lessor().renew_all(Instant::now());
    }

    /// The raft term headers report.
    pub fn set_term(&self, term: u64) {
        self.shared.term.store(term, Ordering::Relaxed);
    }

    /// Member id in headers.
    pub fn member_id(&self) -> u64 {
        self.shared.member_id
    }

    /// Cluster id in headers.
    pub fn cluster_id(&self) -> u64 {
        self.shared.cluster_id
    }
}

fn op_cmd(op: WriteOp) -> (WriteCmd, Pending) {
    match op {
        WriteOp::Put(req) => {
            let (reply, rx) = oneshot::channel();
            (WriteCmd::Put(req, reply), Pending::Put(rx))
        }
        WriteOp::Delete(req) => {
            let (reply, rx) = oneshot::channel();
            (WriteCmd::Delete(req, reply), Pending::Delete(rx))
        }
        WriteOp::Txn(req) => {
            let (reply, rx) = oneshot::channel();
            (WriteCmd::Txn(req, reply), Pending::Txn(rx))
        }
        WriteOp::LeaseGrant { id, ttl } => {
            let (reply, rx) = oneshot::channel();
            (
                WriteCmd::LeaseGrant { id, ttl, reply },
                Pending::LeaseGrant(rx),
            )
        }
        WriteOp::LeaseRevoke { id } => {
            let (reply, rx) = oneshot::channel();
            (
                WriteCmd::LeaseRevoke { id, reply },
                Pending::LeaseRevoke(rx),
            )
        }
        WriteOp::Compact { revision } => {
            let (reply, rx) = oneshot::channel();
            (
                WriteCmd::Compact {
                    rev: revision,
                    reply,
                },
                Pending::Compact(rx),
            )
        }
    }
}
