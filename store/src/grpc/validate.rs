//! The request checks etcd's gRPC layer makes before a request reaches the
//! store (etcd's `v3rpc/key.go` and the request-size limit of the raft
//! proposal path): empty keys, `ignore_value`/`ignore_lease` misuse, too many
//! operations in a txn, a key written twice by one txn branch, and requests
//! over the size limit. Each failure is the `Status` etcd sends.

use etcd_client::proto::{
    PbDeleteRequest, PbPutRequest, PbRangeRequest, PbTxnOpRequest, PbTxnRequest, PbTxnRequestOp,
};
use prost::Message;
use tonic::Status;

use crate::error::StoreError;
use crate::grpc::status::to_status;

/// etcd's `--max-request-bytes` default: 1.5 MiB.
pub const MAX_REQUEST_BYTES: usize = 1536 * 1024;
/// Extra room etcd gives gRPC framing on top of `MAX_REQUEST_BYTES`.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;
/// etcd's `--max-txn-ops` default.
pub const MAX_TXN_OPS: usize = 128;

fn empty_key() -> Status {
    to_status(&StoreError::EmptyKey)
}

fn value_provided() -> Status {
    to_status(&StoreError::ValueProvided)
}

fn lease_provided() -> Status {
    to_status(&StoreError::LeaseProvided)
}

/// Requests that become raft proposals are refused above etcd's size limit.
pub fn check_size(message: &impl Message) -> Result<(), Status> {
    if message.encoded_len() > MAX_REQUEST_BYTES {
        return Err(to_status(&StoreError::RequestTooLarge));
    }
    Ok(())
}

pub fn check_range(r: &PbRangeRequest) -> Result<(), Status> {
    if r.key.is_empty() {
        return Err(empty_key());
    }
    Ok(())
}

pub fn check_put(r: &PbPutRequest) -> Result<(), Status> {
    if r.key.is_empty() {
        return Err(empty_key());
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(value_provided());
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(lease_provided());
    }
    Ok(())
}

pub fn check_delete(r: &PbDeleteRequest) -> Result<(), Status> {
    if r.key.is_empty() {
        return Err(empty_key());
    }
    Ok(())
}

pub fn check_txn(r: &PbTxnRequest) -> Result<(), Status> {
    check_txn_ops(r)?;
    check_branch_writes(&r.success)?;
    check_branch_writes(&r.failure)?;
    Ok(())
}

fn check_txn_ops(r: &PbTxnRequest) -> Result<(), Status> {
    if r.compare.len() > MAX_TXN_OPS
        || r.success.len() > MAX_TXN_OPS
        || r.failure.len() > MAX_TXN_OPS
    {
        return Err(to_status(&StoreError::TooManyOps));
    }
    for c in &r.compare {
        if c.key.is_empty() {
            return Err(empty_key());
        }
    }
    for op in r.success.iter().chain(r.failure.iter()) {
        match &op.request {
            Some(PbTxnOpRequest::RequestRange(r)) => check_range(r)?,
            Some(PbTxnOpRequest::RequestPut(r)) => check_put(r)?,
            Some(PbTxnOpRequest::RequestDeleteRange(r)) => check_delete(r)?,
            Some(PbTxnOpRequest::RequestTxn(t)) => check_txn_ops(t)?,
            None => {}
        }
    }
    Ok(())
}

/// A deleted key range `[start, end)`; `end == None` means one key,
/// `end == Some([])` means no upper bound (etcd's `range_end == "\0"`).
struct Interval {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
}

impl Interval {
    fn of(r: &PbDeleteRequest) -> Self {
        let end = match r.range_end.as_slice() {
            [] => None,
            [0] => Some(Vec::new()),
            e => Some(e.to_vec()),
        };
        Interval {
            start: r.key.clone(),
            end,
        }
    }

    fn contains(&self, key: &[u8]) -> bool {
        match &self.end {
            None => key == self.start.as_slice(),
            Some(end) if end.is_empty() => key >= self.start.as_slice(),
            Some(end) => key >= self.start.as_slice() && key < end.as_slice(),
        }
    }
}

fn duplicate() -> Status {
    to_status(&StoreError::DuplicateKey)
}

/// etcd's `checkIntervals`: within one branch no key may be put twice or be
/// both put and deleted; the two branches of a nested txn are exclusive, so
/// a key they both put is fine.
fn check_branch_writes(ops: &[PbTxnRequestOp]) -> Result<(), Status> {
    collect_writes(ops).map(|_| ())
}

