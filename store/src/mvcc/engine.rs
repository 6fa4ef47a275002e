//! [`Engine`]: opening the store, the [`Kv`] implementation (reads served
//! from the published state, writes sent to the writer thread), and the
//! maintenance calls the gRPC front end needs (hash, defragment).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use async_trait::async_trait;
use tokio::sync::{oneshot, watch as tokio_watch};

use crate::error::StoreError;
use crate::kv::{
    CompactResponse, DeleteRangeRequest, DeleteRangeResponse, Kv, LeaseGrantResponse,
    LeaseKeepAliveResponse, LeaseTimeToLiveResponse, Member, PutRequest, PutResponse, RangeRequest,
    RangeResponse, ResponseHeader, StatusResponse, TxnRequest, TxnResponse, Watch, WatchRequest,
};

use super::backend::{Backend, CF_HISTORY, CF_LEASE, CF_META, Durability, META_TERM};
use super::checks;
use super::eventlog::EventLog;
use super::options::EngineOptions;
use super::range;
use super::recovery;
use super::shared::Shared;
use super::txn;
use super::writer::WriteCmd;
use super::writer_handle::WriterHandle;
use super::{expiry, hash, watch};

/// The version reported by `Status` (kube-apiserver requires >= 3.5.13).
pub const ETCD_VERSION: &str = "3.5.17";

/// The embedded MVCC engine. Dropping the last handle stops its threads
/// and closes RocksDB (watch streams still held keep it open until they
/// are dropped; they end once the engine is gone).
pub struct Engine {
    pub(super) shared: Arc<Shared>,
    pub(super) writer: WriterHandle,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

impl Engine {
    /// Opens (or creates) the store in `data_dir` and recovers its state.
    pub fn open(data_dir: &Path, options: EngineOptions) -> Result<Arc<Engine>, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Backend(format!("create {}: {e}", data_dir.display())))?;
        let backend = Backend::open(data_dir, options.durability, options.journal.clone())?;
        for cf in [CF_HISTORY, CF_META, CF_LEASE] {
            backend.cf(cf)?;
        }
        // Every start is a new term, like a single-member etcd electing itself.
        let term = backend.meta_i64(META_TERM)?.unwrap_or(1).max(1) + 1;
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(backend.cf(CF_META)?, META_TERM, term.to_le_bytes());
        backend.write_durable(batch)?;

        let (state, lessor) = recovery::recover(&backend)?;
        let mut url_parts: Vec<&[u8]> = vec![options.name.as_bytes()];
        url_parts.extend(options.peer_urls.iter().map(|u| u.as_bytes()));
        let member_id = options.member_id.unwrap_or_else(|| fnv1a(&url_parts));
        let cluster_id = options
            .cluster_id
            .unwrap_or_else(|| fnv1a(&[&member_id.to_be_bytes(), b"cluster"]));
        let (published_tx, published_rx) = tokio_watch::channel(state.rev);
        let shared = Arc::new(Shared {
            backend,
            state: RwLock::new(state),
            lessor: Mutex::new(lessor),
            log: EventLog::new(options.watch_log_events, options.watch_log_bytes),
            published: published_rx,
            cluster_id,
            member_id,
            term: AtomicU64::new(term as u64),
            options,
            poisoned: OnceLock::new(),
            shutdown: AtomicBool::new(false),
        });

        let (writer_tx, writer_rx) = mpsc::channel();
        // A standalone engine lets a request commit on its sender's thread
        // when the writer is idle; a replicated one keeps every commit on
        // the writer thread (see `writer_handle`).
        let inline = shared.options.durability == Durability::Journal;
        let (writer, writer_thread) =
            WriterHandle::start(shared.clone(), writer_rx, writer_tx, published_tx, inline)?;
        let mut threads = vec![writer_thread];
        if shared.options.expire_leases {
            let expiry_shared = shared.clone();
            let expiry_writer = writer.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("store-leases".to_string())
                    .spawn(move || expiry::run(expiry_shared, expiry_writer))
                    .map_err(|e| StoreError::Backend(format!("spawn lease expiry: {e}")))?,
            );
        }
        Ok(Arc::new(Engine {
            shared,
            writer,
            threads: Mutex::new(threads),
        }))
    }

    pub(super) async fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> WriteCmd,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer.submit(make(tx))?;
        rx.await
            .map_err(|_| StoreError::Backend("store writer stopped".to_string()))?
    }

    /// The revision below which history is gone.
    pub fn compact_revision(&self) -> i64 {
        self.shared.state().compact_rev
    }

    /// The current (published) revision.
    pub fn current_revision(&self) -> i64 {
        self.shared.current_rev()
    }

    /// etcd's `HashKV`: the header, a CRC-32C over history up to `revision`
    /// (0 = current), and the compact revision.
    pub async fn hash_kv(&self, revision: i64) -> Result<(ResponseHeader, u32, i64), StoreError> {
        let shared = self.shared.clone();
        let (_, crc, compact_rev) =
            tokio::task::spawn_blocking(move || hash::hash_kv(&shared, revision))
                .await
                .map_err(|e| StoreError::Backend(format!("hash task failed: {e}")))??;
        Ok((
            self.shared.header(self.shared.current_rev()),
            crc,
            compact_rev,
        ))
    }

    /// Rewrites RocksDB's files to reclaim the space of deleted history
    /// (etcd's defragment). Blocking: call from a blocking context.
    pub fn defragment(&self) -> Result<(), StoreError> {
        self.shared.backend.compact_all()
    }

    fn header_now(&self) -> ResponseHeader {
        self.shared.header(self.shared.current_rev())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        let _ = self.writer.submit(WriteCmd::Shutdown);
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in &threads {
            thread.thread().unpark();
        }
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("a store thread panicked");
            }
        }
    }
}

