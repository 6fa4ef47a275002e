//! Errors on the wire: [`StoreError`] to `tonic::Status` (same gRPC code and
//! message as etcd sends), and back again for the remote client, which
//! recognises etcd's messages and rebuilds the matching variant.

use tonic::{Code, Status};

use crate::error::{GrpcCode, StoreError};

pub fn code_to_tonic(code: GrpcCode) -> Code {
    match code {
        GrpcCode::InvalidArgument => Code::InvalidArgument,
        GrpcCode::NotFound => Code::NotFound,
        GrpcCode::FailedPrecondition => Code::FailedPrecondition,
        GrpcCode::OutOfRange => Code::OutOfRange,
        GrpcCode::Unavailable => Code::Unavailable,
        GrpcCode::Internal => Code::Internal,
        GrpcCode::Unimplemented => Code::Unimplemented,
        GrpcCode::Unknown => Code::Unknown,
    }
}

/// Codes outside the set etcd uses for its own errors become `Unknown`; the
/// message is kept either way.
pub fn code_from_tonic(code: Code) -> GrpcCode {
    match code {
        Code::InvalidArgument => GrpcCode::InvalidArgument,
        Code::NotFound => GrpcCode::NotFound,
        Code::FailedPrecondition => GrpcCode::FailedPrecondition,
        Code::OutOfRange => GrpcCode::OutOfRange,
        Code::Unavailable => GrpcCode::Unavailable,
        Code::Internal => GrpcCode::Internal,
        Code::Unimplemented => GrpcCode::Unimplemented,
        _ => GrpcCode::Unknown,
    }
}

/// The status etcd sends for this error.
pub fn to_status(err: &StoreError) -> Status {
    Status::new(code_to_tonic(err.grpc_code()), err.to_string())
}

/// Rebuilds a [`StoreError`] from an etcd status: a message that is one of
/// etcd's (with etcd's code) becomes its variant, anything else
/// `StoreError::Remote` with the code and message as received.
pub fn from_status(status: &Status) -> StoreError {
    let message = status.message();
    let code = code_from_tonic(status.code());
    let known = [
        StoreError::Compacted {
            compact_revision: 0,
        },
        StoreError::FutureRevision,
        StoreError::EmptyKey,
        StoreError::KeyNotFound,
        StoreError::TooManyOps,
        StoreError::DuplicateKey,
        StoreError::RequestTooLarge,
        StoreError::ValueProvided,
        StoreError::LeaseProvided,
        StoreError::LeaseNotFound,
        StoreError::LeaseExists,
        StoreError::LeaseTtlTooLarge,
        StoreError::NoLeader,
        StoreError::Timeout,
    ];
    for candidate in known {
        if candidate.grpc_code() == code && candidate.to_string() == message {
            return candidate;
        }
    }
    StoreError::Remote {
        code,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacted_goes_out_with_etcds_code_and_message() {
        let s = to_status(&StoreError::Compacted {
            compact_revision: 5,
        });
        assert_eq!(s.code(), Code::OutOfRange);
        assert_eq!(
            s.message(),
            "etcdserver: mvcc: required revision has been compacted"
        );
    }

    #[test]
    fn etcd_messages_come_back_as_their_variant() {
        let s = Status::new(Code::NotFound, "etcdserver: requested lease not found");
        assert_eq!(from_status(&s), StoreError::LeaseNotFound);
        let s = Status::new(
            Code::InvalidArgument,
            "etcdserver: duplicate key given in txn request",
        );
        assert_eq!(from_status(&s), StoreError::DuplicateKey);
    }

    #[test]
    fn other_messages_stay_remote() {
        let s = Status::new(Code::PermissionDenied, "etcdserver: permission denied");
        assert_eq!(
            from_status(&s),
            StoreError::Remote {
                code: GrpcCode::Unknown,
                message: "etcdserver: permission denied".to_string()
            }
        );
    }
}
