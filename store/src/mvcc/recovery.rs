//! Rebuilding the published state on open: the key index and current
//! revision from the history records, the compact revision from metadata
//! (finishing a compaction a crash interrupted), and the leases with their
//! attached keys.

use std::sync::Arc;
use std::time::Instant;

use rocksdb::WriteBatch;

use crate::error::StoreError;

use super::backend::{Backend, CF_HISTORY, META_APPLIED, META_COMPACT_REVISION, META_REVISION};
use super::codec::{self, Record};
use super::lease::Lessor;
use super::revision::Revision;
use super::view::State;

/// Removes `revs` from history without waiting for the disk (losing this
/// work in a crash only leaves garbage that the next open removes again).
pub fn remove_records(backend: &Backend, revs: &[Revision]) -> Result<(), StoreError> {
    let cf = backend.cf(CF_HISTORY)?;
    for chunk in revs.chunks(4096) {
        let mut batch = WriteBatch::default();
        for rev in chunk {
            batch.delete_cf(cf, rev.to_bytes());
        }
        backend.write_lazy(batch)?;
    }
    Ok(())
}

pub fn recover(backend: &Backend) -> Result<(State, Lessor), StoreError> {
    let mut state = State::default();
    let mut last = 0i64;
    let mut records = 0u64;
    backend.scan_history(Revision::new(0, 0), |rev, bytes| {
        match codec::decode(rev, bytes)? {
            Record::Put(kv) => state.index.put(Arc::new(kv), rev),
            Record::Delete { key } => state.index.restore_delete(&key, rev),
        }
        last = last.max(rev.main);
        records += 1;
        Ok(true)
    })?;
    state.compact_rev = backend.meta_i64(META_COMPACT_REVISION)?.unwrap_or(0);
    state.rev = backend
        .meta_i64(META_REVISION)?
        .unwrap_or(1)
        .max(last)
        .max(state.compact_rev)
        .max(1);
    state.applied = backend.meta_i64(META_APPLIED)?.unwrap_or(0).max(0) as u64;
    if state.compact_rev > 0 {
        let leftover = state.index.compact(state.compact_rev);
        if !leftover.is_empty() {
            tracing::info!(
                records = leftover.len(),
                "finishing an interrupted compaction"
            );
            remove_records(backend, &leftover)?;
        }
    }

    let mut lessor = Lessor::default();
    let now = Instant::now();
    for (id, ttl) in backend.leases()? {
        lessor.grant(id, ttl, now);
    }
    for (key, entry) in state.index.range(super::keyrange::KeyRange::From(&[])) {
        if let Some(kv) = &entry.latest
            && kv.lease != 0
        {
            lessor.attach(kv.lease, key);
        }
    }
    tracing::info!(
        revision = state.rev,
        compact_revision = state.compact_rev,
        records,
        "recovered store"
    );
    Ok((state, lessor))
}
