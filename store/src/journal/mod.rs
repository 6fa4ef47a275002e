//! The single-member engine's write-ahead journal: numbered records in
//! segment files written in full before use, synced with one `fdatasync`
//! per group commit.
//!
//! Why not RocksDB's own WAL: RocksDB appends to a growing file, so every
//! sync also commits the file's new size through the file system journal.
//! On this project's ext4 test machine that costs more than a sync of data
//! written into already allocated, already written blocks (~130-160 µs
//! against ~90 µs), and with one client the store does one sync per write.
//! (etcd preallocates its WAL with `fallocate`, in between at ~120 µs.)
//!
//! Contract: [`Journal::lock`] gives the writer the next sequence number
//! and [`Appender::append`] returns once the record is durable. The owner
//! applies each record to its database while still holding the lock and
//! keeps, in the database itself, the number of the last record applied;
//! on open, [`Journal::open`] answers every record after that number, in
//! order, to apply again. When a segment fills up the next one is taken
//! and a background thread asks the owner to persist what it applied (the
//! `persist` callback: a RocksDB memtable flush), then recycles the
//! segments that only hold persisted records as spares.

mod record;
mod segment;

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::sync::lock;
use segment::segment_path;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("journal: an earlier write failed ({0}); restart to recover")]
    Failed(String),
    #[error(
        "journal: its first record is {first} but the database holds records only up to {after}"
    )]
    Missing { first: u64, after: u64 },
    #[error("journal: {path} does not continue the journal (its record {expected} is missing)")]
    Gap { path: PathBuf, expected: u64 },
}

impl JournalError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        JournalError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Size of a segment (larger records get a segment of their own).
    pub segment_bytes: u64,
    /// Size of the first segment of a new journal, made while opening (so
    /// small that zero-filling it does not slow the first start).
    pub first_segment_bytes: u64,
    /// Spare segments kept ready.
    pub spares: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_bytes: 64 << 20,
            first_segment_bytes: 1 << 20,
            spares: 1,
        }
    }
}

/// Makes everything applied so far durable in the owner's database.
pub type Persist = Box<dyn Fn() -> Result<(), String> + Send>;

pub struct Journal {
    shared: Arc<Shared>,
    tasks: Option<Sender<Task>>,
    maintenance: Option<JoinHandle<()>>,
}

struct Shared {
    dir: PathBuf,
    options: JournalOptions,
    writer: Mutex<Writer>,
    spares: Mutex<Vec<PathBuf>>,
    /// The last number given to a spare file.
    spare_ids: AtomicU64,
}

/// The segment being appended to and the older ones still needed.
struct Writer {
    file: File,
    path: PathBuf,
    offset: u64,
    capacity: u64,
    next_seq: u64,
    /// First sequence number and path of each older segment, oldest first.
    sealed: VecDeque<(u64, PathBuf)>,
    /// First sequence number of the current segment.
    first_seq: u64,
    buf: Vec<u8>,
    /// Set when a write or sync failed: what is on disk is unknown, so
    /// nothing more is written.
    failed: Option<String>,
}

/// The unbroken run of segments found on open.
#[derive(Default)]
struct Chain {
    sealed: VecDeque<(u64, PathBuf)>,
    /// Path, first sequence number and end offset of the last segment.
    last: Option<(PathBuf, u64, u64)>,
    next_seq: Option<u64>,
    /// Payloads of the records numbered above the database's last one.
    replay: Vec<Vec<u8>>,
}

impl Chain {
    fn push(&mut self, path: PathBuf, first: u64, end: u64, payloads: Vec<Vec<u8>>, after: u64) {
        self.next_seq = Some(first + payloads.len() as u64);
        // Record `first + i` is replayed when it is above `after`.
        let applied = if after >= first { after - first + 1 } else { 0 };
        let skip = usize::try_from(applied).unwrap_or(usize::MAX);
        self.replay.extend(payloads.into_iter().skip(skip));
        if let Some((prev, prev_first, _)) = self.last.replace((path, first, end)) {
            self.sealed.push_back((prev_first, prev));
        }
    }
}

enum Task {
    /// A segment was sealed: persist and recycle.
    Sealed,
    /// Make spares until there are enough.
    TopUp,
}

/// Holds the journal while its owner appends a record and applies it.
pub struct Appender<'a> {
    journal: &'a Journal,
    writer: MutexGuard<'a, Writer>,
}

