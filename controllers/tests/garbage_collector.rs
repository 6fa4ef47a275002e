//! The garbage collector (background, foreground, orphan propagation, any
//! kind via discovery) and the per-namespace defaults (ServiceAccount,
//! kube-root-ca.crt), against an in-process API server.

mod common;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::{Api, ResourceExt};
use serde_json::json;

use common::{live_pods, wait_for};

fn replicaset(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            }
        }
    }))
    .expect("replicaset")
}

async fn rs_with_pods(h: &common::Harness, name: &str, n: usize) -> ReplicaSet {
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let rs = rss
        .create(&PostParams::default(), &replicaset(name, n as i32))
        .await
        .expect("create rs");
    let sel = format!("app={name}");
    wait_for(20, "pods of the ReplicaSet", || async {
        (live_pods(&pods, &sel).await.len() == n).then_some(())
    })
    .await;
    rs
}

async fn all_pods(pods: &Api<Pod>, sel: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(sel))
        .await
        .expect("list")
        .items
}

#[tokio::test]
async fn background_deletion_collects_dependents() {
    let h = common::start(&["replicaset", "garbagecollector"]).await;
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    rs_with_pods(&h, "bg", 2).await;
    rss.delete("bg", &DeleteParams::background())
        .await
        .expect("delete");
    wait_for(30, "dependents collected", || async {
        all_pods(&pods, "app=bg").await.is_empty().then_some(())
    })
    .await;

    // Any kind: a ConfigMap owned by another ConfigMap.
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    let owner = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "owner"}})).expect("cm"),
        )
        .await
        .expect("owner");
    let dependent: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "dependent", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.uid()}
        ]}}),
    )
    .expect("cm");
    cms.create(&PostParams::default(), &dependent)
        .await
        .expect("dependent");
    cms.delete("owner", &DeleteParams::default())
        .await
        .expect("delete owner");
    wait_for(30, "dependent ConfigMap collected", || async {
        cms.get_opt("dependent").await.ok()?.is_none().then_some(())
    })
    .await;

    // A dependent whose owner never existed is collected too.
    let dangling: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dangling", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}
    ]}}))
    .expect("cm");
    cms.create(&PostParams::default(), &dangling)
        .await
        .expect("dangling");
    wait_for(30, "dangling dependent collected", || async {
        cms.get_opt("dangling").await.ok()?.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let h = common::start(&["replicaset", "garbagecollector"]).await;
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    rs_with_pods(&h, "fg", 2).await;
    // One pod holds a finalizer of its own, so it stays while terminating.
    let held = live_pods(&pods, "app=fg").await.remove(0);
    pods.patch(
        &held.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await
    .expect("hold");

    let answer = rss
        .delete("fg", &DeleteParams::foreground())
        .await
        .expect("delete");
    let marked = answer
        .left()
        .expect("200 with the object while dependents exist");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(
        marked
            .finalizers()
            .contains(&"foregroundDeletion".to_string())
    );

    wait_for(
        30,
        "the unheld pod deleted and the held one terminating",
        || async {
            let list = all_pods(&pods, "app=fg").await;
            (list.len() == 1 && list[0].metadata.deletion_timestamp.is_some()).then_some(())
        },
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let still = rss
        .get("fg")
        .await
        .expect("owner waits for its blocking dependent");
    assert!(
        still
            .finalizers()
            .contains(&"foregroundDeletion".to_string())
    );

    pods.patch(
        &held.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release");
    wait_for(30, "owner deleted after its dependents", || async {
        rss.get_opt("fg").await.ok()?.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_without_owner_reference() {
    let h = common::start(&["replicaset", "garbagecollector"]).await;
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let rs = rs_with_pods(&h, "or", 2).await;
    let answer = rss
        .delete(
            "or",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Orphan),
                ..Default::default()
            },
        )
        .await
        .expect("delete");
    let marked = answer.left().expect("marked with the orphan finalizer");
    assert!(marked.finalizers().contains(&"orphan".to_string()));
    wait_for(30, "owner gone", || async {
        rss.get_opt("or").await.ok()?.is_none().then_some(())
    })
    .await;
    let left = all_pods(&pods, "app=or").await;
    assert_eq!(left.len(), 2, "dependents kept");
    for p in &left {
        assert!(p.metadata.deletion_timestamp.is_none());
        assert!(
            !p.owner_references()
                .iter()
                .any(|r| Some(&r.uid) == rs.metadata.uid.as_ref()),
            "owner reference removed from {}",
            p.name_any()
        );
    }
}

#[tokio::test]
async fn namespaces_get_default_service_account_and_root_ca() {
    let h = common::start(&["serviceaccount", "root-ca-cert-publisher"]).await;
    let namespaces: Api<Namespace> = Api::all(h.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "team-a"}})).expect("ns"),
        )
        .await
        .expect("namespace");
    let sas: Api<ServiceAccount> = Api::namespaced(h.client.clone(), "team-a");
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "team-a");
    wait_for(20, "default ServiceAccount", || async {
        sas.get_opt("default").await.ok()?
    })
    .await;
    let cm = wait_for(20, "kube-root-ca.crt", || async {
        cms.get_opt("kube-root-ca.crt").await.ok()?
    })
    .await;
    assert_eq!(
        cm.data.and_then(|d| d.get("ca.crt").cloned()),
        Some(h.ca_pem.clone())
    );

    // Deleted or edited, both come back as they were.
    sas.delete("default", &DeleteParams::default())
        .await
        .expect("delete sa");
    cms.patch(
        "kube-root-ca.crt",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"ca.crt": "tampered"}})),
    )
    .await
    .expect("tamper");
    wait_for(20, "ServiceAccount recreated", || async {
        sas.get_opt("default").await.ok()?
    })
    .await;
    wait_for(20, "CA restored", || async {
        let cm = cms.get_opt("kube-root-ca.crt").await.ok()??;
        (cm.data?.get("ca.crt") == Some(&h.ca_pem)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn pods_of_a_deleted_node_are_force_deleted() {
    let h = common::start(&["podgc"]).await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(h.client.clone());
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "gone"}})).expect("node"),
        )
        .await
        .expect("node");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let bound: Pod = serde_json::from_value(json!({
        "metadata": {"name": "bound"},
        "spec": {"nodeName": "gone", "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &bound)
        .await
        .expect("pod");
    // Without a kubelet a scheduled pod only gets marked for deletion.
    pods.delete("bound", &DeleteParams::default())
        .await
        .expect("delete");
    let marked = pods.get("bound").await.expect("still there");
    assert!(marked.metadata.deletion_timestamp.is_some());
    nodes
        .delete("gone", &DeleteParams::default())
        .await
        .expect("delete node");
    wait_for(40, "pod of the deleted node removed", || async {
        pods.get_opt("bound").await.ok()?.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn resource_quota_status_counts_objects_and_requests() {
    let h = common::start(&["resourcequota"]).await;
    let quotas: Api<k8s_openapi::api::core::v1::ResourceQuota> =
        Api::namespaced(h.client.clone(), "default");
    let quota = serde_json::from_value(json!({"metadata": {"name": "q"}, "spec": {"hard": {
        "configmaps": "10", "count/configmaps": "10", "pods": "5", "requests.cpu": "2", "limits.memory": "1Gi"
    }}}))
    .expect("quota");
    quotas
        .create(&PostParams::default(), &quota)
        .await
        .expect("create quota");
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    let base = wait_for(20, "initial usage", || async {
        let used = quotas.get("q").await.ok()?.status?.used?;
        used.get("configmaps")?.0.parse::<i64>().ok()
    })
    .await;
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "extra"}})).expect("cm"),
    )
    .await
    .expect("cm");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    for (name, cpu) in [("a", "500m"), ("b", "1")] {
        let pod =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": [{
                "name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": cpu}, "limits": {"memory": "256Mi"}}
            }]}}))
            .expect("pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("pod");
    }
    let want_cm = (base + 1).to_string();
    // Event-driven recounts usually settle this at once; a recount that lost
    // a conflict with admission's charge is redone by the 30 s full recount.
    wait_for(45, "usage after creates", || async {
        let status = quotas.get("q").await.ok()?.status?;
        let used = status.used?;
        let get = |k: &str| used.get(k).map(|q| q.0.clone()).unwrap_or_default();
        let hard = status.hard?;
        (get("configmaps") == want_cm
            && get("count/configmaps") == want_cm
            && get("pods") == "2"
            && get("requests.cpu") == "1500m"
            && get("limits.memory") == "512Mi"
            && hard.get("pods").map(|q| q.0.as_str()) == Some("5"))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn foreground_deletion_is_not_blocked_by_a_dependency_circle() {
    let h = common::start(&["garbagecollector"]).await;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let mut uids = Vec::new();
    for name in ["c1", "c2", "c3"] {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"circle": "yes"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}
        }))
        .expect("pod");
        uids.push(
            pods.create(&PostParams::default(), &pod)
                .await
                .expect("pod")
                .uid()
                .expect("uid"),
        );
    }
    // c1 is owned by c3, c2 by c1, c3 by c2, each blocking its owner.
    for (dependent, owner) in [(0usize, 2usize), (1, 0), (2, 1)] {
        let names = ["c1", "c2", "c3"];
        let patch = json!({"metadata": {"ownerReferences": [{
            "apiVersion": "v1", "kind": "Pod", "name": names[owner], "uid": uids[owner],
            "blockOwnerDeletion": true
        }]}});
        pods.patch(
            names[dependent],
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .expect("owner ref");
    }
    pods.delete("c1", &DeleteParams::foreground())
        .await
        .expect("delete");
    wait_for(30, "the whole circle deleted", || async {
        all_pods(&pods, "circle=yes").await.is_empty().then_some(())
    })
    .await;
}
