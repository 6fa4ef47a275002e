//! The `Kv` trait: the one door through which the API server (and the etcd
//! gRPC front end) reach a key-value engine with etcd's data model.
//!
//! The types mirror etcd v3's `etcdserverpb` messages field for field, but are
//! plain Rust: the wire layer (`grpc/`) and the remote client (`remote`)
//! translate, the engine (`mvcc/`) implements. Revisions are `i64` as in etcd;
//! `0` means "current" where etcd says so.

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// One stored key at one revision, as etcd's `mvccpb.KeyValue`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub value: Vec<u8>,
    pub lease: i64,
}

/// The header every response carries. `revision` is the store revision at the
/// time the request was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResponseHeader {
    pub cluster_id: u64,
    pub member_id: u64,
    pub revision: i64,
    pub raft_term: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortOrder {
    #[default]
    None,
    Ascend,
    Descend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SortTarget {
    #[default]
    Key,
    Version,
    Create,
    Mod,
    Value,
}

/// etcd's `RangeRequest`. `range_end` empty means the single key `key`;
/// `range_end == [0]` means every key >= `key`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RangeRequest {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub limit: i64,
    pub revision: i64,
    pub sort_order: SortOrder,
    pub sort_target: SortTarget,
    pub serializable: bool,
    pub keys_only: bool,
    pub count_only: bool,
    pub min_mod_revision: i64,
    pub max_mod_revision: i64,
    pub min_create_revision: i64,
    pub max_create_revision: i64,
}

impl RangeRequest {
    /// A request for one key at the current revision.
    pub fn key(key: impl Into<Vec<u8>>) -> Self {
        RangeRequest {
            key: key.into(),
            ..Default::default()
        }
    }

