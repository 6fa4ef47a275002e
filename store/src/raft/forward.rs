//! Requests a member hands to the leader (over the peer service's `Forward`
//! method, or directly when it is the leader): writes, read indexes for
//! linearizable reads, lease keep-alives and queries (the leader's lessor
//! holds the deadlines), and membership changes.

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::kv::{LeaseKeepAliveResponse, LeaseTimeToLiveResponse};
use crate::mvcc::WriteOp;

use super::types::{Applied, NodeId, PeerNode};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardRequest {
    Write(WriteOp),
    /// The leader confirms it still leads and answers its commit index.
    ReadIndex,
    KeepAlive(i64),
    TimeToLive {
        id: i64,
        keys: bool,
    },
    Leases,
    AddMember {
        id: NodeId,
        node: PeerNode,
        learner: bool,
    },
    RemoveMember(NodeId),
    PromoteMember(NodeId),
    /// A member announces its name and client URLs (etcd's publish).
    Publish {
        id: NodeId,
        node: PeerNode,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardResponse {
    Write(Applied),
    ReadIndex(u64),
    KeepAlive(LeaseKeepAliveResponse),
    TimeToLive(LeaseTimeToLiveResponse),
    Leases(Vec<i64>),
    /// A membership change is committed.
    Changed,
}

/// Why the leader did not answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardError {
    /// This member does not lead (the leader it knows, if any). Nothing was
    /// done: the request may be sent again.
    NotLeader(Option<NodeId>),
    /// The answer, an error.
    Store(StoreError),
}

impl From<StoreError> for ForwardError {
    fn from(err: StoreError) -> Self {
        ForwardError::Store(err)
    }
}
