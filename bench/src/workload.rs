//! The closed-loop workloads: each client task issues one operation, waits
//! for its answer, records the latency and issues the next, until the
//! deadline. The same code and the same client drive both servers.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use etcd_client::{Client, Compare, CompareOp, KvClient, Txn, TxnOp, TxnOpResponse};

/// The preloaded keyspace that `range` and `txn` work on.
pub const OBJ_PREFIX: &str = "/registry/bench/objects/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Put of a new key with a `value_size` value.
    Put,
    /// Single-key linearizable Range of a random preloaded key.
    Range,
    /// kube-apiserver's optimistic update: Range the key, then
    /// Txn(if mod_revision == R then Put else Range), retried on conflict.
    Txn,
}

impl Workload {
    pub fn parse(s: &str) -> anyhow::Result<Workload> {
        Ok(match s.trim() {
            "put" => Workload::Put,
            "range" => Workload::Range,
            "txn" => Workload::Txn,
            other => bail!("unknown workload {other:?} (put, range, txn)"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Range => "range",
            Workload::Txn => "txn-cas",
        }
    }
}

/// One cell's parameters.
#[derive(Debug, Clone)]
pub struct Spec {
    pub workload: Workload,
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub value_size: usize,
    pub keyspace: u64,
    /// Distinguishes the put keys of successive cells on one server.
    pub run_id: String,
}

/// What the clients of one cell measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub ops: u64,
    pub elapsed: Duration,
    /// Latency of every measured operation, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Txn attempts that lost the compare (txn workload only).
    pub conflicts: u64,
}

impl Outcome {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of the latency, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let last = self.latencies_us.len() - 1;
        let i = ((last as f64) * q).round() as usize;
        f64::from(self.latencies_us[i.min(last)]) / 1000.0
    }
}

/// A small deterministic PRNG (splitmix64) so that no dependency is needed
/// and every run draws the same key sequence per client.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

pub fn object_key(i: u64) -> String {
    format!("{OBJ_PREFIX}{i:08}")
}

/// A value of `size` bytes whose content depends on `seed` (so that writes
/// really change the stored value).
pub fn value(size: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![b'x'; size];
    let tag = format!("{seed:016x}");
    let n = tag.len().min(size);
    v[..n].copy_from_slice(&tag.as_bytes()[..n]);
    v
}

/// Writes the `keyspace` objects that `range` and `txn` use, with 16
/// concurrent writers; not measured.
pub async fn preload(clients: &[Client], keyspace: u64, value_size: usize) -> anyhow::Result<()> {
    let writers = 16u64;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let mut kv = clients[(w as usize) % clients.len()].kv_client();
        tasks.spawn(async move {
            let mut i = w;
            while i < keyspace {
                kv.put(object_key(i), value(value_size, i), None)
                    .await
                    .with_context(|| format!("preloading {}", object_key(i)))?;
                i += writers;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("preload task")??;
    }
    Ok(())
}

/// Runs one cell: `spec.clients` closed-loop tasks, client task `c` using
/// connection `clients[c % clients.len()]`.
pub async fn run(clients: &[Client], spec: &Spec) -> anyhow::Result<Outcome> {
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..spec.clients {
        let kv = clients[c % clients.len()].kv_client();
        let spec = spec.clone();
        tasks.spawn(async move { client_loop(kv, c, spec, start, measure_from, end).await });
    }
    let mut total = Outcome {
        elapsed: spec.duration,
        ..Default::default()
    };
    while let Some(done) = tasks.join_next().await {
        let part = done.context("client task")??;
        total.ops += part.ops;
        total.conflicts += part.conflicts;
        total.latencies_us.extend(part.latencies_us);
    }
    total.latencies_us.sort_unstable();
    Ok(total)
}

async fn client_loop(
    mut kv: KvClient,
    client: usize,
    spec: Spec,
    start: Instant,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<Outcome> {
    tokio::time::sleep_until(start.into()).await;
    let mut rng = Rng(0x5EED_0000 + client as u64);
    let mut out = Outcome::default();
    let mut seq = 0u64;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        seq += 1;
        match spec.workload {
            Workload::Put => {
                let key = format!("/registry/bench/put/{}/{client:03}/{seq:010}", spec.run_id);
                kv.put(key, value(spec.value_size, seq), None)
                    .await
                    .context("put")?;
            }
            Workload::Range => {
                let key = object_key(rng.next() % spec.keyspace);
                let resp = kv.get(key.as_bytes(), None).await.context("range")?;
                if resp.kvs().len() != 1 {
                    bail!("range of {key} returned {} keys", resp.kvs().len());
                }
            }
            Workload::Txn => {
                let key = object_key(rng.next() % spec.keyspace);
                let conflicts = guaranteed_update(&mut kv, &key, spec.value_size, seq).await?;
                if t0 >= measure_from {
                    out.conflicts += conflicts;
                }
            }
        }
        let t1 = Instant::now();
        if t0 >= measure_from && t1 <= end {
            out.ops += 1;
            let us = (t1 - t0).as_micros().min(u128::from(u32::MAX)) as u32;
            out.latencies_us.push(us);
        }
    }
    Ok(out)
}

/// kube-apiserver's GuaranteedUpdate against etcd3: read the current object
/// and its mod revision, then write it only if nobody wrote since; on a lost
/// compare the else branch returns the current object and the update is
/// retried from it. Returns the number of lost compares.
async fn guaranteed_update(
    kv: &mut KvClient,
    key: &str,
    value_size: usize,
    seq: u64,
) -> anyhow::Result<u64> {
    let resp = kv.get(key, None).await.context("txn: initial range")?;
    let mut rev = match resp.kvs().first() {
        Some(kv) => kv.mod_revision(),
        None => bail!("txn: {key} is missing"),
    };
    let mut conflicts = 0;
    loop {
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, rev)])
            .and_then([TxnOp::put(key, value(value_size, seq), None)])
            .or_else([TxnOp::get(key, None)]);
        let resp = kv.txn(txn).await.context("txn")?;
        if resp.succeeded() {
            return Ok(conflicts);
        }
        conflicts += 1;
        rev = match resp.op_responses().first() {
            Some(TxnOpResponse::Get(get)) => match get.kvs().first() {
                Some(kv) => kv.mod_revision(),
                None => bail!("txn: {key} vanished"),
            },
            _ => bail!("txn: else branch did not return a range response"),
        };
    }
}
