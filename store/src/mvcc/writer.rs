//! The single writer and its group commit. Its holder (the writer thread,
//! or a sender that found it idle: [`super::writer_handle`]) takes every
//! write request waiting in its queue, applies them in order on top of the
//! published state (each request that changes keys gets the next
//! revision), writes them durably at once, then publishes the changes
//! to readers, the lessor and watchers, and only then replies. Readers never
//! see a change before it is durable, nor part of a txn.

use std::collections::{BTreeMap, HashSet};
use std::mem;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use rocksdb::{ColumnFamily, WriteBatch};
use tokio::sync::{oneshot, watch};

use crate::error::StoreError;
use crate::kv::{
    DeleteRangeRequest, DeleteRangeResponse, EventType, KeyValue, LeaseGrantResponse, PutRequest,
    PutResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};

use super::backend::{
    CF_HISTORY, CF_LEASE, CF_META, META_APPLIED, META_COMPACT_REVISION, META_LOG_APPLIED,
    META_LOG_MEMBERSHIP, META_REVISION,
};
use super::codec;
use super::eventlog::{RevEvents, StoredEvent};
use super::index::Index;
use super::keyrange::KeyRange;
use super::lease::{LeaseIdGen, MAX_LEASE_TTL};
use super::op::LogMark;
use super::range;
use super::revision::Revision;
use super::shared::Shared;
use super::txn;
use super::view::{State, View};

/// Most requests in one commit group.
const MAX_GROUP: usize = 1024;

pub type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A request for the writer.
pub enum WriteCmd {
    Put(PutRequest, Reply<PutResponse>),
    Delete(DeleteRangeRequest, Reply<DeleteRangeResponse>),
    Txn(TxnRequest, Reply<TxnResponse>),
    LeaseGrant {
        id: i64,
        ttl: i64,
        reply: Reply<LeaseGrantResponse>,
    },
    LeaseRevoke {
        id: i64,
        reply: Reply<ResponseHeader>,
    },
    /// Answers with the forgotten revisions, to be removed from disk.
    Compact {
        rev: i64,
        reply: Reply<(ResponseHeader, Vec<Revision>)>,
    },
    /// A request decided by the replicated log: its changes and `mark` are
    /// written in one batch.
    Logged {
        cmd: Box<WriteCmd>,
        mark: LogMark,
    },
    /// A request of a log entry whose later requests follow (the entry's
    /// last request is a `Logged` with its mark): the group stays open
    /// until that one, so an entry's changes are never split between
    /// batches. Such requests must not start a group.
    LoggedPart(Box<WriteCmd>),
    /// A log entry without changes: only `mark` is written.
    Mark {
        mark: LogMark,
        reply: Reply<()>,
    },
    /// Replaces the whole store with a snapshot ([`Backend::dump`] bytes).
    Install {
        data: Vec<u8>,
        reply: Reply<()>,
    },
    Shutdown,
}

impl WriteCmd {
    /// Whether the request must not join a group that already holds
    /// undurable changes: it depends on the exact published state.
    fn starts_group(&self, published: i64) -> bool {
        match self {
            WriteCmd::Txn(req, _) => txn::reads_above(req, published),
            WriteCmd::LeaseRevoke { .. }
            | WriteCmd::Compact { .. }
            | WriteCmd::Install { .. }
            | WriteCmd::Shutdown => true,
            WriteCmd::Logged { cmd, .. } | WriteCmd::LoggedPart(cmd) => cmd.starts_group(published),
            WriteCmd::Put(..)
            | WriteCmd::Delete(..)
            | WriteCmd::LeaseGrant { .. }
            | WriteCmd::Mark { .. } => false,
        }
    }
}

