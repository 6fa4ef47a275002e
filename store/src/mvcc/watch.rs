//! One watcher: a cursor (the next revision it needs) over the shared
//! event log, falling back to a RocksDB replay while it is behind the log
//! (etcd's unsynced group), then following the log again. It yields whole
//! revisions in order, answers progress requests once synced, and sends
//! idle progress notifications when asked to.

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::error::StoreError;
use crate::kv::{Event, EventType, KeyValue, Watch, WatchRequest, WatchResponse};

use super::codec::{self, Record};
use super::eventlog::{LogRead, RevEvents, StoredEvent};
use super::keyrange::KeyRange;
use super::revision::Revision;
use super::shared::Shared;

/// Most revisions in one response (etcd's `watchBatchMaxRevs`).
const MAX_REVS_PER_RESPONSE: usize = 1000;

struct Filter {
    key: Vec<u8>,
    range_end: Vec<u8>,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
}

impl Filter {
    fn wants_key(&self, key: &[u8]) -> bool {
        KeyRange::new(&self.key, &self.range_end).contains(key)
    }

    fn wants(&self, kind: EventType, key: &[u8]) -> bool {
        let kind_ok = match kind {
            EventType::Put => !self.no_put,
            EventType::Delete => !self.no_delete,
        };
        kind_ok && self.wants_key(key)
    }

    fn to_event(&self, ev: &StoredEvent) -> Event {
        Event {
            kind: ev.kind,
            kv: KeyValue::clone(&ev.kv),
            prev_kv: if self.prev_kv {
                ev.prev.as_deref().cloned()
            } else {
                None
            },
        }
    }
}

enum Step {
    Events(Vec<Event>),
    Compacted(i64),
}

struct Cursor {
    shared: Arc<Shared>,
    filter: Filter,
    next_rev: i64,
    published: watch::Receiver<i64>,
    progress: Option<mpsc::UnboundedReceiver<()>>,
    progress_requested: bool,
    notify: bool,
    last_sent: Instant,
    /// Set once the stream must end (after a compacted response or when
    /// the engine is gone).
    finished: bool,
    compacted_at_start: Option<i64>,
}

/// Starts a watch.
pub fn open(shared: Arc<Shared>, req: WatchRequest) -> Watch {
    let (progress_tx, progress_rx) = mpsc::unbounded_channel();
    let mut published = shared.published.clone();
    let now = *published.borrow_and_update();
    let compact_rev = shared.state().compact_rev;
    let compacted_at_start =
        (req.start_revision > 0 && req.start_revision < compact_rev).then_some(compact_rev);
    let cursor = Cursor {
        filter: Filter {
            key: req.key,
            range_end: req.range_end,
            prev_kv: req.prev_kv,
            no_put: req.no_put,
            no_delete: req.no_delete,
        },
        next_rev: if req.start_revision > 0 {
            req.start_revision
        } else {
            now + 1
        },
        published,
        progress: Some(progress_rx),
        progress_requested: false,
        notify: req.progress_notify,
        last_sent: Instant::now(),
        finished: false,
        compacted_at_start,
        shared,
    };
    let responses = futures::stream::unfold(cursor, |mut cursor| async move {
        cursor.next_response().await.map(|r| (r, cursor))
    })
    .boxed();
    Watch {
        responses,
        progress: progress_tx,
    }
}

impl Cursor {
    async fn next_response(&mut self) -> Option<Result<WatchResponse, StoreError>> {
        if self.finished {
            return None;
        }
        if let Some(compact_rev) = self.compacted_at_start.take() {
            return Some(Ok(self.compacted(compact_rev)));
        }
        loop {
            let published = *self.published.borrow_and_update();
            if self.next_rev <= published {
                match self.step(published).await {
                    Err(err) => {
                        self.finished = true;
                        return Some(Err(err));
                    }
                    Ok(Step::Compacted(compact_rev)) => {
                        return Some(Ok(self.compacted(compact_rev)));
                    }
                    Ok(Step::Events(events)) if !events.is_empty() => {
                        self.last_sent = Instant::now();
                        return Some(Ok(WatchResponse::Events {
                            header: self.shared.header(published),
                            events,
                        }));
                    }
                    Ok(Step::Events(_)) => continue,
                }
            }
            // Synced: everything up to `published` has been delivered.
            if self.progress_requested {
                self.progress_requested = false;
                return Some(Ok(self.progress(published)));
            }
            let deadline = self.last_sent + self.shared.options.progress_notify_interval;
            let notify = self.notify;
            tokio::select! {
                changed = self.published.changed() => {
                    if changed.is_err() {
                        self.finished = true;
                        return None;
                    }
                }
                asked = recv_progress(&mut self.progress) => {
                    match asked {
                        Some(()) => self.progress_requested = true,
                        None => self.progress = None,
                    }
                }
                _ = tokio::time::sleep_until(deadline), if notify => {
                    return Some(Ok(self.progress(published)));
                }
            }
        }
    }

    fn progress(&mut self, published: i64) -> WatchResponse {
        self.last_sent = Instant::now();
        WatchResponse::Progress {
            header: self.shared.header(published),
        }
    }

    fn compacted(&mut self, compact_rev: i64) -> WatchResponse {
        self.finished = true;
        WatchResponse::Compacted {
            header: self.shared.header(self.shared.current_rev()),
            compact_revision: compact_rev,
        }
    }

