//! A replicated `oxkube store` cluster for the Raft tests: members started
//! as child processes with etcd's cluster flags on loopback (or inside
//! network namespaces), killed with SIGKILL, restarted on their data, and
//! asked for their status through the etcd client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use store::remote::{RemoteConfig, RemoteKv};
use store::{Kv, StatusResponse};

/// One member process.
pub struct Member {
    pub name: String,
    pub host: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// Run inside this network namespace (`ip netns exec`).
    pub netns: Option<String>,
    /// Peer traffic over mutual TLS with these files.
    pub peer_tls: Option<PeerTls>,
    pub child: Option<Child>,
}

impl Member {
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.host, self.client_port)
    }

    /// The endpoint as etcdctl's `endpoint` commands want it (no scheme).
    pub fn bare_endpoint(&self) -> String {
        format!("{}:{}", self.host, self.client_port)
    }

    pub fn peer_url(&self) -> String {
        let scheme = if self.peer_tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}:{}", self.host, self.peer_port)
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the member with `initial_cluster` and `state` (new|existing).
    pub fn start(&mut self, initial_cluster: &str, state: &str, extra: &[String]) {
        assert!(!self.is_running(), "{} already runs", self.name);
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns])
                    .arg(env!("CARGO_BIN_EXE_oxkube"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_oxkube")),
        };
        cmd.arg("store")
            .args(["--name", &self.name])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen-client-urls", &self.endpoint()])
            .args(["--advertise-client-urls", &self.endpoint()])
            .args(["--listen-peer-urls", &self.peer_url()])
            .args(["--initial-advertise-peer-urls", &self.peer_url()])
            .args(["--initial-cluster", initial_cluster])
            .args(["--initial-cluster-state", state])
            .args(extra)
            // OXKUBE_TEST_MEMBER_LOG=info,openraft=info shows elections.
            .env(
                "RUST_LOG",
                std::env::var("OXKUBE_TEST_MEMBER_LOG")
                    .unwrap_or_else(|_| "info,openraft=warn".to_string()),
            );
        if let Some(tls) = &self.peer_tls {
            cmd.arg("--peer-cert-file")
                .arg(&tls.cert)
                .arg("--peer-key-file")
                .arg(&tls.key)
                .arg("--peer-trusted-ca-file")
                .arg(&tls.ca)
                .arg("--peer-client-cert-auth");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open member log");
        let err = log.try_clone().expect("clone log handle");
        self.child = Some(
            cmd.stdin(Stdio::null())
                .stdout(log)
                .stderr(err)
                .spawn()
                .expect("start oxkube store"),
        );
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A client of this member only.
    pub async fn client(&self) -> Option<RemoteKv> {
        RemoteKv::connect(&RemoteConfig {
            endpoints: vec![self.endpoint()],
            connect_timeout: Some(Duration::from_secs(1)),
            ..Default::default()
        })
        .await
        .ok()
    }

    pub async fn status(&self) -> Option<StatusResponse> {
        let kv = self.client().await?;
        tokio::time::timeout(Duration::from_secs(2), kv.status())
            .await
            .ok()?
            .ok()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Peer TLS files: a CA and one certificate (server and client auth, for
/// 127.0.0.1) that every member uses, plus one from another CA.
#[derive(Debug, Clone)]
pub struct PeerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub intruder_cert: PathBuf,
    pub intruder_key: PathBuf,
}

impl PeerTls {
    pub fn generate(dir: &Path) -> PeerTls {
        let leaf = |issuer: &rcgen::Issuer<'static, rcgen::KeyPair>, cn: &str| {
            let key = rcgen::KeyPair::generate().expect("peer key");
            let mut params = rcgen::CertificateParams::new(vec![
                "127.0.0.1".to_string(),
                "localhost".to_string(),
            ])
            .expect("peer params");
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            params.extended_key_usages = vec![
                rcgen::ExtendedKeyUsagePurpose::ServerAuth,
                rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let cert = params.signed_by(&key, issuer).expect("sign peer cert");
            (cert.pem(), key.serialize_pem())
        };
        let (ca, ca_pem) = super::make_ca("oxkube peer CA");
        let (cert, key) = leaf(&ca, "member");
        let (other, _) = super::make_ca("another CA");
        let (intruder, intruder_key) = leaf(&other, "intruder");
        let tls = PeerTls {
            ca: dir.join("peer-ca.pem"),
            cert: dir.join("peer.pem"),
            key: dir.join("peer-key.pem"),
            intruder_cert: dir.join("intruder-peer.pem"),
            intruder_key: dir.join("intruder-peer-key.pem"),
        };
        for (path, pem) in [
            (&tls.ca, ca_pem),
            (&tls.cert, cert),
            (&tls.key, key),
            (&tls.intruder_cert, intruder),
            (&tls.intruder_key, intruder_key),
        ] {
            std::fs::write(path, pem).expect("write PEM");
        }
        tls
    }
}

/// Members with their shared `--initial-cluster`.
pub struct Cluster {
    pub members: Vec<Member>,
    pub initial_cluster: String,
    pub extra: Vec<String>,
}

impl Cluster {
    /// `n` members on 127.0.0.1: client ports `base + i`, peer ports
    /// `base + 50 + i`; all started.
    pub fn start(dir: &Path, n: usize, base: u16, extra: &[&str]) -> Cluster {
        let hosts = vec!["127.0.0.1".to_string(); n];
        Self::start_on(dir, &hosts, &vec![None; n], base, extra)
    }

    /// Members on the given hosts (and network namespaces).
    pub fn start_on(
        dir: &Path,
        hosts: &[String],
        netns: &[Option<String>],
        base: u16,
        extra: &[&str],
    ) -> Cluster {
        Self::start_full(dir, hosts, netns, None, base, extra)
    }

    /// `n` loopback members whose peers talk mutual TLS.
    pub fn start_tls(dir: &Path, n: usize, base: u16, tls: &PeerTls) -> Cluster {
        let hosts = vec!["127.0.0.1".to_string(); n];
        Self::start_full(dir, &hosts, &vec![None; n], Some(tls), base, &[])
    }

    fn start_full(
        dir: &Path,
        hosts: &[String],
        netns: &[Option<String>],
        peer_tls: Option<&PeerTls>,
        base: u16,
        extra: &[&str],
    ) -> Cluster {
        // Write back what earlier work left in the page cache (CI builds
        // the tests just before running them): a writeback storm makes a
        // member's log fsync take up to seconds, and openraft 0.9 counts
        // election time only while its core is not waiting for one, so
        // timing checks would measure the disk, not the failover.
        let _ = Command::new("sync").status();
        let members: Vec<Member> = hosts
            .iter()
            .zip(netns)
            .enumerate()
            .map(|(i, (host, ns))| Member {
                name: format!("m{i}"),
                host: host.clone(),
                client_port: base + i as u16,
                peer_port: base + 50 + i as u16,
                data_dir: dir.join(format!("m{i}")),
                log: dir.join(format!("m{i}.log")),
                netns: ns.clone(),
                peer_tls: peer_tls.cloned(),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            members,
            initial_cluster,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for i in 0..cluster.members.len() {
            cluster.start_member(i);
        }
        cluster
    }

    pub fn start_member(&mut self, i: usize) {
        let ic = self.initial_cluster.clone();
        let extra = self.extra.clone();
        self.members[i].start(&ic, "new", &extra);
    }

    /// The index of the member every running member agrees leads, waiting
    /// up to `timeout`.
    pub async fn leader(&mut self, timeout: Duration) -> Option<usize> {
        let all: Vec<usize> = (0..self.members.len()).collect();
        self.leader_among(&all, timeout).await
    }

    /// The leader the running members among `which` agree on.
    pub async fn leader_among(&mut self, which: &[usize], timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut seen = Vec::new();
            for &i in which {
                if !self.members[i].is_running() {
                    continue;
                }
                if let Some(status) = self.members[i].status().await {
                    seen.push((i, status.header.member_id, status.leader));
                }
            }
            if let Some(&(_, _, leader)) = seen.first()
                && leader != 0
                && seen.iter().all(|(_, _, l)| *l == leader)
                && let Some(&(i, _, _)) = seen.iter().find(|(_, id, _)| *id == leader)
            {
                return Some(i);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every member's log, for failure messages.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let text = m.log_text();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                format!(
                    "--- {} ---\n{}",
                    m.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// etcdctl (API v3) against `endpoints`.
pub fn etcdctl(endpoints: &str, args: &[&str]) -> Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .arg("--dial-timeout=2s")
        .arg("--command-timeout=8s")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl")
}
