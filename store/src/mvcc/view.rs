//! What a read needs to see of the store: the published [`State`] (key
//! index and revisions) or, inside the writer, that state plus the not yet
//! durable changes of the current commit group. Both implement [`View`].

use std::sync::Arc;

use crate::kv::KeyValue;

use super::index::Index;
use super::keyrange::KeyRange;

/// The published state. Readers hold its read lock only while they walk
/// the index; the writer takes the write lock only to publish a durable
/// commit group.
#[derive(Debug, Default)]
pub struct State {
    pub index: Index,
    /// The revision of the last durable and visible write.
    pub rev: i64,
    pub compact_rev: i64,
    /// Write requests applied so far (reported as the raft index).
    pub applied: u64,
}

/// A consistent picture of the key space at one revision.
pub trait View {
    /// The revision this view is at.
    fn rev(&self) -> i64;
    fn compact_rev(&self) -> i64;
    /// The key index of published history (revisions up to the published
    /// revision).
    fn index(&self) -> &Index;
    /// The live value of `key` in this view.
    fn latest(&self, key: &[u8]) -> Option<Arc<KeyValue>>;
    /// Calls `visit` with every live value in `range`, in key order, until
    /// it returns `false`.
    fn visit_latest(&self, range: KeyRange<'_>, visit: &mut dyn FnMut(&Arc<KeyValue>) -> bool);
}

impl View for State {
    fn rev(&self) -> i64 {
        self.rev
    }

    fn compact_rev(&self) -> i64 {
        self.compact_rev
    }

    fn index(&self) -> &Index {
        &self.index
    }

    fn latest(&self, key: &[u8]) -> Option<Arc<KeyValue>> {
        self.index.get(key).cloned()
    }

    fn visit_latest(&self, range: KeyRange<'_>, visit: &mut dyn FnMut(&Arc<KeyValue>) -> bool) {
        for (_, entry) in self.index.range(range) {
            if let Some(kv) = &entry.latest
                && !visit(kv)
            {
                return;
            }
        }
    }
}
