//! Starting and stopping the servers under test: real etcd and `oxkube store`,
//! each a child process on free loopback ports with a fresh temporary data
//! dir, plus the per-process figures read from `/proc` (RSS, CPU time).

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

/// A running server; killed and its data dir removed on drop.
pub struct Server {
    pub kind: Kind,
    pub endpoint: String,
    child: Child,
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
    /// Starts `kind` from `binary` with a data dir under `tmp_root` and waits
    /// until it answers a Range.
    pub async fn start(kind: Kind, binary: &Path, tmp_root: &Path) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("store-bench-{}-", kind.name()))
            .tempdir_in(tmp_root)
            .with_context(|| format!("creating a temp dir in {}", tmp_root.display()))?;
        let data = dir.path().join("data");
        let log_path = dir.path().join("server.log");
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let log_err = log.try_clone().context("duplicating the log file handle")?;
        let ports = free_ports(2)?;
        let client_url = format!("http://127.0.0.1:{}", ports[0]);
        let mut cmd = Command::new(binary);
        match kind {
            Kind::Etcd => {
                let peer_url = format!("http://127.0.0.1:{}", ports[1]);
                cmd.arg("--name")
                    .arg("default")
                    .arg("--data-dir")
                    .arg(&data)
                    .arg("--listen-client-urls")
                    .arg(&client_url)
                    .arg("--advertise-client-urls")
                    .arg(&client_url)
                    .arg("--listen-peer-urls")
                    .arg(&peer_url)
                    .arg("--initial-advertise-peer-urls")
                    .arg(&peer_url)
                    .arg("--initial-cluster")
                    .arg(format!("default={peer_url}"));
            }
            Kind::Oxkube => {
                cmd.arg("store")
                    .arg("--data-dir")
                    .arg(&data)
                    .arg("--listen-client-urls")
                    .arg(&client_url)
                    .arg("--advertise-client-urls")
                    .arg(&client_url);
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Server {
            kind,
            endpoint: client_url,
            child,
            dir,
        };
        server.wait_ready(Duration::from_secs(30)).await?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(1))
            .with_timeout(Duration::from_secs(2));
        loop {
            if let Some(status) = self.child.try_wait().context("polling the server")? {
                bail!(
                    "{} exited with {status} before serving; log:\n{}",
                    self.kind.name(),
                    self.log_tail()
                );
            }
            if let Ok(mut c) = Client::connect([&self.endpoint], Some(options.clone())).await
                && c.get("/store-bench/ready", None).await.is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer on {} within {limit:?}; log:\n{}",
                    self.kind.name(),
                    self.endpoint,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Current and peak resident set size, in KiB.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let path = format!("/proc/{}/status", self.pid());
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

    /// User plus system CPU time the process (all its threads) has used.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let path = format!("/proc/{}/stat", self.pid());
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}