/// The writer's own state. One holder at a time (see
/// [`super::writer_handle`]) takes the waiting requests in order, applies
/// them and commits them: the writer thread, or on a standalone engine a
/// caller that found the writer idle.
pub struct Writer {
    shared: Arc<Shared>,
    rx: Receiver<WriteCmd>,
    /// Dropped with the writer, which ends every watch.
    published_tx: watch::Sender<i64>,
    ids: LeaseIdGen,
    /// A request already taken from the queue, to start the next group.
    carry: Option<WriteCmd>,
    /// [`WriteCmd::Shutdown`] was taken, or every sender is gone.
    stopped: bool,
}

impl Writer {
    pub fn new(
        shared: Arc<Shared>,
        rx: Receiver<WriteCmd>,
        published_tx: watch::Sender<i64>,
    ) -> Self {
        let ids = LeaseIdGen::new(shared.member_id);
        Writer {
            shared,
            rx,
            published_tx,
            ids,
            carry: None,
            stopped: false,
        }
    }

    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Commits groups of waiting requests until none waits or `max_groups`
    /// were committed; answers whether requests may still be waiting.
    pub fn drain(&mut self, max_groups: usize) -> bool {
        for _ in 0..max_groups {
            match self.next_waiting() {
                Some(first) => self.group(first),
                None => return false,
            }
        }
        // Whether another request waits (kept to start the next group).
        self.carry = self.next_waiting();
        self.carry.is_some()
    }

    /// The next request to commit, without waiting (`None` once stopped).
    fn next_waiting(&mut self) -> Option<WriteCmd> {
        if self.stopped {
            return None;
        }
        if let Some(cmd) = self.carry.take() {
            return Some(cmd);
        }
        match self.rx.try_recv() {
            Ok(cmd) => Some(cmd),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.stopped = true;
                None
            }
        }
    }

    /// Applies `first` and the requests waiting behind it that may join it,
    /// then commits them together.
    fn group(&mut self, first: WriteCmd) {
        let shared = &*self.shared;
        let alone = match first {
            WriteCmd::Shutdown => {
                tracing::debug!("store writer stopped");
                self.stopped = true;
                return;
            }
            WriteCmd::Compact { rev, reply } => {
                let _ = reply.send(compact(shared, rev, None));
                return;
            }
            WriteCmd::Logged { cmd, mark } if matches!(*cmd, WriteCmd::Compact { .. }) => {
                if let WriteCmd::Compact { rev, reply } = *cmd {
                    let _ = reply.send(compact(shared, rev, Some(mark)));
                }
                return;
            }
            WriteCmd::Install { data, reply } => {
                let _ = reply.send(install(shared, &self.published_tx, &data));
                return;
            }
            WriteCmd::LeaseRevoke { .. } => true,
            WriteCmd::Logged { ref cmd, .. } => matches!(**cmd, WriteCmd::LeaseRevoke { .. }),
            _ => false,
        };
        let outcome = {
            let state = shared.state();
            let mut group = Group::new(shared, &state, &mut self.ids);
            group.apply(first);
            while !alone && (group.replies.len() < MAX_GROUP || group.mid_entry) {
                // Inside a log entry, wait for the rest of it (the entry's
                // requests are queued together).
                let next = if group.mid_entry {
                    self.rx.recv().map_err(|_| ())
                } else {
                    self.rx.try_recv().map_err(|_| ())
                };
                match next {
                    Ok(cmd) if !group.mid_entry && cmd.starts_group(state.rev) => {
                        self.carry = Some(cmd);
                        break;
                    }
                    Ok(cmd) => group.apply(cmd),
                    Err(_) => break,
                }
            }
            group.finish()
        };
        commit(shared, &self.published_tx, outcome);
    }
}

type Pending = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A key's overlay entry before a change (`None`: it had none), to undo a
/// request that failed half-way.
type Undo = (Vec<u8>, Option<Option<Arc<KeyValue>>>);

/// What a group leaves to commit.
struct Outcome {
    batch: WriteBatch,
    durable: bool,
    rev: i64,
    revs: Vec<Arc<RevEvents>>,
    grants: Vec<(i64, i64)>,
    revokes: Vec<i64>,
    replies: Vec<Pending>,
    applied: u64,
    mark: Option<LogMark>,
}

