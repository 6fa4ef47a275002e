//! RocksDB access: opening the database with the engine's column families,
//! synced batch writes, record reads by revision, ordered history scans,
//! metadata and lease records. Knows bytes and revisions, not requests.
//!
//! Durable writes go one of two ways, chosen on open:
//! - through our [`Journal`] (the single-member engine): the batch is a
//!   journal record, synced, then written to RocksDB without its WAL;
//!   RocksDB's memtables are flushed (atomically across column families)
//!   when a journal segment fills, and on open the records after the last
//!   one RocksDB holds (`META_JOURNAL_SEQ`, written in every batch) are
//!   applied again;
//! - through RocksDB's WAL with `sync` (a replicated member, whose state
//!   machine writes lazily behind the Raft log and must not lose a lazy
//!   write to a process crash).

use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Direction, FlushOptions,
    IteratorMode, Options, WriteBatch, WriteOptions,
};

use crate::error::StoreError;
use crate::journal::{Journal, JournalOptions};

use super::codec::{self, Record};
use super::revision::{REVISION_LEN, Revision};

/// History records keyed by revision.
pub const CF_HISTORY: &str = "history";
/// Engine metadata (revision, compact revision, applied writes, term).
pub const CF_META: &str = "meta";
/// Granted leases keyed by id.
pub const CF_LEASE: &str = "lease";

pub const META_REVISION: &[u8] = b"revision";
pub const META_COMPACT_REVISION: &[u8] = b"compact_revision";
pub const META_APPLIED: &[u8] = b"applied_index";
pub const META_TERM: &[u8] = b"term";
/// The replicated log's last applied entry and membership (opaque bytes,
/// see [`super::op::LogMark`]).
pub const META_LOG_APPLIED: &[u8] = b"log_applied";
pub const META_LOG_MEMBERSHIP: &[u8] = b"log_membership";
/// The number of the last journal record in the database (u64 LE).
pub const META_JOURNAL_SEQ: &[u8] = b"journal_seq";
/// Per-member metadata a snapshot neither carries nor replaces.
const MEMBER_META: [&[u8]; 2] = [META_TERM, META_JOURNAL_SEQ];
/// Every column family, for flushes.
const ALL_CFS: [&str; 4] = ["default", CF_HISTORY, CF_META, CF_LEASE];

/// The column families a snapshot carries, in dump order (tag = position).
const SNAPSHOT_CFS: [&str; 3] = [CF_HISTORY, CF_META, CF_LEASE];

pub fn backend_error(err: rocksdb::Error) -> StoreError {
    StoreError::Backend(err.into_string())
}

/// A whole-store dump and the log mark it contains.
pub struct Dump {
    pub data: Vec<u8>,
    pub applied: Option<Vec<u8>>,
    pub membership: Option<Vec<u8>>,
}

/// How durable writes are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Our journal, RocksDB without its WAL.
    Journal,
    /// RocksDB's WAL, synced for durable writes.
    RocksWal,
}

pub struct Backend {
    // Declared before `db`: dropping it stops the thread that flushes.
    journal: Option<Journal>,
    db: Arc<DB>,
    sync_writes: WriteOptions,
    /// Writes that skip RocksDB's WAL (with the journal) or do not wait
    /// for it (without).
    lazy_writes: WriteOptions,
}

/// Flushes every memtable of `db` to SST files, all column families at
/// once (atomic flush is on with the journal).
fn flush_all(db: &DB) -> Result<(), rocksdb::Error> {
    let cfs: Vec<&ColumnFamily> = ALL_CFS.iter().filter_map(|n| db.cf_handle(n)).collect();
    let mut wait = FlushOptions::default();
    wait.set_wait(true);
    db.flush_cfs_opt(&cfs, &wait)
}

impl Backend {
    pub fn open(
        path: &Path,
        durability: Durability,
        journal: JournalOptions,
    ) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.increase_parallelism(2);
        // Without a WAL, column families must be flushed together to stay
        // consistent with the one journal number they hold.
        opts.set_atomic_flush(durability == Durability::Journal);
        let cfs = [CF_HISTORY, CF_META, CF_LEASE].map(|name| {
            let mut cf_opts = Options::default();
            cf_opts.set_compression_type(DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(name, cf_opts)
        });
        let db = Arc::new(DB::open_cf_descriptors(&opts, path, cfs).map_err(backend_error)?);
        let mut sync_writes = WriteOptions::default();
        sync_writes.set_sync(true);
        let mut lazy_writes = WriteOptions::default();
        lazy_writes.disable_wal(durability == Durability::Journal);
        let mut backend = Backend {
            journal: None,
            db,
            sync_writes,
            lazy_writes,
        };
        if durability == Durability::Journal {
            backend.open_journal(&path.join("journal"), journal)?;
        }
        Ok(backend)
    }

