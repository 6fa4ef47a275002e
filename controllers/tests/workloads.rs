//! ReplicaSet and Deployment controllers against an in-process API server,
//! checked through the API as a user sees it. The test plays the kubelet's
//! part for readiness (see `common`).

mod common;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use common::{is_ready, live_pods, mark_ready, wait_for};

fn replicaset(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            }
        }
    }))
    .expect("replicaset")
}

fn deployment(name: &str, replicas: i32, strategy: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "strategy": strategy,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}
            }
        }
    }))
    .expect("deployment")
}

#[tokio::test]
async fn replicaset_creates_adopts_and_deletes_pods() {
    let h = common::start(&["replicaset"]).await;
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");

    // An orphan that matches the selector is adopted, not duplicated.
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orphan", "labels": {"app": "rs1"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &orphan)
        .await
        .expect("orphan");
    let rs = rss
        .create(&PostParams::default(), &replicaset("rs1", 3))
        .await
        .expect("create rs");
    let uid = rs.uid().expect("uid");

    let created = wait_for(20, "3 pods owned by the ReplicaSet", || async {
        let list = live_pods(&pods, "app=rs1").await;
        let owned = list
            .iter()
            .filter(|p| {
                p.owner_references().iter().any(|r| {
                    r.uid == uid
                        && r.controller == Some(true)
                        && r.block_owner_deletion == Some(true)
                        && r.kind == "ReplicaSet"
                        && r.api_version == "apps/v1"
                })
            })
            .count();
        (list.len() == 3 && owned == 3).then_some(list)
    })
    .await;
    assert!(
        created.iter().any(|p| p.name_any() == "orphan"),
        "orphan adopted"
    );
    assert!(
        created
            .iter()
            .filter(|p| p.name_any() != "orphan")
            .all(|p| p.name_any().starts_with("rs1-")),
        "generated names from the ReplicaSet's name"
    );

    // Status counts pods; readiness comes from the (test-played) kubelet.
    let status = wait_for(20, "status.replicas=3", || async {
        let rs = rss.get("rs1").await.ok()?;
        let s = rs.status?;
        (s.replicas == 3 && s.observed_generation == rs.metadata.generation).then_some(s)
    })
    .await;
    // The adopted orphan lacks the template's `tier` label.
    assert_eq!(status.fully_labeled_replicas, Some(2));
    assert_eq!(status.ready_replicas, Some(0));
    let keep: Vec<String> = created
        .iter()
        .filter(|p| p.name_any() != "orphan")
        .map(|p| p.name_any())
        .collect();
    for p in created.iter().filter(|p| p.name_any() != "orphan") {
        mark_ready(&pods, p).await.expect("ready");
    }
    wait_for(20, "readyReplicas=2, availableReplicas=2", || async {
        let s = rss.get("rs1").await.ok()?.status?;
        (s.ready_replicas == Some(2) && s.available_replicas == Some(2)).then_some(())
    })
    .await;

    // Scale down: the not-ready pod goes first.
    rss.patch(
        "rs1",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 2}})),
    )
    .await
    .expect("scale");
    let left = wait_for(20, "2 pods left", || async {
        let list = live_pods(&pods, "app=rs1").await;
        (list.len() == 2).then_some(list)
    })
    .await;
    let mut names: Vec<String> = left.iter().map(|p| p.name_any()).collect();
    names.sort();
    let mut expected = keep.clone();
    expected.sort();
    assert_eq!(names, expected, "the not-ready pod was deleted first");
    assert!(left.iter().all(is_ready));

    // A pod deleted by hand is replaced.
    pods.delete(&keep[0], &Default::default())
        .await
        .expect("delete pod");
    wait_for(20, "replacement pod", || async {
        let list = live_pods(&pods, "app=rs1").await;
        (list.len() == 2 && !list.iter().any(|p| p.name_any() == keep[0])).then_some(())
    })
    .await;

    // Events like upstream's.
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    wait_for(
        20,
        "SuccessfulCreate and SuccessfulDelete events",
        || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            let has = |reason: &str, prefix: &str| {
                list.items.iter().any(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.involved_object.name.as_deref() == Some("rs1")
                        && e.message.as_deref().is_some_and(|m| m.starts_with(prefix))
                })
            };
            (has("SuccessfulCreate", "Created pod: rs1-")
                && has("SuccessfulDelete", "Deleted pod: "))
            .then_some(())
        },
    )
    .await;
}

