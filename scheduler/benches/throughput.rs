//! Scheduler throughput: pods bound per second with 100, 1 000 and 5 000
//! Node objects (created through the API with capacity; no kubelet), on an
//! in-process oxkube API server (`apiserver::testing`, the same code as
//! `oxkube server`) with the scheduler in the same process, both over
//! HTTPS. Not a timed test: run it by hand,
//! `cargo bench -p scheduler --bench throughput [-- NODES... --pods N]`.
//! Prints one line per node count (pods, seconds, pods/s).

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;

const CONCURRENCY: usize = 32;

async fn client_for(server: &apiserver::testing::TestServer) -> Client {
    let kubeconfig = Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

async fn create_nodes(client: &Client, count: usize) {
    let nodes: Api<Node> = Api::all(client.clone());
    futures::stream::iter(0..count)
        .map(|i| {
            let nodes = nodes.clone();
            async move {
                let name = format!("bench-node-{i}");
                let node: Node =
                    serde_json::from_value(json!({"metadata": {"name": name}})).expect("node");
                nodes
                    .create(&PostParams::default(), &node)
                    .await
                    .expect("create node");
                let status = json!({"status": {
                    "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                    "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True"}]
                }});
                nodes
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                    .expect("node status");
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
}

async fn create_pods(client: &Client, ns: &str, count: usize) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    futures::stream::iter(0..count)
        .map(|i| {
            let pods = pods.clone();
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("p-{i}")},
                    "spec": {"containers": [{"name": "c", "image": "busybox",
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
                }))
                .expect("pod");
                pods.create(&PostParams::default(), &pod)
                    .await
                    .expect("create pod");
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
}

async fn bound(client: &Client, ns: &str) -> usize {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
                .count()
        })
        .unwrap_or(0)
}

async fn run(nodes: usize, pods: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = apiserver::testing::TestServer::start(dir.path())
        .await
        .expect("server");
    let client = client_for(&server).await;
    create_nodes(&client, nodes).await;
    let sched = tokio::spawn(scheduler::run(
        client.clone(),
        scheduler::SchedulerConfig::default(),
    ));
    // Let the scheduler list the nodes before timing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let creating = tokio::spawn({
        let client = client.clone();
        async move { create_pods(&client, "default", pods).await }
    });
    loop {
        if bound(&client, "default").await >= pods {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = creating.await;
    sched.abort();
    (secs, pods as f64 / secs)
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut node_counts = Vec::new();
    let mut pods = 1000;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--pods" {
            pods = it.next().and_then(|p| p.parse().ok()).unwrap_or(pods);
        } else if let Ok(n) = a.parse() {
            node_counts.push(n);
        }
    }
    if node_counts.is_empty() {
        node_counts = vec![100, 1000, 5000];
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("nodes  pods  seconds  pods/s");
    for nodes in node_counts {
        let (secs, rate) = rt.block_on(run(nodes, pods));
        println!("{nodes:>5}  {pods:>4}  {secs:>7.2}  {rate:>6.1}");
    }
}