impl Journal {
    /// Opens (or creates) the journal in `dir`; answers it with the
    /// payloads of every record numbered above `after`, in order.
    pub fn open(
        dir: &Path,
        after: u64,
        options: JournalOptions,
        persist: Persist,
    ) -> Result<(Journal, Vec<Vec<u8>>), JournalError> {
        std::fs::create_dir_all(dir).map_err(|e| JournalError::io("create", dir, e))?;
        let listing = segment::list(dir)?;
        let mut spares = listing.spares;
        let mut chain = Chain::default();
        for (first, path) in listing.segments {
            // Only a damaged segment ends before the next one starts (a
            // torn write is always at the end of the last one): refuse to
            // open rather than drop the records after it, as etcd does
            // with a damaged WAL.
            if let Some(expected) = chain.next_seq.filter(|expected| *expected != first) {
                return Err(JournalError::Gap { path, expected });
            }
            let (payloads, end) = segment::scan(&path, first)?;
            if chain.next_seq.is_none() && first > after + 1 {
                return Err(JournalError::Missing { first, after });
            }
            chain.push(path, first, end, payloads, after);
        }
        let writer = match chain.last.take() {
            // Go on in the last segment, unless the database is ahead of
            // the journal: then the journal starts over after it.
            Some((path, first, end)) if chain.next_seq.is_some_and(|n| n > after) => {
                let file = segment::open_for_writing(&path)?;
                let capacity = file_len(&file, &path)?;
                let next = chain.next_seq.unwrap_or(after + 1);
                Writer::new(file, path, first, end, capacity, next, chain.sealed)
            }
            last => {
                let old = chain.sealed.into_iter().map(|(_, p)| p);
                for path in old.chain(last.map(|(p, _, _)| p)) {
                    std::fs::remove_file(&path)
                        .map_err(|e| JournalError::io("remove", &path, e))?;
                }
                let next = after + 1;
                let spare = match spares.pop() {
                    Some(spare) => spare,
                    None => {
                        segment::make_spare(dir, listing.spare_ids, options.first_segment_bytes)?
                    }
                };
                let path = segment_path(dir, next);
                segment::rename_durably(&spare, &path, dir)?;
                let file = segment::open_for_writing(&path)?;
                let capacity = file_len(&file, &path)?;
                Writer::new(file, path, next, 0, capacity, next, VecDeque::new())
            }
        };
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            options,
            writer: Mutex::new(writer),
            spares: Mutex::new(spares),
            spare_ids: AtomicU64::new(listing.spare_ids + 1),
        });
        let (tasks, rx) = channel();
        let thread_shared = shared.clone();
        let maintenance = std::thread::Builder::new()
            .name("journal".to_string())
            .spawn(move || maintain(thread_shared, rx, persist))
            .map_err(|e| JournalError::io("spawn maintenance for", dir, e))?;
        let _ = tasks.send(Task::TopUp);
        Ok((
            Journal {
                shared,
                tasks: Some(tasks),
                maintenance: Some(maintenance),
            },
            chain.replay,
        ))
    }

    /// Takes the journal for one append (and whatever the owner does with
    /// it before letting go).
    pub fn lock(&self) -> Appender<'_> {
        Appender {
            journal: self,
            writer: lock(&self.shared.writer),
        }
    }

    /// The number of the last record appended (0: none yet).
    pub fn last_seq(&self) -> u64 {
        lock(&self.shared.writer).next_seq - 1
    }

    fn notify(&self, task: Task) {
        if let Some(tasks) = &self.tasks {
            let _ = tasks.send(task);
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.tasks = None;
        if let Some(thread) = self.maintenance.take() {
            let _ = thread.join();
        }
    }
}