/// Requests applied on top of the published state, not yet durable.
struct Group<'a> {
    shared: &'a Shared,
    state: &'a State,
    ids: &'a mut LeaseIdGen,
    history_cf: Option<&'a ColumnFamily>,
    lease_cf: Option<&'a ColumnFamily>,
    /// Latest values of keys changed in this group (`None`: deleted).
    overlay: BTreeMap<Vec<u8>, Option<Arc<KeyValue>>>,
    /// The last revision given out.
    rev: i64,
    // The request being applied.
    txn_events: Vec<StoredEvent>,
    txn_records: Vec<(Revision, Vec<u8>)>,
    undo: Vec<Undo>,
    // The group's output.
    batch: WriteBatch,
    durable: bool,
    revs: Vec<Arc<RevEvents>>,
    grants: Vec<(i64, i64)>,
    granted: HashSet<i64>,
    revokes: Vec<i64>,
    replies: Vec<Pending>,
    applied: u64,
    /// The log entry of the last logged request in the group.
    mark: Option<LogMark>,
    /// The last request was a [`WriteCmd::LoggedPart`]: its entry is not
    /// complete yet.
    mid_entry: bool,
}

impl<'a> Group<'a> {
    fn new(shared: &'a Shared, state: &'a State, ids: &'a mut LeaseIdGen) -> Self {
        Group {
            history_cf: shared.backend.cf(CF_HISTORY).ok(),
            lease_cf: shared.backend.cf(CF_LEASE).ok(),
            shared,
            state,
            ids,
            overlay: BTreeMap::new(),
            rev: state.rev,
            txn_events: Vec::new(),
            txn_records: Vec::new(),
            undo: Vec::new(),
            batch: WriteBatch::default(),
            durable: false,
            revs: Vec::new(),
            grants: Vec::new(),
            granted: HashSet::new(),
            revokes: Vec::new(),
            replies: Vec::new(),
            applied: 0,
            mark: None,
            mid_entry: false,
        }
    }

    fn finish(self) -> Outcome {
        Outcome {
            batch: self.batch,
            durable: self.durable,
            rev: self.rev,
            revs: self.revs,
            grants: self.grants,
            revokes: self.revokes,
            replies: self.replies,
            applied: self.applied,
            mark: self.mark,
        }
    }

    fn apply(&mut self, cmd: WriteCmd) {
        let poisoned = self.shared.poisoned.get().cloned();
        self.applied += 1;
        match cmd {
            WriteCmd::Put(req, reply) => {
                let result = poisoned.map_or_else(|| self.top_put(req), Err);
                self.respond(reply, result);
            }
            WriteCmd::Delete(req, reply) => {
                let result = poisoned.map_or_else(|| self.top_delete(req), Err);
                self.respond(reply, result);
            }
            WriteCmd::Txn(req, reply) => {
                let result = poisoned.map_or_else(|| self.top_txn(req), Err);
                self.respond(reply, result);
            }
            WriteCmd::LeaseGrant { id, ttl, reply } => {
                let result = poisoned.map_or_else(|| self.lease_grant(id, ttl), Err);
                self.respond(reply, result);
            }
            WriteCmd::LeaseRevoke { id, reply } => {
                let result = poisoned.map_or_else(|| self.lease_revoke(id), Err);
                self.respond(reply, result);
            }
            WriteCmd::Compact { reply, .. } => {
                self.applied -= 1;
                let _ = reply.send(Err(StoreError::Backend(
                    "compaction inside a commit group".to_string(),
                )));
            }
            WriteCmd::LoggedPart(cmd) => {
                self.applied -= 1;
                self.mid_entry = true;
                self.apply(*cmd);
            }
            WriteCmd::Logged { cmd, mark } => {
                self.applied -= 1;
                self.mid_entry = false;
                // The mark goes with the changes: keep the latest one even
                // when a membership mark came earlier in the group.
                let membership = mark
                    .membership
                    .or_else(|| self.mark.take().and_then(|m| m.membership));
                self.mark = Some(LogMark {
                    applied: mark.applied,
                    membership,
                });
                self.apply(*cmd);
            }
            WriteCmd::Mark { mark, reply } => {
                let membership = mark
                    .membership
                    .or_else(|| self.mark.take().and_then(|m| m.membership));
                self.mark = Some(LogMark {
                    applied: mark.applied,
                    membership,
                });
                self.respond(reply, Ok(()));
            }
            WriteCmd::Install { reply, .. } => {
                self.applied -= 1;
                let _ = reply.send(Err(StoreError::Backend(
                    "snapshot install inside a commit group".to_string(),
                )));
            }
            WriteCmd::Shutdown => self.applied -= 1,
        }
    }

