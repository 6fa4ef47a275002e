//! The ReplicationController controller against an in-process API server:
//! pods created from the template, orphans adopted, pods that stop matching
//! released, scaling through the `scale` subresource, status counts, and
//! the ReplicaFailure condition when the API server refuses a pod (quota).

mod common;

use k8s_openapi::api::core::v1::{Event, Pod, ReplicationController, ResourceQuota};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use common::{live_pods, mark_ready, wait_for};

fn rc(name: &str, replicas: i32) -> ReplicationController {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"name": name},
            "template": {
                "metadata": {"labels": {"name": name, "tier": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            }
        }
    }))
    .expect("replicationcontroller")
}

fn owned_by(p: &Pod, uid: &str) -> bool {
    p.owner_references().iter().any(|r| {
        r.uid == uid
            && r.controller == Some(true)
            && r.kind == "ReplicationController"
            && r.api_version == "v1"
    })
}

#[tokio::test]
async fn replication_controller_adopts_releases_and_scales() {
    let h = common::start(&["replicationcontroller"]).await;
    let rcs: Api<ReplicationController> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");

    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orphan", "labels": {"name": "rc1"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &orphan)
        .await
        .expect("orphan");
    let created = rcs
        .create(&PostParams::default(), &rc("rc1", 2))
        .await
        .expect("create rc");
    let uid = created.uid().expect("uid");

    let list = wait_for(20, "2 pods owned by the RC", || async {
        let list = live_pods(&pods, "name=rc1").await;
        let owned = list.iter().filter(|p| owned_by(p, &uid)).count();
        (list.len() == 2 && owned == 2).then_some(list)
    })
    .await;
    assert!(
        list.iter().any(|p| p.name_any() == "orphan"),
        "orphan adopted"
    );
    for p in &list {
        mark_ready(&pods, p).await.expect("ready");
    }
    let status = wait_for(20, "status: 2 replicas, 2 ready", || async {
        let rc = rcs.get("rc1").await.ok()?;
        let s = rc.status?;
        (s.replicas == 2
            && s.ready_replicas == Some(2)
            && s.available_replicas == Some(2)
            && s.observed_generation == rc.metadata.generation)
            .then_some(s)
    })
    .await;
    // The adopted orphan lacks the template's `tier` label.
    assert_eq!(status.fully_labeled_replicas, Some(1));

    // A pod relabelled out of the selector is released and replaced.
    pods.patch(
        "orphan",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {"name": "released"}}})),
    )
    .await
    .expect("relabel");
    wait_for(20, "the relabelled pod released and replaced", || async {
        let released = pods.get("orphan").await.ok()?;
        let list = live_pods(&pods, "name=rc1").await;
        (!owned_by(&released, &uid) && list.len() == 2 && list.iter().all(|p| owned_by(p, &uid)))
            .then_some(())
    })
    .await;

    // Scaling through the scale subresource.
    rcs.patch_scale(
        "rc1",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 4}})),
    )
    .await
    .expect("scale");
    wait_for(20, "4 pods and status.replicas=4", || async {
        let list = live_pods(&pods, "name=rc1").await;
        let s = rcs.get("rc1").await.ok()?.status?;
        (list.len() == 4 && s.replicas == 4).then_some(())
    })
    .await;
}

#[tokio::test]
async fn replication_controller_reports_replica_failure_over_quota() {
    let h = common::start(&["replicationcontroller", "resourcequota"]).await;
    let rcs: Api<ReplicationController> = Api::namespaced(h.client.clone(), "default");
    let quotas: Api<ResourceQuota> = Api::namespaced(h.client.clone(), "default");
    let quota: ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": "two-pods"},
        "spec": {"hard": {"pods": "2"}}
    }))
    .expect("quota");
    quotas
        .create(&PostParams::default(), &quota)
        .await
        .expect("create quota");
    wait_for(20, "the quota's status", || async {
        let q = quotas.get("two-pods").await.ok()?;
        q.status?.used?.contains_key("pods").then_some(())
    })
    .await;
    rcs.create(&PostParams::default(), &rc("rc2", 3))
        .await
        .expect("create rc");
    let cond = wait_for(30, "a ReplicaFailure condition", || async {
        let s = rcs.get("rc2").await.ok()?.status?;
        s.conditions?
            .into_iter()
            .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
    })
    .await;
    assert_eq!(cond.reason.as_deref(), Some("FailedCreate"));
    let message = cond.message.unwrap_or_default();
    assert!(
        message.starts_with("pods \"rc2-")
            && message.contains("is forbidden: exceeded quota: two-pods"),
        "condition message: {message}"
    );
    // The FailedCreate event carries the API server's words too.
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    wait_for(20, "a FailedCreate event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("FailedCreate")
                    && e.involved_object.name.as_deref() == Some("rc2")
                    && e.message.as_deref().is_some_and(|m| {
                        m.starts_with("Error creating: pods \"rc2-") && m.contains("exceeded quota")
                    })
            })
            .map(|_| ())
    })
    .await;

    // Within quota again: the condition goes away.
    rcs.patch(
        "rc2",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 2}})),
    )
    .await
    .expect("scale down");
    wait_for(30, "the ReplicaFailure condition removed", || async {
        let s = rcs.get("rc2").await.ok()?.status?;
        let failing = s
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "ReplicaFailure");
        (s.replicas == 2 && !failing).then_some(())
    })
    .await;
}
