//! Test harness: an in-process API server (`apiserver::testing`), an admin
//! client, the chosen controllers running against it over HTTPS, and a
//! stand-in for the kubelet. Until a kubelet runs in these tests, the test
//! plays the kubelet's part for readiness: `mark_ready` sets a pod's Ready
//! condition through the status subresource, as a kubelet would.

#![allow(dead_code)] // each test binary uses a different part

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};
use serde_json::json;

pub struct Harness {
    pub client: Client,
    pub server: apiserver::testing::TestServer,
    pub ca_pem: String,
    _dir: tempfile::TempDir,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

/// A server with the named controllers (`--controllers` values) running.
pub async fn start(controllers: &[&str]) -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = apiserver::testing::TestServer::start(dir.path())
        .await
        .expect("start the API server");
    let kubeconfig = Kubeconfig::read_from(&server.kubeconfig).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("client config");
    let client = Client::try_from(config).expect("client");
    let ca_pem = std::fs::read_to_string(&server.pki.ca_cert).expect("CA");
    let cfg = controllers::ManagerConfig {
        controllers: controllers.iter().map(|s| s.to_string()).collect(),
        root_ca_pem: Some(ca_pem.clone()),
        node_monitor_grace_period: Some(Duration::from_secs(2)),
    };
    let manager = tokio::spawn(controllers::run_manager(client.clone(), cfg));
    Harness {
        client,
        server,
        ca_pem,
        _dir: dir,
        tasks: vec![manager],
    }
}

impl Harness {
    /// Keeps every pod in `ns` Ready (the kubelet's part) until dropped.
    pub fn kubelet_marks_ready(&mut self, ns: &str) {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        self.tasks.push(tokio::spawn(async move {
            loop {
                if let Ok(list) = pods.list(&ListParams::default()).await {
                    for p in list.items.iter().filter(|p| !is_ready(p)) {
                        let _ = mark_ready(&pods, p).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
}

pub fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Sets phase Running and Ready=True through the status subresource.
pub async fn mark_ready(pods: &Api<Pod>, pod: &Pod) -> kube::Result<Pod> {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({"status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
    }});
    pods.patch_status(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
}

/// Polls `check` until it returns Some, or panics after `secs` seconds.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pods of `ns` not being deleted.
pub async fn live_pods(pods: &Api<Pod>, selector: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}
