//! sig-apps ReplicaSet tests (upstream `test/e2e/apps/replica_set.go`):
//! adopting and releasing pods, the scale subresource, replace and patch,
//! list and delete by collection, and the status subresource. Each waits
//! for Running pods first (upstream's `VerifyPodsRunning`), so they need
//! schedulable nodes (simulated nodes do).

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition};
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::replica_pods::{pods_of, relabel_and_wait_released, wait_adopted, wait_running};
use super::watching::{object, watch_from_now, watch_until};
use crate::framework::{Ctx, Step, TestCase, TestResult, from_json, labels, update_with_retries};
use crate::{ensure, ensure_eq};

/// The pod labels of upstream's tests (`WebserverImageName` is "httpd").
const SAMPLE: [(&str, &str); 2] = [("name", "sample-pod"), ("pod", "httpd")];

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-apps] ReplicaSet should adopt matching pods on creation and release no longer matching pods [Conformance]",
            |c| Box::pin(adopt_and_release(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-apps] ReplicaSet Replicaset should have a working scale subresource [Conformance]",
            |c| Box::pin(scale_subresource(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-apps] ReplicaSet Replace and Patch tests [Conformance]",
            |c| Box::pin(replace_and_patch(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-apps] ReplicaSet should list and delete a collection of ReplicaSets [Conformance]",
            |c| Box::pin(list_and_delete_collection(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-apps] ReplicaSet should validate Replicaset Status endpoints [Conformance]",
            |c| Box::pin(status_endpoints(c)),
        )
        .with_running_pods(),
    ]
}

/// Upstream's `newRS`: labelled like its pods, selecting them.
fn new_rs(name: &str, replicas: i32, pod_labels: &[(&str, &str)]) -> TestResult<ReplicaSet> {
    let pod_labels = labels(pod_labels);
    from_json(json!({
        "metadata": {"name": name, "labels": pod_labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{
                        "name": "httpd",
                        "image": crate::images::busybox(),
                        "command": ["sleep", "3600"]
                    }]
                }
            }
        }
    }))
}

async fn create(ctx: &Ctx, rs: &ReplicaSet) -> TestResult<ReplicaSet> {
    ctx.api::<ReplicaSet>()
        .create(&PostParams::default(), rs)
        .await
        .step("creating the replica set")
}

async fn adopt_and_release(ctx: Ctx) -> TestResult {
    let name = "pod-adoption-release";
    let pods = ctx.api::<Pod>();
    let pod: Pod = from_json(json!({
        "metadata": {"name": name, "labels": {"name": name}},
        "spec": {"containers": [crate::images::sleeper(name)]}
    }))?;
    pods.create(&PostParams::default(), &pod)
        .await
        .step("creating the orphan pod")?;
    wait_running(&pods, name).await?;
    let rs = create(&ctx, &new_rs(name, 1, &[("name", name)])?).await?;
    let uid = rs.uid().unwrap_or_default();
    wait_adopted(&pods, name, &uid).await?;
    let owned = pods_of(&ctx, name, 1, false).await?;
    relabel_and_wait_released(&pods, &owned[0].name_any(), &uid).await
}

async fn scale_subresource(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ReplicaSet>();
    create(&ctx, &new_rs("test-rs", 1, &SAMPLE)?).await?;
    pods_of(&ctx, "sample-pod", 1, true).await?;
    let mut scale: Scale = api.get_scale("test-rs").await.step("reading the scale")?;
    ensure_eq!(
        scale.spec.as_ref().and_then(|s| s.replicas),
        Some(1),
        "scale spec.replicas"
    );
    ensure_eq!(
        scale.status.as_ref().map(|s| s.replicas),
        Some(1),
        "scale status.replicas"
    );
    scale.metadata.resource_version = None;
    scale.spec.get_or_insert_with(Default::default).replicas = Some(2);
    let updated = api
        .replace_scale("test-rs", &PostParams::default(), &scale)
        .await
        .step("updating the scale")?;
    ensure_eq!(
        updated.spec.and_then(|s| s.replicas),
        Some(2),
        "spec.replicas in the scale update's answer"
    );
    let replicas = |rs: ReplicaSet| rs.spec.and_then(|s| s.replicas);
    let rs = api.get("test-rs").await.step("reading the replica set")?;
    ensure_eq!(
        replicas(rs),
        Some(2),
        "spec.replicas after the scale update"
    );
    api.patch_scale(
        "test-rs",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"replicas": 4}})),
    )
    .await
    .step("patching the scale")?;
    let rs = api.get("test-rs").await.step("reading the replica set")?;
    ensure_eq!(replicas(rs), Some(4), "spec.replicas after the scale patch");
    Ok(())
}