    /// Answers once the group is durable (or failed): even an error may
    /// depend on changes of this group.
    fn respond<T: Send + 'static>(&mut self, reply: Reply<T>, result: Result<T, StoreError>) {
        self.replies.push(Box::new(move |outcome| {
            let _ = reply.send(outcome.and(result));
        }));
    }

    fn lease_exists(&self, id: i64) -> bool {
        self.granted.contains(&id) || self.shared.lessor().contains(id)
    }

    fn history_cf(&self) -> Result<&'a ColumnFamily, StoreError> {
        self.history_cf
            .ok_or_else(|| StoreError::Backend("history column family missing".to_string()))
    }

    // --- one request = one revision -------------------------------------

    fn end(&mut self) -> Result<(), StoreError> {
        self.undo.clear();
        if self.txn_events.is_empty() {
            return Ok(());
        }
        let cf = self.history_cf()?;
        self.rev += 1;
        for (rev, bytes) in self.txn_records.drain(..) {
            self.batch.put_cf(cf, rev.to_bytes(), bytes);
        }
        self.durable = true;
        self.revs.push(Arc::new(RevEvents {
            rev: self.rev,
            events: mem::take(&mut self.txn_events),
        }));
        Ok(())
    }

    fn abort(&mut self) {
        while let Some((key, before)) = self.undo.pop() {
            match before {
                Some(value) => self.overlay.insert(key, value),
                None => self.overlay.remove(&key),
            };
        }
        self.txn_events.clear();
        self.txn_records.clear();
    }

    fn set_overlay(&mut self, key: Vec<u8>, value: Option<Arc<KeyValue>>) {
        let before = self.overlay.insert(key.clone(), value);
        self.undo.push((key, before));
    }

    fn next_rev(&self) -> Revision {
        Revision::new(self.rev + 1, self.txn_events.len() as i64)
    }

    fn put(&mut self, req: PutRequest) -> PutResponse {
        let prev = self.latest(&req.key);
        let rev = self.next_rev();
        let value = match (&prev, req.ignore_value) {
            (Some(prev), true) => prev.value.clone(),
            _ => req.value,
        };
        let lease = match (&prev, req.ignore_lease) {
            (Some(prev), true) => prev.lease,
            _ => req.lease,
        };
        let kv = Arc::new(KeyValue {
            create_revision: prev.as_ref().map_or(rev.main, |p| p.create_revision),
            mod_revision: rev.main,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            key: req.key,
            value,
            lease,
        });
        let mut bytes = Vec::new();
        codec::encode_put(&kv, &mut bytes);
        self.txn_records.push((rev, bytes));
        self.set_overlay(kv.key.clone(), Some(kv.clone()));
        let prev_kv = if req.prev_kv {
            prev.as_deref().cloned()
        } else {
            None
        };
        self.txn_events.push(StoredEvent {
            rev,
            kind: EventType::Put,
            kv,
            prev,
        });
        PutResponse {
            header: ResponseHeader {
                revision: rev.main,
                ..Default::default()
            },
            prev_kv,
        }
    }

    fn delete(&mut self, req: DeleteRangeRequest) -> DeleteRangeResponse {
        let mut victims: Vec<Arc<KeyValue>> = Vec::new();
        self.visit_latest(KeyRange::new(&req.key, &req.range_end), &mut |kv| {
            victims.push(kv.clone());
            true
        });
        for prev in &victims {
            let rev = self.next_rev();
            let mut bytes = Vec::new();
            codec::encode_delete(&prev.key, &mut bytes);
            self.txn_records.push((rev, bytes));
            self.set_overlay(prev.key.clone(), None);
            self.txn_events.push(StoredEvent {
                rev,
                kind: EventType::Delete,
                kv: Arc::new(KeyValue {
                    key: prev.key.clone(),
                    mod_revision: rev.main,
                    ..Default::default()
                }),
                prev: Some(prev.clone()),
            });
        }
        DeleteRangeResponse {
            header: ResponseHeader {
                revision: self.rev(),
                ..Default::default()
            },
            deleted: victims.len() as i64,
            prev_kvs: if req.prev_kv {
                victims.iter().map(|kv| KeyValue::clone(kv)).collect()
            } else {
                Vec::new()
            },
        }
    }

    fn exec(
        &mut self,
        req: TxnRequest,
        path: &[bool],
        pos: &mut usize,
    ) -> Result<TxnResponse, StoreError> {
        let succeeded = path.get(*pos).copied().unwrap_or(false);
        *pos += 1;
        let ops = if succeeded { req.success } else { req.failure };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            responses.push(match op {
                RequestOp::Range(r) => {
                    let plan = range::plan(&*self, &r)?;
                    ResponseOp::Range(range::finish(plan, &r, &self.shared.backend)?)
                }
                RequestOp::Put(p) => ResponseOp::Put(self.put(p)),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.delete(d)),
                RequestOp::Txn(t) => ResponseOp::Txn(self.exec(t, path, pos)?),
            });
        }
        Ok(TxnResponse {
            header: ResponseHeader::default(),
            succeeded,
            responses,
        })
    }

    // --- top-level requests ----------------------------------------------

    fn top_put(&mut self, req: PutRequest) -> Result<PutResponse, StoreError> {
        txn::check_put_state(&*self, &req, &|id| self.lease_exists(id))?;
        let mut resp = self.put(req);
        self.end()?;
        resp.header = self.shared.header(self.rev);
        Ok(resp)
    }

    fn top_delete(&mut self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse, StoreError> {
        let mut resp = self.delete(req);
        self.end()?;
        resp.header = self.shared.header(self.rev);
        Ok(resp)
    }

    fn top_txn(&mut self, req: TxnRequest) -> Result<TxnResponse, StoreError> {
        let path = txn::compare_path(&*self, &req);
        txn::check_taken(&*self, &req, &path, &mut 0, &|id| self.lease_exists(id))?;
        match self.exec(req, &path, &mut 0) {
            Ok(mut resp) => {
                self.end()?;
                resp.header = self.shared.header(self.rev);
                Ok(resp)
            }
            Err(err) => {
                self.abort();
                Err(err)
            }
        }
    }

    fn lease_grant(&mut self, id: i64, ttl: i64) -> Result<LeaseGrantResponse, StoreError> {
        if ttl > MAX_LEASE_TTL {
            return Err(StoreError::LeaseTtlTooLarge);
        }
        let id = if id == 0 {
            loop {
                let candidate = self.ids.next();
                if !self.lease_exists(candidate) {
                    break candidate;
                }
            }
        } else if self.lease_exists(id) {
            return Err(StoreError::LeaseExists);
        } else {
            id
        };
        let ttl = ttl.max(self.shared.options.min_lease_ttl);
        let cf = self
            .lease_cf
            .ok_or_else(|| StoreError::Backend("lease column family missing".to_string()))?;
        self.batch
            .put_cf(cf, codec::encode_lease_id(id), ttl.to_le_bytes());
        self.durable = true;
        self.grants.push((id, ttl));
        self.granted.insert(id);
        Ok(LeaseGrantResponse {
            header: self.shared.header(self.rev),
            id,
            ttl,
        })
    }

    /// Deletes the lease's keys in one revision and forgets the lease.
    /// Runs alone in its group, so the lessor's key set is exact.
    fn lease_revoke(&mut self, id: i64) -> Result<ResponseHeader, StoreError> {
        let keys = self
            .shared
            .lessor()
            .keys(id)
            .ok_or(StoreError::LeaseNotFound)?;
        for key in keys {
            self.delete(DeleteRangeRequest {
                key,
                range_end: Vec::new(),
                prev_kv: false,
            });
        }
        self.end()?;
        let cf = self
            .lease_cf
            .ok_or_else(|| StoreError::Backend("lease column family missing".to_string()))?;
        self.batch.delete_cf(cf, codec::encode_lease_id(id));
        self.durable = true;
        self.revokes.push(id);
        Ok(self.shared.header(self.rev))
    }
}

