//! Range execution with etcd's semantics, in two steps: [`plan`] walks the
//! index under the state lock (revision checks, count, which values to
//! return), [`finish`] runs without it (reads historic values from
//! RocksDB, applies revision filters, sort, limit and `keys_only`).

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::StoreError;
use crate::kv::{KeyValue, RangeRequest, RangeResponse, ResponseHeader, SortOrder, SortTarget};

use super::backend::Backend;
use super::codec::Record;
use super::keyrange::KeyRange;
use super::revision::Revision;
use super::view::View;

/// A value to return: already in memory, or to be read from history.
pub enum Slot {
    Ready(Arc<KeyValue>),
    Fetch(Revision),
}

/// The outcome of walking the index for one range.
pub struct RangePlan {
    /// The view's revision (etcd answers with the current revision even
    /// for historic reads).
    pub header_rev: i64,
    pub compact_rev: i64,
    /// Keys in the range at the read revision, regardless of limit and
    /// filters (etcd's `count`).
    pub count: i64,
    pub slots: Vec<Slot>,
}

/// How many values to collect: everything when the result is sorted or
/// filtered afterwards, else one more than the limit (to know `more`).
fn fetch_limit(req: &RangeRequest) -> usize {
    if req.count_only {
        return 0;
    }
    let post_processed = req.sort_order != SortOrder::None
        || req.min_mod_revision != 0
        || req.max_mod_revision != 0
        || req.min_create_revision != 0
        || req.max_create_revision != 0;
    if post_processed || req.limit <= 0 {
        usize::MAX
    } else {
        usize::try_from(req.limit).map_or(usize::MAX, |l| l.saturating_add(1))
    }
}

/// Checks the read revision against `view` and collects the matches.
pub fn plan(view: &dyn View, req: &RangeRequest) -> Result<RangePlan, StoreError> {
    let current = view.rev();
    let rev = if req.revision <= 0 {
        current
    } else {
        req.revision
    };
    if rev > current {
        return Err(StoreError::FutureRevision);
    }
    let compact_rev = view.compact_rev();
    if rev < compact_rev {
        return Err(StoreError::Compacted {
            compact_revision: compact_rev,
        });
    }
    let range = KeyRange::new(&req.key, &req.range_end);
    let limit = fetch_limit(req);
    let mut count = 0i64;
    let mut slots = Vec::new();
    if rev == current {
        view.visit_latest(range, &mut |kv| {
            count += 1;
            if slots.len() < limit {
                slots.push(Slot::Ready(kv.clone()));
            }
            true
        });
    } else {
        for (_, entry) in view.index().range(range) {
            let Some(mark) = entry.at(rev) else { continue };
            if mark.tombstone {
                continue;
            }
            count += 1;
            if slots.len() >= limit {
                continue;
            }
            slots.push(match &entry.latest {
                Some(kv) if kv.mod_revision == mark.rev.main => Slot::Ready(kv.clone()),
                _ => Slot::Fetch(mark.rev),
            });
        }
    }
    Ok(RangePlan {
        header_rev: current,
        compact_rev,
        count,
        slots,
    })
}

/// Whether `plan` needs RocksDB to finish.
pub fn needs_backend(plan: &RangePlan) -> bool {
    plan.slots.iter().any(|s| matches!(s, Slot::Fetch(_)))
}

fn resolve(plan: RangePlan, backend: &Backend) -> Result<Vec<Arc<KeyValue>>, StoreError> {
    let fetch: Vec<Revision> = plan
        .slots
        .iter()
        .filter_map(|s| match s {
            Slot::Fetch(rev) => Some(*rev),
            Slot::Ready(_) => None,
        })
        .collect();
    if fetch.is_empty() {
        return Ok(plan
            .slots
            .into_iter()
            .filter_map(|s| match s {
                Slot::Ready(kv) => Some(kv),
                Slot::Fetch(_) => None,
            })
            .collect());
    }
    let mut fetched = backend.records(&fetch)?.into_iter();
    let mut out = Vec::with_capacity(plan.slots.len());
    for slot in plan.slots {
        match slot {
            Slot::Ready(kv) => out.push(kv),
            Slot::Fetch(_) => match fetched.next().flatten() {
                Some(Record::Put(kv)) => out.push(Arc::new(kv)),
                // Removed by a compaction that ran after the plan was made.
                None => {
                    return Err(StoreError::Compacted {
                        compact_revision: plan.compact_rev,
                    });
                }
                Some(Record::Delete { .. }) => {
                    return Err(StoreError::Backend(
                        "index points at a delete record for a live key".to_string(),
                    ));
                }
            },
        }
    }
    Ok(out)
}

fn compare(target: SortTarget, a: &KeyValue, b: &KeyValue) -> Ordering {
    match target {
        SortTarget::Key => a.key.cmp(&b.key),
        SortTarget::Version => a.version.cmp(&b.version),
        SortTarget::Create => a.create_revision.cmp(&b.create_revision),
        SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
        SortTarget::Value => a.value.cmp(&b.value),
    }
}

/// Builds the response: values, revision filters, sort, limit, `more`.
/// The header carries only the revision; the caller fills the rest.
pub fn finish(
    plan: RangePlan,
    req: &RangeRequest,
    backend: &Backend,
) -> Result<RangeResponse, StoreError> {
    let header_rev = plan.header_rev;
    let count = plan.count;
    let mut kvs = resolve(plan, backend)?;
    if req.max_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision <= req.max_mod_revision);
    }
    if req.min_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision >= req.min_mod_revision);
    }
    if req.max_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision <= req.max_create_revision);
    }
    if req.min_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision >= req.min_create_revision);
    }
    // Values come in ascending key order: a non-key target without an order
    // sorts ascending, ascending by key needs nothing (etcd's rules).
    let order = match (req.sort_order, req.sort_target) {
        (SortOrder::None, SortTarget::Key) | (SortOrder::Ascend, SortTarget::Key) => None,
        (SortOrder::None, _) | (SortOrder::Ascend, _) => Some(false),
        (SortOrder::Descend, _) => Some(true),
    };
    if let Some(descending) = order {
        let target = req.sort_target;
        if descending {
            kvs.sort_by(|a, b| compare(target, b, a));
        } else {
            kvs.sort_by(|a, b| compare(target, a, b));
        }
    }
    let mut more = false;
    if let Ok(limit) = usize::try_from(req.limit)
        && limit > 0
        && kvs.len() > limit
    {
        kvs.truncate(limit);
        more = true;
    }
    let kvs = kvs
        .iter()
        .map(|kv| {
            if req.keys_only {
                KeyValue {
                    key: kv.key.clone(),
                    create_revision: kv.create_revision,
                    mod_revision: kv.mod_revision,
                    version: kv.version,
                    value: Vec::new(),
                    lease: kv.lease,
                }
            } else {
                KeyValue::clone(kv)
            }
        })
        .collect();
    Ok(RangeResponse {
        header: ResponseHeader {
            revision: header_rev,
            ..Default::default()
        },
        kvs,
        more,
        count,
    })
}
