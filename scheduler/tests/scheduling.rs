//! The scheduler against an in-process API server: Node objects with
//! capacity (no kubelet needed), pods created through the API, and what a
//! user sees: `spec.nodeName`, the `PodScheduled` condition, and the
//! `Scheduled`/`FailedScheduling` events with upstream's wording.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};
use serde_json::{Value, json};

struct Harness {
    client: Client,
    _server: apiserver::testing::TestServer,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> Harness {
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
    let task = tokio::spawn(scheduler::run(
        client.clone(),
        scheduler::SchedulerConfig::default(),
    ));
    Harness {
        client,
        _server: server,
        _dir: dir,
        task,
    }
}

async fn node(h: &Harness, name: &str, cpu: &str, pods: &str, extra: Value) {
    let mut n = json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "capacity": {"cpu": cpu, "memory": "4Gi", "pods": pods},
            "allocatable": {"cpu": cpu, "memory": "4Gi", "pods": pods}
        }
    });
    merge(&mut n, extra);
    let nodes: Api<Node> = Api::all(h.client.clone());
    let node: Node = serde_json::from_value(n).expect("node");
    let created = nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("create node");
    // Status is not taken on create: write it through the subresource.
    let status = json!({"status": node.status});
    nodes
        .patch_status(
            &created.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .expect("node status");
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

async fn pod(h: &Harness, name: &str, spec_extra: Value) -> Api<Pod> {
    let mut p = json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    });
    merge(&mut p["spec"], spec_extra);
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(p).expect("pod"),
    )
    .await
    .expect("create pod");
    pods
}

fn cpu(c: &str) -> Value {
    json!({"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": c}}}]})
}

async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bound_node(pods: &Api<Pod>, name: &str) -> String {
    wait_for("the pod to be bound", || async {
        pods.get(name).await.ok()?.spec?.node_name
    })
    .await
}

/// Waits for `PodScheduled=False` and a FailedScheduling event, and checks
/// both carry `message`.
async fn assert_unschedulable(h: &Harness, pods: &Api<Pod>, name: &str, message: &str) {
    let cond = wait_for("PodScheduled=False", || async {
        let p = pods.get(name).await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await;
    assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(cond.message.as_deref(), Some(message));
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    wait_for("a FailedScheduling event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("FailedScheduling")
                    && e.involved_object.name.as_deref() == Some(name)
                    && e.message.as_deref() == Some(message)
                    && e.type_.as_deref() == Some("Warning")
            })
            .map(|_| ())
    })
    .await;
    assert!(
        pods.get(name)
            .await
            .expect("pod")
            .spec
            .and_then(|s| s.node_name)
            .is_none()
    );
}

#[tokio::test]
async fn binds_to_a_fitting_node_and_reports_it() {
    let h = start().await;
    node(&h, "n1", "2", "110", json!({})).await;
    let pods = pod(&h, "web", cpu("500m")).await;
    assert_eq!(bound_node(&pods, "web").await, "n1");
    let p = pods.get("web").await.expect("pod");
    let scheduled = p
        .status
        .and_then(|s| s.conditions)
        .and_then(|cs| cs.into_iter().find(|c| c.type_ == "PodScheduled"))
        .expect("PodScheduled");
    assert_eq!(scheduled.status, "True");
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    wait_for("a Scheduled event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("Scheduled")
                    && e.message.as_deref() == Some("Successfully assigned default/web to n1")
            })
            .map(|_| ())
    })
    .await;

    // Binding a bound pod again is a conflict, like upstream.
    let again: Result<Value, _> = pods
        .create_subresource(
            "binding",
            "web",
            &PostParams::default(),
            &json!({"metadata": {"name": "web"}, "target": {"kind": "Node", "name": "n2"}}),
        )
        .await;
    match again {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert_eq!(
                s.message,
                "Operation cannot be fulfilled on pods/binding \"web\": pod web is already assigned to node \"n1\""
            );
        }
        other => panic!("expected 409, got {other:?}"),
    }
}

#[tokio::test]
async fn requests_of_bound_and_assumed_pods_count() {
    let h = start().await;
    node(&h, "a", "1", "110", json!({})).await;
    node(&h, "b", "1", "110", json!({})).await;
    let pods = pod(&h, "p1", cpu("600m")).await;
    pod(&h, "p2", cpu("600m")).await;
    let n1 = bound_node(&pods, "p1").await;
    let n2 = bound_node(&pods, "p2").await;
    assert_ne!(n1, n2, "the second pod does not fit next to the first");
    pod(&h, "p3", cpu("600m")).await;
    assert_unschedulable(
        &h,
        &pods,
        "p3",
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod..",
    )
    .await;
    // A new node is a cluster event: the pod is retried and fits.
    node(&h, "c", "1", "110", json!({})).await;
    assert_eq!(bound_node(&pods, "p3").await, "c");
}

#[tokio::test]
async fn taints_and_resources_in_one_message() {
    let h = start().await;
    node(
        &h,
        "cp",
        "4",
        "110",
        json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}}),
    )
    .await;
    node(&h, "w1", "1", "110", json!({})).await;
    node(&h, "w2", "1", "110", json!({})).await;
    let pods = pod(&h, "big", cpu("2")).await;
    assert_unschedulable(
        &h,
        &pods,
        "big",
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..",
    )
    .await;
    // A toleration opens the tainted node.
    let tolerant = json!({
        "containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "2"}}}],
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]
    });
    pod(&h, "tolerant", tolerant).await;
    assert_eq!(bound_node(&pods, "tolerant").await, "cp");
}

