//! `store-bench`: one closed-loop workload run against real etcd and against
//! `oxkube store` in the same run, through the same client (`etcd-client`),
//! printing throughput, latency percentiles, server RSS and CPU, and the
//! oxkube/etcd ratios as a Markdown table.
//!
//! It starts both servers itself on free 127.0.0.1 ports with fresh
//! temporary data dirs and stops them at the end. It is a benchmark binary,
//! not a test: it asserts nothing about the figures. See docs/benchmarks.md.

mod server;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use etcd_client::{Client, ConnectOptions};
use server::{Kind, Memory, Server};
use workload::{Outcome, Spec, Workload};

#[derive(Parser, Debug)]
#[command(about = "Benchmark oxkube store against etcd over the etcd v3 gRPC API")]
struct Args {
    /// The oxkube binary [default: $CARGO_TARGET_DIR/release/oxkube, else target/release/oxkube].
    #[arg(long, env = "OXKUBE_BIN")]
    oxkube: Option<PathBuf>,
    /// The etcd 3.4 binary.
    #[arg(long, env = "ETCD_BIN", default_value = "etcd")]
    etcd: PathBuf,
    /// Servers to run, in this order within each cell.
    #[arg(long, value_delimiter = ',', default_value = "etcd,oxkube")]
    servers: Vec<String>,
    /// Workloads: put, range, txn (get then compare-and-swap on mod_revision).
    #[arg(long, value_delimiter = ',', default_value = "put,range,txn")]
    workloads: Vec<String>,
    /// Concurrent closed-loop clients per cell.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Measured seconds per cell.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds at the start of each cell.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    /// Preloaded keys that range and txn pick from uniformly.
    #[arg(long, default_value_t = 10_000)]
    keyspace: u64,
    /// gRPC connections (HTTP/2) per server, shared round-robin by the client
    /// tasks; 0 gives every client task its own connection.
    #[arg(long, default_value_t = 0)]
    connections: usize,
    /// Members per server: 1 (a single etcd / the embedded oxkube engine)
    /// or 3, 5 (clusters on loopback; clients spread over the members).
    #[arg(long, default_value_t = 1)]
    members: usize,
    /// Where the servers' temporary data dirs go (must be a real disk for
    /// fsync to mean anything; not tmpfs).
    #[arg(long, env = "TMPDIR")]
    tmp_dir: Option<PathBuf>,
}

struct Cell {
    workload: Workload,
    clients: usize,
    kind: Kind,
    outcome: Outcome,
    memory: Memory,
    /// Server CPU time over the cell (warmup included) divided by wall time.
    cpu_cores: f64,
}

fn default_oxkube() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("release").join("oxkube")
}

fn first_line_of(cmd: &mut std::process::Command) -> String {
    match cmd.output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string(),
        Err(e) => format!("({e})"),
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    format!("{cpus} CPUs, {model}")
}

