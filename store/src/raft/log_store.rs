//! The Raft log and vote in their own RocksDB database (`DIR/raft-log`):
//! column family `log` holds entries keyed by index (u64 big-endian),
//! `state` holds the vote, the committed log id and the last purged log id.
//!
//! Appends are group-committed: `append` writes the entries at once (so
//! they are readable) without waiting for the disk, and hands openraft's
//! callback to a flusher thread, which fsyncs the WAL once for everything
//! written so far and only then reports those entries durable. Votes,
//! truncation and purges are fsynced in place; the committed index is a
//! hint openraft may lose, written without waiting.

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, StorageIOError};
use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote, decode, encode};

const CF_LOG: &str = "log";
const CF_STATE: &str = "state";
const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_PURGED: &[u8] = b"last_purged";

fn io_err(subject: ErrorSubject<u64>, verb: ErrorVerb, e: impl ToString) -> StorageError {
    StorageIOError::new(subject, verb, openraft::AnyError::error(e.to_string())).into()
}

fn read_err(e: impl ToString) -> StorageError {
    io_err(ErrorSubject::Logs, ErrorVerb::Read, e)
}

fn write_err(e: impl ToString) -> StorageError {
    io_err(ErrorSubject::Logs, ErrorVerb::Write, e)
}

/// The log store; clones share the database (a clone is the log reader).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    flusher: std::sync::mpsc::Sender<LogFlushed<TypeConfig>>,
}

/// Fsyncs the WAL for every waiting append, then tells openraft.
fn flush_loop(db: Arc<DB>, rx: std::sync::mpsc::Receiver<LogFlushed<TypeConfig>>) {
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let synced = db.flush_wal(true);
        for callback in waiting {
            let result = match &synced {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            callback.log_io_completed(result);
        }
    }
}

impl LogStore {
    /// Opens (or creates) the log in `dir` and starts its flusher thread.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cfs = [CF_LOG, CF_STATE].map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        let db = Arc::new(DB::open_cf_descriptors(&opts, dir, cfs).map_err(|e| e.into_string())?);
        let (flusher, rx) = std::sync::mpsc::channel();
        let flush_db = db.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".to_string())
            .spawn(move || flush_loop(flush_db, rx))
            .map_err(|e| format!("spawn log flusher: {e}"))?;
        Ok(LogStore { db, flusher })
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| read_err(format!("column family {name} missing")))
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts).map_err(write_err)
    }

    fn get_state<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        match self.db.get_cf(self.cf(CF_STATE)?, key).map_err(read_err)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes).map(Some).map_err(read_err),
        }
    }

    fn put_state<T: serde::Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_STATE)?, key, encode(value).map_err(write_err)?);
        self.write(batch)
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let mut iter = self.db.iterator_cf(self.cf(CF_LOG)?, IteratorMode::End);
        match iter.next() {
            None => Ok(None),
            Some(item) => {
                let (_, value) = item.map_err(read_err)?;
                let entry: Entry = decode(&value).map_err(read_err)?;
                Ok(Some(entry.log_id))
            }
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let cf = self.cf(CF_LOG)?;
        let from = start.to_be_bytes();
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&from, Direction::Forward))
        {
            let (key, value) = item.map_err(read_err)?;
            let index = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| read_err("corrupt log key"))?,
            );
            if !range.contains(&index) {
                break;
            }
            out.push(decode(&value).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get_state(KEY_PURGED)?;
        let last = self.last_entry_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.put_state(KEY_VOTE, vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get_state(KEY_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(CF_STATE)?,
            KEY_COMMITTED,
            encode(&committed).map_err(write_err)?,
        );
        self.db.write(batch).map_err(write_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_state::<Option<LogId>>(KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let cf = self.cf(CF_LOG)?;
        let mut batch = WriteBatch::default();
        let mut count = 0usize;
        for entry in entries {
            count += 1;
            batch.put_cf(
                cf,
                entry.log_id.index.to_be_bytes(),
                encode(&entry).map_err(write_err)?,
            );
        }
        if count == 0 {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        // Visible to readers now; durable once the flusher has synced.
        self.db.write(batch).map_err(write_err)?;
        self.flusher
            .send(callback)
            .map_err(|_| write_err("log flusher stopped"))?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let cf = self.cf(CF_LOG)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, log_id.index.to_be_bytes(), u64::MAX.to_be_bytes());
        batch.delete_cf(cf, u64::MAX.to_be_bytes());
        self.write(batch)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(CF_STATE)?,
            KEY_PURGED,
            encode(&log_id).map_err(write_err)?,
        );
        batch.delete_range_cf(
            self.cf(CF_LOG)?,
            0u64.to_be_bytes(),
            (log_id.index + 1).to_be_bytes(),
        );
        self.write(batch)
    }
}
