//! Batches the writes the leader proposes: requests that arrive while
//! earlier entries are being appended and replicated share one log entry
//! (a [`Proposal`]). openraft 0.9 appends every client write on its own
//! and waits for that append to be durable before it handles anything else
//! (including sending the entry to followers), so one entry per request
//! would cost one leader fsync per request; one entry per batch costs one
//! per batch, as etcd's batching of proposals does.
//!
//! At most [`MAX_IN_FLIGHT`] entries are proposed and not yet applied; the
//! next entry takes every request waiting (up to [`MAX_BATCH_OPS`] ops and
//! [`MAX_BATCH_BYTES`]). An op that cannot share an entry
//! ([`WriteOp::needs_own_entry`]) goes alone. Durability is unchanged: an
//! entry is answered once a majority has it in its fsynced log and the
//! leader applied it.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::StoreError;
use crate::mvcc::WriteOp;

use super::forward::ForwardError;
use super::member::write_error;
use super::types::{Applied, Proposal, Raft, encoded_size};

/// Entries proposed and not yet applied: while one is replicated, the next
/// one is appended on the leader.
pub const MAX_IN_FLIGHT: usize = 2;
/// Ops in one entry, at most.
pub const MAX_BATCH_OPS: usize = 256;
/// Encoded ops in one entry, at most (a larger op goes alone).
pub const MAX_BATCH_BYTES: u64 = 512 << 10;

type Reply = oneshot::Sender<Result<Applied, ForwardError>>;

struct Pending {
    op: WriteOp,
    size: u64,
    reply: Reply,
}

/// The leader's side of proposing writes (cheap to clone).
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Proposer {
    /// Starts the batching task (it stops when every `Proposer` is gone).
    pub fn start(raft: Raft) -> (Proposer, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Proposer { tx }, tokio::spawn(run(raft, rx)))
    }

    /// Proposes `op` and answers its applied result.
    pub async fn propose(&self, op: WriteOp) -> Result<Applied, ForwardError> {
        let (reply, answer) = oneshot::channel();
        let size = encoded_size(&op);
        self.tx
            .send(Pending { op, size, reply })
            .map_err(|_| StoreError::Backend("raft proposer stopped".to_string()))?;
        // A dropped reply means the member is shutting down: the op may or
        // may not have been committed.
        answer.await.map_err(|_| StoreError::Timeout)?
    }
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut carry: Option<Pending> = None;
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let first = match carry.take() {
            Some(pending) => pending,
            None => match rx.recv().await {
                Some(pending) => pending,
                None => return,
            },
        };
        let mut batch = vec![first];
        if !batch[0].op.needs_own_entry() {
            let mut bytes = batch[0].size;
            while batch.len() < MAX_BATCH_OPS {
                match rx.try_recv() {
                    Ok(next)
                        if next.op.needs_own_entry() || bytes + next.size > MAX_BATCH_BYTES =>
                    {
                        carry = Some(next);
                        break;
                    }
                    Ok(next) => {
                        bytes += next.size;
                        batch.push(next);
                    }
                    Err(_) => break,
                }
            }
        }
        tokio::spawn(write(raft.clone(), batch, permit));
    }
}

/// Proposes one entry and hands each op its answer.
async fn write(raft: Raft, batch: Vec<Pending>, permit: OwnedSemaphorePermit) {
    let (ops, replies): (Vec<WriteOp>, Vec<Reply>) =
        batch.into_iter().map(|p| (p.op, p.reply)).unzip();
    let count = ops.len();
    let span = tracing::trace_span!("raft_propose", ops = count);
    let result = tracing::Instrument::instrument(raft.client_write(Proposal(ops)), span).await;
    drop(permit);
    match result {
        Ok(resp) if resp.data.0.len() == count => {
            for (reply, answer) in replies.into_iter().zip(resp.data.0) {
                let _ = reply.send(Ok(answer));
            }
        }
        Ok(resp) => {
            let err = StoreError::Backend(format!(
                "an entry of {count} ops was applied with {} answers",
                resp.data.0.len()
            ));
            for reply in replies {
                let _ = reply.send(Err(err.clone().into()));
            }
        }
        Err(err) => {
            let err = write_error(err);
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}