/// Watches a rollout, checking at every observed step that no more than
/// `max_total` pods exist and at least `min_ready` are ready, until the
/// Deployment reports completion. Returns the number of steps seen.
async fn observe_rollout(
    deployments: &Api<Deployment>,
    pods: &Api<Pod>,
    name: &str,
    selector: &str,
    max_total: usize,
    min_ready: usize,
) -> usize {
    let mut steps = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let list = live_pods(pods, selector).await;
        let ready = list.iter().filter(|p| is_ready(p)).count();
        assert!(
            list.len() <= max_total,
            "{} pods exist, maxSurge allows {max_total}",
            list.len()
        );
        assert!(
            ready >= min_ready,
            "{ready} pods ready, maxUnavailable needs {min_ready}"
        );
        steps += 1;
        let d = deployments.get(name).await.expect("get deployment");
        let s = d.status.clone().unwrap_or_default();
        let progressing = s
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "Progressing");
        if s.observed_generation == d.metadata.generation
            && s.updated_replicas == Some(3)
            && s.replicas == Some(3)
            && s.available_replicas == Some(3)
            && progressing.and_then(|c| c.reason).as_deref() == Some("NewReplicaSetAvailable")
        {
            return steps;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
}

fn owned_sets(all: &[ReplicaSet], d: &Deployment) -> Vec<ReplicaSet> {
    all.iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|r| Some(&r.uid) == d.metadata.uid.as_ref())
        })
        .cloned()
        .collect()
}

fn annotation(obj: &impl ResourceExt, key: &str) -> Option<String> {
    obj.annotations().get(key).cloned()
}

