//! Request checks that need no store state, done before a request reaches
//! the writer (etcd does them in its gRPC layer and before proposing):
//! empty keys, `ignore_*` conflicts, the txn op budget, put/delete overlaps
//! inside a txn branch, and the request size limit.

use std::collections::HashSet;

use crate::error::StoreError;
use crate::kv::{
    CompareTarget, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

use super::keyrange::KeyRange;

pub fn check_range(req: &RangeRequest) -> Result<(), StoreError> {
    if req.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    Ok(())
}

pub fn check_put(req: &PutRequest) -> Result<(), StoreError> {
    if req.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    if req.ignore_value && !req.value.is_empty() {
        return Err(StoreError::ValueProvided);
    }
    if req.ignore_lease && req.lease != 0 {
        return Err(StoreError::LeaseProvided);
    }
    Ok(())
}

pub fn check_delete(req: &DeleteRangeRequest) -> Result<(), StoreError> {
    if req.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    Ok(())
}

/// etcd's `checkTxnRequest`: no list (compares, success, failure) longer
/// than `max_ops`, nested txns get what is left of the budget; then the
/// overlap rules of both branches.
pub fn check_txn(req: &TxnRequest, max_ops: usize) -> Result<(), StoreError> {
    check_txn_shape(req, max_ops as i64)?;
    check_overlaps(&req.success)?;
    check_overlaps(&req.failure)?;
    Ok(())
}

fn check_txn_shape(req: &TxnRequest, max_ops: i64) -> Result<(), StoreError> {
    let widest = req
        .compare
        .len()
        .max(req.success.len())
        .max(req.failure.len()) as i64;
    if widest > max_ops {
        return Err(StoreError::TooManyOps);
    }
    if req.compare.iter().any(|c| c.key.is_empty()) {
        return Err(StoreError::EmptyKey);
    }
    for op in req.success.iter().chain(&req.failure) {
        match op {
            RequestOp::Range(r) => check_range(r)?,
            RequestOp::Put(p) => check_put(p)?,
            RequestOp::DeleteRange(d) => check_delete(d)?,
            RequestOp::Txn(t) => check_txn_shape(t, max_ops - widest)?,
        }
    }
    Ok(())
}

/// Keys put and ranges deleted by one branch (and the branches nested in
/// it).
struct Writes<'a> {
    puts: HashSet<&'a [u8]>,
    deletes: Vec<KeyRange<'a>>,
}

impl Writes<'_> {
    fn deletes_key(&self, key: &[u8]) -> bool {
        self.deletes.iter().any(|d| d.contains(key))
    }
}

/// etcd's `checkIntervals`: within one branch a key may be put once, and
/// never both put and deleted; the two branches of a nested txn exclude
/// each other, so they may touch the same keys.
fn check_overlaps(ops: &[RequestOp]) -> Result<Writes<'_>, StoreError> {
    let mut writes = Writes {
        puts: HashSet::new(),
        deletes: ops
            .iter()
            .filter_map(|op| match op {
                RequestOp::DeleteRange(d) => Some(KeyRange::new(&d.key, &d.range_end)),
                _ => None,
            })
            .collect(),
    };
    for op in ops {
        let RequestOp::Txn(txn) = op else { continue };
        let then = check_overlaps(&txn.success)?;
        let otherwise = check_overlaps(&txn.failure)?;
        for key in &then.puts {
            if writes.puts.contains(key) || writes.deletes_key(key) {
                return Err(StoreError::DuplicateKey);
            }
        }
        for key in &otherwise.puts {
            if (writes.puts.contains(key) && !then.puts.contains(key)) || writes.deletes_key(key) {
                return Err(StoreError::DuplicateKey);
            }
        }
        writes.puts.extend(then.puts);
        writes.puts.extend(otherwise.puts);
        writes.deletes.extend(then.deletes);
        writes.deletes.extend(otherwise.deletes);
    }
    for op in ops {
        let RequestOp::Put(put) = op else { continue };
        let key = put.key.as_slice();
        if writes.puts.contains(key) || writes.deletes_key(key) {
            return Err(StoreError::DuplicateKey);
        }
        writes.puts.insert(key);
    }
    Ok(writes)
}

