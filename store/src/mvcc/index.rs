//! The in-memory key index (etcd's `treeIndex`): for every key, its latest
//! value (served directly for reads at the current revision) and the
//! revisions at which it changed since the compact revision (to find the
//! record of a historic read in RocksDB).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::kv::KeyValue;

use super::keyrange::KeyRange;
use super::revision::Revision;

/// One change of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub rev: Revision,
    pub tombstone: bool,
}

/// Everything the index knows about one key.
#[derive(Debug, Default)]
pub struct KeyEntry {
    /// The value at the current revision; `None` when the key is deleted.
    pub latest: Option<Arc<KeyValue>>,
    /// Changes in ascending revision order.
    pub marks: Vec<Mark>,
}

impl KeyEntry {
    /// The change in effect at main revision `rev`.
    pub fn at(&self, rev: i64) -> Option<Mark> {
        let n = self.marks.partition_point(|m| m.rev.main <= rev);
        n.checked_sub(1).map(|i| self.marks[i])
    }

    /// The change just before `rev`.
    pub fn before(&self, rev: Revision) -> Option<Mark> {
        let n = self.marks.partition_point(|m| m.rev < rev);
        n.checked_sub(1).map(|i| self.marks[i])
    }

    /// Whether `rev` is one of this key's recorded changes.
    pub fn has(&self, rev: Revision) -> bool {
        self.marks.binary_search_by(|m| m.rev.cmp(&rev)).is_ok()
    }
}

#[derive(Debug, Default)]
pub struct Index {
    keys: BTreeMap<Vec<u8>, KeyEntry>,
}

impl Index {
    /// The live value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Arc<KeyValue>> {
        self.keys.get(key).and_then(|e| e.latest.as_ref())
    }

    pub fn entry(&self, key: &[u8]) -> Option<&KeyEntry> {
        self.keys.get(key)
    }

    /// Entries (live or deleted) whose key is in `range`, in key order.
    pub fn range<'s>(
        &'s self,
        range: KeyRange<'_>,
    ) -> Box<dyn Iterator<Item = (&'s Vec<u8>, &'s KeyEntry)> + 's> {
        match range {
            KeyRange::Single(k) => Box::new(self.keys.get_key_value(k).into_iter()),
            other => match other.bounds() {
                Some(bounds) => Box::new(self.keys.range::<[u8], _>(bounds)),
                None => Box::new(std::iter::empty()),
            },
        }
    }

    /// Records a put of `kv` at `rev`.
    pub fn put(&mut self, kv: Arc<KeyValue>, rev: Revision) {
        let entry = match self.keys.get_mut(&kv.key) {
            Some(entry) => entry,
            None => self.keys.entry(kv.key.clone()).or_default(),
        };
        entry.marks.push(Mark {
            rev,
            tombstone: false,
        });
        entry.latest = Some(kv);
    }

    /// Records a delete of `key` at `rev`.
    pub fn delete(&mut self, key: &[u8], rev: Revision) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.marks.push(Mark {
                rev,
                tombstone: true,
            });
            entry.latest = None;
        }
    }

    /// Records a delete found in history while rebuilding the index, where
    /// the key may have no earlier record (it was compacted away).
    pub fn restore_delete(&mut self, key: &[u8], rev: Revision) {
        let entry = match self.keys.get_mut(key) {
            Some(entry) => entry,
            None => self.keys.entry(key.to_vec()).or_default(),
        };
        entry.marks.push(Mark {
            rev,
            tombstone: true,
        });
        entry.latest = None;
    }

    /// Forgets every change made at or before `compact_rev` except the one
    /// in effect at `compact_rev` (and that one too when it is a delete),
    /// as etcd's `keyIndex.compact`. Returns the forgotten revisions, whose
    /// records may be removed from disk.
    pub fn compact(&mut self, compact_rev: i64) -> Vec<Revision> {
        let mut removed = Vec::new();
        self.keys.retain(|_, entry| {
            let in_effect = entry.marks.partition_point(|m| m.rev.main <= compact_rev);
            if in_effect == 0 {
                return true;
            }
            let keep_from = if entry.marks[in_effect - 1].tombstone {
                in_effect
            } else {
                in_effect - 1
            };
            removed.extend(entry.marks.drain(..keep_from).map(|m| m.rev));
            !entry.marks.is_empty() || entry.latest.is_some()
        });
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, rev: i64) -> Arc<KeyValue> {
        Arc::new(KeyValue {
            key: key.as_bytes().to_vec(),
            mod_revision: rev,
            ..Default::default()
        })
    }

    #[test]
    fn compaction_keeps_the_value_in_effect_and_drops_deleted_keys() {
        let mut index = Index::default();
        index.put(kv("a", 2), Revision::new(2, 0));
        index.put(kv("a", 3), Revision::new(3, 0));
        index.put(kv("b", 4), Revision::new(4, 0));
        index.delete(b"b", Revision::new(5, 0));
        index.put(kv("a", 6), Revision::new(6, 0));

        let mut removed = index.compact(5);
        removed.sort();
        assert_eq!(
            removed,
            vec![
                Revision::new(2, 0),
                Revision::new(4, 0),
                Revision::new(5, 0)
            ]
        );
        let a = index.entry(b"a").map(|e| e.marks.clone());
        assert_eq!(
            a.map(|m| m.iter().map(|m| m.rev.main).collect::<Vec<_>>()),
            Some(vec![3, 6])
        );
        assert!(index.entry(b"b").is_none());
        assert_eq!(
            index.entry(b"a").and_then(|e| e.at(4)).map(|m| m.rev.main),
            Some(3)
        );
    }
}
