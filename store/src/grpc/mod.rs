//! etcd's v3 gRPC API (package `etcdserverpb`: KV, Watch, Lease,
//! Maintenance, Cluster, plus gRPC health) in front of any [`crate::Kv`].
//! The message types and service traits come from the `etcd-client` crate's
//! generated protobuf code; this layer only translates.
//!
//! Translation rules:
//! - Requests are checked as etcd's gRPC layer checks them (`validate`):
//!   empty key, `ignore_value`/`ignore_lease` misuse, more than 128 txn
//!   operations, a key written twice in one txn branch, writes over 1.5 MiB.
//!   Then each protobuf field maps to the `kv` field of the same name
//!   (`convert`); enum numbers are those of `rpc.proto`.
//! - Store errors become `tonic::Status` with the code of
//!   [`crate::StoreError::grpc_code`] and the error's text, which is etcd's
//!   message (`etcdserver: mvcc: required revision has been compacted`).
//!   Requests refused here use etcd's own messages too.
//! - A client sending `hasleader: true` metadata gets `etcdserver: no leader`
//!   (Unavailable) when the store reports no leader (`leader`).
//! - Watch ids, created/canceled answers and progress requests are managed
//!   per stream (`watch_service`); a watch with start revision 0 starts just
//!   after the revision its created answer shows.
//! - Lease keep-alive for an unknown lease answers `TTL: 0` rather than an
//!   error, as etcd does.
//! - Maintenance Status comes from [`crate::Kv::status`]; Alarm reports no
//!   alarms; HashKV and Defragment need the engine's [`MaintenanceOps`].
//! - Message size: decoding stops at 1.5 MiB + 512 KiB (etcd's
//!   `MaxRequestBytes` plus gRPC overhead).

mod cluster_service;
pub mod convert;
mod engine_ops;
mod header;
mod kv_service;
mod leader;
mod lease_service;
mod maintenance_service;
mod server;
pub mod status;
mod tls;
mod validate;
mod watch_service;

pub use maintenance_service::{HashKv, MaintenanceOps};
pub use server::{EtcdServer, MAX_RECV_BYTES, ServeError};
pub use tls::{TlsError, TlsFiles};
pub use validate::{MAX_REQUEST_BYTES, MAX_TXN_OPS};