/// Size of a protobuf length-delimited field with a `len`-byte payload.
fn field(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    1 + varint_len(len as u64) + len
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// A scalar field (tag + varint); zero values are not encoded.
fn scalar(v: i64) -> usize {
    if v == 0 { 0 } else { 1 + varint_len(v as u64) }
}

fn flag(b: bool) -> usize {
    if b { 2 } else { 0 }
}

fn range_len(r: &RangeRequest) -> usize {
    field(r.key.len())
        + field(r.range_end.len())
        + scalar(r.limit)
        + scalar(r.revision)
        + 2 * 3
        + flag(r.serializable)
        + flag(r.keys_only)
        + flag(r.count_only)
        + scalar(r.min_mod_revision)
        + scalar(r.max_mod_revision)
        + scalar(r.min_create_revision)
        + scalar(r.max_create_revision)
}

pub fn put_len(p: &PutRequest) -> usize {
    field(p.key.len())
        + field(p.value.len())
        + scalar(p.lease)
        + flag(p.prev_kv)
        + flag(p.ignore_value)
        + flag(p.ignore_lease)
}

pub fn delete_len(d: &DeleteRangeRequest) -> usize {
    field(d.key.len()) + field(d.range_end.len()) + flag(d.prev_kv)
}

pub fn txn_len(t: &TxnRequest) -> usize {
    let compares: usize = t
        .compare
        .iter()
        .map(|c| {
            let target = match &c.target {
                CompareTarget::Value(v) => field(v.len()),
                CompareTarget::Version(v)
                | CompareTarget::Create(v)
                | CompareTarget::Mod(v)
                | CompareTarget::Lease(v) => scalar(*v),
            };
            field(4 + field(c.key.len()) + field(c.range_end.len()) + target)
        })
        .sum();
    let ops: usize = t
        .success
        .iter()
        .chain(&t.failure)
        .map(|op| {
            field(match op {
                RequestOp::Range(r) => field(range_len(r)),
                RequestOp::Put(p) => field(put_len(p)),
                RequestOp::DeleteRange(d) => field(delete_len(d)),
                RequestOp::Txn(t) => field(txn_len(t)),
            })
        })
        .sum();
    compares + ops
}

/// The size etcd would check against `--max-request-bytes`: the encoded
/// request inside its raft entry envelope (header and request tag).
pub fn check_size(encoded_len: usize, max_request_bytes: usize) -> Result<(), StoreError> {
    const ENVELOPE: usize = 24;
    if encoded_len + ENVELOPE > max_request_bytes {
        return Err(StoreError::RequestTooLarge);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{Compare, CompareResult};

    fn put(key: &str) -> RequestOp {
        RequestOp::Put(PutRequest {
            key: key.into(),
            ..Default::default()
        })
    }

    fn del(key: &str, end: &str) -> RequestOp {
        RequestOp::DeleteRange(DeleteRangeRequest {
            key: key.into(),
            range_end: end.into(),
            prev_kv: false,
        })
    }

    fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            compare: vec![],
            success,
            failure,
        }
    }

    #[test]
    fn duplicate_puts_and_put_over_delete_are_rejected() {
        let t = txn(vec![put("a"), put("a")], vec![]);
        assert_eq!(check_txn(&t, 128), Err(StoreError::DuplicateKey));
        let t = txn(vec![del("a", "c"), put("b")], vec![]);
        assert_eq!(check_txn(&t, 128), Err(StoreError::DuplicateKey));
        let t = txn(vec![del("a", "c"), del("b", "d")], vec![]);
        assert_eq!(check_txn(&t, 128), Ok(()));
        let t = txn(vec![put("a")], vec![put("a")]);
        assert_eq!(check_txn(&t, 128), Ok(()));
    }

    #[test]
    fn nested_branches_may_share_keys_but_not_with_the_outer_level() {
        let inner = txn(vec![put("k")], vec![put("k")]);
        let t = txn(vec![RequestOp::Txn(inner.clone())], vec![]);
        assert_eq!(check_txn(&t, 128), Ok(()));
        let t = txn(vec![RequestOp::Txn(inner), put("k")], vec![]);
        assert_eq!(check_txn(&t, 128), Err(StoreError::DuplicateKey));
    }

    #[test]
    fn op_budget_counts_the_widest_list_and_shrinks_when_nested() {
        let wide = txn((0..129).map(|i| put(&format!("k{i}"))).collect(), vec![]);
        assert_eq!(check_txn(&wide, 128), Err(StoreError::TooManyOps));
        let ok = txn((0..128).map(|i| put(&format!("k{i}"))).collect(), vec![]);
        assert_eq!(check_txn(&ok, 128), Ok(()));
        // The outer list uses 3 of 4; the nested one may have only 1.
        let nested = txn(vec![put("x"), put("y")], vec![]);
        let outer = txn(vec![RequestOp::Txn(nested), put("a"), put("b")], vec![]);
        assert_eq!(check_txn(&outer, 4), Err(StoreError::TooManyOps));
        let cmp = TxnRequest {
            compare: vec![Compare {
                key: vec![],
                range_end: vec![],
                result: CompareResult::Equal,
                target: CompareTarget::Version(0),
            }],
            ..Default::default()
        };
        assert_eq!(check_txn(&cmp, 128), Err(StoreError::EmptyKey));
    }

    #[test]
    fn size_counts_key_and_value() {
        let p = PutRequest {
            key: b"k".to_vec(),
            value: vec![0; 1000],
            ..Default::default()
        };
        assert_eq!(put_len(&p), 3 + 1003);
        assert_eq!(check_size(put_len(&p), 1_572_864), Ok(()));
        assert_eq!(
            check_size(put_len(&p), 1000),
            Err(StoreError::RequestTooLarge)
        );
    }
}