impl Appender<'_> {
    /// The number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.writer.next_seq
    }

    /// Appends `payload` as record [`Appender::next_seq`] and returns once
    /// it is durable.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, JournalError> {
        if let Some(err) = &self.writer.failed {
            return Err(JournalError::Failed(err.clone()));
        }
        let needed = (record::HEADER_LEN + payload.len()) as u64;
        if self.writer.offset + needed > self.writer.capacity {
            self.roll(needed)?;
        }
        let seq = self.writer.next_seq;
        let writer = &mut *self.writer;
        writer.buf.clear();
        record::encode(seq, payload, &mut writer.buf);
        let written = writer
            .file
            .write_all_at(&writer.buf, writer.offset)
            .and_then(|()| writer.file.sync_data());
        if let Err(e) = written {
            let err = JournalError::io("append to", &writer.path, e);
            writer.failed = Some(err.to_string());
            return Err(err);
        }
        writer.offset += needed;
        writer.next_seq += 1;
        Ok(seq)
    }

    /// Seals the current segment and continues in a spare (or, if none is
    /// ready or the record is larger, in a new file of the size needed).
    fn roll(&mut self, needed: u64) -> Result<(), JournalError> {
        let shared = &self.journal.shared;
        let next = self.writer.next_seq;
        let size = shared.options.segment_bytes;
        let spare = if needed <= size {
            lock(&shared.spares).pop()
        } else {
            None
        };
        let path = segment_path(&shared.dir, next);
        let file = match spare {
            Some(spare) => {
                segment::rename_durably(&spare, &path, &shared.dir)?;
                segment::open_for_writing(&path)?
            }
            None => {
                tracing::debug!("no spare journal segment ready; using a sparse one");
                let file = File::create(&path)
                    .and_then(|f| f.set_len(size.max(needed)).map(|()| f))
                    .map_err(|e| JournalError::io("create", &path, e))?;
                segment::sync_dir(&shared.dir)?;
                file
            }
        };
        let capacity = file_len(&file, &path)?;
        let writer = &mut *self.writer;
        let old_path = std::mem::replace(&mut writer.path, path);
        writer.sealed.push_back((writer.first_seq, old_path));
        writer.file = file;
        writer.first_seq = next;
        writer.offset = 0;
        writer.capacity = capacity;
        self.journal.notify(Task::Sealed);
        Ok(())
    }
}

impl Writer {
    fn new(
        file: File,
        path: PathBuf,
        first_seq: u64,
        offset: u64,
        capacity: u64,
        next_seq: u64,
        sealed: VecDeque<(u64, PathBuf)>,
    ) -> Writer {
        Writer {
            file,
            path,
            offset,
            capacity,
            next_seq,
            sealed,
            first_seq,
            buf: Vec::new(),
            failed: None,
        }
    }
}

fn file_len(file: &File, path: &Path) -> Result<u64, JournalError> {
    file.metadata()
        .map(|m| m.len())
        .map_err(|e| JournalError::io("stat", path, e))
}

/// The background thread: after a segment is sealed, persists what was
/// applied and recycles the segments it covers; keeps spares ready.
fn maintain(shared: Arc<Shared>, tasks: Receiver<Task>, persist: Persist) {
    while let Ok(task) = tasks.recv() {
        if let Task::Sealed = task {
            // Everything appended was applied: the owner applies under the
            // same lock as it appends.
            let upto = lock(&shared.writer).next_seq - 1;
            match persist() {
                Ok(()) => recycle_through(&shared, upto),
                Err(err) => tracing::warn!(%err, "could not persist the journal's records"),
            }
        }
        top_up(&shared);
    }
}

/// Sealed segments whose records are all numbered `upto` or lower become
/// spares (or are removed when there are enough spares or their size is
/// not the usual one).
fn recycle_through(shared: &Shared, upto: u64) {
    let released: Vec<PathBuf> = {
        let mut writer = lock(&shared.writer);
        let mut released = Vec::new();
        loop {
            let next_first = writer
                .sealed
                .get(1)
                .map_or(writer.first_seq, |(first, _)| *first);
            if writer.sealed.is_empty() || next_first > upto + 1 {
                break;
            }
            if let Some((_, path)) = writer.sealed.pop_front() {
                released.push(path);
            }
        }
        released
    };
    for path in released {
        let reusable = std::fs::metadata(&path)
            .is_ok_and(|m| m.len() == shared.options.segment_bytes)
            && lock(&shared.spares).len() < shared.options.spares;
        let result = if reusable {
            let id = shared.spare_ids.fetch_add(1, Ordering::Relaxed) + 1;
            let spare = segment::spare_path(&shared.dir, id);
            segment::rename_durably(&path, &spare, &shared.dir)
                .map(|()| lock(&shared.spares).push(spare))
        } else {
            std::fs::remove_file(&path).map_err(|e| JournalError::io("remove", &path, e))
        };
        if let Err(err) = result {
            tracing::warn!(%err, "could not recycle a journal segment");
        }
    }
}

fn top_up(shared: &Shared) {
    while lock(&shared.spares).len() < shared.options.spares {
        let id = shared.spare_ids.fetch_add(1, Ordering::Relaxed) + 1;
        match segment::make_spare(&shared.dir, id, shared.options.segment_bytes) {
            Ok(spare) => lock(&shared.spares).push(spare),
            Err(err) => {
                tracing::warn!(%err, "could not make a spare journal segment");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