impl View for Group<'_> {
    fn rev(&self) -> i64 {
        self.rev + i64::from(!self.txn_events.is_empty())
    }

    fn compact_rev(&self) -> i64 {
        self.state.compact_rev
    }

    fn index(&self) -> &Index {
        &self.state.index
    }

    fn latest(&self, key: &[u8]) -> Option<Arc<KeyValue>> {
        match self.overlay.get(key) {
            Some(value) => value.clone(),
            None => self.state.index.get(key).cloned(),
        }
    }

    fn visit_latest(&self, range: KeyRange<'_>, visit: &mut dyn FnMut(&Arc<KeyValue>) -> bool) {
        if self.overlay.is_empty() {
            return self.state.visit_latest(range, visit);
        }
        if let KeyRange::Single(key) = range {
            if let Some(kv) = self.latest(key) {
                visit(&kv);
            }
            return;
        }
        let Some(bounds) = range.bounds() else { return };
        let mut base = self.state.index.range(range).peekable();
        let mut over = self.overlay.range::<[u8], _>(bounds).peekable();
        loop {
            let base_key = base.peek().map(|(k, _)| *k);
            let over_key = over.peek().map(|(k, _)| *k);
            let next = match (base_key, over_key) {
                (None, None) => return,
                (Some(b), Some(o)) if b < o => base.next().and_then(|(_, e)| e.latest.as_ref()),
                (Some(b), Some(o)) if b == o => {
                    base.next();
                    over.next().and_then(|(_, v)| v.as_ref())
                }
                (Some(_), None) => base.next().and_then(|(_, e)| e.latest.as_ref()),
                (_, Some(_)) => over.next().and_then(|(_, v)| v.as_ref()),
            };
            if let Some(kv) = next
                && !visit(kv)
            {
                return;
            }
        }
    }
}

