//! `apiserver_bench`: a benchmark of `oxkube server` over HTTPS, printed as
//! a Markdown table (a binary, not a timed test).
//!
//! It starts the given `oxkube` binary on a fresh temporary data dir and a
//! free loopback port and measures:
//! - start: spawn to the first `200` on `/readyz` (fresh data dir, which
//!   includes making the PKI; then a restart on the same dir);
//! - idle RSS (`VmRSS` of the server process once ready);
//! - ConfigMap creates with C concurrent clients, one TLS connection each,
//!   for D seconds: creates/s and latency percentiles;
//! - LIST of a namespace holding N ConfigMaps (median of several runs);
//! - watch fan-out: W watches on one namespace (one connection each), one
//!   create, and the time until every watcher has its ADDED event;
//!   RSS with the watches open.
//!
//! The client runs on the same machine as the server, so both share the cores.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Parser, Debug)]
#[command(about = "Benchmark oxkube server: start, RSS, creates/s, LIST, watch fan-out")]
struct Args {
    /// Path to the `oxkube` binary (a release build).
    oxkube: PathBuf,
    /// Concurrent create clients (one connection each).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of the create phase.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// ConfigMaps in the namespace that is LISTed.
    #[arg(long, default_value_t = 10_000)]
    list_objects: usize,
    /// LIST runs (the median is reported).
    #[arg(long, default_value_t = 7)]
    list_runs: usize,
    /// Watches opened for the fan-out measurement (one connection each).
    #[arg(long, default_value_t = 1_000)]
    watchers: usize,
    /// HTTP version spoken on every connection.
    #[arg(long, value_enum, default_value_t = Proto::H2)]
    http: Proto,
    /// Bytes of data in each created ConfigMap.
    #[arg(long, default_value_t = 64)]
    value_size: usize,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
}

/// Where to reach the server and with which credentials.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    tls: TlsConnector,
    proto: Proto,
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// One client: one TLS connection, requests sent one after the other.
struct Conn {
    sender: Sender,
    authority: String,
}

