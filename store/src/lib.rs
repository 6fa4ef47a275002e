//! oxkube's key-value store: etcd's data model (one revision counter, per-key
//! create/mod revision and version, leases, watches, compaction) behind one
//! async trait, [`Kv`].
//!
//! - `kv`: the trait and its request/response types (the contract).
//! - `error`: errors with etcd's messages and gRPC codes.
//! - `grpc`: etcd's v3 gRPC API in front of any `Kv` (what etcdctl and etcd
//!   clients talk to).
//! - `remote`: `RemoteKv`, the `Kv` contract served by a real etcd cluster.
//! - `journal`: the single-member engine's write-ahead log (segments written
//!   in full before use, for cheap syncs).
//! - `mvcc`: the embedded engine (revisions, key index, watches, leases) on
//!   RocksDB.
//!
//! What it does not own: Kubernetes objects (the apiserver stores JSON bytes
//! under `/registry/...` keys and knows nothing else about the engine).

pub mod error;
pub mod grpc;
pub mod journal;
pub mod kv;
pub mod mvcc;
pub mod raft;
pub mod remote;
mod sync;

pub use error::{GrpcCode, StoreError};
pub use kv::*;
pub use mvcc::{Engine, EngineOptions};