    /// Opens the journal and applies the records RocksDB lacks.
    fn open_journal(&mut self, dir: &Path, options: JournalOptions) -> Result<(), StoreError> {
        let after = self.meta_i64(META_JOURNAL_SEQ)?.unwrap_or(0) as u64;
        let flushed = self.db.clone();
        let persist = Box::new(move || flush_all(&flushed).map_err(|e| e.into_string()));
        let (journal, replay) = Journal::open(dir, after, options, persist)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        if !replay.is_empty() {
            tracing::info!(records = replay.len(), "applying journal records");
        }
        for payload in replay {
            self.db
                .write_opt(WriteBatch::from_data(&payload), &self.lazy_writes)
                .map_err(backend_error)?;
        }
        self.journal = Some(journal);
        Ok(())
    }

    pub fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::Backend(format!("column family {name} missing")))
    }

    /// Writes `batch` and returns once it is durable.
    pub fn write_durable(&self, mut batch: WriteBatch) -> Result<(), StoreError> {
        let Some(journal) = &self.journal else {
            return self
                .db
                .write_opt(batch, &self.sync_writes)
                .map_err(backend_error);
        };
        // Applied under the journal's lock, so RocksDB gets the records in
        // journal order and a flush covers every record appended before it.
        let mut appender = journal.lock();
        let seq = appender.next_seq();
        batch.put_cf(
            self.cf(CF_META)?,
            META_JOURNAL_SEQ,
            (seq as i64).to_le_bytes(),
        );
        appender
            .append(batch.data())
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        self.db
            .write_opt(batch, &self.lazy_writes)
            .map_err(backend_error)
    }

    /// Writes `batch` without waiting for the disk (compaction garbage
    /// removal, which is redone on open if lost; the state machine of a
    /// replicated member, which the Raft log replays).
    pub fn write_lazy(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.db
            .write_opt(batch, &self.lazy_writes)
            .map_err(backend_error)
    }

    pub fn meta_i64(&self, name: &[u8]) -> Result<Option<i64>, StoreError> {
        let cf = self.cf(CF_META)?;
        match self.db.get_pinned_cf(cf, name).map_err(backend_error)? {
            None => Ok(None),
            Some(bytes) => {
                let arr: [u8; 8] = bytes.as_ref().try_into().map_err(|_| {
                    StoreError::Backend(format!(
                        "corrupt meta value {}",
                        String::from_utf8_lossy(name)
                    ))
                })?;
                Ok(Some(i64::from_le_bytes(arr)))
            }
        }
    }

    pub fn meta_bytes(&self, name: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let cf = self.cf(CF_META)?;
        self.db.get_cf(cf, name).map_err(backend_error)
    }

    /// Makes every lazy write so far durable: fsyncs RocksDB's WAL, or,
    /// without it, flushes the memtables.
    pub fn sync(&self) -> Result<(), StoreError> {
        match self.journal {
            Some(_) => flush_all(&self.db).map_err(backend_error),
            None => self.db.flush_wal(true).map_err(backend_error),
        }
    }

    /// Every record of the store at one point in time (a RocksDB snapshot),
    /// as `tag u8, key length u32 LE, key, value length u32 LE, value`
    /// entries; the per-open `term` is left out. Also answers the log mark
    /// (`log_applied`, `log_membership`) as of the same point.
    pub fn dump(&self) -> Result<Dump, StoreError> {
        let snapshot = self.db.snapshot();
        let mut out = Vec::new();
        let mut applied = None;
        let mut membership = None;
        for (tag, name) in SNAPSHOT_CFS.iter().enumerate() {
            let cf = self.cf(name)?;
            for item in snapshot.iterator_cf(cf, IteratorMode::Start) {
                let (key, value) = item.map_err(backend_error)?;
                if *name == CF_META {
                    match &*key {
                        k if MEMBER_META.contains(&k) => continue,
                        META_LOG_APPLIED => applied = Some(value.to_vec()),
                        META_LOG_MEMBERSHIP => membership = Some(value.to_vec()),
                        _ => {}
                    }
                }
                out.push(tag as u8);
                for part in [&*key, &*value] {
                    let len = u32::try_from(part.len())
                        .map_err(|_| StoreError::Backend("record too large".to_string()))?;
                    out.extend_from_slice(&len.to_le_bytes());
                    out.extend_from_slice(part);
                }
            }
        }
        Ok(Dump {
            data: out,
            applied,
            membership,
        })
    }

    /// Replaces every record (but `term`) with those of a [`Backend::dump`],
    /// durably and in one batch.
    pub fn replace_all(&self, dump: &[u8]) -> Result<(), StoreError> {
        let corrupt = || StoreError::Backend("corrupt snapshot".to_string());
        let mut batch = WriteBatch::default();
        for name in SNAPSHOT_CFS {
            let cf = self.cf(name)?;
            for item in self.db.iterator_cf(cf, IteratorMode::Start) {
                let (key, _) = item.map_err(backend_error)?;
                if name == CF_META && MEMBER_META.contains(&&*key) {
                    continue;
                }
                batch.delete_cf(cf, key);
            }
        }
        let mut pos = 0usize;
        while pos < dump.len() {
            let tag = dump[pos] as usize;
            pos += 1;
            let name = SNAPSHOT_CFS.get(tag).ok_or_else(corrupt)?;
            let mut parts = [&[][..]; 2];
            for part in &mut parts {
                let len_bytes: [u8; 4] = dump
                    .get(pos..pos + 4)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(corrupt)?;
                pos += 4;
                let len = u32::from_le_bytes(len_bytes) as usize;
                *part = dump.get(pos..pos + len).ok_or_else(corrupt)?;
                pos += len;
            }
            batch.put_cf(self.cf(name)?, parts[0], parts[1]);
        }
        self.write_durable(batch)
    }

    /// The records stored at `revs`, in the same order; `None` where a
    /// record is gone (compacted away).
    pub fn records(&self, revs: &[Revision]) -> Result<Vec<Option<Record>>, StoreError> {
        let cf = self.cf(CF_HISTORY)?;
        let keys: Vec<[u8; REVISION_LEN]> = revs.iter().map(|r| r.to_bytes()).collect();
        let found = self
            .db
            .batched_multi_get_cf(cf, keys.iter().map(|k| &k[..]), false);
        revs.iter()
            .zip(found)
            .map(|(rev, got)| match got.map_err(backend_error)? {
                Some(bytes) => codec::decode(*rev, &bytes).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    /// Visits history records from revision `from` on, in revision order,
    /// until `visit` returns `false`. The scan sees one point in time.
    pub fn scan_history(
        &self,
        from: Revision,
        mut visit: impl FnMut(Revision, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let cf = self.cf(CF_HISTORY)?;
        let start = from.to_bytes();
        let iter = self
            .db
            .iterator_cf(cf, IteratorMode::From(&start, Direction::Forward));
        for item in iter {
            let (key, value) = item.map_err(backend_error)?;
            let rev = Revision::from_bytes(&key)
                .ok_or_else(|| StoreError::Backend("corrupt history key".to_string()))?;
            if !visit(rev, &value)? {
                break;
            }
        }
        Ok(())
    }

    /// Every persisted lease as `(id, granted ttl)`.
    pub fn leases(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let cf = self.cf(CF_LEASE)?;
        self.db
            .iterator_cf(cf, IteratorMode::Start)
            .map(|item| {
                let (key, value) = item.map_err(backend_error)?;
                codec::decode_lease(&key, &value)
            })
            .collect()
    }

    /// `(total, in use)` bytes: SST files plus memtables, and RocksDB's
    /// estimate of the live part.
    pub fn size(&self) -> Result<(i64, i64), StoreError> {
        let mut total = 0u64;
        let mut live = 0u64;
        for name in [CF_HISTORY, CF_META, CF_LEASE] {
            let cf = self.cf(name)?;
            let prop = |p: &str| -> Result<u64, StoreError> {
                Ok(self
                    .db
                    .property_int_value_cf(cf, p)
                    .map_err(backend_error)?
                    .unwrap_or(0))
            };
            let sst = prop("rocksdb.total-sst-files-size")?;
            let mem = prop("rocksdb.cur-size-all-mem-tables")?;
            total += sst + mem;
            live += prop("rocksdb.estimate-live-data-size")? + mem;
        }
        Ok((total as i64, live.min(total) as i64))
    }

    /// Rewrites every column family to drop deleted data (defragment).
    pub fn compact_all(&self) -> Result<(), StoreError> {
        for name in [CF_HISTORY, CF_META, CF_LEASE] {
            let cf = self.cf(name)?;
            self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }
}