async fn replace_and_patch(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ReplicaSet>();
    let mut events =
        watch_from_now(&api, &WatchParams::default().labels("test-rs=patched")).await?;
    create(&ctx, &new_rs("test-rs", 1, &SAMPLE)?).await?;
    pods_of(&ctx, "sample-pod", 1, true).await?;
    // Upstream's UpdateReplicaSetWithRetries.
    update_with_retries(&api, "test-rs", false, |rs: &mut ReplicaSet| {
        if let Some(spec) = rs.spec.as_mut() {
            spec.replicas = Some(2);
        }
        Ok(())
    })
    .await?;
    // Upstream patches the webserver template to the pause image.
    let image = crate::images::sleeper("test-rs")["image"].clone();
    api.patch(
        "test-rs",
        &PatchParams::default(),
        &Patch::Strategic(json!({
            "metadata": {"labels": {"test-rs": "patched"}},
            "spec": {
                "replicas": 3,
                "template": {"spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "test-rs", "image": image}]
                }}
            }
        })),
    )
    .await
    .step("patching the replica set")?;
    let image = image.as_str().unwrap_or_default().to_string();
    let patched = |rs: &ReplicaSet| {
        let status = rs.status.as_ref();
        let template = rs
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.spec.as_ref());
        rs.name_any() == "test-rs"
            && rs.labels().get("test-rs").map(String::as_str) == Some("patched")
            && status.and_then(|s| s.ready_replicas) == Some(3)
            && status.and_then(|s| s.available_replicas) == Some(3)
            && template
                .and_then(|t| t.containers.first())
                .map(|c| c.image.as_deref())
                == Some(Some(image.as_str()))
            && template.and_then(|t| t.termination_grace_period_seconds) == Some(0)
    };
    watch_until(
        &mut events,
        "3 ready, 3 available and the patched template",
        |e| Ok(object(e).is_some_and(patched)),
    )
    .await
}

async fn list_and_delete_collection(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ReplicaSet>();
    let e2e = ctx.unique.clone();
    let pod_labels = [SAMPLE[0], SAMPLE[1], ("e2e", e2e.as_str())];
    create(&ctx, &new_rs("test-rs", 3, &pod_labels)?).await?;
    pods_of(&ctx, "sample-pod", 3, true).await?;
    let selector = format!("e2e={e2e}");
    let all = ctx.all_api::<ReplicaSet>();
    let list = all
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing replica sets in all namespaces")?;
    ensure_eq!(list.items.len(), 1, "replica sets found by label");
    api.delete_collection(
        &DeleteParams {
            grace_period_seconds: Some(1),
            ..DeleteParams::default()
        },
        &ListParams::default().labels(&selector),
    )
    .await
    .step("deleting replica sets by collection")?;
    let list = all
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing replica sets in all namespaces")?;
    ensure_eq!(
        list.items.len(),
        0,
        "replica sets left after deletecollection"
    );
    Ok(())
}

fn has_condition(rs: &ReplicaSet, type_: &str, reason: Option<&str>) -> bool {
    rs.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == type_ && (reason.is_none() || c.reason.as_deref() == reason))
        })
}

async fn status_endpoints(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ReplicaSet>();
    let selector = "name=sample-pod,pod=httpd";
    let mut events = watch_from_now(&api, &WatchParams::default().labels(selector)).await?;
    let created = create(&ctx, &new_rs("test-rs", 1, &SAMPLE)?).await?;
    pods_of(&ctx, "sample-pod", 1, true).await?;
    let read = api.get_status("test-rs").await.step("reading /status")?;
    ensure_eq!(
        read.meta().uid,
        created.meta().uid,
        "the object read through /status"
    );
    // Upstream's RetryOnConflict around UpdateStatus.
    let condition: ReplicaSetCondition = from_json(json!({
        "type": "StatusUpdate", "status": "True",
        "reason": "E2E", "message": "Set from e2e test"
    }))?;
    let updated = update_with_retries(&api, "test-rs", true, |rs: &mut ReplicaSet| {
        rs.status
            .get_or_insert_with(Default::default)
            .conditions
            .get_or_insert_with(Vec::new)
            .push(condition.clone());
        Ok(())
    })
    .await?;
    ensure!(
        has_condition(&updated, "StatusUpdate", Some("E2E")),
        "the status update's answer lacks the new condition"
    );
    watch_until(&mut events, "the StatusUpdate condition", |e| {
        Ok(object(e).is_some_and(|rs: &ReplicaSet| {
            rs.name_any() == "test-rs" && has_condition(rs, "StatusUpdate", Some("E2E"))
        }))
    })
    .await?;
    let patched = api
        .patch_status(
            "test-rs",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [
                {"type": "StatusPatched", "status": "True"}
            ]}})),
        )
        .await
        .step("patching /status")?;
    ensure!(
        has_condition(&patched, "StatusPatched", None),
        "the status patch's answer lacks the patched condition"
    );
    watch_until(&mut events, "the StatusPatched condition", |e| {
        Ok(object(e).is_some_and(|rs: &ReplicaSet| {
            rs.name_any() == "test-rs" && has_condition(rs, "StatusPatched", None)
        }))
    })
    .await
}
