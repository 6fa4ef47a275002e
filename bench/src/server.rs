//! Starting and stopping the servers under test: real etcd and `oxkube store`,
//! each a child process (or, with `members > 1`, a cluster of member
//! processes formed with etcd's `--initial-cluster` flags) on free loopback
//! ports with fresh temporary data dirs, plus the figures read from `/proc`
//! (RSS, CPU time), summed over the members.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use etcd_client::{Client, ConnectOptions};
use tempfile::TempDir;

/// Which implementation a server process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Etcd,
    Oxkube,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Etcd => "etcd",
            Kind::Oxkube => "oxkube",
        }
    }
}

/// A running server (all its members); killed and its data dirs removed on
/// drop.
pub struct Server {
    pub kind: Kind,
    /// The members' client URLs.
    pub endpoints: Vec<String>,
    children: Vec<Child>,
    dir: TempDir,
}

/// Reserves `n` distinct free loopback ports (the listeners are dropped just
/// before the server binds them; nothing else on this machine races for them
/// in practice).
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("binding a free loopback port"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

impl Server {
    /// Starts `kind` from `binary` with `members` members (data dirs under
    /// `tmp_root`) and waits until every member answers a Range.
    pub async fn start(
        kind: Kind,
        binary: &Path,
        tmp_root: &Path,
        members: usize,
    ) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("store-bench-{}-", kind.name()))
            .tempdir_in(tmp_root)
            .with_context(|| format!("creating a temp dir in {}", tmp_root.display()))?;
        let ports = free_ports(2 * members)?;
        let client_urls: Vec<String> = (0..members)
            .map(|i| format!("http://127.0.0.1:{}", ports[2 * i]))
            .collect();
        let peer_urls: Vec<String> = (0..members)
            .map(|i| format!("http://127.0.0.1:{}", ports[2 * i + 1]))
            .collect();
        let initial_cluster = peer_urls
            .iter()
            .enumerate()
            .map(|(i, url)| format!("m{i}={url}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut server = Server {
            kind,
            endpoints: client_urls.clone(),
            children: Vec::new(),
            dir,
        };
        for i in 0..members {
            let data = server.dir.path().join(format!("data{i}"));
            let log_path = server.log_path(i);
            let log = File::create(&log_path)
                .with_context(|| format!("creating {}", log_path.display()))?;
            let log_err = log.try_clone().context("duplicating the log file handle")?;
            let mut cmd = Command::new(binary);
            if kind == Kind::Oxkube {
                cmd.arg("store");
            }
            cmd.arg("--data-dir")
                .arg(&data)
                .arg("--listen-client-urls")
                .arg(&client_urls[i])
                .arg("--advertise-client-urls")
                .arg(&client_urls[i]);
            // One oxkube member is the embedded engine (no Raft); etcd
            // always has its peer flags.
            if kind == Kind::Etcd || members > 1 {
                let initial = if members > 1 {
                    initial_cluster.clone()
                } else {
                    format!("m0={}", peer_urls[0])
                };
                cmd.arg("--name")
                    .arg(format!("m{i}"))
                    .arg("--listen-peer-urls")
                    .arg(&peer_urls[i])
                    .arg("--initial-advertise-peer-urls")
                    .arg(&peer_urls[i])
                    .arg("--initial-cluster")
                    .arg(initial)
                    .arg("--initial-cluster-state")
                    .arg("new");
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log_err))
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            server.children.push(child);
        }
        server.wait_ready(Duration::from_secs(30)).await?;
        Ok(server)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    pub fn log_path(&self, member: usize) -> PathBuf {
        self.dir.path().join(format!("server{member}.log"))
    }

    async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(1))
            .with_timeout(Duration::from_secs(2));
        for (i, endpoint) in self.endpoints.clone().iter().enumerate() {
            loop {
                if let Some(status) = self.children[i].try_wait().context("polling the server")? {
                    bail!(
                        "{} member {i} exited with {status} before serving; log:\n{}",
                        self.kind.name(),
                        self.log_tail(i)
                    );
                }
                if let Ok(mut c) = Client::connect([endpoint], Some(options.clone())).await
                    && c.get("/store-bench/ready", None).await.is_ok()
                {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "{} did not answer on {endpoint} within {limit:?}; log:\n{}",
                        self.kind.name(),
                        self.log_tail(i)
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    fn log_tail(&self, member: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(member)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Current and peak resident set size, in KiB, summed over members.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let mut total = Memory::default();
        for pid in self.pids() {
            let m = Self::memory_of(pid)?;
            total.rss_kib += m.rss_kib;
            total.hwm_kib += m.hwm_kib;
        }
        Ok(total)
    }

    fn memory_of(pid: u32) -> anyhow::Result<Memory> {
        let path = format!("/proc/{pid}/status");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = text
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("no {name} in {path}"))?;
            line[name.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .with_context(|| format!("parsing {line:?}"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }

    /// User plus system CPU time the members (all threads) have used.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let mut total = Duration::ZERO;
        for pid in self.pids() {
            total += Self::cpu_time_of(pid)?;
        }
        Ok(total)
    }

    fn cpu_time_of(pid: u32) -> anyhow::Result<Duration> {
        let path = format!("/proc/{pid}/stat");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        // The command name (field 2) may hold spaces; fields resume after ')'.
        let rest = text
            .rsplit_once(')')
            .with_context(|| format!("malformed {path}"))?
            .1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
        let ticks = |i: usize| -> anyhow::Result<u64> {
            fields
                .get(i)
                .with_context(|| format!("short {path}"))?
                .parse()
                .with_context(|| format!("parsing field {i} of {path}"))
        };
        let total = ticks(11)? + ticks(12)?;
        // USER_HZ is 100 on every Linux platform this runs on.
        Ok(Duration::from_millis(total * 10))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}