/// Makes a group durable, then visible, then answers it.
fn commit(shared: &Shared, published_tx: &watch::Sender<i64>, mut out: Outcome) {
    let applied = shared.state().applied + out.applied;
    if out.durable || out.mark.is_some() {
        match shared.backend.cf(CF_META) {
            Ok(meta) => {
                out.batch.put_cf(meta, META_REVISION, out.rev.to_le_bytes());
                out.batch
                    .put_cf(meta, META_APPLIED, (applied as i64).to_le_bytes());
                if let Some(mark) = &out.mark {
                    put_mark(&mut out.batch, meta, mark);
                }
            }
            Err(err) => return fail(shared, out.replies, err),
        }
        // Logged requests are durable in the replicated log already; a
        // crash only loses changes the log applies again (the mark travels
        // in the same batch).
        let written = if out.mark.is_some() {
            shared.backend.write_lazy(out.batch)
        } else {
            shared.backend.write_durable(out.batch)
        };
        if let Err(err) = written {
            return fail(shared, out.replies, err);
        }
    }
    {
        let mut state = shared.state_mut();
        for rev in &out.revs {
            for ev in &rev.events {
                match ev.kind {
                    EventType::Put => state.index.put(ev.kv.clone(), ev.rev),
                    EventType::Delete => state.index.delete(&ev.kv.key, ev.rev),
                }
            }
        }
        state.rev = out.rev;
        state.applied = applied;
    }
    if !out.grants.is_empty() || !out.revokes.is_empty() || !out.revs.is_empty() {
        let now = Instant::now();
        let mut lessor = shared.lessor();
        for (id, ttl) in &out.grants {
            lessor.grant(*id, *ttl, now);
        }
        for ev in out.revs.iter().flat_map(|r| r.events.iter()) {
            let prev_lease = ev.prev.as_ref().map_or(0, |p| p.lease);
            let new_lease = match ev.kind {
                EventType::Put => ev.kv.lease,
                EventType::Delete => 0,
            };
            if prev_lease != 0 && prev_lease != new_lease {
                lessor.detach(prev_lease, &ev.kv.key);
            }
            if new_lease != 0 {
                lessor.attach(new_lease, &ev.kv.key);
            }
        }
        for id in &out.revokes {
            lessor.remove(*id);
        }
    }
    if !out.revs.is_empty() {
        shared.log.push(out.revs);
        published_tx.send_replace(out.rev);
    }
    for reply in out.replies {
        reply(Ok(()));
    }
}

