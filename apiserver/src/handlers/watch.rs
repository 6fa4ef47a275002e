//! WATCH: a chunked stream of `{"type":..,"object":..}` lines, from a
//! resourceVersion or from the current state (synthetic ADDED events), with
//! selectors, bookmarks, `sendInitialEvents`, `timeoutSeconds`, and 410
//! Expired as an ERROR event when the start revision was compacted.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use store::{EventType, WatchRequest, WatchResponse, prefix_end};
use tokio::sync::mpsc;

use super::Ctx;
use super::read::{include_object, list_options, partial_metadata};
use crate::error::{ApiError, ApiResult};
use crate::negotiate::Output;
use crate::printers::IncludeObject;
use crate::registry::list::{self, ListOptions, matches};
use crate::registry::store::decode;
use crate::registry::{ObjectStore, Resource};
use crate::watch_cache::{Batch, Subscription, WatchCache};

/// How often an idle watch with bookmarks asks the store for progress.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

struct Encoder {
    output: Output,
    include: IncludeObject,
    res: std::sync::Arc<Resource>,
    sent_header: bool,
}

impl Encoder {
    fn event(&mut self, kind: &str, obj: Value) -> Bytes {
        let object = match self.output {
            Output::Table if kind != "ERROR" && kind != "BOOKMARK" => {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                let mut t = self.res.table(
                    std::slice::from_ref(&obj),
                    json!({"resourceVersion": rv}),
                    self.include,
                    chrono::Utc::now(),
                );
                if self.sent_header {
                    t["columnDefinitions"] = json!([]);
                }
                self.sent_header = true;
                t
            }
            Output::PartialObjectMetadata if kind != "ERROR" => partial_metadata(&obj),
            _ => obj,
        };
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

fn bookmark(res: &Resource, rv: i64, initial_end: bool) -> Value {
    let mut obj = json!({
        "kind": res.info.kind,
        "apiVersion": res.info.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
    });
    if initial_end {
        obj["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    obj
}

pub async fn watch(ctx: &Ctx) -> ApiResult<Response> {
    let mut opts = list_options(ctx)?;
    if let Some(name) = &ctx.info.name {
        // /watch/.../<name>: a watch of one object.
        let sel = format!("metadata.name={name}");
        opts.field_selector = crate::selectors::FieldSelector::parse(&sel)?;
    }
    list::check_field_selector(&ctx.res, &opts.field_selector)?;
    let bookmarks = ctx
        .param("allowWatchBookmarks")
        .is_some_and(|v| v == "true" || v == "1");
    let send_initial = ctx
        .param("sendInitialEvents")
        .map(|v| v == "true" || v == "1");
    let rv = opts.resource_version.clone().unwrap_or_default();
    if send_initial == Some(true) && ctx.param("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "ListOptions",
            "",
            vec![crate::validation::forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            )],
        ));
    }
    let timeout = ctx
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_else(|| Duration::from_secs(1800 + rand::random::<u64>() % 1800));
    let initial = send_initial.unwrap_or(rv.is_empty() || rv == "0");
    let start_after: Option<i64> = if initial {
        None
    } else {
        Some(
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
        )
    };

    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let encoder = Encoder {
        output: ctx.output,
        include: include_object(ctx),
        res: ctx.res.clone(),
        sent_header: false,
    };
    let job = WatchJob {
        store: ctx.state.store.clone(),
        caches: ctx.state.watch_cache.clone(),
        any_freshness: initial && rv == "0",
        res: ctx.res.clone(),
        namespace: ctx.ns().map(str::to_string),
        opts,
        bookmarks,
        send_initial: send_initial == Some(true),
        start_after,
        encoder,
        tx,
    };
    // A custom resource's watch also ends when its CRD changes or goes.
    let definition_changed =
        crate::crd::until_definition_changes(ctx.state.clone(), ctx.res.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::timeout(timeout, job.run()) => {}
            _ = definition_changed => {}
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

struct WatchJob {
    store: ObjectStore,
    caches: Arc<WatchCache>,
    /// `resourceVersion=0`: initial state from the cache, however fresh.
    any_freshness: bool,
    res: Arc<Resource>,
    namespace: Option<String>,
    opts: ListOptions,
    bookmarks: bool,
    send_initial: bool,
    start_after: Option<i64>,
    encoder: Encoder,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
}

/// The client went away.
struct Closed;

impl WatchJob {
    async fn send(&mut self, kind: &str, obj: Value) -> Result<(), Closed> {
        let line = self.encoder.event(kind, obj);
        self.tx.send(Ok(line)).await.map_err(|_| Closed)
    }

    async fn send_error(&mut self, err: ApiError) -> Result<(), Closed> {
        self.send("ERROR", err.status()).await
    }

    /// Initial events (when asked for), then changes: from the watch cache
    /// when it reaches back far enough, else from a direct store watch.
    async fn run(mut self) -> Result<(), Closed> {
        let cache = match self.caches.get(&ObjectStore::prefix(&self.res, None)).await {
            Ok(c) => c,
            Err(e) => return self.send_error(e).await,
        };
        let prefix = ObjectStore::prefix(&self.res, self.namespace.as_deref());
        let (from, subscription) = match self.start_after {
            Some(rv) => (rv, cache.subscribe_from(rv)),
            None if self.any_freshness => {
                let (objects, revision, live) = cache.snapshot(&prefix);
                for kv in objects {
                    if let Ok(obj) = decode(&self.res, &kv)
                        && matches(
                            &self.res,
                            &obj,
                            &self.opts.label_selector,
                            &self.opts.field_selector,
                        )
                    {
                        self.send("ADDED", obj).await?;
                    }
                }
                self.initial_events_end(revision).await?;
                let sub = Subscription {
                    backlog: Vec::new(),
                    live,
                };
                (revision, Some(sub))
            }
            None => {
                let mut all = self.opts.clone();
                all.limit = 0;
                all.continue_token = None;
                all.resource_version = None;
                all.resource_version_match = None;
                let ns = self.namespace.clone();
                let listed = match list::list(&self.store, &self.res, ns.as_deref(), &all).await {
                    Ok(l) => l,
                    Err(e) => return self.send_error(e).await,
                };
                for obj in listed.items {
                    self.send("ADDED", obj).await?;
                }
                self.initial_events_end(listed.resource_version).await?;
                (
                    listed.resource_version,
                    cache.subscribe_from(listed.resource_version),
                )
            }
        };
        match subscription {
            Some(sub) => self.stream_cached(sub, from, &prefix).await,
            None => self.stream_direct(from, prefix).await,
        }
    }

    async fn initial_events_end(&mut self, revision: i64) -> Result<(), Closed> {
        if self.send_initial && self.bookmarks {
            let b = bookmark(&self.res, revision, true);
            self.send("BOOKMARK", b).await?;
        }
        Ok(())
    }

    /// Streams cached batches after `from`. A watcher that falls too far
    /// behind, or a cache that restarts, ends the stream: the client watches
    /// again from its last resourceVersion, as with upstream.
    async fn stream_cached(
        &mut self,
        sub: Subscription,
        from: i64,
        prefix: &[u8],
    ) -> Result<(), Closed> {
        let mut last = from;
        for batch in sub.backlog {
            self.deliver(&batch, &mut last, prefix).await?;
        }
        let mut live = sub.live;
        loop {
            tokio::select! {
                next = live.recv() => match next {
                    Ok(batch) if batch.reset => return Ok(()),
                    Ok(batch) => self.deliver(&batch, &mut last, prefix).await?,
                    Err(_) => return Ok(()),
                },
                _ = self.tx.closed() => return Err(Closed),
            }
        }
    }

    async fn deliver(
        &mut self,
        batch: &Batch,
        last: &mut i64,
        prefix: &[u8],
    ) -> Result<(), Closed> {
        if batch.revision <= *last {
            return Ok(());
        }
        *last = batch.revision;
        if batch.events.is_empty() {
            if self.bookmarks {
                let b = bookmark(&self.res, batch.revision, false);
                self.send("BOOKMARK", b).await?;
            }
            return Ok(());
        }
        for ev in &batch.events {
            if ev.kv.key.starts_with(prefix) {
                self.forward(ev.clone()).await?;
            }
        }
        Ok(())
    }

    /// A direct store watch from `from` (older than the cache's window).
    async fn stream_direct(&mut self, from: i64, prefix: Vec<u8>) -> Result<(), Closed> {
        let request = WatchRequest {
            range_end: prefix_end(&prefix),
            key: prefix,
            start_revision: from + 1,
            prev_kv: true,
            progress_notify: self.bookmarks,
            ..Default::default()
        };
        let mut watch = match self.store.kv().watch(request).await {
            Ok(w) => w,
            Err(e) => return self.send_error(e.into()).await,
        };
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        loop {
            tokio::select! {
                next = watch.responses.next() => {
                    match next {
                        None => return Ok(()),
                        Some(Err(e)) => return self.send_error(e.into()).await,
                        Some(Ok(WatchResponse::Compacted { compact_revision, .. })) => {
                            let e = ApiError::expired(format!(
                                "too old resource version: {from} ({compact_revision})"
                            ));
                            return self.send_error(e).await;
                        }
                        Some(Ok(WatchResponse::Progress { header })) => {
                            if self.bookmarks {
                                let b = bookmark(&self.res, header.revision, false);
                                self.send("BOOKMARK", b).await?;
                            }
                        }
                        Some(Ok(WatchResponse::Events { events, .. })) => {
                            for ev in events {
                                self.forward(ev).await?;
                            }
                        }
                    }
                }
                _ = ticker.tick(), if self.bookmarks => {
                    let _ = watch.progress.send(());
                }
                _ = self.tx.closed() => return Err(Closed),
            }
        }
    }

    /// Turns one store event into zero or one watch event, applying
    /// selectors to the old and new object as upstream does.
    async fn forward(&mut self, ev: store::Event) -> Result<(), Closed> {
        let new = match ev.kind {
            EventType::Put => decode(&self.res, &ev.kv).ok(),
            EventType::Delete => None,
        };
        let old = ev
            .prev_kv
            .as_ref()
            .and_then(|kv| decode(&self.res, kv).ok());
        let matching = |o: &Option<Value>| {
            o.as_ref().is_some_and(|o| {
                matches(
                    &self.res,
                    o,
                    &self.opts.label_selector,
                    &self.opts.field_selector,
                )
            })
        };
        let (new_ok, old_ok) = (matching(&new), matching(&old));
        let rv = ev.kv.mod_revision.to_string();
        match (new, new_ok, old, old_ok) {
            (Some(n), true, _, true) => self.send("MODIFIED", n).await,
            (Some(n), true, _, false) => self.send("ADDED", n).await,
            (Some(_), false, Some(mut o), true) | (None, _, Some(mut o), true) => {
                crate::meta::meta_mut(&mut o).insert("resourceVersion".into(), Value::String(rv));
                self.send("DELETED", o).await
            }
            _ => Ok(()),
        }
    }
}