async fn connect(server: &Server, n: usize) -> anyhow::Result<Vec<Client>> {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(30));
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // Client i talks to member i mod N, as if each had its own API server.
        let endpoint = &server.endpoints[i % server.endpoints.len()];
        out.push(
            Client::connect([endpoint], Some(options.clone()))
                .await
                .with_context(|| format!("connecting to {} at {endpoint}", server.kind.name()))?,
        );
    }
    Ok(out)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let workloads = args
        .workloads
        .iter()
        .map(|w| Workload::parse(w))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let kinds = args
        .servers
        .iter()
        .map(|s| match s.trim() {
            "etcd" => Ok(Kind::Etcd),
            "oxkube" => Ok(Kind::Oxkube),
            other => bail!("unknown server {other:?} (etcd, oxkube)"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.members == 0 {
        bail!("--members must be at least 1");
    }
    if args.clients.contains(&0) || args.keyspace == 0 || args.duration <= 0.0 {
        bail!("--clients, --keyspace and --duration must be positive");
    }
    let oxkube = args.oxkube.clone().unwrap_or_else(default_oxkube);
    let tmp_root = args.tmp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let max_clients = args.clients.iter().copied().max().unwrap_or(1);
    let conns = if args.connections == 0 {
        max_clients
    } else {
        args.connections
    };

    println!("# store-bench");
    println!("machine: {}", machine());
    println!(
        "etcd: {} ({})",
        args.etcd.display(),
        first_line_of(std::process::Command::new(&args.etcd).arg("--version"))
    );
    println!("oxkube: {}", oxkube.display());
    println!(
        "workloads: {} x clients {:?}, {}s measured after {}s warmup, {}-byte values, keyspace {}, {}",
        args.workloads.join(","),
        args.clients,
        args.duration,
        args.warmup,
        args.value_size,
        args.keyspace,
        if args.connections == 0 {
            "one connection per client".to_string()
        } else {
            format!("{} shared connections", args.connections)
        }
    );
    println!("members per server: {}", args.members);
    println!("data dirs under {}", tmp_root.display());
    println!("{}", load_average());

    let mut servers = Vec::new();
    for &kind in &kinds {
        let binary = match kind {
            Kind::Etcd => args.etcd.clone(),
            Kind::Oxkube => oxkube.clone(),
        };
        let server = Server::start(kind, &binary, &tmp_root, args.members).await?;
        println!(
            "started {} pids {:?} on {}",
            kind.name(),
            server.pids(),
            server.endpoints.join(",")
        );
        let clients = connect(&server, conns).await?;
        if workloads.iter().any(|w| *w != Workload::Put) {
            let t = std::time::Instant::now();
            workload::preload(&clients, args.keyspace, args.value_size).await?;
            println!(
                "preloaded {} keys into {} in {:.1}s",
                args.keyspace,
                kind.name(),
                t.elapsed().as_secs_f64()
            );
        }
        servers.push((server, clients));
    }

    let mut cells = Vec::new();
    for &w in &workloads {
        for &clients in &args.clients {
            for (server, conns) in &servers {
                let used = if args.connections == 0 {
                    clients
                } else {
                    args.connections
                };
                let spec = Spec {
                    workload: w,
                    clients,
                    warmup: Duration::from_secs_f64(args.warmup),
                    duration: Duration::from_secs_f64(args.duration),
                    value_size: args.value_size,
                    keyspace: args.keyspace,
                    run_id: format!("c{clients}"),
                };
                let cpu0 = server.cpu_time()?;
                let wall0 = std::time::Instant::now();
                let outcome = workload::run(&conns[..used.min(conns.len())], &spec)
                    .await
                    .with_context(|| format!("{} {} x{clients}", server.kind.name(), w.name()))?;
                let cpu = server.cpu_time()?.saturating_sub(cpu0);
                let cpu_cores = cpu.as_secs_f64() / wall0.elapsed().as_secs_f64();
                let memory = server.memory()?;
                println!(
                    "{:<8} {:<7} clients {:>3}: {:>9.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  rss {:>6.1} MiB  cpu {:.2} cores{}",
                    w.name(),
                    server.kind.name(),
                    clients,
                    outcome.ops_per_sec(),
                    outcome.quantile_ms(0.5),
                    outcome.quantile_ms(0.99),
                    mib(memory.rss_kib),
                    cpu_cores,
                    if w == Workload::Txn {
                        format!("  conflicts {}", outcome.conflicts)
                    } else {
                        String::new()
                    }
                );
                cells.push(Cell {
                    workload: w,
                    clients,
                    kind: server.kind,
                    outcome,
                    memory,
                    cpu_cores,
                });
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    println!("{}", load_average());
    println!();
    print_table(&cells, &workloads, &args.clients);
    println!();
    for (server, _) in &servers {
        let m = server.memory()?;
        println!(
            "{} peak RSS (VmHWM) {:.1} MiB, final RSS {:.1} MiB",
            server.kind.name(),
            mib(m.hwm_kib),
            mib(m.rss_kib)
        );
    }
    Ok(())
}

/// Other load on the machine skews both servers; say how much there was.
fn load_average() -> String {
    match std::fs::read_to_string("/proc/loadavg") {
        Ok(t) => format!("load average: {}", t.trim()),
        Err(e) => format!("load average: unknown ({e})"),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn find(cells: &[Cell], w: Workload, clients: usize, kind: Kind) -> Option<&Cell> {
    cells
        .iter()
        .find(|c| c.workload == w && c.clients == clients && c.kind == kind)
}

fn print_table(cells: &[Cell], workloads: &[Workload], clients: &[usize]) {
    println!(
        "| workload | clients | etcd ops/s | oxkube ops/s | ratio | etcd p50 / p99 ms | oxkube p50 / p99 ms | p99 ratio | etcd RSS MiB | oxkube RSS MiB | etcd CPU | oxkube CPU |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let dash = || "-".to_string();
    for &w in workloads {
        for &c in clients {
            let e = find(cells, w, c, Kind::Etcd);
            let o = find(cells, w, c, Kind::Oxkube);
            let ops = |x: Option<&Cell>| {
                x.map_or_else(dash, |x| format!("{:.0}", x.outcome.ops_per_sec()))
            };
            let lat = |x: Option<&Cell>| {
                x.map_or_else(dash, |x| {
                    format!(
                        "{:.2} / {:.2}",
                        x.outcome.quantile_ms(0.5),
                        x.outcome.quantile_ms(0.99)
                    )
                })
            };
            let rss =
                |x: Option<&Cell>| x.map_or_else(dash, |x| format!("{:.0}", mib(x.memory.rss_kib)));
            let cpu = |x: Option<&Cell>| x.map_or_else(dash, |x| format!("{:.2}", x.cpu_cores));
            let (ratio, p99_ratio) = match (e, o) {
                (Some(e), Some(o)) => (
                    format!("{:.2}x", o.outcome.ops_per_sec() / e.outcome.ops_per_sec()),
                    format!(
                        "{:.2}",
                        o.outcome.quantile_ms(0.99) / e.outcome.quantile_ms(0.99)
                    ),
                ),
                _ => (dash(), dash()),
            };
            println!(
                "| {} | {c} | {} | {} | {ratio} | {} | {} | {p99_ratio} | {} | {} | {} | {} |",
                w.name(),
                ops(e),
                ops(o),
                lat(e),
                lat(o),
                rss(e),
                rss(o),
                cpu(e),
                cpu(o),
            );
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(async {
        tokio::select! {
            r = run(args) => r,
            r = tokio::signal::ctrl_c() => {
                r.context("waiting for Ctrl-C")?;
                // Dropping `run` kills the servers and removes their data dirs.
                bail!("interrupted")
            }
        }
    })
}
