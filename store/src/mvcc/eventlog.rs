//! The shared in-memory stream of committed events: the most recent
//! revisions' events, appended by the writer once they are durable and
//! read by every watcher from its own cursor (etcd's synced watcher group,
//! without copying events per watcher). Older revisions fall out and are
//! replayed from RocksDB by the watchers that still need them.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use crate::kv::{EventType, KeyValue};

use super::revision::Revision;

/// One change as the engine keeps it. For a delete, `kv` holds only the
/// key and the deleting revision.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub rev: Revision,
    pub kind: EventType,
    pub kv: Arc<KeyValue>,
    pub prev: Option<Arc<KeyValue>>,
}

/// All events of one revision.
#[derive(Debug)]
pub struct RevEvents {
    pub rev: i64,
    pub events: Vec<StoredEvent>,
}

impl RevEvents {
    fn weight(&self) -> usize {
        self.events
            .iter()
            .map(|e| 64 + e.kv.key.len() + e.kv.value.len())
            .sum()
    }
}

#[derive(Default)]
struct Inner {
    revs: VecDeque<Arc<RevEvents>>,
    events: usize,
    bytes: usize,
}

pub struct EventLog {
    inner: RwLock<Inner>,
    max_events: usize,
    max_bytes: usize,
}

/// What the log can give a watcher whose next revision is `from`.
pub enum LogRead {
    /// Revisions `>= from` (possibly none yet), in order.
    Revs(Vec<Arc<RevEvents>>),
    /// `from` is older than anything kept; history must come from disk up
    /// to (excluding) this revision, or to the end when `None`.
    Behind(Option<i64>),
}

impl EventLog {
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        EventLog {
            inner: RwLock::new(Inner::default()),
            max_events: max_events.max(1),
            max_bytes,
        }
    }

    /// Appends committed revisions (in order) and drops the oldest beyond
    /// the limits, always keeping the newest revision.
    pub fn push(&self, revs: Vec<Arc<RevEvents>>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for rev in revs {
            inner.events += rev.events.len();
            inner.bytes += rev.weight();
            inner.revs.push_back(rev);
        }
        while inner.revs.len() > 1
            && (inner.events > self.max_events || inner.bytes > self.max_bytes)
        {
            if let Some(old) = inner.revs.pop_front() {
                inner.events -= old.events.len();
                inner.bytes -= old.weight();
            }
        }
    }

    /// Up to `max` revisions in `[from, upto]`.
    pub fn read(&self, from: i64, upto: i64, max: usize) -> LogRead {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        match inner.revs.front() {
            Some(first) if first.rev <= from => {
                let start = inner.revs.partition_point(|r| r.rev < from);
                LogRead::Revs(
                    inner
                        .revs
                        .range(start..)
                        .take_while(|r| r.rev <= upto)
                        .take(max)
                        .cloned()
                        .collect(),
                )
            }
            Some(first) => LogRead::Behind(Some(first.rev)),
            None => LogRead::Behind(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(n: i64) -> Arc<RevEvents> {
        Arc::new(RevEvents {
            rev: n,
            events: vec![StoredEvent {
                rev: Revision::new(n, 0),
                kind: EventType::Put,
                kv: Arc::new(KeyValue::default()),
                prev: None,
            }],
        })
    }

    #[test]
    fn keeps_the_newest_revisions_and_reports_when_a_reader_is_behind() {
        let log = EventLog::new(3, usize::MAX);
        assert!(matches!(log.read(2, 10, 10), LogRead::Behind(None)));
        log.push((2..=6).map(rev).collect());
        match log.read(2, 10, 10) {
            LogRead::Behind(first) => assert_eq!(first, Some(4)),
            LogRead::Revs(_) => panic!("revision 2 was evicted"),
        }
        match log.read(5, 5, 10) {
            LogRead::Revs(revs) => {
                assert_eq!(revs.iter().map(|r| r.rev).collect::<Vec<_>>(), vec![5])
            }
            LogRead::Behind(_) => panic!("revision 5 is kept"),
        }
    }
}
