//! etcd's `Watch` service: one bidirectional stream multiplexes many
//! watches. A session task per stream owns the watch table; each watch's
//! [`Kv::watch`] stream is forwarded into the session by a small task, so
//! every response leaves through one ordered channel.
//!
//! Answers, as etcd sends them:
//! - create: `created: true` with the store revision in the header, then
//!   events. Ids come from the client (`watch_id != 0`) or are the lowest
//!   free id counting up from 0. A compacted start revision gives `created`
//!   followed by `canceled: true` with `compact_revision` set.
//! - cancel: `canceled: true` for a known id; unknown ids are ignored.
//! - `RequestProgress`: once every watch on the stream is synced, one empty
//!   response with `watch_id: -1` and the lowest synced revision (etcd 3.5).
//! - progress notify (`progress_notify: true`): empty responses with the
//!   watch's own id.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;

use etcd_client::proto::{PbWatchRequest, PbWatchRequestUnion, PbWatchResponse, PbWatchService};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::error::StoreError;
use crate::grpc::convert::{event_to_pb, header_to_pb};
use crate::grpc::header::current_header;
use crate::grpc::leader::require_leader;
use crate::kv::{Kv, ResponseHeader, WatchRequest, WatchResponse};

/// etcd's error text for a client-chosen id that is already in use.
const DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";
/// `watch_id` of a `RequestProgress` answer: it concerns every watch.
const ALL_WATCHES: i64 = -1;
const OUT_BUFFER: usize = 256;
const FEED_BUFFER: usize = 256;

pub struct WatchService {
    kv: Arc<dyn Kv>,
}

impl WatchService {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        WatchService { kv }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<PbWatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl PbWatchService for WatchService {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        req: Request<Streaming<PbWatchRequest>>,
    ) -> Result<Response<WatchStream>, Status> {
        require_leader(&self.kv, req.metadata()).await?;
        let incoming = req.into_inner();
        let (out_tx, out_rx) = mpsc::channel(OUT_BUFFER);
        tokio::spawn(Session::new(self.kv.clone(), out_tx).run(incoming));
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }
}

/// One item from a watch's store stream; `item == None` when it ended.
struct Feed {
    seq: u64,
    item: Option<Result<WatchResponse, StoreError>>,
}

struct ActiveWatch {
    seq: u64,
    progress: mpsc::UnboundedSender<()>,
    task: JoinHandle<()>,
    /// `RequestProgress` asks not yet answered by this watch.
    pending_progress: u32,
}

impl Drop for ActiveWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `RequestProgress` waiting for every watch to report its synced revision.
struct ProgressRound {
    waiting: HashSet<u64>,
    lowest: Option<ResponseHeader>,
    owed: usize,
}

/// The client went away; the session ends.
struct Closed;

struct Session {
    kv: Arc<dyn Kv>,
    out: mpsc::Sender<Result<PbWatchResponse, Status>>,
    feed_tx: mpsc::Sender<Feed>,
    feed_rx: Option<mpsc::Receiver<Feed>>,
    watches: HashMap<i64, ActiveWatch>,
    ids: HashMap<u64, i64>,
    next_id: i64,
    next_seq: u64,
    round: Option<ProgressRound>,
}

impl Session {
    fn new(kv: Arc<dyn Kv>, out: mpsc::Sender<Result<PbWatchResponse, Status>>) -> Self {
        let (feed_tx, feed_rx) = mpsc::channel(FEED_BUFFER);
        Session {
            kv,
            out,
            feed_tx,
            feed_rx: Some(feed_rx),
            watches: HashMap::new(),
            ids: HashMap::new(),
            next_id: 0,
            next_seq: 0,
            round: None,
        }
    }

    async fn run(mut self, mut incoming: Streaming<PbWatchRequest>) {
        let Some(mut feed_rx) = self.feed_rx.take() else {
            return;
        };
        loop {
            let step = tokio::select! {
                msg = incoming.next() => match msg {
                    Some(Ok(req)) => self.on_request(req).await,
                    Some(Err(status)) => {
                        tracing::debug!(%status, "watch stream receive ended");
                        Err(Closed)
                    }
                    None => Err(Closed),
                },
                Some(feed) = feed_rx.recv() => self.on_feed(feed).await,
                _ = self.out.closed() => Err(Closed),
            };
            if step.is_err() {
                break;
            }
        }
        tracing::debug!(watches = self.watches.len(), "watch stream closed");
    }

