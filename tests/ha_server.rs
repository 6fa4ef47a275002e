//! Three `oxkube server` processes on 127.0.0.1 form an HA control plane
//! (k3s's embedded-etcd pattern): the first with `--cluster-init`, the
//! others with `--server URL --token T`. Objects created through server 1
//! are read through servers 2 and 3; wrong tokens, and joins to a non-HA
//! server, are refused; the server whose store member leads is SIGKILLed
//! while a writer keeps creating objects through another server: writes
//! succeed again within seconds,
//! nothing acknowledged is lost, and the killed server, restarted with the
//! same flags, catches up without joining again. The controller manager
//! runs on every server, and only one holds its Lease at a time.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::free_port;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

const NAMESPACE: &str = "ha-test";

/// One `oxkube server` process; SIGKILLed when dropped.
struct Server {
    name: &'static str,
    data_dir: PathBuf,
    api_port: u16,
    peer_port: u16,
    args: Vec<String>,
    child: Option<Child>,
    starts: usize,
}

impl Server {
    fn new(root: &Path, name: &'static str, args: Vec<String>) -> Server {
        let api_port = free_port();
        let peer_port = free_port();
        let data_dir = root.join(name);
        let mut all = vec![
            "server".to_string(),
            "--data-dir".to_string(),
            data_dir.display().to_string(),
            "--secure-port".to_string(),
            api_port.to_string(),
            "--peer-port".to_string(),
            peer_port.to_string(),
            "--disable-scheduler".to_string(),
        ];
        all.extend(args);
        Server {
            name,
            data_dir,
            api_port,
            peer_port,
            args: all,
            child: None,
            starts: 0,
        }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.api_port)
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir
            .with_file_name(format!("{}.{}.log", self.name, self.starts))
    }

    /// Starts the process, its output in a log file of its own per start.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).expect("create log");
        let err = log.try_clone().expect("clone log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_oxkube"))
            .args(&self.args)
            .env("RUST_LOG", "info,openraft=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("start oxkube server");
        self.child = Some(child);
    }

    /// Starts the process and waits until it says it is ready.
    fn start(&mut self) -> Duration {
        let started = Instant::now();
        self.spawn();
        let deadline = started + Duration::from_secs(90);
        while !self.log().contains("oxkube server is ready") {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("{} exited ({status}):\n{}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready in 90 s:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        started.elapsed()
    }

    /// Runs the process to its end (a join that must fail).
    fn run_to_exit(&mut self, timeout: Duration) -> (bool, String) {
        self.spawn();
        let deadline = Instant::now() + timeout;
        let mut child = self.child.take().expect("child");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return (status.success(), self.log());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} still runs after {timeout:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        strip_ansi(&text)
    }

    /// Every log of this server, all starts.
    fn all_logs(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                let path = self
                    .data_dir
                    .with_file_name(format!("{}.{n}.log", self.name));
                strip_ansi(&std::fs::read_to_string(path).unwrap_or_default())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The highest Raft term in which this run's store member said it
    /// leads.
    fn leading_term(&self) -> Option<u64> {
        self.log()
            .lines()
            .filter(|l| l.contains("leading; lease deadlines restarted"))
            .filter_map(|l| {
                let rest = &l[l.find("term=")? + 5..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .max()
    }

    fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("admin.kubeconfig")
    }

    async fn client(&self) -> kube::Client {
        let kubeconfig = Kubeconfig::read_from(self.kubeconfig()).expect("read kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kubeconfig");
        kube::Client::try_from(config).expect("client")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn resource(group: &str, version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

fn configmaps(client: kube::Client) -> Api<DynamicObject> {
    Api::namespaced_with(client, NAMESPACE, &resource("", "v1", "ConfigMap"))
}

fn configmap(name: &str) -> DynamicObject {
    let mut obj = DynamicObject::new(name, &resource("", "v1", "ConfigMap")).within(NAMESPACE);
    obj.data = json!({"data": {"name": name}});
    obj
}

async fn create(api: &Api<DynamicObject>, name: &str) -> bool {
    let params = PostParams::default();
    let obj = configmap(name);
    let call = api.create(&params, &obj);
    matches!(
        tokio::time::timeout(Duration::from_secs(10), call).await,
        Ok(Ok(_))
    )
}

/// The names of the ConfigMaps in the test namespace, through `client`.
async fn names(client: kube::Client) -> Vec<String> {
    let list = configmaps(client)
        .list(&ListParams::default())
        .await
        .expect("list configmaps");
    list.items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect()
}

/// The ports listed in the `default/kubernetes` Endpoints, sorted.
async fn endpoint_ports(client: kube::Client) -> Vec<u16> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client, "default", &resource("", "v1", "Endpoints"));
    let Ok(ep) = api.get("kubernetes").await else {
        return Vec::new();
    };
    let mut ports: Vec<u16> = ep.data["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["ports"].as_array().into_iter().flatten())
        .filter_map(|p| p["port"].as_u64()?.try_into().ok())
        .collect();
    ports.sort_unstable();
    ports
}

/// Polls `check` until it is true or `timeout` passes; returns the time it
/// took.
async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < timeout {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Which servers' current runs say they took the controller manager's Lease.
fn lease_holders(servers: &[Server]) -> Vec<usize> {
    (0..servers.len())
        .filter(|i| servers[*i].child.is_some())
        .filter(|i| {
            servers[*i]
                .log()
                .lines()
                .any(|l| l.contains("became leader") && l.contains("lease=kube-controller-manager"))
        })
        .collect()
}

/// The running server whose store member leads in the highest term.
fn store_leader(servers: &[Server]) -> Option<usize> {
    let terms: Vec<(usize, u64)> = (0..servers.len())
        .filter(|i| servers[*i].child.is_some())
        .filter_map(|i| servers[i].leading_term().map(|t| (i, t)))
        .collect();
    terms.iter().max_by_key(|(_, t)| *t).map(|(i, _)| *i)
}

/// Whether curl completes a TLS handshake (and gets any answer) from the
/// store's peer port of `server`, with the client certificate `cert` of
/// `server`'s PKI (none: `None`).
fn peer_port_accepts(server: &Server, cert: Option<&str>) -> bool {
    let pki = server.data_dir.join("pki");
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "/dev/null", "--max-time", "5", "--cacert"])
        .arg(pki.join("peer-ca.crt"));
    if let Some(cert) = cert {
        cmd.arg("--cert")
            .arg(pki.join(format!("{cert}.crt")))
            .arg("--key")
            .arg(pki.join(format!("{cert}.key")));
    }
    cmd.arg(format!("https://127.0.0.1:{}/", server.peer_port));
    cmd.status().expect("run curl").success()
}

fn curl_status(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_share_one_store_and_survive_the_leaders_death() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();

    // Server 1 forms the cluster and writes the token.
    let mut servers = vec![Server::new(root, "s1", vec!["--cluster-init".into()])];
    let took = servers[0].start();
    eprintln!("server 1 ready in {took:?}");
    let token = std::fs::read_to_string(servers[0].data_dir.join("token"))
        .expect("token file")
        .trim()
        .to_string();
    assert!(token.starts_with("K10"), "{token}");
    let (hash, credentials) = token[3..].split_once("::").expect("secure token");
    let secret = credentials.strip_prefix("server:").expect("server token");

    // The bootstrap route refuses a wrong secret and leaks nothing; the
    // right one gets the shared PKI.
    let ca = servers[0].data_dir.join("pki/ca.crt");
    let ca = ca.to_str().expect("path");
    let bootstrap = format!("{}/v1-oxkube/server-bootstrap", servers[0].url());
    let (code, body) = curl_status(&["--cacert", ca, "-u", "server:wrong", &bootstrap]);
    assert_eq!(code, "401", "{body}");
    assert!(
        !body.contains("PRIVATE KEY") && !body.contains("files"),
        "{body}"
    );
    let (code, _) = curl_status(&["--cacert", ca, &bootstrap]);
    assert_eq!(code, "401");
    let right = format!("server:{secret}");
    let (code, body) = curl_status(&["--cacert", ca, "-u", &right, &bootstrap]);
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("pki/ca.key"), "{body}");

    // A joiner with a wrong secret is refused; one whose token names
    // another CA stops before sending its secret.
    let url1 = servers[0].url();
    let wrong_secret = format!("K10{hash}::server:not-the-secret");
    let mut bad = Server::new(
        root,
        "bad1",
        vec![
            "--server".into(),
            url1.clone(),
            "--token".into(),
            wrong_secret,
        ],
    );
    let (ok, log) = bad.run_to_exit(Duration::from_secs(60));
    assert!(!ok && log.contains("refused the token (401)"), "{log}");
    let other_ca = format!("K10{}::server:{secret}", "0".repeat(64));
    let mut bad = Server::new(
        root,
        "bad2",
        vec!["--server".into(), url1.clone(), "--token".into(), other_ca],
    );
    let (ok, log) = bad.run_to_exit(Duration::from_secs(60));
    assert!(
        !ok && log.contains("is not the one the token names"),
        "{log}"
    );
    // Only the curl with the right secret got the PKI.
    assert_eq!(servers[0].log().matches("sent the cluster PKI").count(), 1);

    // A plain (non-HA) server cannot be joined.
    let mut plain = Server::new(root, "plain", Vec::new());
    plain.start();
    let mut bad = Server::new(
        root,
        "bad3",
        vec![
            "--server".into(),
            plain.url(),
            "--token".into(),
            token.clone(),
        ],
    );
    let (ok, log) = bad.run_to_exit(Duration::from_secs(60));
    assert!(!ok && log.contains("it is not an HA server"), "{log}");
    plain.kill();

    // Servers 2 and 3 join through server 1.
    for name in ["s2", "s3"] {
        let join = vec![
            "--server".to_string(),
            url1.clone(),
            "--token".to_string(),
            token.clone(),
        ];
        let mut server = Server::new(root, name, join);
        let took = server.start();
        eprintln!("{name} joined and ready in {took:?}");
        servers.push(server);
    }
    for s in &servers[1..] {
        assert!(
            s.log().contains("promoted to a voting store member"),
            "{}: no promotion logged:\n{}",
            s.name,
            s.log()
        );
        let own = std::fs::read_to_string(s.data_dir.join("token")).expect("token");
        assert_eq!(own.trim(), token, "joiners keep the cluster's token");
        assert_eq!(
            std::fs::read(s.data_dir.join("pki/ca.crt")).expect("ca"),
            std::fs::read(servers[0].data_dir.join("pki/ca.crt")).expect("ca"),
        );
    }

    // The kubernetes Endpoints list the three API servers.
    let mut all_ports: Vec<u16> = servers.iter().map(|s| s.api_port).collect();
    all_ports.sort_unstable();
    let c3 = servers[2].client().await;
    let took = eventually(Duration::from_secs(15), || {
        let (c, want) = (c3.clone(), all_ports.clone());
        async move { endpoint_ports(c).await == want }
    })
    .await;
    assert!(
        took.is_some(),
        "endpoints {:?}, servers {all_ports:?}",
        endpoint_ports(c3.clone()).await
    );

    // Peer traffic is mutual TLS with the peer CA: no client certificate,
    // or one from the cluster CA (the admin's), is refused.
    assert!(peer_port_accepts(&servers[1], Some("peer")));
    assert!(!peer_port_accepts(&servers[1], None));
    assert!(!peer_port_accepts(&servers[1], Some("admin")));

    // Objects created through server 1 are read through 2 and 3.
    let c1 = servers[0].client().await;
    let ns = Api::<DynamicObject>::all_with(c1.clone(), &resource("", "v1", "Namespace"));
    let mut namespace = DynamicObject::new(NAMESPACE, &resource("", "v1", "Namespace"));
    namespace.data = json!({});
    ns.create(&PostParams::default(), &namespace)
        .await
        .expect("create namespace");
    let api1 = configmaps(c1.clone());
    let mut acked: Vec<String> = Vec::new();
    for i in 0..5 {
        let name = format!("first-{i}");
        assert!(create(&api1, &name).await, "create {name} through s1");
        acked.push(name);
    }
    for s in &servers[1..] {
        let api = configmaps(s.client().await);
        for name in &acked {
            let got = api.get(name).await.expect("read through another server");
            assert_eq!(got.data["data"]["name"], json!(name));
        }
    }

    // Stock kubectl against server 3.
    if Path::new("/usr/bin/kubectl").exists() {
        let out = Command::new("/usr/bin/kubectl")
            .arg("--kubeconfig")
            .arg(servers[2].kubeconfig())
            .args(["get", "namespaces"])
            .output()
            .expect("run kubectl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("kube-system") && text.contains(NAMESPACE),
            "{text}"
        );
    }

    // One controller manager acts; the others wait for its Lease.
    let holders = common::wait_for(Duration::from_secs(30), || {
        let h = lease_holders(&servers);
        (!h.is_empty()).then_some(h)
    })
    .expect("a controller manager takes the Lease");
    assert_eq!(holders.len(), 1, "one leader: {holders:?}");
    let lease_holder = holders[0];

    // Kill the store leader while a writer creates objects through another
    // server.
    let leader = store_leader(&servers).expect("a store member leads");
    let writer_at = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    eprintln!(
        "store leader: {}, controller manager: {}, writer through {}",
        servers[leader].name, servers[lease_holder].name, servers[writer_at].name
    );
    let writer_api = configmaps(servers[writer_at].client().await);
    let log: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let log = log.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let name = format!("during-{i:04}");
                if create(&writer_api, &name).await {
                    log.lock().expect("log").push((name, Instant::now()));
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
    };
    let ok = common::wait_for(Duration::from_secs(20), || {
        (log.lock().expect("log").len() >= 20).then_some(())
    });
    assert!(ok.is_some(), "the writer makes progress before the kill");
    let killed_at = Instant::now();
    servers[leader].kill();
    let first_after = common::wait_for(Duration::from_secs(30), || {
        log.lock()
            .expect("log")
            .iter()
            .find(|(_, at)| *at > killed_at)
            .map(|(_, at)| at.duration_since(killed_at))
    })
    .expect("writes succeed again after the leader's death");
    eprintln!("first write acknowledged {first_after:?} after the SIGKILL");
    assert!(first_after < Duration::from_secs(5), "{first_after:?}");
    // The other survivor takes writes too.
    let other_api = configmaps(servers[other].client().await);
    let started = Instant::now();
    let mut done = false;
    while !done && started.elapsed() < Duration::from_secs(10) {
        done = create(&other_api, "after-kill").await;
    }
    assert!(
        done,
        "a write through {} after the kill",
        servers[other].name
    );
    eprintln!(
        "write through the other survivor took {:?}",
        started.elapsed()
    );
    acked.push("after-kill".to_string());
    let new_leader = common::wait_for(Duration::from_secs(10), || {
        store_leader(&servers).filter(|l| *l != leader)
    })
    .expect("a new store leader");
    eprintln!("new store leader: {}", servers[new_leader].name);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.expect("writer task");
    acked.extend(log.lock().expect("log").iter().map(|(n, _)| n.clone()));

    // Nothing acknowledged is lost: every name is there through both
    // survivors.
    for i in [writer_at, other] {
        let present = names(servers[i].client().await).await;
        let missing: Vec<&String> = acked.iter().filter(|n| !present.contains(n)).collect();
        assert!(missing.is_empty(), "{} lacks {missing:?}", servers[i].name);
    }

    // If the killed server ran the controllers, another server takes over.
    if lease_holder == leader {
        let t = Instant::now();
        let holders = common::wait_for(Duration::from_secs(40), || {
            let h = lease_holders(&servers);
            (!h.is_empty()).then_some(h)
        })
        .expect("another controller manager takes the Lease");
        assert_eq!(holders.len(), 1, "{holders:?}");
        eprintln!(
            "controller manager Lease taken over by {} after {:?}",
            servers[holders[0]].name,
            t.elapsed()
        );
    } else {
        assert_eq!(lease_holders(&servers), vec![lease_holder]);
    }

    // Its API server leaves the kubernetes Endpoints when its lease expires.
    let survivors: Vec<u16> = all_ports
        .iter()
        .copied()
        .filter(|p| *p != servers[leader].api_port)
        .collect();
    let c = servers[other].client().await;
    let took = eventually(Duration::from_secs(40), || {
        let (c, want) = (c.clone(), survivors.clone());
        async move { endpoint_ports(c).await == want }
    })
    .await
    .expect("the dead server leaves the endpoints");
    eprintln!("dead API server left the endpoints after another {took:?}");

    // The killed server restarts with the same flags, rejoins from its data
    // dir (no second member add) and catches up.
    let took = servers[leader].start();
    eprintln!("{} restarted and ready in {took:?}", servers[leader].name);
    let restarted = servers[leader].client().await;
    let present = names(restarted).await;
    let missing: Vec<&String> = acked.iter().filter(|n| !present.contains(n)).collect();
    assert!(missing.is_empty(), "restarted server lacks {missing:?}");
    let took = eventually(Duration::from_secs(15), || {
        let (c, want) = (c.clone(), all_ports.clone());
        async move { endpoint_ports(c).await == want }
    })
    .await;
    assert!(
        took.is_some(),
        "the restarted server is back in the endpoints"
    );
    let adds: usize = servers
        .iter()
        .map(|s| {
            s.all_logs()
                .matches("added a store learner for a joining server")
                .count()
        })
        .sum();
    assert_eq!(adds, 2, "only the two joins added members");
    let api = configmaps(servers[leader].client().await);
    assert!(create(&api, "after-restart").await);
    let api = configmaps(servers[other].client().await);
    assert!(api.get("after-restart").await.is_ok());

    // A joined server restarts while server 1 is down: the other two are a
    // majority, so it needs nothing from server 1.
    servers[0].kill();
    let (a, b) = (1, 2);
    servers[a].kill();
    let took = servers[a].start();
    eprintln!("{} restarted without server 1 in {took:?}", servers[a].name);
    let api = configmaps(servers[a].client().await);
    assert!(create(&api, "without-s1").await);
    let api = configmaps(servers[b].client().await);
    assert!(api.get("without-s1").await.is_ok());
}
