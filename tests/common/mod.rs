//! Shared helpers for the store's process-level tests: start `oxkube store`
//! and a real etcd 3.4 on free loopback ports, run `etcdctl`, and make a
//! throw-away CA with server and client certificates.

#![allow(dead_code)] // each test binary uses a different part

pub mod cluster;
pub mod linearizability;
pub mod netns;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `Some(reason)` when the etcd 3.4 tools these tests compare against are
/// missing (the CI script installs Debian's `etcd-server` and `etcd-client`).
pub fn missing_etcd_tools() -> Option<String> {
    for (tool, version_arg) in [("etcd", "--version"), ("etcdctl", "version")] {
        let found = Command::new(tool)
            .arg(version_arg)
            .env("ETCDCTL_API", "3")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!(
                "`{tool}` is not installed (apt-get install etcd-server etcd-client)"
            ));
        }
    }
    None
}

/// Skips the calling test, with the reason printed, when etcd is missing.
#[macro_export]
macro_rules! require_etcd_tools {
    () => {
        if let Some(reason) = common::missing_etcd_tools() {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Client TLS material for etcdctl / etcd_client.
#[derive(Clone, Debug)]
pub struct ClientTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA, a server certificate for 127.0.0.1/localhost and a client
/// certificate, written as PEM files into `dir`.
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client: ClientTls,
    /// A client certificate from a different CA, which must be refused.
    pub stranger: ClientTls,
}

fn write(path: &Path, data: &str) {
    std::fs::write(path, data).expect("write PEM file");
}

fn make_ca(name: &str) -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("self-sign CA");
    let pem = cert.pem();
    (rcgen::Issuer::new(params, key), pem)
}

fn make_leaf(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    cn: &str,
    sans: Vec<String>,
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let mut params = rcgen::CertificateParams::new(sans).expect("leaf params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("sign leaf");
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        let (ca, ca_pem) = make_ca("oxkube test CA");
        let (server_pem, server_key) = make_leaf(
            &ca,
            "oxkube-store",
            vec!["127.0.0.1".into(), "localhost".into()],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_pem, client_key) = make_leaf(
            &ca,
            "root",
            vec!["client".into()],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        );
        let (other_ca, other_ca_pem) = make_ca("some other CA");
        let (other_pem, other_key) = make_leaf(
            &other_ca,
            "intruder",
            vec!["intruder".into()],
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        );
        let p = |n: &str| dir.join(n);
        write(&p("ca.pem"), &ca_pem);
        write(&p("server.pem"), &server_pem);
        write(&p("server-key.pem"), &server_key);
        write(&p("client.pem"), &client_pem);
        write(&p("client-key.pem"), &client_key);
        write(&p("other-ca.pem"), &other_ca_pem);
        write(&p("intruder.pem"), &other_pem);
        write(&p("intruder-key.pem"), &other_key);
        Pki {
            ca: p("ca.pem"),
            server_cert: p("server.pem"),
            server_key: p("server-key.pem"),
            client: ClientTls {
                ca: p("ca.pem"),
                cert: p("client.pem"),
                key: p("client-key.pem"),
            },
            stranger: ClientTls {
                ca: p("ca.pem"),
                cert: p("intruder.pem"),
                key: p("intruder-key.pem"),
            },
        }
    }
}

/// A running server process (ours or etcd) listening on one client URL.
pub struct Server {
    pub child: Child,
    pub endpoint: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub tls: Option<ClientTls>,
}

impl Server {
    /// `oxkube store` on `data_dir`, on a fresh port (https with `pki`).
    pub fn oxkube(data_dir: &Path, pki: Option<&Pki>) -> Server {
        Self::oxkube_with(data_dir, pki, &[])
    }

    /// `oxkube store` with more flags.
    pub fn oxkube_with(data_dir: &Path, pki: Option<&Pki>, flags: &[&str]) -> Server {
        let port = free_port();
        let scheme = if pki.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oxkube"));
        cmd.arg("store")
            .arg("--name")
            .arg("oxkube-test")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen-client-urls")
            .arg(&endpoint)
            .arg("--advertise-client-urls")
            .arg(&endpoint)
            .args(flags);
        if let Some(pki) = pki {
            cmd.arg("--cert-file")
                .arg(&pki.server_cert)
                .arg("--key-file")
                .arg(&pki.server_key)
                .arg("--trusted-ca-file")
                .arg(&pki.ca)
                .arg("--client-cert-auth");
        }
        let log = data_dir.with_extension("log");
        Self::spawn(cmd, endpoint, data_dir, log, pki.map(|p| p.client.clone()))
    }

    /// A real etcd 3.4 on fresh client and peer ports.
    pub fn etcd(data_dir: &Path) -> Server {
        let port = free_port();
        let peer = free_port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut cmd = Command::new("etcd");
        cmd.arg("--data-dir")
            .arg(data_dir)
            .arg("--listen-client-urls")
            .arg(&endpoint)
            .arg("--advertise-client-urls")
            .arg(&endpoint)
            .arg("--listen-peer-urls")
            .arg(format!("http://127.0.0.1:{peer}"))
            .arg("--initial-advertise-peer-urls")
            .arg(format!("http://127.0.0.1:{peer}"))
            .arg("--initial-cluster")
            .arg(format!("default=http://127.0.0.1:{peer}"));
        let log = data_dir.with_extension("log");
        Self::spawn(cmd, endpoint, data_dir, log, None)
    }

    fn spawn(
        mut cmd: Command,
        endpoint: String,
        data_dir: &Path,
        log: PathBuf,
        tls: Option<ClientTls>,
    ) -> Server {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open server log");
        let err_file = log_file.try_clone().expect("clone log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file)
            .spawn()
            .expect("start server process");
        let mut server = Server {
            child,
            endpoint,
            data_dir: data_dir.to_path_buf(),
            log,
            tls,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited early ({status}):\n{}", self.log_text());
            }
            let out = self.etcdctl(&["get", "readiness-probe"]);
            if out.status.success() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "server at {} not ready in 30s: {}\n{}",
                    self.endpoint,
                    String::from_utf8_lossy(&out.stderr),
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn etcdctl_command(&self, args: &[&str]) -> Command {
        self.etcdctl_command_as(self.tls.as_ref(), args)
    }

    fn etcdctl_command_as(&self, tls: Option<&ClientTls>, args: &[&str]) -> Command {
        self.etcdctl_command_at(&self.endpoint, tls, args)
    }

    fn etcdctl_command_at(
        &self,
        endpoint: &str,
        tls: Option<&ClientTls>,
        args: &[&str],
    ) -> Command {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoint}"))
            .arg("--dial-timeout=2s")
            .arg("--command-timeout=5s");
        if let Some(tls) = tls {
            cmd.arg(format!("--cacert={}", tls.ca.display()))
                .arg(format!("--cert={}", tls.cert.display()))
                .arg(format!("--key={}", tls.key.display()));
        }
        cmd.args(args);
        cmd
    }

    /// Runs etcdctl against this server and returns its output.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        self.etcdctl_command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    /// Runs etcdctl with other client credentials (or none).
    pub fn etcdctl_as(&self, tls: Option<&ClientTls>, args: &[&str]) -> Output {
        self.etcdctl_command_as(tls, args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    /// Runs etcdctl with this server's credentials but another spelling of
    /// its endpoint.
    pub fn etcdctl_at(&self, endpoint: &str, args: &[&str]) -> Output {
        self.etcdctl_command_at(endpoint, self.tls.as_ref(), args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    /// Runs etcdctl with `stdin` fed to it.
    pub fn etcdctl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .etcdctl_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run etcdctl");
        child
            .stdin
            .take()
            .expect("etcdctl stdin")
            .write_all(stdin.as_bytes())
            .expect("write etcdctl stdin");
        child.wait_with_output().expect("etcdctl output")
    }

    /// etcdctl that must succeed; returns stdout.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = self.etcdctl(args);
        assert!(
            out.status.success(),
            "etcdctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts etcdctl in the background (for `watch`), output to a file.
    pub fn etcdctl_background(&self, args: &[&str], out: &Path) -> Child {
        let file = std::fs::File::create(out).expect("create output file");
        let err = file.try_clone().expect("clone output handle");
        self.etcdctl_command(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .expect("start etcdctl")
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
