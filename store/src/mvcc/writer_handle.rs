//! How requests reach the [`Writer`]: they are queued in order, and the
//! writer's state sits behind a mutex so that one holder at a time commits
//! what is waiting.
//!
//! On a standalone engine (its own journal, no Raft log) a request whose
//! sender finds the writer idle is committed at once on the sender's own
//! thread: a lone write then costs no thread hand-off at all (two wake-ups,
//! ~35 us together on the benchmark machine, next to a ~90 us sync).
//! Otherwise the sender rings the writer thread, which takes the mutex
//! after the current holder and commits everything that waits, in one
//! group per sync: under load the thread does the group commit as before.
//!
//! No request is left behind: a sender queues before it tries the mutex,
//! and one that finds it held rings the thread, which drains after the
//! holder lets go. On a replicated engine a log entry may span several
//! requests that must be committed as one group: they are queued together
//! ([`WriterHandle::submit_entries`]) before the sender tries to commit
//! them, and single requests (a snapshot install) go to the thread.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, TryLockError};
use std::thread::{JoinHandle, Thread};

use tokio::sync::watch;

use crate::error::StoreError;
use crate::sync::lock;

use super::shared::Shared;
use super::writer::{WriteCmd, Writer};

/// Groups a sender commits itself before it leaves the rest to the thread
/// (so a request never waits long on another's commit).
const INLINE_GROUPS: usize = 1;

/// Queues requests for the writer (cheap to clone).
#[derive(Clone)]
pub struct WriterHandle {
    tx: Sender<WriteCmd>,
    writer: Arc<Mutex<Writer>>,
    thread: Thread,
    /// Whether senders may commit themselves (standalone engines).
    inline: bool,
}

impl WriterHandle {
    /// Starts the writer thread.
    pub fn start(
        shared: Arc<Shared>,
        rx: Receiver<WriteCmd>,
        tx: Sender<WriteCmd>,
        published_tx: watch::Sender<i64>,
        inline: bool,
    ) -> Result<(WriterHandle, JoinHandle<()>), StoreError> {
        let writer = Arc::new(Mutex::new(Writer::new(shared, rx, published_tx)));
        let thread_writer = writer.clone();
        let thread = std::thread::Builder::new()
            .name("store-writer".to_string())
            .spawn(move || run(&thread_writer))
            .map_err(|e| StoreError::Backend(format!("spawn writer: {e}")))?;
        let handle = WriterHandle {
            tx,
            writer,
            thread: thread.thread().clone(),
            inline,
        };
        Ok((handle, thread))
    }

    /// Queues `cmd`; commits it right here when allowed and the writer is
    /// idle, else wakes the writer thread.
    pub fn submit(&self, cmd: WriteCmd) -> Result<(), StoreError> {
        self.queue(cmd)?;
        self.commit_or_ring(self.inline);
        Ok(())
    }

    /// Queues the requests of whole log entries (a replicated engine's
    /// applies); they are committed right here when the writer is idle: no
    /// group can wait for the rest of an entry, it is queued already.
    pub fn submit_entries(&self, cmds: Vec<WriteCmd>) -> Result<(), StoreError> {
        for cmd in cmds {
            self.queue(cmd)?;
        }
        self.commit_or_ring(true);
        Ok(())
    }

    fn queue(&self, cmd: WriteCmd) -> Result<(), StoreError> {
        self.tx
            .send(cmd)
            .map_err(|_| StoreError::Backend("store is shut down".to_string()))
    }

    /// Commits what waits when `inline` and the writer is idle; else (or if
    /// more waits after [`INLINE_GROUPS`]) rings the writer thread.
    fn commit_or_ring(&self, inline: bool) {
        if inline {
            let idle = match self.writer.try_lock() {
                Ok(writer) => Some(writer),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(mut writer) = idle
                && !writer.drain(INLINE_GROUPS)
            {
                return;
            }
        }
        self.thread.unpark();
    }
}

/// The writer thread: each time it is rung it commits everything waiting.
fn run(writer: &Mutex<Writer>) {
    loop {
        std::thread::park();
        let mut writer = lock(writer);
        writer.drain(usize::MAX);
        if writer.stopped() {
            return;
        }
    }
}