    async fn send(&self, resp: PbWatchResponse) -> Result<(), Closed> {
        self.out.send(Ok(resp)).await.map_err(|_| Closed)
    }

    /// The store's current header, as etcd puts in created/canceled answers.
    async fn current_header(&self) -> Result<ResponseHeader, StoreError> {
        current_header(self.kv.as_ref()).await
    }

    async fn on_request(&mut self, req: PbWatchRequest) -> Result<(), Closed> {
        match req.request_union {
            Some(PbWatchRequestUnion::CreateRequest(c)) => {
                let filters = (c.filters.contains(&0), c.filters.contains(&1));
                let create = WatchRequest {
                    key: c.key,
                    range_end: c.range_end,
                    start_revision: c.start_revision,
                    prev_kv: c.prev_kv,
                    no_put: filters.0,
                    no_delete: filters.1,
                    progress_notify: c.progress_notify,
                };
                self.create(c.watch_id, create).await
            }
            Some(PbWatchRequestUnion::CancelRequest(c)) => self.cancel(c.watch_id).await,
            Some(PbWatchRequestUnion::ProgressRequest(_)) => self.request_progress().await,
            None => Ok(()),
        }
    }

    fn pick_id(&mut self, requested: i64) -> Option<i64> {
        if requested != 0 {
            return (!self.watches.contains_key(&requested)).then_some(requested);
        }
        while self.watches.contains_key(&self.next_id) {
            self.next_id += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        Some(id)
    }

    async fn create(&mut self, requested: i64, mut req: WatchRequest) -> Result<(), Closed> {
        let header = match self.current_header().await {
            Ok(h) => h,
            Err(e) => return self.refuse_create(requested, None, e.to_string()).await,
        };
        let Some(id) = self.pick_id(requested) else {
            return self
                .refuse_create(requested, Some(header), DUPLICATE_ID.to_string())
                .await;
        };
        if req.start_revision == 0 {
            // "From now on" means after the revision the created answer shows.
            req.start_revision = header.revision + 1;
        }
        let watch = match self.kv.watch(req).await {
            Ok(w) => w,
            Err(StoreError::Compacted { compact_revision }) => {
                self.send(created(id, &header)).await?;
                return self.send(compacted(id, &header, compact_revision)).await;
            }
            Err(e) => return self.refuse_create(id, Some(header), e.to_string()).await,
        };
        self.send(created(id, &header)).await?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let task = tokio::spawn(forward(seq, watch.responses, self.feed_tx.clone()));
        self.ids.insert(seq, id);
        self.watches.insert(
            id,
            ActiveWatch {
                seq,
                progress: watch.progress,
                task,
                pending_progress: 0,
            },
        );
        Ok(())
    }

    async fn refuse_create(
        &self,
        id: i64,
        header: Option<ResponseHeader>,
        reason: String,
    ) -> Result<(), Closed> {
        let mut resp = created(id, &header.unwrap_or_default());
        resp.canceled = true;
        resp.cancel_reason = reason;
        self.send(resp).await
    }

    async fn cancel(&mut self, id: i64) -> Result<(), Closed> {
        if !self.watches.contains_key(&id) {
            return Ok(());
        }
        self.remove(id).await?;
        let header = self.current_header().await.unwrap_or_default();
        self.send(PbWatchResponse {
            header: Some(header_to_pb(&header)),
            watch_id: id,
            canceled: true,
            ..Default::default()
        })
        .await
    }

    /// Drops a watch and settles a progress round that was waiting on it.
    async fn remove(&mut self, id: i64) -> Result<(), Closed> {
        if let Some(w) = self.watches.remove(&id) {
            self.ids.remove(&w.seq);
            if let Some(round) = self.round.as_mut() {
                round.waiting.remove(&w.seq);
            }
            return self.finish_round_if_done().await;
        }
        Ok(())
    }

    async fn request_progress(&mut self) -> Result<(), Closed> {
        if self.watches.is_empty() {
            let header = self.current_header().await.unwrap_or_default();
            return self.send(progress(ALL_WATCHES, &header)).await;
        }
        if let Some(round) = self.round.as_mut() {
            round.owed += 1;
            return Ok(());
        }
        let mut waiting = HashSet::new();
        for w in self.watches.values_mut() {
            if w.progress.send(()).is_ok() {
                w.pending_progress += 1;
                waiting.insert(w.seq);
            }
        }
        self.round = Some(ProgressRound {
            waiting,
            lowest: None,
            owed: 1,
        });
        self.finish_round_if_done().await
    }

    async fn finish_round_if_done(&mut self) -> Result<(), Closed> {
        if !self.round.as_ref().is_some_and(|r| r.waiting.is_empty()) {
            return Ok(());
        }
        let Some(round) = self.round.take() else {
            return Ok(());
        };
        let header = match round.lowest {
            Some(h) => h,
            None => self.current_header().await.unwrap_or_default(),
        };
        for _ in 0..round.owed {
            self.send(progress(ALL_WATCHES, &header)).await?;
        }
        Ok(())
    }

    async fn on_feed(&mut self, feed: Feed) -> Result<(), Closed> {
        let Some(&id) = self.ids.get(&feed.seq) else {
            return Ok(()); // a watch canceled while its answer was queued
        };
        match feed.item {
            Some(Ok(WatchResponse::Events { header, events })) => {
                self.send(PbWatchResponse {
                    header: Some(header_to_pb(&header)),
                    watch_id: id,
                    events: events.into_iter().map(event_to_pb).collect(),
                    ..Default::default()
                })
                .await
            }
            Some(Ok(WatchResponse::Progress { header })) => self.on_progress(id, header).await,
            Some(Ok(WatchResponse::Compacted {
                header,
                compact_revision,
            })) => {
                self.remove(id).await?;
                self.send(compacted(id, &header, compact_revision)).await
            }
            Some(Err(StoreError::Compacted { compact_revision })) => {
                self.remove(id).await?;
                let header = self.current_header().await.unwrap_or_default();
                self.send(compacted(id, &header, compact_revision)).await
            }
            Some(Err(e)) => self.end_watch(id, e.to_string()).await,
            None => self.end_watch(id, "watch ended".to_string()).await,
        }
    }

    async fn on_progress(&mut self, id: i64, header: ResponseHeader) -> Result<(), Closed> {
        let Some(w) = self.watches.get_mut(&id) else {
            return Ok(());
        };
        if w.pending_progress == 0 {
            return self.send(progress(id, &header)).await;
        }
        w.pending_progress -= 1;
        let seq = w.seq;
        if let Some(round) = self.round.as_mut()
            && round.waiting.remove(&seq)
            && round.lowest.is_none_or(|l| header.revision < l.revision)
        {
            round.lowest = Some(header);
        }
        self.finish_round_if_done().await
    }

    async fn end_watch(&mut self, id: i64, reason: String) -> Result<(), Closed> {
        tracing::warn!(watch_id = id, %reason, "watch ended by the store");
        self.remove(id).await?;
        let header = self.current_header().await.unwrap_or_default();
        self.send(PbWatchResponse {
            header: Some(header_to_pb(&header)),
            watch_id: id,
            canceled: true,
            cancel_reason: reason,
            ..Default::default()
        })
        .await
    }
}

async fn forward(
    seq: u64,
    mut responses: BoxStream<'static, Result<WatchResponse, StoreError>>,
    feed: mpsc::Sender<Feed>,
) {
    loop {
        let item = responses.next().await;
        let last = matches!(
            item,
            None | Some(Err(_)) | Some(Ok(WatchResponse::Compacted { .. }))
        );
        if feed.send(Feed { seq, item }).await.is_err() || last {
            return;
        }
    }
}

fn created(id: i64, header: &ResponseHeader) -> PbWatchResponse {
    PbWatchResponse {
        header: Some(header_to_pb(header)),
        watch_id: id,
        created: true,
        ..Default::default()
    }
}

fn compacted(id: i64, header: &ResponseHeader, compact_revision: i64) -> PbWatchResponse {
    PbWatchResponse {
        header: Some(header_to_pb(header)),
        watch_id: id,
        canceled: true,
        compact_revision,
        ..Default::default()
    }
}

fn progress(id: i64, header: &ResponseHeader) -> PbWatchResponse {
    PbWatchResponse {
        header: Some(header_to_pb(header)),
        watch_id: id,
        ..Default::default()
    }
}