fn fail(shared: &Shared, replies: Vec<Pending>, err: StoreError) {
    tracing::error!(%err, "durable write failed; the store refuses further writes");
    let _ = shared.poisoned.set(err.clone());
    for reply in replies {
        reply(Err(err.clone()));
    }
}

fn put_mark(batch: &mut WriteBatch, meta: &ColumnFamily, mark: &LogMark) {
    batch.put_cf(meta, META_LOG_APPLIED, &mark.applied);
    if let Some(membership) = &mark.membership {
        batch.put_cf(meta, META_LOG_MEMBERSHIP, membership);
    }
}

/// Moves the compact revision to `rev` (durably) and prunes the index.
fn compact(
    shared: &Shared,
    rev: i64,
    mark: Option<LogMark>,
) -> Result<(ResponseHeader, Vec<Revision>), StoreError> {
    if let Some(err) = shared.poisoned.get() {
        return Err(err.clone());
    }
    let (current, compact_rev, applied) = {
        let state = shared.state();
        (state.rev, state.compact_rev, state.applied + 1)
    };
    let meta = shared.backend.cf(CF_META)?;
    let refusal = if rev <= compact_rev {
        Some(StoreError::Compacted {
            compact_revision: compact_rev,
        })
    } else if rev > current {
        Some(StoreError::FutureRevision)
    } else {
        None
    };
    if let Some(err) = refusal {
        if let Some(mark) = &mark {
            let mut batch = WriteBatch::default();
            put_mark(&mut batch, meta, mark);
            shared.backend.write_lazy(batch)?;
        }
        return Err(err);
    }
    let mut batch = WriteBatch::default();
    batch.put_cf(meta, META_COMPACT_REVISION, rev.to_le_bytes());
    batch.put_cf(meta, META_APPLIED, (applied as i64).to_le_bytes());
    match &mark {
        Some(mark) => {
            put_mark(&mut batch, meta, mark);
            shared.backend.write_lazy(batch)?;
        }
        None => shared.backend.write_durable(batch)?,
    }
    let removed = {
        let mut state = shared.state_mut();
        state.compact_rev = rev;
        state.applied = applied;
        state.index.compact(rev)
    };
    tracing::info!(
        revision = rev,
        removed = removed.len(),
        "compacted key index"
    );
    Ok((shared.header(current), removed))
}

/// Replaces every record with those of a snapshot, then rebuilds the
/// published state from them (as on open) and wakes watchers.
fn install(
    shared: &Shared,
    published_tx: &watch::Sender<i64>,
    data: &[u8],
) -> Result<(), StoreError> {
    shared.backend.replace_all(data)?;
    let (state, lessor) = super::recovery::recover(&shared.backend)?;
    let rev = state.rev;
    *shared.state_mut() = state;
    *shared.lessor() = lessor;
    published_tx.send_replace(rev);
    tracing::info!(revision = rev, "installed a snapshot");
    Ok(())
}
