//! The openraft type configuration of the replicated store and the wire
//! encoding shared by the log, the snapshots and the peer RPCs (bincode).

use std::io::Cursor;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::mvcc::{WriteOp, WriteResult};

/// What a member is known by in the cluster (etcd's `Member` fields).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerNode {
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

/// The answer of one applied op: the op's own result (a refused op is an
/// answer too, e.g. `key not found` for `ignore_value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied(pub Result<WriteResult, StoreError>);

/// What one log entry carries: the writes proposed together on the leader
/// (concurrent requests share an entry, so the leader's log pays one
/// append and fsync for all of them), applied in order in one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal(pub Vec<WriteOp>);

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ops", self.0.len())
    }
}

/// The answers of one applied entry, one per op of its [`Proposal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers(pub Vec<Applied>);

openraft::declare_raft_types!(
    /// The replicated store: log entries carry engine writes.
    pub TypeConfig:
        D = Proposal,
        R = Answers,
        NodeId = u64,
        Node = PeerNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type Vote = openraft::Vote<NodeId>;
pub type Membership = openraft::Membership<NodeId, PeerNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, PeerNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, PeerNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Raft = openraft::Raft<TypeConfig>;

#[derive(Debug, thiserror::Error)]
#[error("encoding: {0}")]
pub struct CodecError(String);

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serialize(value).map_err(|e| CodecError(e.to_string()))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    bincode::deserialize(bytes).map_err(|e| CodecError(e.to_string()))
}

/// The encoded size of `value` (0 if it cannot be encoded: encoding it
/// later reports the error).
pub fn encoded_size<T: Serialize>(value: &T) -> u64 {
    bincode::serialized_size(value).unwrap_or(0)
}
