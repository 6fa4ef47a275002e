//! The embedded MVCC engine: etcd v3.5's data model on RocksDB.
//!
//! # How it works
//!
//! - One writer ([`writer`]) owns every change: its thread, or on a
//!   standalone engine a request that finds it idle ([`writer_handle`]).
//!   It drains its queue into a commit group, applies the requests in
//!   order (each request that changes keys is one revision; its changes
//!   get sub revisions 0, 1, ...),
//!   writes the group durably (one journal record, or a RocksDB batch
//!   under a Raft log that already holds the entry), and only then
//!   publishes it: the key index, the revision, the lessor, the event log,
//!   and the replies. Nothing acknowledged or visible can be lost.
//! - Reads take the published [`view::State`] under a read lock: reads at
//!   the current revision come from the in-memory latest values in the
//!   [`index`]; historic reads find the right revision in the index and read
//!   its record from RocksDB ([`range`]).
//! - Watchers ([`watch`]) follow one shared in-memory log of committed
//!   events ([`eventlog`]) with their own cursor, replaying from RocksDB only
//!   while they are behind it.
//! - Leases ([`lease`]) live in memory with their keys; grants and revokes
//!   are persisted, expiry ([`expiry`]) revokes through the writer.
//!
//! # On-disk layout (RocksDB column families)
//!
//! - `history`: key = main revision (8 bytes big-endian) ++ sub revision
//!   (8 bytes big-endian), so records sort by revision. Value
//!   ([`codec`]): `0x01` put: create revision, version, lease (i64 LE each),
//!   key length (u32 LE), key, value; `0x02` delete: key length (u32 LE),
//!   key. Compaction deletes every record at or below the compact revision
//!   except the one in effect for each live key.
//! - `meta`: `revision` (last committed revision), `compact_revision`,
//!   `applied_index` (write requests applied, reported as the raft index),
//!   `term` (incremented on every open); all i64 LE.
//! - `lease`: key = lease id (i64 big-endian), value = granted TTL in
//!   seconds (i64 LE).
//!
//! On open ([`recovery`]) the index is rebuilt by one scan of `history`,
//! and an interrupted compaction is finished.

mod backend;
mod checks;
mod codec;
mod engine;
mod eventlog;
mod expiry;
mod hash;
mod index;
mod keyrange;
mod lease;
mod op;
mod options;
mod range;
mod recovery;
mod replicated;
mod revision;
mod shared;
mod txn;
mod view;
mod watch;
mod writer;
mod writer_handle;

pub use engine::{ETCD_VERSION, Engine};
pub use op::{LogMark, WriteOp, WriteResult};
pub use options::{Durability, EngineOptions};
pub use replicated::{Dump, LoggedEntry};