impl Conn {
    async fn open(t: &Target) -> Result<Conn> {
        let tcp = TcpStream::connect(t.addr).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::IpAddress(t.addr.ip().into());
        let tls = t.tls.connect(name, tcp).await?;
        let io = TokioIo::new(tls);
        let sender = match t.proto {
            Proto::H1 => {
                let (s, conn) = hyper::client::conn::http1::handshake(io).await?;
                tokio::spawn(conn);
                Sender::H1(s)
            }
            Proto::H2 => {
                let (s, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
                tokio::spawn(conn);
                Sender::H2(s)
            }
        };
        Ok(Conn {
            sender,
            authority: t.addr.to_string(),
        })
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response<Incoming>> {
        let uri = match self.sender {
            Sender::H1(_) => path.to_string(),
            Sender::H2(_) => format!("https://{}{}", self.authority, path),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::ACCEPT, "application/json");
        if matches!(self.sender, Sender::H1(_)) {
            req = req.header(http::header::HOST, &self.authority);
        }
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        let resp = match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
        };
        Ok(resp)
    }

    /// A request whose whole body is read; the status and the body.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// Client TLS from the admin kubeconfig: the cluster CA and the client cert.
fn tls_from_kubeconfig(path: &Path, proto: Proto) -> Result<TlsConnector> {
    let text = std::fs::read_to_string(path)?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let field = |section: &str, key: &str| -> Result<Vec<u8>> {
        let b64 = doc[section][0][if section == "clusters" {
            "cluster"
        } else {
            "user"
        }][key]
            .as_str()
            .ok_or_else(|| anyhow!("kubeconfig has no {section}[0].{key}"))?;
        Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
    };
    let ca = field("clusters", "certificate-authority-data")?;
    let cert = field("users", "client-certificate-data")?;
    let key = field("users", "client-key-data")?;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut ca.as_slice()) {
        roots.add(c?)?;
    }
    let chain: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut cert.as_slice()).collect::<Result<_, _>>()?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key.as_slice())?
        .ok_or_else(|| anyhow!("no private key in the kubeconfig"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    config.alpn_protocols = match proto {
        Proto::H1 => vec![b"http/1.1".to_vec()],
        Proto::H2 => vec![b"h2".to_vec()],
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

struct Server {
    child: Child,
    data_dir: PathBuf,
    port: u16,
}

impl Server {
    fn spawn(bin: &Path, data_dir: &Path, port: u16, log: &Path) -> Result<Server> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = Command::new(bin)
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--secure-port")
            .arg(port.to_string())
            .arg("--bind-address")
            .arg("127.0.0.1")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        Ok(Server {
            child,
            data_dir: data_dir.to_path_buf(),
            port,
        })
    }

    fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("admin.kubeconfig")
    }

    /// Polls `/readyz` (every millisecond) until it answers 200; returns
    /// the target and the time since `since`.
    async fn wait_ready(&mut self, since: Instant, proto: Proto) -> Result<(Target, Duration)> {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port);
        let deadline = since + Duration::from_secs(30);
        let mut target = None;
        loop {
            if Instant::now() > deadline {
                bail!("oxkube server not ready after 30 s");
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("oxkube server exited early: {status}");
            }
            if target.is_none() {
                // The kubeconfig is written before the server listens; a
                // half-written file fails to parse and is read again.
                if let Ok(tls) = tls_from_kubeconfig(&self.kubeconfig(), proto) {
                    target = Some(Target { addr, tls, proto });
                }
            }
            if let Some(t) = &target
                && let Ok(mut c) = Conn::open(t).await
                && let Ok((StatusCode::OK, _)) = c.call(Method::GET, "/readyz", None).await
            {
                return Ok((t.clone(), since.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no VmRSS"))
    }

    /// SIGTERM, then SIGKILL after 5 s.
    fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn configmap(name: &str, value: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "data": {"key": value},
        })
        .to_string(),
    )
}

async fn create_namespace(t: &Target, name: &str) -> Result<()> {
    let mut c = Conn::open(t).await?;
    let body =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let (status, body) = c
        .call(
            Method::POST,
            "/api/v1/namespaces",
            Some(Bytes::from(body.to_string())),
        )
        .await?;
    if status != StatusCode::CREATED {
        bail!(
            "creating namespace {name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

struct CreateStats {
    ok: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    first_error: Option<String>,
}

/// `clients` workers, one connection each, creating ConfigMaps in `ns` until
/// `stop_after` elapsed or `total` were created (whichever comes first).
async fn run_creates(
    t: &Target,
    ns: &str,
    clients: usize,
    stop_after: Option<Duration>,
    total: Option<usize>,
    value: &str,
) -> Result<CreateStats> {
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(Conn::open(t).await?);
    }
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in conns {
        let (path, next, stop, value) =
            (path.clone(), next.clone(), stop.clone(), value.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut errors, mut first_error) = (0usize, None);
            loop {
                if stop.load(Ordering::Relaxed) || stop_after.is_some_and(|d| start.elapsed() >= d)
                {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if total.is_some_and(|n| i >= n) {
                    break;
                }
                let body = configmap(&format!("cm-{i:07}"), &value);
                let t0 = Instant::now();
                match conn.call(Method::POST, &path, Some(body)).await {
                    Ok((StatusCode::CREATED, _)) => lat.push(t0.elapsed()),
                    Ok((status, body)) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| {
                            format!("{status} {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                        // The connection is gone; this client stops.
                        break;
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut stats = CreateStats {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        first_error: None,
    };
    for task in tasks {
        let (lat, errors, first_error) = task.await?;
        stats.ok += lat.len();
        stats.latencies.extend(lat);
        stats.errors += errors;
        if stats.first_error.is_none() {
            stats.first_error = first_error;
        }
    }
    stop.store(true, Ordering::Relaxed);
    stats.elapsed = start.elapsed();
    stats.latencies.sort();
    Ok(stats)
}

/// One watcher: opens the watch, reports when its response headers came,
/// then waits for the ADDED event of `name` and returns when it was seen.
async fn watcher(
    t: Target,
    path: String,
    name: String,
    established: tokio::sync::mpsc::Sender<Result<()>>,
) -> Result<Instant> {
    let opened = async {
        let mut c = Conn::open(&t).await?;
        let resp = c.send(Method::GET, &path, None).await?;
        if resp.status() != StatusCode::OK {
            bail!("watch answered {}", resp.status());
        }
        Ok::<_, anyhow::Error>((c, resp))
    }
    .await;
    let (_conn, resp) = match opened {
        Ok(v) => {
            let _ = established.send(Ok(())).await;
            v
        }
        Err(e) => {
            let _ = established.send(Err(anyhow!("{e}"))).await;
            return Err(e);
        }
    };
    drop(established);
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        buf.extend_from_slice(data);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let seen = Instant::now();
            let ev: serde_json::Value = serde_json::from_slice(&line)?;
            if ev["type"] == "ADDED" && ev["object"]["metadata"]["name"] == name.as_str() {
                return Ok(seen);
            }
        }
    }
    bail!("watch ended before the ADDED event")
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let bin = std::fs::canonicalize(&args.oxkube)
        .with_context(|| format!("no oxkube binary at {}", args.oxkube.display()))?;
    let work = tempfile::Builder::new()
        .prefix("oxkube-apiserver-bench.")
        .tempdir()?;
    let data_dir = work.path().join("data");
    let log = work.path().join("server.log");
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| {
        eprintln!("{k}: {v}");
        rows.push((k.to_string(), v));
    };

    // Start on a fresh data dir (includes making the CA and certificates),
    // then a restart on the same dir.
    let port = free_port()?;
    let t0 = Instant::now();
    let mut server = Server::spawn(&bin, &data_dir, port, &log)?;
    let (_, cold) = server.wait_ready(t0, args.http).await?;
    row("start to /readyz 200, fresh data dir", ms(cold));
    server.stop()?;
    let port = free_port()?;
    let t0 = Instant::now();
    let mut server = Server::spawn(&bin, &data_dir, port, &log)?;
    let (target, warm) = server.wait_ready(t0, args.http).await?;
    row("start to /readyz 200, existing data dir", ms(warm));
    tokio::time::sleep(Duration::from_secs(2)).await;
    row("idle RSS after readiness", mib(server.rss_kib()?));

    // Creates.
    let value = "x".repeat(args.value_size);
    create_namespace(&target, "bench-create").await?;
    let s = run_creates(
        &target,
        "bench-create",
        args.clients,
        Some(Duration::from_secs(args.duration)),
        None,
        &value,
    )
    .await?;
    row(
        &format!(
            "ConfigMap creates, {} clients x 1 {:?} connection, {} s",
            args.clients, args.http, args.duration
        ),
        format!(
            "{:.0} creates/s ({} created, {} errors)",
            s.ok as f64 / s.elapsed.as_secs_f64(),
            s.ok,
            s.errors
        ),
    );
    if let Some(e) = &s.first_error {
        eprintln!("first create error: {e}");
    }
    row(
        "create latency p50 / p99 / max",
        format!(
            "{} / {} / {}",
            ms(pct(&s.latencies, 50.0)),
            ms(pct(&s.latencies, 99.0)),
            ms(pct(&s.latencies, 100.0))
        ),
    );
    row("RSS after the creates", mib(server.rss_kib()?));

    // LIST of a namespace with exactly `list_objects` ConfigMaps.
    create_namespace(&target, "bench-list").await?;
    let fill = run_creates(
        &target,
        "bench-list",
        args.clients,
        None,
        Some(args.list_objects),
        &value,
    )
    .await?;
    if fill.ok != args.list_objects {
        bail!(
            "filling bench-list: {} created, {} errors ({:?})",
            fill.ok,
            fill.errors,
            fill.first_error
        );
    }
    let mut c = Conn::open(&target).await?;
    for (label, query) in [("", ""), (", resourceVersion=0", "?resourceVersion=0")] {
        let mut runs = Vec::new();
        let mut info = String::new();
        for _ in 0..args.list_runs {
            let t0 = Instant::now();
            let (status, body) = c
                .call(
                    Method::GET,
                    &format!("/api/v1/namespaces/bench-list/configmaps{query}"),
                    None,
                )
                .await?;
            runs.push(t0.elapsed());
            if status != StatusCode::OK {
                bail!("LIST answered {status}");
            }
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            let items = v["items"].as_array().map_or(0, |a| a.len());
            if items != args.list_objects {
                bail!(
                    "LIST returned {items} items, expected {}",
                    args.list_objects
                );
            }
            info = format!("{items} items, {:.1} MB", body.len() as f64 / 1e6);
        }
        runs.sort();
        row(
            &format!(
                "LIST all ConfigMaps in a namespace{label}: median (min) of {}",
                args.list_runs
            ),
            format!("{} ({}), {info}", ms(pct(&runs, 50.0)), ms(runs[0])),
        );
    }

    // Watch fan-out.
    create_namespace(&target, "bench-watch").await?;
    let (status, body) = c
        .call(
            Method::GET,
            "/api/v1/namespaces/bench-watch/configmaps",
            None,
        )
        .await?;
    if status != StatusCode::OK {
        bail!("LIST bench-watch answered {status}");
    }
    let list: serde_json::Value = serde_json::from_slice(&body)?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .ok_or_else(|| anyhow!("list without resourceVersion"))?
        .to_string();
    let rss_before = server.rss_kib()?;
    let watch_path = format!(
        "/api/v1/namespaces/bench-watch/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=300"
    );
    let name = "fanout".to_string();
    let (tx, mut rx) = tokio::sync::mpsc::channel(args.watchers);
    let t_open = Instant::now();
    let mut handles = Vec::with_capacity(args.watchers);
    // Open in small batches so the accept queue is not flooded.
    let open_limit = Arc::new(tokio::sync::Semaphore::new(64));
    for _ in 0..args.watchers {
        let (t, p, n, tx, lim) = (
            target.clone(),
            watch_path.clone(),
            name.clone(),
            tx.clone(),
            open_limit.clone(),
        );
        handles.push(tokio::spawn(async move {
            let permit = lim.acquire_owned().await?;
            let (etx, mut erx) = tokio::sync::mpsc::channel(1);
            let w = tokio::spawn(watcher(t, p, n, etx));
            let r = erx
                .recv()
                .await
                .unwrap_or_else(|| Err(anyhow!("watcher gone")));
            drop(permit);
            let _ = tx.send(r).await;
            drop(tx);
            w.await?
        }));
    }
    drop(tx);
    let mut established = 0;
    let mut open_errors = Vec::new();
    while let Some(r) = rx.recv().await {
        match r {
            Ok(()) => established += 1,
            Err(e) => open_errors.push(e.to_string()),
        }
    }
    let open_time = t_open.elapsed();
    row(
        &format!("open {} watches (one connection each)", args.watchers),
        format!(
            "{established} established in {}{}",
            ms(open_time),
            open_errors
                .first()
                .map(|e| format!(", {} failed: {e}", open_errors.len()))
                .unwrap_or_default()
        ),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_watches = server.rss_kib()?;
    row(
        &format!("RSS with {established} watches open"),
        format!("{} ({} before)", mib(rss_watches), mib(rss_before)),
    );
    let t_create = Instant::now();
    let (status, body) = c
        .call(
            Method::POST,
            "/api/v1/namespaces/bench-watch/configmaps",
            Some(configmap(&name, &value)),
        )
        .await?;
    if status != StatusCode::CREATED {
        bail!(
            "create for the fan-out: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let create_done = t_create.elapsed();
    let mut delivered = Vec::new();
    let mut missed = 0usize;
    let mut first_miss = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for h in handles {
        match tokio::time::timeout_at(deadline, h).await {
            Ok(Ok(Ok(seen))) => delivered.push(seen.saturating_duration_since(t_create)),
            Ok(Ok(Err(e))) => {
                missed += 1;
                first_miss.get_or_insert(e.to_string());
            }
            Ok(Err(e)) => {
                missed += 1;
                first_miss.get_or_insert(e.to_string());
            }
            Err(_) => {
                missed += 1;
                first_miss.get_or_insert("no event within 30 s".to_string());
            }
        }
    }
    delivered.sort();
    row(
        "fan-out: create -> ADDED at every watcher p50 / p99 / max",
        format!(
            "{} / {} / {} ({} delivered, {missed} missed{}; the create itself took {})",
            ms(pct(&delivered, 50.0)),
            ms(pct(&delivered, 99.0)),
            ms(pct(&delivered, 100.0)),
            delivered.len(),
            first_miss.map(|e| format!(": {e}")).unwrap_or_default(),
            ms(create_done)
        ),
    );
    row("RSS at the end", mib(server.rss_kib()?));
    server.stop()?;

    println!("| measurement | result |\n|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
    Ok(())
}
