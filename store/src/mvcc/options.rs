//! Engine configuration, with etcd's defaults.

use std::time::Duration;

pub use super::backend::Durability;
use crate::journal::JournalOptions;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Largest accepted write request (etcd `--max-request-bytes`).
    pub max_request_bytes: usize,
    /// Most operations in one txn list (etcd `--max-txn-ops`).
    pub max_txn_ops: usize,
    /// Idle time after which a watcher that asked for progress notifications
    /// gets one (etcd: 10 minutes).
    pub progress_notify_interval: Duration,
    /// Shortest lease TTL; shorter grants are raised to it (etcd derives 2 s
    /// from its election timeout).
    pub min_lease_ttl: i64,
    /// How often expired leases are looked for.
    pub lease_check_interval: Duration,
    /// Recent events kept in memory for watchers, by count and by bytes.
    pub watch_log_events: usize,
    pub watch_log_bytes: usize,
    /// Member name and URLs reported by `members()` (etcd `--name`,
    /// `--initial-advertise-peer-urls`, `--advertise-client-urls`).
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    /// Member and cluster ids for headers; derived from the name and peer
    /// URLs when unset (a replicated store sets its own).
    pub member_id: Option<u64>,
    pub cluster_id: Option<u64>,
    /// Whether the engine revokes expired leases itself. A replicated
    /// store turns this off: its leader proposes the revokes.
    pub expire_leases: bool,
    /// How writes become durable: the engine's own journal when it stands
    /// alone, RocksDB's WAL under a Raft log (see [`Durability`]).
    pub durability: Durability,
    /// Segment sizes of the journal (with [`Durability::Journal`]).
    pub journal: JournalOptions,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_request_bytes: 1_572_864,
            max_txn_ops: 128,
            progress_notify_interval: Duration::from_secs(600),
            min_lease_ttl: 2,
            lease_check_interval: Duration::from_millis(500),
            watch_log_events: 50_000,
            watch_log_bytes: 64 << 20,
            name: "default".to_string(),
            peer_urls: vec!["http://localhost:2380".to_string()],
            client_urls: vec!["http://localhost:2379".to_string()],
            member_id: None,
            cluster_id: None,
            expire_leases: true,
            durability: Durability::Journal,
            journal: JournalOptions::default(),
        }
    }
}