/// Runs `f` on the blocking pool (work that reads RocksDB).
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
}

#[async_trait]
impl Kv for Engine {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, StoreError> {
        checks::check_range(&req)?;
        let plan = range::plan(&*self.shared.state(), &req)?;
        let mut resp = if range::needs_backend(&plan) {
            let shared = self.shared.clone();
            blocking(move || range::finish(plan, &req, &shared.backend)).await?
        } else {
            range::finish(plan, &req, &self.shared.backend)?
        };
        resp.header = self.shared.header(resp.header.revision);
        Ok(resp)
    }

    async fn put(&self, req: PutRequest) -> Result<PutResponse, StoreError> {
        checks::check_put(&req)?;
        checks::check_size(checks::put_len(&req), self.shared.options.max_request_bytes)?;
        self.send(|reply| WriteCmd::Put(req, reply)).await
    }

    async fn delete_range(
        &self,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, StoreError> {
        checks::check_delete(&req)?;
        checks::check_size(
            checks::delete_len(&req),
            self.shared.options.max_request_bytes,
        )?;
        self.send(|reply| WriteCmd::Delete(req, reply)).await
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, StoreError> {
        checks::check_txn(&req, self.shared.options.max_txn_ops)?;
        if !txn::is_read_only(&req) {
            checks::check_size(checks::txn_len(&req), self.shared.options.max_request_bytes)?;
            return self.send(|reply| WriteCmd::Txn(req, reply)).await;
        }
        let shared = self.shared.clone();
        let reads_history = txn::reads_history(&req);
        let run = move || {
            let state = shared.state();
            let path = txn::compare_path(&*state, &req);
            txn::check_taken(&*state, &req, &path, &mut 0, &|_| true)?;
            let mut resp = txn::exec_read_only(&*state, &shared.backend, &req, &path, &mut 0)?;
            resp.header = shared.header(resp.header.revision);
            Ok(resp)
        };
        if reads_history {
            blocking(run).await
        } else {
            run()
        }
    }

    async fn compact(&self, revision: i64) -> Result<CompactResponse, StoreError> {
        let (header, removed) = self
            .send(|reply| WriteCmd::Compact {
                rev: revision,
                reply,
            })
            .await?;
        let shared = self.shared.clone();
        blocking(move || recovery::remove_records(&shared.backend, &removed)).await?;
        Ok(CompactResponse { header })
    }

    async fn watch(&self, req: WatchRequest) -> Result<Watch, StoreError> {
        Ok(watch::open(self.shared.clone(), req))
    }

    async fn lease_grant(&self, ttl: i64, id: i64) -> Result<LeaseGrantResponse, StoreError> {
        self.send(|reply| WriteCmd::LeaseGrant { id, ttl, reply })
            .await
    }

    async fn lease_revoke(&self, id: i64) -> Result<ResponseHeader, StoreError> {
        self.send(|reply| WriteCmd::LeaseRevoke { id, reply }).await
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<LeaseKeepAliveResponse, StoreError> {
        let ttl = self.shared.lessor().renew(id, Instant::now())?;
        Ok(LeaseKeepAliveResponse {
            header: self.header_now(),
            id,
            ttl,
        })
    }

    async fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
    ) -> Result<LeaseTimeToLiveResponse, StoreError> {
        let info = self.shared.lessor().info(id, Instant::now(), keys);
        let header = self.header_now();
        Ok(match info {
            Some(info) => LeaseTimeToLiveResponse {
                header,
                id,
                ttl: info.remaining,
                granted_ttl: info.granted,
                keys: info.keys,
            },
            None => LeaseTimeToLiveResponse {
                header,
                id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            },
        })
    }

    async fn lease_leases(&self) -> Result<(ResponseHeader, Vec<i64>), StoreError> {
        let ids = self.shared.lessor().ids();
        Ok((self.header_now(), ids))
    }

    async fn status(&self) -> Result<StatusResponse, StoreError> {
        let shared = self.shared.clone();
        let (db_size, db_size_in_use) = blocking(move || shared.backend.size()).await?;
        let (rev, applied) = {
            let state = self.shared.state();
            (state.rev, state.applied)
        };
        Ok(StatusResponse {
            header: self.shared.header(rev),
            version: ETCD_VERSION.to_string(),
            db_size,
            db_size_in_use,
            leader: self.shared.member_id,
            raft_index: applied,
            raft_term: self.shared.term.load(Ordering::Relaxed),
            raft_applied_index: applied,
            is_learner: false,
        })
    }

    async fn members(&self) -> Result<(ResponseHeader, Vec<Member>), StoreError> {
        let options = &self.shared.options;
        Ok((
            self.header_now(),
            vec![Member {
                id: self.shared.member_id,
                name: options.name.clone(),
                peer_urls: options.peer_urls.clone(),
                client_urls: options.client_urls.clone(),
                is_learner: false,
            }],
        ))
    }
}
