//! Txn logic shared by the writer and the read-only path: evaluating
//! compares (etcd evaluates every compare of every nested txn against the
//! state before the txn, giving a path of taken branches), the state checks
//! that must pass before anything is applied, and read-only execution.

use std::cmp::Ordering;

use crate::error::StoreError;
use crate::kv::{
    Compare, CompareResult, CompareTarget, KeyValue, PutRequest, RangeRequest, RequestOp,
    ResponseOp, TxnRequest, TxnResponse,
};

use super::backend::Backend;
use super::keyrange::KeyRange;
use super::range;
use super::view::View;

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let ord = match &c.target {
        CompareTarget::Value(v) => kv.value.as_slice().cmp(v.as_slice()),
        CompareTarget::Version(v) => kv.version.cmp(v),
        CompareTarget::Create(v) => kv.create_revision.cmp(v),
        CompareTarget::Mod(v) => kv.mod_revision.cmp(v),
        CompareTarget::Lease(v) => kv.lease.cmp(v),
    };
    match c.result {
        CompareResult::Equal => ord == Ordering::Equal,
        CompareResult::NotEqual => ord != Ordering::Equal,
        CompareResult::Greater => ord == Ordering::Greater,
        CompareResult::Less => ord == Ordering::Less,
    }
}

/// Whether every key in the compare's range satisfies it. A missing key
/// compares as zeros, except for values, which then never match.
fn compare_holds(view: &dyn View, c: &Compare) -> bool {
    let mut any = false;
    let mut holds = true;
    view.visit_latest(KeyRange::new(&c.key, &c.range_end), &mut |kv| {
        any = true;
        holds = compare_kv(c, kv);
        holds
    });
    if any {
        holds
    } else {
        !matches!(c.target, CompareTarget::Value(_)) && compare_kv(c, &KeyValue::default())
    }
}

/// The branch taken by this txn and, in order, by every nested txn of the
/// taken branches.
pub fn compare_path(view: &dyn View, req: &TxnRequest) -> Vec<bool> {
    let mut path = Vec::new();
    push_path(view, req, &mut path);
    path
}

fn push_path(view: &dyn View, req: &TxnRequest, path: &mut Vec<bool>) {
    let succeeded = req.compare.iter().all(|c| compare_holds(view, c));
    path.push(succeeded);
    for op in branch(req, succeeded) {
        if let RequestOp::Txn(nested) = op {
            push_path(view, nested, path);
        }
    }
}

pub fn branch(req: &TxnRequest, succeeded: bool) -> &[RequestOp] {
    if succeeded {
        &req.success
    } else {
        &req.failure
    }
}

/// Revision errors of a range, checked against the view.
pub fn check_range_rev(view: &dyn View, req: &RangeRequest) -> Result<(), StoreError> {
    if req.revision == 0 {
        return Ok(());
    }
    if req.revision > view.rev() {
        return Err(StoreError::FutureRevision);
    }
    let compact_rev = view.compact_rev();
    if req.revision < compact_rev {
        return Err(StoreError::Compacted {
            compact_revision: compact_rev,
        });
    }
    Ok(())
}

/// Errors a put would hit: `ignore_*` on a missing key, an unknown lease.
pub fn check_put_state(
    view: &dyn View,
    req: &PutRequest,
    lease_exists: &dyn Fn(i64) -> bool,
) -> Result<(), StoreError> {
    if (req.ignore_value || req.ignore_lease) && view.latest(&req.key).is_none() {
        return Err(StoreError::KeyNotFound);
    }
    if req.lease != 0 && !lease_exists(req.lease) {
        return Err(StoreError::LeaseNotFound);
    }
    Ok(())
}

/// etcd's `checkTxn`: walks the taken branches and reports the first
/// error, before anything is applied.
pub fn check_taken(
    view: &dyn View,
    req: &TxnRequest,
    path: &[bool],
    pos: &mut usize,
    lease_exists: &dyn Fn(i64) -> bool,
) -> Result<(), StoreError> {
    let succeeded = path.get(*pos).copied().unwrap_or(false);
    *pos += 1;
    for op in branch(req, succeeded) {
        match op {
            RequestOp::Range(r) => check_range_rev(view, r)?,
            RequestOp::Put(p) => check_put_state(view, p, lease_exists)?,
            RequestOp::DeleteRange(_) => {}
            RequestOp::Txn(t) => check_taken(view, t, path, pos, lease_exists)?,
        }
    }
    Ok(())
}

/// Whether no branch at any depth writes.
pub fn is_read_only(req: &TxnRequest) -> bool {
    req.success.iter().chain(&req.failure).all(|op| match op {
        RequestOp::Range(_) => true,
        RequestOp::Txn(t) => is_read_only(t),
        RequestOp::Put(_) | RequestOp::DeleteRange(_) => false,
    })
}

/// Whether a range anywhere in the txn reads at a revision above `rev`.
pub fn reads_above(req: &TxnRequest, rev: i64) -> bool {
    req.success.iter().chain(&req.failure).any(|op| match op {
        RequestOp::Range(r) => r.revision > rev,
        RequestOp::Txn(t) => reads_above(t, rev),
        RequestOp::Put(_) | RequestOp::DeleteRange(_) => false,
    })
}

/// Whether a range anywhere in the txn reads history.
pub fn reads_history(req: &TxnRequest) -> bool {
    reads_above(req, 0)
}

/// Runs a txn without writes against one view. The header carries only
/// the revision (nested txns none, as in etcd).
pub fn exec_read_only(
    view: &dyn View,
    backend: &Backend,
    req: &TxnRequest,
    path: &[bool],
    pos: &mut usize,
) -> Result<TxnResponse, StoreError> {
    let succeeded = path.get(*pos).copied().unwrap_or(false);
    *pos += 1;
    let mut responses = Vec::new();
    for op in branch(req, succeeded) {
        responses.push(match op {
            RequestOp::Range(r) => {
                let plan = range::plan(view, r)?;
                ResponseOp::Range(range::finish(plan, r, backend)?)
            }
            RequestOp::Txn(t) => {
                let mut nested = exec_read_only(view, backend, t, path, pos)?;
                nested.header = Default::default();
                ResponseOp::Txn(nested)
            }
            RequestOp::Put(_) | RequestOp::DeleteRange(_) => {
                return Err(StoreError::Backend(
                    "write in a txn taken as read-only".to_string(),
                ));
            }
        });
    }
    let mut resp = TxnResponse {
        succeeded,
        responses,
        ..Default::default()
    };
    resp.header.revision = view.rev();
    Ok(resp)
}
