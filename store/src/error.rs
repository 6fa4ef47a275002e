//! Store errors. Each variant that etcd also returns carries etcd's exact
//! message (`etcdserver: ...`) and maps to etcd's gRPC status code in
//! `grpc_code`, so every door reports the same error the same way.

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreError {
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted { compact_revision: i64 },
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision,
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    #[error("etcdserver: key not found")]
    KeyNotFound,
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    /// `ignore_value` set together with a non-empty value.
    #[error("etcdserver: value is provided")]
    ValueProvided,
    /// `ignore_lease` set together with a non-zero lease.
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("etcdserver: no leader")]
    NoLeader,
    #[error("etcdserver: request timed out")]
    Timeout,
    #[error("etcdserver: member not found")]
    MemberNotFound,
    #[error("etcdserver: member ID already exist")]
    MemberExists,
    #[error("etcdserver: Peer URLs already exists")]
    PeerUrlExists,
    #[error("etcdserver: can only promote a learner member")]
    MemberNotLearner,
    #[error("etcdserver: re-configuration failed due to not enough started members")]
    NotEnoughStartedMembers,
    /// The store does not do this (membership changes on a single member).
    #[error("{0}")]
    Unsupported(String),
    /// The storage backend failed (I/O, corruption). The request had no effect.
    #[error("etcdserver: backend: {0}")]
    Backend(String),
    /// A remote etcd answered with an error we do not model.
    #[error("{message}")]
    Remote { code: GrpcCode, message: String },
}

/// The gRPC status codes etcd uses, without depending on tonic here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrpcCode {
    InvalidArgument,
    NotFound,
    FailedPrecondition,
    OutOfRange,
    Unavailable,
    Internal,
    Unimplemented,
    Unknown,
}

impl StoreError {
    /// The gRPC code etcd sends for this error.
    pub fn grpc_code(&self) -> GrpcCode {
        match self {
            StoreError::Compacted { .. } | StoreError::FutureRevision => GrpcCode::OutOfRange,
            StoreError::LeaseTtlTooLarge => GrpcCode::OutOfRange,
            StoreError::EmptyKey
            | StoreError::KeyNotFound
            | StoreError::TooManyOps
            | StoreError::DuplicateKey
            | StoreError::RequestTooLarge
            | StoreError::ValueProvided
            | StoreError::LeaseProvided => GrpcCode::InvalidArgument,
            StoreError::LeaseNotFound => GrpcCode::NotFound,
            StoreError::LeaseExists => GrpcCode::FailedPrecondition,
            StoreError::NoLeader | StoreError::Timeout => GrpcCode::Unavailable,
            StoreError::MemberNotFound => GrpcCode::NotFound,
            StoreError::MemberExists
            | StoreError::PeerUrlExists
            | StoreError::MemberNotLearner
            | StoreError::NotEnoughStartedMembers => GrpcCode::FailedPrecondition,
            StoreError::Unsupported(_) => GrpcCode::Unimplemented,
            StoreError::Backend(_) => GrpcCode::Internal,
            StoreError::Remote { code, .. } => *code,
        }
    }
}
