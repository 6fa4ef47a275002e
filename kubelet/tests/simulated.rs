//! The node agent with the simulated runtime against a real in-process API
//! server: registration (capacity, addresses, nodeInfo, conditions), lease
//! renewal, pods going Running with an IP, deletion of a pod, and 100
//! simulated nodes running 500 pods.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, fast_config, start_server};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn pod(name: &str, node: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "initContainers": [{"name": "setup", "image": "busybox:local"}],
            "containers": [{"name": "app", "image": "busybox:local"},
                           {"name": "sidecar", "image": "busybox:local"}]
        }
    }))
    .expect("pod")
}

fn condition<'a>(pod: &'a Pod, type_: &str) -> Option<&'a str> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_registers_and_lease_renews() {
    let server = start_server().await;
    let config = fast_config("sim");
    let node = kubelet::simulated_nodes::start_one(server.client.clone(), &config, 0)
        .await
        .expect("start node");
    assert_eq!(node.node_name, "sim-0");

    let nodes: Api<Node> = Api::all(server.client.clone());
    let n = nodes.get("sim-0").await.expect("node registered");
    let labels = n.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["kubernetes.io/hostname"], "sim-0");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    let status = n.status.expect("node status");
    let cap = status.capacity.expect("capacity");
    assert_eq!(cap["cpu"].0, "8");
    assert_eq!(cap["pods"].0, "110");
    assert_eq!(cap["memory"].0, "33554432Ki");
    let alloc = status.allocatable.expect("allocatable");
    assert_eq!(alloc["memory"].0, "33452032Ki");
    let addresses = status.addresses.expect("addresses");
    assert_eq!(addresses[0].type_, "InternalIP");
    assert_eq!(addresses[0].address, "172.16.0.1");
    assert_eq!(addresses[1].type_, "Hostname");
    let info = status.node_info.expect("nodeInfo");
    assert!(info.kubelet_version.starts_with("v1.33."), "{info:?}");
    assert_eq!(info.container_runtime_version, "simulated://0.1.0");
    assert_eq!(info.operating_system, "linux");
    assert_eq!(
        status
            .daemon_endpoints
            .and_then(|d| d.kubelet_endpoint)
            .map(|e| e.port),
        Some(17310)
    );
    let conditions = status.conditions.expect("conditions");
    let ready = conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(ready.status, "True");
    assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
    assert_eq!(
        ready.message.as_deref(),
        Some("kubelet is posting ready status")
    );
    let memory = conditions
        .iter()
        .find(|c| c.type_ == "MemoryPressure")
        .expect("MemoryPressure");
    assert_eq!(
        (memory.status.as_str(), memory.reason.as_deref()),
        ("False", Some("KubeletHasSufficientMemory"))
    );

    let leases: Api<Lease> = Api::namespaced(server.client.clone(), "kube-node-lease");
    let first = eventually(Duration::from_secs(10), "node lease", || async {
        leases.get_opt("sim-0").await.ok().flatten()
    })
    .await;
    let spec = first.spec.clone().expect("lease spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("sim-0"));
    assert_eq!(spec.lease_duration_seconds, Some(4));
    let owner = &first.metadata.owner_references.clone().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Node", "sim-0")
    );
    assert_eq!(Some(owner.uid.clone()), n.metadata.uid);
    let first_renew = spec.renew_time.expect("renewTime");
    // Renewed every quarter of 4 s.
    eventually(Duration::from_secs(5), "lease renewal", || async {
        let l = leases.get("sim-0").await.ok()?;
        let renewed = l.spec?.renew_time?;
        (renewed > first_renew).then_some(())
    })
    .await;
    node.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_runs_with_ip_and_terminates_on_deletion() {
    let server = start_server().await;
    let node = kubelet::simulated_nodes::start_one(server.client.clone(), &fast_config("sim"), 0)
        .await
        .expect("start node");
    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    let mut p = pod("web", "sim-0");
    // A finalizer keeps the object after deletion, so the final status
    // the kubelet posts stays visible.
    p.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    pods.create(&PostParams::default(), &p)
        .await
        .expect("create pod");

    let running = eventually(Duration::from_secs(10), "pod Running", || async {
        let p = pods.get("web").await.ok()?;
        (condition(&p, "Ready") == Some("True")).then_some(p)
    })
    .await;
    let status = running.status.clone().expect("status");
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let ip = status.pod_ip.clone().expect("podIP");
    assert!(ip.starts_with("10.128.0."), "{ip}");
    assert_eq!(status.pod_ips.as_ref().map(|v| v[0].ip.clone()), Some(ip));
    assert_eq!(status.host_ip.as_deref(), Some("172.16.0.1"));
    assert!(status.start_time.is_some());
    for t in [
        "PodScheduled",
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
    ] {
        assert_eq!(condition(&running, t), Some("True"), "{t}");
    }
    let containers = status
        .container_statuses
        .clone()
        .expect("containerStatuses");
    assert_eq!(containers.len(), 2);
    assert!(
        containers
            .iter()
            .all(|c| c.ready && c.started == Some(true))
    );
    assert!(
        containers[0]
            .state
            .as_ref()
            .and_then(|s| s.running.as_ref())
            .is_some()
    );
    let init = &status
        .init_container_statuses
        .clone()
        .expect("init statuses")[0];
    let done = init
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .expect("terminated");
    assert_eq!(
        (done.exit_code, done.reason.as_deref()),
        (0, Some("Completed"))
    );

    pods.delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    let stopped = eventually(Duration::from_secs(10), "containers terminated", || async {
        let p = pods.get("web").await.ok()?;
        let all_stopped = p
            .status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .iter()
            .all(|c| c.state.as_ref().is_some_and(|s| s.terminated.is_some()));
        all_stopped.then_some(p)
    })
    .await;
    assert_eq!(condition(&stopped, "Ready"), Some("False"));
    pods.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("drop finalizer");
    eventually(Duration::from_secs(10), "pod gone", || async {
        pods.get_opt("web")
            .await
            .ok()
            .and_then(|p| p.is_none().then_some(()))
    })
    .await;
    node.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_simulated_nodes_run_five_hundred_pods() {
    let server = start_server().await;
    let mut config = kubelet::KubeletConfig::new("scale");
    config.pod_resync_period = Duration::from_secs(30);
    let started = Instant::now();
    let nodes = kubelet::simulated_nodes::start_many(server.client.clone(), &config, 100)
        .await
        .expect("start 100 nodes");
    let registered = started.elapsed();
    assert_eq!(nodes.len(), 100);
    let node_api: Api<Node> = Api::all(server.client.clone());
    assert_eq!(
        node_api
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len(),
        100
    );

    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    let started = Instant::now();
    let creates = (0..500u32).map(|i| {
        let pods = pods.clone();
        async move {
            let mut p = pod(&format!("p{i}"), &format!("scale-{}", i % 100));
            p.spec.as_mut().expect("spec").init_containers = None;
            pods.create(&PostParams::default(), &p).await
        }
    });
    use futures::StreamExt;
    let results: Vec<_> = futures::stream::iter(creates)
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(|r| r.is_ok()));
    eventually(Duration::from_secs(120), "500 pods Ready", || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let ready = list
            .items
            .iter()
            .filter(|p| condition(p, "Ready") == Some("True"))
            .count();
        (ready == 500).then_some(())
    })
    .await;
    eprintln!(
        "100 simulated nodes registered in {:?}; 500 pods created and Ready in {:?}",
        registered,
        started.elapsed()
    );
    let list = pods.list(&ListParams::default()).await.expect("list");
    let mut ips: Vec<_> = list
        .items
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 500, "pod IPs are unique across nodes");
    nodes.iter().for_each(kubelet::RunningKubelet::abort);
}