    /// A request for every key that starts with `prefix`.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> Self {
        let key = prefix.into();
        let range_end = prefix_end(&key);
        RangeRequest {
            key,
            range_end,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RangeResponse {
    pub header: ResponseHeader,
    pub kvs: Vec<KeyValue>,
    pub more: bool,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PutRequest {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub lease: i64,
    pub prev_kv: bool,
    pub ignore_value: bool,
    pub ignore_lease: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PutResponse {
    pub header: ResponseHeader,
    pub prev_kv: Option<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeleteRangeRequest {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub prev_kv: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeleteRangeResponse {
    pub header: ResponseHeader,
    pub deleted: i64,
    pub prev_kvs: Vec<KeyValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareResult {
    Equal,
    Greater,
    Less,
    NotEqual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    Version(i64),
    Create(i64),
    Mod(i64),
    Value(Vec<u8>),
    Lease(i64),
}

/// etcd's `Compare`: `target(key..range_end) <result> value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub result: CompareResult,
    pub target: CompareTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestOp {
    Range(RangeRequest),
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseOp {
    Range(RangeResponse),
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxnRequest {
    pub compare: Vec<Compare>,
    pub success: Vec<RequestOp>,
    pub failure: Vec<RequestOp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxnResponse {
    pub header: ResponseHeader,
    pub succeeded: bool,
    pub responses: Vec<ResponseOp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompactResponse {
    pub header: ResponseHeader,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Put,
    Delete,
}

/// One change, as etcd's `mvccpb.Event`. For a delete, `kv` holds the key
/// with `mod_revision` set to the deleting revision and an empty value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventType,
    pub kv: KeyValue,
    pub prev_kv: Option<KeyValue>,
}

/// etcd's `WatchCreateRequest` (without the watch id, which the gRPC layer
/// owns).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WatchRequest {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    /// First revision to deliver; 0 means "from now on".
    pub start_revision: i64,
    pub prev_kv: bool,
    pub no_put: bool,
    pub no_delete: bool,
    /// Send an empty progress response when the watcher has been idle
    /// (etcd's default interval is 10 minutes; the engine decides).
    pub progress_notify: bool,
}

/// What a watch stream yields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchResponse {
    /// Events of one or more revisions, in revision order. `header.revision`
    /// is the store revision when the batch was sent.
    Events {
        header: ResponseHeader,
        events: Vec<Event>,
    },
    /// No events, only the revision the watcher has caught up to.
    Progress { header: ResponseHeader },
    /// The start revision was compacted; the stream ends after this.
    Compacted {
        header: ResponseHeader,
        compact_revision: i64,
    },
}

/// A live watch: responses until it is dropped. `request_progress` asks for
/// a `Progress` response as soon as the watcher is synced (etcd's
/// `RequestProgress`).
pub struct Watch {
    pub responses: BoxStream<'static, Result<WatchResponse, StoreError>>,
    pub progress: tokio::sync::mpsc::UnboundedSender<()>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseGrantResponse {
    pub header: ResponseHeader,
    pub id: i64,
    pub ttl: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseKeepAliveResponse {
    pub header: ResponseHeader,
    pub id: i64,
    pub ttl: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeaseTimeToLiveResponse {
    pub header: ResponseHeader,
    pub id: i64,
    /// Remaining seconds; -1 when the lease does not exist (etcd's answer).
    pub ttl: i64,
    pub granted_ttl: i64,
    pub keys: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusResponse {
    pub header: ResponseHeader,
    pub version: String,
    pub db_size: i64,
    pub db_size_in_use: i64,
    pub leader: u64,
    pub raft_index: u64,
    pub raft_term: u64,
    pub raft_applied_index: u64,
    pub is_learner: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

/// The key-value engine, as etcd's KV, Watch, Lease and Maintenance services
/// see it. Implemented by the embedded engine and by the remote etcd client.
#[async_trait]
pub trait Kv: Send + Sync + 'static {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError>;
    async fn put(&self, req: PutRequest) -> Result<PutResponse, StoreError>;
    async fn delete_range(
        &self,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, StoreError>;
    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, StoreError>;
    /// Physically removes history before `revision` (etcd `Compact` with
    /// `physical=true` semantics: the answer comes once it is done).
    async fn compact(&self, revision: i64) -> Result<CompactResponse, StoreError>;
    async fn watch(&self, req: WatchRequest) -> Result<Watch, StoreError>;

    /// `id == 0` lets the store choose the id.
    async fn lease_grant(&self, ttl: i64, id: i64) -> Result<LeaseGrantResponse, StoreError>;
    async fn lease_revoke(&self, id: i64) -> Result<ResponseHeader, StoreError>;
    async fn lease_keep_alive(&self, id: i64) -> Result<LeaseKeepAliveResponse, StoreError>;
    async fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
    ) -> Result<LeaseTimeToLiveResponse, StoreError>;
    async fn lease_leases(&self) -> Result<(ResponseHeader, Vec<i64>), StoreError>;

    async fn status(&self) -> Result<StatusResponse, StoreError>;
    async fn members(&self) -> Result<(ResponseHeader, Vec<Member>), StoreError>;

    /// etcd's MemberAdd: the new member and the members after the change.
    async fn member_add(
        &self,
        _peer_urls: Vec<String>,
        _is_learner: bool,
    ) -> Result<(ResponseHeader, Member, Vec<Member>), StoreError> {
        Err(membership_unsupported())
    }

    /// etcd's MemberRemove: the members after the change.
    async fn member_remove(&self, _id: u64) -> Result<(ResponseHeader, Vec<Member>), StoreError> {
        Err(membership_unsupported())
    }

    /// etcd's MemberPromote (learner to voter): the members after the change.
    async fn member_promote(&self, _id: u64) -> Result<(ResponseHeader, Vec<Member>), StoreError> {
        Err(membership_unsupported())
    }
}

fn membership_unsupported() -> StoreError {
    StoreError::Unsupported("membership changes are not supported by this store".to_string())
}

/// The smallest key greater than every key that starts with `prefix`
/// (etcd's `GetPrefixRangeEnd`); `[0]` when there is none.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end(b"/registry/pods/"), b"/registry/pods0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }
}