    /// Moves the cursor forward by up to [`MAX_REVS_PER_RESPONSE`]
    /// revisions (at most to `published`) and returns the matching events.
    async fn step(&mut self, published: i64) -> Result<Step, StoreError> {
        let upto = match self
            .shared
            .log
            .read(self.next_rev, published, MAX_REVS_PER_RESPONSE)
        {
            LogRead::Revs(revs) => {
                let mut events = Vec::new();
                for rev in &revs {
                    self.collect(rev, &mut events);
                }
                self.next_rev = match revs.last() {
                    Some(last) if revs.len() == MAX_REVS_PER_RESPONSE => last.rev + 1,
                    _ => published + 1,
                };
                return Ok(Step::Events(events));
            }
            LogRead::Behind(Some(first_in_log)) => (first_in_log - 1).min(published),
            LogRead::Behind(None) => published,
        };
        let shared = self.shared.clone();
        let from = self.next_rev;
        let key = self.filter.key.clone();
        let range_end = self.filter.range_end.clone();
        let replay =
            tokio::task::spawn_blocking(move || replay(&shared, from, upto, &key, &range_end))
                .await
                .map_err(|e| StoreError::Backend(format!("watch replay task failed: {e}")))??;
        match replay {
            Replay::Compacted(rev) => Ok(Step::Compacted(rev)),
            Replay::Revs { revs, next } => {
                let mut events = Vec::new();
                for rev in &revs {
                    self.collect(rev, &mut events);
                }
                self.next_rev = next;
                Ok(Step::Events(events))
            }
        }
    }

    fn collect(&self, rev: &RevEvents, out: &mut Vec<Event>) {
        for ev in &rev.events {
            if self.filter.wants(ev.kind, &ev.kv.key) {
                out.push(self.filter.to_event(ev));
            }
        }
    }
}

async fn recv_progress(rx: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

enum Replay {
    Compacted(i64),
    /// Revisions read (only events in the watched range), and the next
    /// revision to read.
    Revs {
        revs: Vec<RevEvents>,
        next: i64,
    },
}

/// Reads revisions `[from, upto]` (at most [`MAX_REVS_PER_RESPONSE`]) from
/// RocksDB, keeping events on keys in the watched range, with their
/// previous values.
fn replay(
    shared: &Shared,
    from: i64,
    upto: i64,
    key: &[u8],
    range_end: &[u8],
) -> Result<Replay, StoreError> {
    let compact_rev = shared.state().compact_rev;
    if from < compact_rev {
        return Ok(Replay::Compacted(compact_rev));
    }
    let range = KeyRange::new(key, range_end);
    let mut revs: Vec<RevEvents> = Vec::new();
    let mut seen_revs = 0usize;
    let mut last_main = from - 1;
    let mut resume_at = None;
    shared
        .backend
        .scan_history(Revision::new(from, 0), |rev, bytes| {
            if rev.main > upto {
                return Ok(false);
            }
            if rev.main != last_main {
                if seen_revs == MAX_REVS_PER_RESPONSE {
                    resume_at = Some(rev.main);
                    return Ok(false);
                }
                seen_revs += 1;
                last_main = rev.main;
            }
            let record = codec::decode(rev, bytes)?;
            if !range.contains(record.key()) {
                return Ok(true);
            }
            let (kind, kv) = match record {
                Record::Put(kv) => (EventType::Put, kv),
                Record::Delete { key } => (
                    EventType::Delete,
                    KeyValue {
                        key,
                        mod_revision: rev.main,
                        ..Default::default()
                    },
                ),
            };
            let event = StoredEvent {
                rev,
                kind,
                kv: Arc::new(kv),
                prev: None,
            };
            match revs.last_mut() {
                Some(last) if last.rev == rev.main => last.events.push(event),
                _ => revs.push(RevEvents {
                    rev: rev.main,
                    events: vec![event],
                }),
            }
            Ok(true)
        })?;
    // A compaction that ran during the scan may have removed events.
    let compact_after = shared.state().compact_rev;
    if from < compact_after {
        return Ok(Replay::Compacted(compact_after));
    }
    attach_prev(shared, &mut revs)?;
    Ok(Replay::Revs {
        revs,
        next: resume_at.unwrap_or(upto + 1),
    })
}

/// Fills `prev` of replayed events with the key's value just before the
/// event (absent when it was compacted away, as in etcd).
fn attach_prev(shared: &Shared, revs: &mut [RevEvents]) -> Result<(), StoreError> {
    let mut wanted: Vec<(usize, usize, Revision)> = Vec::new();
    {
        let state = shared.state();
        for (i, rev) in revs.iter().enumerate() {
            for (j, ev) in rev.events.iter().enumerate() {
                if let Some(mark) = state.index.entry(&ev.kv.key).and_then(|e| e.before(ev.rev))
                    && !mark.tombstone
                {
                    wanted.push((i, j, mark.rev));
                }
            }
        }
    }
    let at: Vec<Revision> = wanted.iter().map(|w| w.2).collect();
    let records = shared.backend.records(&at)?;
    for ((i, j, _), record) in wanted.into_iter().zip(records) {
        if let Some(Record::Put(kv)) = record {
            revs[i].events[j].prev = Some(Arc::new(kv));
        }
    }
    Ok(())
}
