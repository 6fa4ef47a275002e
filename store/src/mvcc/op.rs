//! Writes as data: what a replicated log carries to the engine
//! ([`WriteOp`]), what applying one answers ([`WriteResult`]), and the
//! [`LogMark`] stored with the changes of an applied log entry so that a
//! restart knows exactly which entries the engine holds.

use serde::{Deserialize, Serialize};

use crate::kv::{
    CompactResponse, DeleteRangeRequest, DeleteRangeResponse, LeaseGrantResponse, PutRequest,
    PutResponse, ResponseHeader, TxnRequest, TxnResponse,
};

/// One write, decided by a log: applying the same ops in the same order on
/// the same state gives the same revisions everywhere. Lease ids are chosen
/// before the op enters the log (never 0 here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOp {
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Txn(TxnRequest),
    LeaseGrant { id: i64, ttl: i64 },
    LeaseRevoke { id: i64 },
    Compact { revision: i64 },
}

impl WriteOp {
    /// Whether the op depends on the exact published state or must be
    /// applied on its own (lease revocation, compaction, a txn reading at
    /// a revision), so it cannot share a log entry with other ops.
    pub fn needs_own_entry(&self) -> bool {
        match self {
            WriteOp::Txn(req) => super::txn::reads_history(req),
            WriteOp::LeaseRevoke { .. } | WriteOp::Compact { .. } => true,
            WriteOp::Put(_) | WriteOp::Delete(_) | WriteOp::LeaseGrant { .. } => false,
        }
    }
}

/// The answer to one applied [`WriteOp`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteResult {
    Put(PutResponse),
    Delete(DeleteRangeResponse),
    Txn(TxnResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(ResponseHeader),
    Compact(CompactResponse),
    /// A log entry without a write (leader no-op, membership change).
    None,
}

/// Which log entry the engine has applied last, stored in the same RocksDB
/// batch as that entry's changes. The bytes are opaque to the engine (the
/// replication layer encodes its log id and membership there).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogMark {
    pub applied: Vec<u8>,
    /// Set when the entry changed the cluster membership.
    pub membership: Option<Vec<u8>>,
}
