//! The node lifecycle controller against a real API server: a Node whose
//! kubelet goes silent becomes Ready=Unknown and tainted unreachable, its
//! pods go according to their NoExecute tolerations, and the taints leave
//! once the node reports Ready again. (Grace period 2 s in these tests.)

mod common;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn ready_now() -> Value {
    let now = Timestamp::now().to_string();
    json!({"status": {"conditions": [{
        "type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": now, "lastTransitionTime": now
    }]}})
}

fn taint_keys(node: &Node) -> Vec<(String, String)> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|ts| {
            ts.iter()
                .map(|t| (t.key.clone(), t.effect.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn pod(name: &str, tolerations: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"nodeName": "silent", "tolerations": tolerations,
                 "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod")
}

#[tokio::test]
async fn silent_node_is_tainted_and_its_pods_evicted_by_toleration() {
    let h = common::start(&["nodelifecycle"]).await;
    let nodes: Api<Node> = Api::all(h.client.clone());
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "silent"}})).expect("node");
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("create node");
    nodes
        .patch_status(
            "silent",
            &PatchParams::default(),
            &Patch::Merge(ready_now()),
        )
        .await
        .expect("ready");

    let unreachable = "node.kubernetes.io/unreachable";
    pods.create(
        &PostParams::default(),
        &pod("short", json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}])),
    )
    .await
    .expect("pod tolerating 0 s");
    pods.create(
        &PostParams::default(),
        &pod(
            "forever",
            json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute"}]),
        ),
    )
    .await
    .expect("pod tolerating forever");
    let defaulted = pods
        .create(&PostParams::default(), &pod("defaulted", json!([])))
        .await
        .expect("pod without tolerations");
    let default_seconds: Vec<_> = defaulted
        .spec
        .and_then(|s| s.tolerations)
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.toleration_seconds))
        .collect();
    assert_eq!(
        default_seconds,
        [
            ("node.kubernetes.io/not-ready".to_string(), Some(300)),
            (unreachable.to_string(), Some(300)),
        ],
        "DefaultTolerationSeconds"
    );

    // The kubelet stays silent: Ready=Unknown and the unreachable taints.
    let silent = common::wait_for(30, "node marked Unknown and tainted", || async {
        let n = nodes.get("silent").await.ok()?;
        let ready = n
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready")?
            .clone();
        (ready.status == "Unknown" && taint_keys(&n).len() == 2).then_some((n, ready))
    })
    .await;
    assert_eq!(silent.1.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        silent.1.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    assert_eq!(
        taint_keys(&silent.0),
        [
            (unreachable.to_string(), "NoSchedule".to_string()),
            (unreachable.to_string(), "NoExecute".to_string()),
        ]
    );

    // The pod tolerating 0 s is evicted (marked: no kubelet confirms it).
    common::wait_for(20, "the short-tolerance pod evicted", || async {
        let p = pods.get("short").await.ok()?;
        p.metadata.deletion_timestamp.map(|_| ())
    })
    .await;
    for name in ["forever", "defaulted"] {
        let p = pods.get(name).await.expect("pod still there");
        assert!(
            p.metadata.deletion_timestamp.is_none(),
            "{name} was evicted"
        );
    }

    // The kubelet is back and keeps posting (faster than the 2 s grace):
    // the taints go.
    common::wait_for(20, "the taints removed", || async {
        nodes
            .patch_status(
                "silent",
                &PatchParams::default(),
                &Patch::Merge(ready_now()),
            )
            .await
            .ok()?;
        let n = nodes.get("silent").await.ok()?;
        taint_keys(&n).is_empty().then_some(())
    })
    .await;
}