#[tokio::test]
async fn deployment_rolling_update_respects_surge_and_unavailable_then_undo() {
    let mut h = common::start(&["replicaset", "deployment"]).await;
    h.kubelet_marks_ready("default");
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let strategy =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    let d = deployments
        .create(&PostParams::default(), &deployment("web", 3, strategy))
        .await
        .expect("create");
    observe_rollout(&deployments, &pods, "web", "app=web", 4, 0).await;

    let first = owned_sets(
        &rss.list(&ListParams::default()).await.expect("rs").items,
        &d,
    );
    assert_eq!(first.len(), 1);
    let first_rs = &first[0];
    let hash = first_rs
        .labels()
        .get("pod-template-hash")
        .cloned()
        .expect("hash label");
    assert_eq!(first_rs.name_any(), format!("web-{hash}"));
    assert_eq!(
        first_rs
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone()),
        Some(BTreeMap::from([
            ("app".to_string(), "web".to_string()),
            ("pod-template-hash".to_string(), hash.clone())
        ]))
    );
    assert_eq!(
        annotation(first_rs, "deployment.kubernetes.io/revision").as_deref(),
        Some("1")
    );
    let d = deployments.get("web").await.expect("get");
    assert_eq!(
        annotation(&d, "deployment.kubernetes.io/revision").as_deref(),
        Some("1")
    );
    let available = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Available").cloned())
        .expect("Available condition");
    assert_eq!(available.status, "True");
    assert_eq!(
        available.reason.as_deref(),
        Some("MinimumReplicasAvailable")
    );
    assert_eq!(
        available.message.as_deref(),
        Some("Deployment has minimum availability.")
    );

    // New template: with maxSurge 1 and maxUnavailable 0, never more than 4
    // pods and never fewer than 3 ready.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}})),
        )
        .await
        .expect("set image");
    let steps = observe_rollout(&deployments, &pods, "web", "app=web", 4, 3).await;
    assert!(steps > 1, "the rollout was observed in progress");
    let sets = owned_sets(
        &rss.list(&ListParams::default()).await.expect("rs").items,
        &d,
    );
    assert_eq!(sets.len(), 2, "old ReplicaSet kept as history");
    let new_rs = sets
        .iter()
        .find(|rs| rs.name_any() != first_rs.name_any())
        .expect("new rs");
    assert_eq!(
        annotation(new_rs, "deployment.kubernetes.io/revision").as_deref(),
        Some("2")
    );
    let old = rss.get(&first_rs.name_any()).await.expect("old rs");
    assert_eq!(old.spec.and_then(|s| s.replicas), Some(0));
    let d2 = deployments.get("web").await.expect("get");
    let progressing = d2
        .status
        .and_then(|s| s.conditions)
        .and_then(|cs| cs.into_iter().find(|c| c.type_ == "Progressing"))
        .expect("Progressing");
    assert_eq!(
        progressing.message.as_deref(),
        Some(
            format!(
                "ReplicaSet \"{}\" has successfully progressed.",
                new_rs.name_any()
            )
            .as_str()
        )
    );
    let images: Vec<String> = live_pods(&pods, "app=web")
        .await
        .iter()
        .filter_map(|p| p.spec.as_ref()?.containers.first()?.image.clone())
        .collect();
    assert_eq!(images, vec!["busybox:2"; 3]);

    // `kubectl rollout undo` copies the old ReplicaSet's template (without
    // the hash label) into the Deployment: the old set becomes revision 3.
    let mut template = first_rs
        .spec
        .clone()
        .and_then(|s| s.template)
        .expect("template");
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove("pod-template-hash");
    }
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"template": template}})),
        )
        .await
        .expect("undo");
    observe_rollout(&deployments, &pods, "web", "app=web", 4, 3).await;
    let back = rss.get(&first_rs.name_any()).await.expect("rs back");
    assert_eq!(back.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        annotation(&back, "deployment.kubernetes.io/revision").as_deref(),
        Some("3")
    );
    assert_eq!(
        annotation(&back, "deployment.kubernetes.io/revision-history").as_deref(),
        Some("1")
    );
    let d3 = deployments.get("web").await.expect("get");
    assert_eq!(
        annotation(&d3, "deployment.kubernetes.io/revision").as_deref(),
        Some("3")
    );

    // Scaling the Deployment scales its one active ReplicaSet.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("scale");
    wait_for(30, "5 pods", || async {
        (live_pods(&pods, "app=web").await.len() == 5).then_some(())
    })
    .await;
}

#[tokio::test]
async fn deployment_recreate_never_mixes_versions_and_pause_holds_rollout() {
    let mut h = common::start(&["replicaset", "deployment"]).await;
    h.kubelet_marks_ready("default");
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    deployments
        .create(
            &PostParams::default(),
            &deployment("rec", 3, json!({"type": "Recreate"})),
        )
        .await
        .expect("create");
    observe_rollout(&deployments, &pods, "rec", "app=rec", 3, 0).await;

    // Paused: a template change makes no new ReplicaSet.
    deployments
        .patch(
            "rec",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"paused": true}})),
        )
        .await
        .expect("pause");
    deployments
        .patch(
            "rec",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}})),
        )
        .await
        .expect("set image");
    let paused = wait_for(20, "DeploymentPaused condition", || async {
        let d = deployments.get("rec").await.ok()?;
        let c = d
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Progressing")?;
        (c.reason.as_deref() == Some("DeploymentPaused")).then_some(c)
    })
    .await;
    assert_eq!(paused.status, "Unknown");
    assert_eq!(paused.message.as_deref(), Some("Deployment is paused"));
    assert_eq!(
        rss.list(&ListParams::default())
            .await
            .expect("rs")
            .items
            .len(),
        1
    );

    // Resumed: Recreate removes every old pod before any new one exists.
    deployments
        .patch(
            "rec",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"paused": false}})),
        )
        .await
        .expect("resume");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let list = live_pods(&pods, "app=rec").await;
        let images: std::collections::BTreeSet<String> = list
            .iter()
            .filter_map(|p| p.spec.as_ref()?.containers.first()?.image.clone())
            .collect();
        assert!(images.len() <= 1, "old and new pods together: {images:?}");
        if list.len() == 3 && images.contains("busybox:2") && list.iter().all(is_ready) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "recreate did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
}
