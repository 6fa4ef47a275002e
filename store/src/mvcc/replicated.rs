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

/// One log entry to apply: its ops (none for an entry that only moves the
/// mark) and its mark.
#[derive(Debug, Clone)]
pub struct LoggedEntry {
    pub ops: Vec<WriteOp>,
    pub mark: LogMark,
}

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
        let entries = entries
            .into_iter()
            .map(|(op, mark)| LoggedEntry {
                ops: op.into_iter().collect(),
                mark,
            })
            .collect();
        let answers = self.apply_logged_entries(entries).await?;
        Ok(answers
            .into_iter()
            .map(|mut ops| ops.pop().unwrap_or(Ok(WriteResult::None)))
            .collect())
    }

    /// Applies log entries of any number of ops each, in order. An entry's
    /// ops and its mark are written in one batch (a crash never leaves half
    /// an entry applied); an entry without ops only moves the mark. The
    /// answers are per entry, one per op. Ops that need the exact published
    /// state (see [`WriteOp::needs_own_entry`]) must be alone in their entry.
    pub async fn apply_logged_entries(
        &self,
        entries: Vec<LoggedEntry>,
    ) -> Result<Vec<Vec<Result<WriteResult, StoreError>>>, StoreError> {
        let mut pending = Vec::with_capacity(entries.len());
        let mut cmds = Vec::new();
        for LoggedEntry { ops, mark } in entries {
            if ops.is_empty() {
                let (reply, rx) = oneshot::channel();
                cmds.push(WriteCmd::Mark { mark, reply });
                pending.push(vec![Pending::Mark(rx)]);
                continue;
            }
            let last = ops.len() - 1;
            let mut answers = Vec::with_capacity(ops.len());
            let mut mark = Some(mark);
            for (i, op) in ops.into_iter().enumerate() {
                let (cmd, answer) = op_cmd(op);
                let cmd = match mark.take() {
                    Some(mark) if i == last => WriteCmd::Logged {
                        cmd: Box::new(cmd),
                        mark,
                    },
                    taken => {
                        mark = taken;
                        WriteCmd::LoggedPart(Box::new(cmd))
                    }
                };
                cmds.push(cmd);
                answers.push(answer);
            }
            pending.push(answers);
        }
        // Whole entries are queued at once, so they may be committed here.
        self.writer.submit_entries(cmds)?;
        let mut out = Vec::with_capacity(pending.len());
        for answers in pending {
            let mut results = Vec::with_capacity(answers.len());
            for answer in answers {
                results.push(self.answer(answer).await?);
            }
            out.push(results);
        }
        Ok(out)
    }

    /// One op's answer; `Err` only when the engine itself failed.
    async fn answer(&self, answer: Pending) -> Result<Result<WriteResult, StoreError>, StoreError> {
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
                    blocking(move || recovery::remove_records(&shared.backend, &removed)).await?;
                    Ok(WriteResult::Compact(CompactResponse { header }))
                }
                Err(err) => Err(err),
            },
        };
        // The engine failing is not an answer to the op: stop applying.
        if let Err(StoreError::Backend(msg)) = &result {
            return Err(StoreError::Backend(msg.clone()));
        }
        Ok(result)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{Kv, PutRequest, RangeRequest, TxnRequest};
    use crate::mvcc::EngineOptions;

    fn put(key: String) -> WriteOp {
        WriteOp::Put(PutRequest {
            key: key.into_bytes(),
            value: b"v".to_vec(),
            ..Default::default()
        })
    }

    fn mark(index: u8) -> LogMark {
        LogMark {
            applied: vec![index],
            membership: None,
        }
    }

    /// Entries of many ops (more than one writer group holds) are applied
    /// whole, in order, with one answer per op and the last entry's mark.
    #[tokio::test]
    async fn entries_of_many_ops_apply_in_order_with_one_answer_each() {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = EngineOptions {
            expire_leases: false,
            ..Default::default()
        };
        let engine = Engine::open(dir.path(), options).expect("open");
        let big: Vec<WriteOp> = (0..1500).map(|i| put(format!("k{i:05}"))).collect();
        // A txn in the same entry sees the earlier ops of its entry.
        let txn = WriteOp::Txn(TxnRequest {
            compare: vec![crate::kv::Compare {
                key: b"k01499".to_vec(),
                target: crate::kv::CompareTarget::Version(1),
                range_end: Vec::new(),
                result: crate::kv::CompareResult::Equal,
            }],
            success: vec![crate::kv::RequestOp::Put(PutRequest {
                key: b"txn".to_vec(),
                value: b"ok".to_vec(),
                ..Default::default()
            })],
            ..Default::default()
        });
        let answers = engine
            .apply_logged_entries(vec![
                LoggedEntry {
                    ops: big,
                    mark: mark(1),
                },
                LoggedEntry {
                    ops: Vec::new(),
                    mark: mark(2),
                },
                LoggedEntry {
                    ops: vec![put("z".to_string()), txn],
                    mark: mark(3),
                },
            ])
            .await
            .expect("apply");
        assert_eq!(
            answers.iter().map(Vec::len).collect::<Vec<_>>(),
            [1500, 1, 2]
        );
        match &answers[0][1499] {
            Ok(WriteResult::Put(resp)) => assert_eq!(resp.header.revision, 1501),
            other => panic!("unexpected answer {other:?}"),
        }
        match &answers[2][1] {
            Ok(WriteResult::Txn(resp)) => {
                assert!(resp.succeeded);
                assert_eq!(resp.header.revision, 1503);
            }
            other => panic!("unexpected answer {other:?}"),
        }
        let range = engine
            .range(RangeRequest {
                key: b"txn".to_vec(),
                ..Default::default()
            })
            .await
            .expect("range");
        assert_eq!(range.kvs.len(), 1);
        assert_eq!(range.kvs[0].mod_revision, 1503);
        let stored = engine.log_mark().expect("mark").expect("some mark");
        assert_eq!(stored.applied, vec![3]);
    }
}