fn collect_writes(
    ops: &[PbTxnRequestOp],
) -> Result<(std::collections::HashSet<Vec<u8>>, Vec<Interval>), Status> {
    let mut dels: Vec<Interval> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(PbTxnOpRequest::RequestDeleteRange(d)) => Some(Interval::of(d)),
            _ => None,
        })
        .collect();
    let deleted = |dels: &[Interval], k: &[u8]| dels.iter().any(|d| d.contains(k));

    let mut puts = std::collections::HashSet::new();
    for op in ops {
        let Some(PbTxnOpRequest::RequestTxn(t)) = &op.request else {
            continue;
        };
        let (puts_then, dels_then) = collect_writes(&t.success)?;
        let (puts_else, dels_else) = collect_writes(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || deleted(&dels, k) {
                return Err(duplicate());
            }
        }
        puts.extend(puts_then.iter().cloned());
        for k in puts_else {
            if (puts.contains(&k) && !puts_then.contains(&k)) || deleted(&dels, &k) {
                return Err(duplicate());
            }
            puts.insert(k);
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in ops {
        let Some(PbTxnOpRequest::RequestPut(p)) = &op.request else {
            continue;
        };
        if puts.contains(&p.key) || deleted(&dels, &p.key) {
            return Err(duplicate());
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn put(k: &str) -> PbTxnRequestOp {
        PbTxnRequestOp {
            request: Some(PbTxnOpRequest::RequestPut(PbPutRequest {
                key: k.as_bytes().to_vec(),
                ..Default::default()
            })),
        }
    }

    fn del(k: &str, end: &[u8]) -> PbTxnRequestOp {
        PbTxnRequestOp {
            request: Some(PbTxnOpRequest::RequestDeleteRange(PbDeleteRequest {
                key: k.as_bytes().to_vec(),
                range_end: end.to_vec(),
                prev_kv: false,
            })),
        }
    }

    fn txn(success: Vec<PbTxnRequestOp>, failure: Vec<PbTxnRequestOp>) -> PbTxnRequest {
        PbTxnRequest {
            compare: vec![],
            success,
            failure,
        }
    }

    fn message(r: Result<(), Status>) -> String {
        r.err().map(|s| s.message().to_string()).unwrap_or_default()
    }

    #[test]
    fn same_key_put_twice_in_a_branch_is_a_duplicate() {
        let t = txn(vec![put("a"), put("a")], vec![]);
        assert_eq!(
            message(check_txn(&t)),
            "etcdserver: duplicate key given in txn request"
        );
        // The same key in the two exclusive branches is fine.
        assert!(check_txn(&txn(vec![put("a")], vec![put("a")])).is_ok());
    }

    #[test]
    fn put_inside_a_deleted_range_is_a_duplicate() {
        let t = txn(vec![del("a", b"c"), put("b")], vec![]);
        assert!(check_txn(&t).is_err());
        let t = txn(vec![del("a", &[0]), put("zzz")], vec![]);
        assert!(check_txn(&t).is_err());
        let t = txn(vec![del("a", b"c"), put("c")], vec![]);
        assert!(check_txn(&t).is_ok());
    }

    #[test]
    fn nested_txn_branches_may_put_the_same_key() {
        let inner = txn(vec![put("k")], vec![put("k")]);
        let outer = txn(
            vec![PbTxnRequestOp {
                request: Some(PbTxnOpRequest::RequestTxn(inner)),
            }],
            vec![],
        );
        assert!(check_txn(&outer).is_ok());
        let inner = txn(vec![put("k")], vec![]);
        let outer = txn(
            vec![
                PbTxnRequestOp {
                    request: Some(PbTxnOpRequest::RequestTxn(inner)),
                },
                put("k"),
            ],
            vec![],
        );
        assert!(check_txn(&outer).is_err());
    }

    #[test]
    fn too_many_ops_and_empty_keys_are_refused() {
        let t = txn((0..129).map(|i| put(&format!("k{i}"))).collect(), vec![]);
        assert_eq!(
            message(check_txn(&t)),
            "etcdserver: too many operations in txn request"
        );
        assert_eq!(
            message(check_put(&PbPutRequest::default())),
            "etcdserver: key is not provided"
        );
    }

    #[test]
    fn requests_over_one_and_a_half_mib_are_too_large() {
        let big = PbPutRequest {
            key: b"k".to_vec(),
            value: vec![b'x'; MAX_REQUEST_BYTES],
            ..Default::default()
        };
        let s = check_size(&big)
            .err()
            .map(|s| (s.code(), s.message().to_string()));
        assert_eq!(
            s,
            Some((
                Code::InvalidArgument,
                "etcdserver: request is too large".to_string()
            ))
        );
    }
}
