//! Test harness: a real API server (embedded store, TLS, PKI) started
//! in-process on a free port, and a kube client with its admin
//! credentials, the way `oxkube server` wires them.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kube::Client;

pub mod node;

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub server: apiserver::RunningServer,
    pub client: Client,
    pub kubeconfig: std::path::PathBuf,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn start_server() -> TestServer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = store::Engine::open(&dir.path().join("store"), store::EngineOptions::default())
        .expect("open store");
    let pki = apiserver::pki::ensure(dir.path(), "https://127.0.0.1:0", &[]).expect("pki");
    let serve = apiserver::ServeConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls_cert_file: pki.serving_cert.clone(),
        tls_private_key_file: pki.serving_key.clone(),
        client_ca_file: Some(pki.ca_cert.clone()),
    };
    // ServiceAccount tokens on (projected token volumes need TokenRequest).
    let tokens = apiserver::serviceaccount::TokenSettings::from_files(
        Vec::new(),
        Some(&pki.service_account_key),
        &[],
    )
    .expect("service account key");
    let settings = apiserver::ApiSettings {
        service_accounts: Some(std::sync::Arc::new(tokens)),
        ..Default::default()
    };
    let server = apiserver::start(engine, serve, settings)
        .await
        .expect("start apiserver");
    // Rewrite the admin kubeconfig for the port actually bound.
    let url = format!("https://{}", server.local_addr);
    let pki = apiserver::pki::ensure(dir.path(), &url, &[]).expect("kubeconfig");
    let client = kubelet::client::from_kubeconfig(&pki.admin_kubeconfig)
        .await
        .expect("client");
    TestServer {
        dir,
        server,
        client,
        kubeconfig: pki.admin_kubeconfig,
    }
}

/// Polls `check` every 100 ms until it returns Some, or panics with `what`
/// after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A kubelet configuration with short periods, so tests see renewals fast.
pub fn fast_config(name: &str) -> kubelet::KubeletConfig {
    let mut config = kubelet::KubeletConfig::new(name);
    config.node_lease_duration_seconds = 4;
    config.node_status_update_frequency = Duration::from_millis(500);
    config.pod_resync_period = Duration::from_secs(1);
    config.port = 17310;
    config
}
