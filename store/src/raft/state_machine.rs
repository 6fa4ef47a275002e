//! The Raft state machine is the MVCC engine: committed entries are applied
//! in log order through the engine's writer (revisions assigned there), each
//! with its log id (and membership) written in the same RocksDB batch, so a
//! restart resumes exactly after the last applied entry. Snapshots are
//! dumps of the engine at one RocksDB snapshot, mark included; installing
//! one replaces the engine's records and rebuilds its state.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, SnapshotMeta, StorageIOError};

use crate::mvcc::{Engine, LogMark, LoggedEntry};

use super::types::{
    Answers, Applied, Entry, LogId, PeerNode, Proposal, Snapshot, StorageError, StoredMembership,
    TypeConfig, decode, encode,
};

fn sm_err(verb: ErrorVerb, e: impl ToString) -> StorageError {
    StorageIOError::new(
        ErrorSubject::StateMachine,
        verb,
        openraft::AnyError::error(e.to_string()),
    )
    .into()
}

fn snap_err(verb: ErrorVerb, e: impl ToString) -> StorageError {
    StorageIOError::new(
        ErrorSubject::Snapshot(None),
        verb,
        openraft::AnyError::error(e.to_string()),
    )
    .into()
}

/// A snapshot kept to send to lagging members.
#[derive(Clone)]
struct Kept {
    meta: SnapshotMeta<u64, PeerNode>,
    data: Arc<Vec<u8>>,
}

#[derive(Clone)]
pub struct StateMachine {
    engine: Arc<Engine>,
    current: Arc<Mutex<Option<Kept>>>,
}

impl StateMachine {
    pub fn new(engine: Arc<Engine>) -> Self {
        StateMachine {
            engine,
            current: Arc::new(Mutex::new(None)),
        }
    }

    fn keep(&self, kept: Kept) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(kept);
    }

    fn kept(&self) -> Option<Kept> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn decode_mark(
        applied: Option<Vec<u8>>,
        membership: Option<Vec<u8>>,
    ) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = match applied {
            Some(bytes) => Some(decode::<LogId>(&bytes).map_err(|e| sm_err(ErrorVerb::Read, e))?),
            None => None,
        };
        let membership = match membership {
            Some(bytes) => decode(&bytes).map_err(|e| sm_err(ErrorVerb::Read, e))?,
            None => StoredMembership::default(),
        };
        Ok((applied, membership))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let dump = self
            .engine
            .snapshot()
            .await
            .map_err(|e| snap_err(ErrorVerb::Read, e))?;
        let (last_log_id, last_membership) = Self::decode_mark(dump.applied, dump.membership)?;
        let snapshot_id = match &last_log_id {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, dump.data.len()),
            None => format!("0-0-{}", dump.data.len()),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        tracing::info!(
            index = last_log_id.map(|l| l.index),
            bytes = dump.data.len(),
            "built a snapshot"
        );
        let data = Arc::new(dump.data);
        self.keep(Kept {
            meta: meta.clone(),
            data: data.clone(),
        });
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data.to_vec())),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        match self
            .engine
            .log_mark()
            .map_err(|e| sm_err(ErrorVerb::Read, e))?
        {
            Some(mark) => Self::decode_mark(Some(mark.applied), mark.membership),
            None => Ok((None, StoredMembership::default())),
        }
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Answers>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut batch = Vec::new();
        for entry in entries {
            let applied = encode(&entry.log_id).map_err(|e| sm_err(ErrorVerb::Write, e))?;
            let (ops, membership) = match entry.payload {
                EntryPayload::Blank => (Vec::new(), None),
                EntryPayload::Normal(Proposal(ops)) => (ops, None),
                EntryPayload::Membership(m) => {
                    let stored = StoredMembership::new(Some(entry.log_id), m);
                    let bytes = encode(&stored).map_err(|e| sm_err(ErrorVerb::Write, e))?;
                    (Vec::new(), Some(bytes))
                }
            };
            batch.push(LoggedEntry {
                ops,
                mark: LogMark {
                    applied,
                    membership,
                },
            });
        }
        let results = self
            .engine
            .apply_logged_entries(batch)
            .await
            .map_err(|e| sm_err(ErrorVerb::Write, e))?;
        Ok(results
            .into_iter()
            .map(|ops| Answers(ops.into_iter().map(Applied).collect()))
            .collect())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, PeerNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        tracing::info!(
            index = meta.last_log_id.map(|l| l.index),
            bytes = data.len(),
            "installing a snapshot from the leader"
        );
        self.engine
            .install_snapshot(data.clone())
            .await
            .map_err(|e| snap_err(ErrorVerb::Write, e))?;
        self.keep(Kept {
            meta: meta.clone(),
            data: Arc::new(data),
        });
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let kept = match self.kept() {
            Some(kept) => kept,
            None => return self.build_snapshot().await.map(Some),
        };
        Ok(Some(Snapshot {
            meta: kept.meta,
            snapshot: Box::new(Cursor::new(kept.data.to_vec())),
        }))
    }
}
