//! etcd's require-leader guard: a client that sends the `hasleader: true`
//! metadata wants `etcdserver: no leader` (Unavailable) instead of a request
//! that would wait for an election. A single member is always its own
//! leader; behind a remote or replicated store the answer comes from
//! [`Kv::status`].

use std::sync::Arc;

use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::error::StoreError;
use crate::grpc::status::to_status;
use crate::kv::Kv;

/// The metadata key etcd's clients set with `WithRequireLeader`.
pub const HAS_LEADER_KEY: &str = "hasleader";

pub fn wants_leader(metadata: &MetadataMap) -> bool {
    metadata
        .get(HAS_LEADER_KEY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "true")
}

pub async fn require_leader(kv: &Arc<dyn Kv>, metadata: &MetadataMap) -> Result<(), Status> {
    if !wants_leader(metadata) {
        return Ok(());
    }
    let status = kv.status().await.map_err(|e| to_status(&e))?;
    if status.leader == 0 {
        return Err(to_status(&StoreError::NoLeader));
    }
    Ok(())
}