#[tokio::test]
async fn selector_affinity_cordon_ports_and_pod_count() {
    let h = start().await;
    node(
        &h,
        "ssd",
        "2",
        "2",
        json!({"metadata": {"labels": {"disk": "ssd"}}}),
    )
    .await;
    node(
        &h,
        "hdd",
        "2",
        "110",
        json!({"metadata": {"labels": {"disk": "hdd"}}, "spec": {"unschedulable": true}}),
    )
    .await;

    let pods = pod(&h, "sel", json!({"nodeSelector": {"disk": "nvme"}})).await;
    assert_unschedulable(
        &h,
        &pods,
        "sel",
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were unschedulable. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling..",
    )
    .await;

    let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]
    }}}});
    pod(&h, "aff", affinity).await;
    assert_eq!(bound_node(&pods, "aff").await, "ssd");

    let port = json!({"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80, "hostPort": 8080}]}]});
    pod(&h, "port1", port.clone()).await;
    assert_eq!(bound_node(&pods, "port1").await, "ssd");
    // ssd is now full (2 pods): the message names the first failing filter
    // per node.
    pod(&h, "port2", port).await;
    assert_unschedulable(
        &h,
        &pods,
        "port2",
        "0/2 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 1 node(s) were unschedulable. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling..",
    )
    .await;
    pod(&h, "many", json!({"nodeSelector": {"disk": "ssd"}})).await;
    assert_unschedulable(
        &h,
        &pods,
        "many",
        "0/2 nodes are available: 1 Too many pods, 1 node(s) were unschedulable. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling..",
    )
    .await;
}

#[tokio::test]
async fn other_schedulers_pods_are_left_alone() {
    let h = start().await;
    node(&h, "n1", "2", "110", json!({})).await;
    let pods = pod(&h, "mine", json!({})).await;
    pod(&h, "theirs", json!({"schedulerName": "other-scheduler"})).await;
    bound_node(&pods, "mine").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        pods.get("theirs")
            .await
            .expect("pod")
            .spec
            .and_then(|s| s.node_name)
            .is_none()
    );
}

async fn priority_class(h: &Harness, name: &str, value: i32, extra: Value) {
    let mut pc = json!({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": name}, "value": value,
    });
    merge(&mut pc, extra);
    let api: Api<k8s_openapi::api::scheduling::v1::PriorityClass> = Api::all(h.client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(pc).expect("priority class"),
    )
    .await
    .expect("create priority class");
}

fn foo(count: &str, class: &str) -> Value {
    json!({
        "priorityClassName": class,
        "containers": [{"name": "c", "image": "busybox", "resources": {
            "requests": {"example.com/foo": count}, "limits": {"example.com/foo": count}}}],
    })
}

#[tokio::test]
async fn higher_priority_pods_preempt_lower_ones() {
    let h = start().await;
    priority_class(&h, "low", 1, json!({})).await;
    priority_class(&h, "medium", 100, json!({})).await;
    priority_class(&h, "high", 1000, json!({})).await;
    priority_class(&h, "polite", 1000, json!({"preemptionPolicy": "Never"})).await;
    let foo5 = json!({"status": {
        "capacity": {"example.com/foo": "5"}, "allocatable": {"example.com/foo": "5"}}});
    node(&h, "n1", "4", "110", foo5.clone()).await;
    node(&h, "n2", "4", "110", foo5).await;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let mut placed = std::collections::BTreeMap::new();
    for (name, class) in [
        ("low-1", "low"),
        ("mid-1", "medium"),
        ("mid-2", "medium"),
        ("mid-3", "medium"),
    ] {
        pod(&h, name, foo("2", class)).await;
        placed.insert(name, bound_node(&pods, name).await);
    }
    let created = pods.get("low-1").await.expect("pod");
    assert_eq!(created.spec.as_ref().and_then(|s| s.priority), Some(1));

    // Never-preempting pods only wait.
    pod(&h, "polite", foo("2", "polite")).await;
    assert_unschedulable(
        &h,
        &pods,
        "polite",
        "0/2 nodes are available: 2 Insufficient example.com/foo. preemption: not eligible due to preemptionPolicy=Never..",
    )
    .await;
    pods.delete(
        "polite",
        &kube::api::DeleteParams::default().grace_period(0),
    )
    .await
    .expect("delete polite");

    pod(&h, "preemptor", foo("2", "high")).await;
    let victim = wait_for("the low-priority pod to be preempted", || async {
        let p = pods.get("low-1").await.ok()?;
        p.metadata.deletion_timestamp.is_some().then_some(p)
    })
    .await;
    let condition = victim
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .expect("DisruptionTarget condition");
    assert_eq!(condition.reason.as_deref(), Some("PreemptionByScheduler"));
    let nominated = wait_for("the preemptor to be nominated", || async {
        pods.get("preemptor")
            .await
            .ok()?
            .status?
            .nominated_node_name
    })
    .await;
    assert_eq!(nominated, placed["low-1"]);
    for name in ["mid-1", "mid-2", "mid-3"] {
        let p = pods.get(name).await.expect("pod");
        assert!(
            p.metadata.deletion_timestamp.is_none(),
            "{name} was preempted"
        );
    }
    // No kubelet here: finish the victim's graceful deletion as one would.
    pods.delete("low-1", &kube::api::DeleteParams::default().grace_period(0))
        .await
        .expect("delete victim");
    assert_eq!(bound_node(&pods, "preemptor").await, placed["low-1"]);
}
