//! The watch cache: one store watch per stored resource, shared by every
//! watcher of that resource (upstream's `cacher`). Each cache holds the
//! current objects (for `resourceVersion=0` lists and initial events) and a
//! window of recent events, and fans new events out over a broadcast
//! channel. A watcher that starts before the window falls back to a direct
//! store watch (which answers 410 once the revision is compacted).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use store::{EventType, KeyValue, Kv, RangeRequest, WatchRequest, WatchResponse, prefix_end};
use tokio::sync::broadcast;
use tracing::{debug, warn};

use crate::error::ApiResult;

/// Events kept for watchers that start a little in the past.
const WINDOW_EVENTS: usize = 4096;
/// Batches a slow watcher may fall behind before it is cut off.
const CHANNEL_CAPACITY: usize = 1024;
/// How often the cache asks the store for progress (bookmarks).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Events of one store revision (or none: a progress notification).
#[derive(Debug)]
pub struct Batch {
    pub revision: i64,
    pub events: Vec<store::Event>,
    /// The cache lost its store watch: watchers must start over.
    pub reset: bool,
}

struct Inner {
    objects: BTreeMap<Vec<u8>, KeyValue>,
    revision: i64,
    window: VecDeque<Arc<Batch>>,
    /// Watchers may start from any revision >= this one.
    oldest: i64,
}

/// The cache of one stored resource (all namespaces).
pub struct ResourceCache {
    inner: RwLock<Inner>,
    tx: broadcast::Sender<Arc<Batch>>,
}

/// What a watcher gets: the buffered batches after its revision, then the
/// live ones.
pub struct Subscription {
    pub backlog: Vec<Arc<Batch>>,
    pub live: broadcast::Receiver<Arc<Batch>>,
}

impl ResourceCache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Events after `revision`, or None when the window does not reach back
    /// that far.
    pub fn subscribe_from(&self, revision: i64) -> Option<Subscription> {
        let inner = self.read();
        if revision < inner.oldest {
            return None;
        }
        let live = self.tx.subscribe();
        let backlog = inner
            .window
            .iter()
            .filter(|b| b.revision > revision)
            .cloned()
            .collect();
        Some(Subscription { backlog, live })
    }

    /// The current objects under `prefix`, their revision, and a live
    /// subscription that continues right after it.
    pub fn snapshot(&self, prefix: &[u8]) -> (Vec<KeyValue>, i64, broadcast::Receiver<Arc<Batch>>) {
        let inner = self.read();
        let live = self.tx.subscribe();
        let end = prefix_end(prefix);
        let objects = inner
            .objects
            .range(prefix.to_vec()..end)
            .map(|(_, kv)| kv.clone())
            .collect();
        (objects, inner.revision, live)
    }

    fn apply(&self, revision: i64, events: Vec<store::Event>) {
        let batch = {
            let mut inner = self.write();
            for ev in &events {
                match ev.kind {
                    EventType::Put => {
                        inner.objects.insert(ev.kv.key.clone(), ev.kv.clone());
                    }
                    EventType::Delete => {
                        inner.objects.remove(&ev.kv.key);
                    }
                }
            }
            inner.revision = inner.revision.max(revision);
            let batch = Arc::new(Batch {
                revision,
                events,
                reset: false,
            });
            if !batch.events.is_empty() {
                inner.window.push_back(batch.clone());
                let mut held: usize = inner.window.iter().map(|b| b.events.len()).sum();
                while held > WINDOW_EVENTS {
                    if let Some(old) = inner.window.pop_front() {
                        held -= old.events.len();
                        inner.oldest = old.revision;
                    } else {
                        break;
                    }
                }
            }
            batch
        };
        let _ = self.tx.send(batch);
    }

    fn reset(&self, objects: BTreeMap<Vec<u8>, KeyValue>, revision: i64) {
        {
            let mut inner = self.write();
            inner.objects = objects;
            inner.revision = revision;
            inner.window.clear();
            inner.oldest = revision;
        }
        let _ = self.tx.send(Arc::new(Batch {
            revision,
            events: Vec::new(),
            reset: true,
        }));
    }
}

/// Every resource cache of one server, started on first use.
pub struct WatchCache {
    kv: Arc<dyn Kv>,
    caches: Mutex<HashMap<Vec<u8>, Arc<ResourceCache>>>,
    /// Serializes first-use start-up so one resource gets one cache.
    starting: tokio::sync::Mutex<()>,
}

async fn load(kv: &dyn Kv, prefix: &[u8]) -> ApiResult<(BTreeMap<Vec<u8>, KeyValue>, i64)> {
    let mut req = RangeRequest::prefix(prefix.to_vec());
    req.revision = 0;
    let resp = kv.range(req).await?;
    let objects = resp
        .kvs
        .into_iter()
        .map(|kv| (kv.key.clone(), kv))
        .collect();
    Ok((objects, resp.header.revision))
}

impl WatchCache {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        WatchCache {
            kv,
            caches: Mutex::new(HashMap::new()),
            starting: tokio::sync::Mutex::new(()),
        }
    }

    fn existing(&self, prefix: &[u8]) -> Option<Arc<ResourceCache>> {
        self.caches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(prefix)
            .cloned()
    }

    /// The cache of the resource stored under `prefix` ("/registry/pods/").
    pub async fn get(&self, prefix: &[u8]) -> ApiResult<Arc<ResourceCache>> {
        if let Some(c) = self.existing(prefix) {
            return Ok(c);
        }
        let _guard = self.starting.lock().await;
        if let Some(c) = self.existing(prefix) {
            return Ok(c);
        }
        let (objects, revision) = load(self.kv.as_ref(), prefix).await?;
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        let cache = Arc::new(ResourceCache {
            inner: RwLock::new(Inner {
                objects,
                revision,
                window: VecDeque::new(),
                oldest: revision,
            }),
            tx,
        });
        tokio::spawn(follow(
            self.kv.clone(),
            prefix.to_vec(),
            cache.clone(),
            revision,
        ));
        self.caches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(prefix.to_vec(), cache.clone());
        Ok(cache)
    }
}

/// Keeps `cache` in step with the store, restarting the store watch (and
/// resetting the cache) whenever it ends.
async fn follow(kv: Arc<dyn Kv>, prefix: Vec<u8>, cache: Arc<ResourceCache>, mut revision: i64) {
    loop {
        let request = WatchRequest {
            key: prefix.clone(),
            range_end: prefix_end(&prefix),
            start_revision: revision + 1,
            prev_kv: true,
            progress_notify: true,
            ..Default::default()
        };
        match kv.watch(request).await {
            Ok(mut watch) => {
                let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
                loop {
                    tokio::select! {
                        next = watch.responses.next() => match next {
                            Some(Ok(WatchResponse::Events { events, .. })) => {
                                // Split the batch by revision: one Batch per revision.
                                let mut current: Vec<store::Event> = Vec::new();
                                let mut rev = 0;
                                for ev in events {
                                    if ev.kv.mod_revision != rev && !current.is_empty() {
                                        cache.apply(rev, std::mem::take(&mut current));
                                    }
                                    rev = ev.kv.mod_revision;
                                    current.push(ev);
                                }
                                if !current.is_empty() {
                                    cache.apply(rev, current);
                                }
                                revision = revision.max(rev);
                            }
                            Some(Ok(WatchResponse::Progress { header })) => {
                                revision = revision.max(header.revision);
                                cache.apply(header.revision, Vec::new());
                            }
                            Some(Ok(WatchResponse::Compacted { .. })) | Some(Err(_)) | None => break,
                        },
                        _ = ticker.tick() => {
                            let _ = watch.progress.send(());
                        }
                    }
                }
            }
            Err(e) => warn!(error = %e, "watch cache: store watch failed"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        match load(kv.as_ref(), &prefix).await {
            Ok((objects, rev)) => {
                debug!(prefix = %String::from_utf8_lossy(&prefix), rev, "watch cache reset");
                revision = rev;
                cache.reset(objects, rev);
            }
            Err(e) => warn!(error = %e, "watch cache: reload failed"),
        }
    }
}
