//! sig-apps ReplicationController tests (upstream `test/e2e/apps/rc.go`):
//! the ReplicaFailure condition under a pod quota, releasing and adopting
//! pods, the scale subresource, and the lifecycle (create, patch, status,
//! scale, delete by collection) checked through a watch. The lifecycle
//! and adoption tests need pods that become Running/Ready (simulated nodes
//! do); the others need no node.

use std::time::Duration;

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::{Pod, ReplicationController, ResourceQuota};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::replica_pods::{pods_of, relabel_and_wait_released, wait_adopted, wait_running};
use super::watching::{watch_from_now, watch_until};
use crate::framework::{Ctx, Step, TestCase, TestResult, from_json, update_with_retries, wait_for};
use crate::{ensure, ensure_eq};

const WAIT: Duration = Duration::from_secs(60);

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-apps] ReplicationController should surface a failure condition on a common issue like exceeded quota [Conformance]",
            |c| Box::pin(failure_condition(c)),
        ),
        TestCase::upstream(
            "[sig-apps] ReplicationController should release no longer matching pods [Conformance]",
            |c| Box::pin(release_pods(c)),
        ),
        TestCase::upstream(
            "[sig-apps] ReplicationController should get and update a ReplicationController scale [Conformance]",
            |c| Box::pin(scale(c)),
        ),
        TestCase::upstream(
            "[sig-apps] ReplicationController should adopt matching pods on creation [Conformance]",
            |c| Box::pin(adopt_pods(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-apps] ReplicationController should test the lifecycle of a ReplicationController [Conformance]",
            |c| Box::pin(lifecycle(c)),
        )
        .with_running_pods(),
    ]
}

/// Upstream's `newRC`: `replicas` pods labelled `name=<name>` (the
/// selector defaults to the template's labels).
fn new_rc(name: &str, replicas: i32) -> TestResult<ReplicationController> {
    from_json(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"name": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [crate::images::sleeper("httpd")]
                }
            }
        }
    }))
}

fn has_failure(rc: &ReplicationController) -> bool {
    rc.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "ReplicaFailure"))
}

/// Polls until the controller has seen `generation` and `check` holds.
async fn wait_observed(
    api: &Api<ReplicationController>,
    name: &str,
    generation: Option<i64>,
    what: &str,
    check: fn(&ReplicationController) -> bool,
) -> TestResult {
    wait_for(what, WAIT, || {
        let api = api.clone();
        let name = name.to_string();
        async move {
            let rc = api.get(&name).await.step("reading the rc")?;
            let observed = rc.status.as_ref().and_then(|s| s.observed_generation);
            Ok(if observed >= generation && check(&rc) {
                Ok(())
            } else {
                Err(format!(
                    "observedGeneration {observed:?} (generation {generation:?}), conditions {:?}",
                    rc.status.as_ref().and_then(|s| s.conditions.as_ref())
                ))
            })
        }
    })
    .await
}

async fn failure_condition(ctx: Ctx) -> TestResult {
    let name = "condition-test";
    let quotas = ctx.api::<ResourceQuota>();
    let quota: ResourceQuota = from_json(json!({
        "metadata": {"name": name},
        "spec": {"hard": {"pods": "2"}}
    }))?;
    quotas
        .create(&PostParams::default(), &quota)
        .await
        .step("creating a quota of two pods")?;
    wait_for("the quota to sync", WAIT, || {
        let quotas = quotas.clone();
        async move {
            let q = quotas.get(name).await.step("reading the quota")?;
            let hard = q
                .status
                .and_then(|s| s.hard)
                .and_then(|h| h.get("pods").map(|p| p.0.clone()));
            Ok(match hard.as_deref() {
                Some("2") => Ok(()),
                other => Err(format!("status.hard.pods {other:?}")),
            })
        }
    })
    .await?;
    let rcs = ctx.api::<ReplicationController>();
    let rc = rcs
        .create(&PostParams::default(), &new_rc(name, 3)?)
        .await
        .step("creating an rc asking for more pods than allowed")?;
    wait_observed(
        &rcs,
        name,
        rc.metadata.generation,
        "the ReplicaFailure condition",
        has_failure,
    )
    .await?;
    // Upstream's updateReplicationControllerWithRetries.
    let updated = update_with_retries(&rcs, name, false, |rc: &mut ReplicationController| {
        if let Some(spec) = rc.spec.as_mut() {
            spec.replicas = Some(2);
        }
        Ok(())
    })
    .await?;
    wait_observed(
        &rcs,
        name,
        updated.metadata.generation,
        "the ReplicaFailure condition to go away",
        |rc| !has_failure(rc),
    )
    .await
}

async fn release_pods(ctx: Ctx) -> TestResult {
    let name = "pod-release";
    let rcs = ctx.api::<ReplicationController>();
    let rc = rcs
        .create(&PostParams::default(), &new_rc(name, 1)?)
        .await
        .step("creating the rc")?;
    let pod = pods_of(&ctx, name, 1, false).await?;
    relabel_and_wait_released(
        &ctx.api::<Pod>(),
        &pod[0].name_any(),
        &rc.uid().unwrap_or_default(),
    )
    .await
}

async fn adopt_pods(ctx: Ctx) -> TestResult {
    let name = "pod-adoption";
    let pods = ctx.api::<Pod>();
    let pod: Pod = from_json(json!({
        "metadata": {"name": name, "labels": {"name": name}},
        "spec": {"containers": [crate::images::sleeper(name)]}
    }))?;
    pods.create(&PostParams::default(), &pod)
        .await
        .step("creating the orphan pod")?;
    wait_running(&pods, name).await?;
    let rcs = ctx.api::<ReplicationController>();
    let mut rc = new_rc(name, 1)?;
    if let Some(spec) = rc.spec.as_mut() {
        spec.selector = Some(crate::framework::labels(&[("name", name)]));
    }
    let rc = rcs
        .create(&PostParams::default(), &rc)
        .await
        .step("creating the rc")?;
    wait_adopted(&pods, name, &rc.uid().unwrap_or_default()).await
}

async fn wait_status_replicas(
    api: &Api<ReplicationController>,
    name: &str,
    replicas: i32,
) -> TestResult {
    wait_for(&format!("status.replicas={replicas}"), WAIT, || {
        let api = api.clone();
        let name = name.to_string();
        async move {
            let rc = api.get(&name).await.step("reading the rc")?;
            let have = rc.status.map(|s| s.replicas).unwrap_or(0);
            Ok(if have == replicas {
                Ok(())
            } else {
                Err(format!("status.replicas {have}"))
            })
        }
    })
    .await
}

async fn scale(ctx: Ctx) -> TestResult {
    let name = ctx.name("e2e-rc");
    let rcs = ctx.api::<ReplicationController>();
    rcs.create(&PostParams::default(), &new_rc(&name, 1)?)
        .await
        .step("creating the rc")?;
    wait_status_replicas(&rcs, &name, 1).await?;
    let mut scale: Scale = rcs.get_scale(&name).await.step("reading the scale")?;
    ensure_eq!(
        scale.status.as_ref().map(|s| s.replicas),
        Some(1),
        "scale status.replicas"
    );
    scale.metadata.resource_version = None;
    scale.spec.get_or_insert_with(Default::default).replicas = Some(2);
    rcs.replace_scale(&name, &PostParams::default(), &scale)
        .await
        .step("updating the scale")?;
    wait_status_replicas(&rcs, &name, 2).await
}

fn counts(event: &WatchEvent<ReplicationController>) -> Option<(i32, i32)> {
    match event {
        WatchEvent::Added(rc) | WatchEvent::Modified(rc) => {
            let s = rc.status.as_ref()?;
            Some((s.replicas, s.ready_replicas.unwrap_or(0)))
        }
        _ => None,
    }
}

async fn lifecycle(ctx: Ctx) -> TestResult {
    let name = "rc-test";
    let selector = "test-rc-static=true";
    let rcs = ctx.api::<ReplicationController>();
    let mut events = watch_from_now(&rcs, &WatchParams::default().labels(selector)).await?;
    let rc: ReplicationController = from_json(json!({
        "metadata": {"name": name, "labels": {"test-rc-static": "true"}},
        "spec": {
            "replicas": 1,
            "selector": {"test-rc-static": "true"},
            "template": {
                "metadata": {"name": name, "labels": {"test-rc-static": "true"}},
                "spec": {"containers": [crate::images::sleeper(name)]}
            }
        }
    }))?;
    rcs.create(&PostParams::default(), &rc)
        .await
        .step("creating the rc")?;
    let is_modified =
        |e: &WatchEvent<ReplicationController>| Ok(matches!(e, WatchEvent::Modified(_)));
    watch_until(&mut events, "ADDED", |e| {
        Ok(matches!(e, WatchEvent::Added(_)))
    })
    .await?;
    watch_until(&mut events, "1 ready replica", |e| {
        Ok(counts(e) == Some((1, 1)))
    })
    .await?;

    let patched = rcs
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"test-rc": "patched"}}})),
        )
        .await
        .step("patching the rc's labels")?;
    ensure_eq!(
        patched.labels().get("test-rc").map(String::as_str),
        Some("patched"),
        "label after patch"
    );
    watch_until(&mut events, "MODIFIED after the label patch", is_modified).await?;

    let status = rcs
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Strategic(json!({"status": {"readyReplicas": 0, "availableReplicas": 0}})),
        )
        .await
        .step("patching the rc's status")?;
    ensure_eq!(
        status
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
        0,
        "readyReplicas after the status patch"
    );
    watch_until(&mut events, "MODIFIED after the status patch", is_modified).await?;
    watch_until(&mut events, "status.replicas=1", |e| {
        Ok(counts(e).is_some_and(|(r, _)| r == 1))
    })
    .await?;
    let read = rcs.get_status(name).await.step("reading the rc's status")?;
    ensure_eq!(
        read.status.map(|s| s.replicas),
        Some(1),
        "status.replicas read through /status"
    );

    rcs.patch_scale(
        name,
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"replicas": 2}})),
    )
    .await
    .step("patching the rc's scale")?;
    watch_until(&mut events, "MODIFIED after the scale patch", is_modified).await?;
    watch_until(&mut events, "2 ready replicas", |e| {
        Ok(counts(e) == Some((2, 2)))
    })
    .await?;

    let mut current = rcs.get(name).await.step("reading the rc")?;
    ensure_eq!(
        current.labels().get("test-rc").map(String::as_str),
        Some("patched"),
        "label kept from the earlier patch"
    );
    if let Some(s) = current.status.as_mut() {
        s.available_replicas = Some(1);
        s.ready_replicas = Some(1);
    }
    rcs.replace_status(name, &PostParams::default(), &current)
        .await
        .step("updating the rc's status")?;
    watch_until(&mut events, "MODIFIED after the status update", is_modified).await?;

    let all = ctx
        .all_api::<ReplicationController>()
        .list(&ListParams::default().labels(selector))
        .await
        .step("listing rcs in all namespaces")?;
    ensure!(
        all.items.iter().any(|rc| {
            rc.name_any() == name
                && rc.meta().namespace.as_deref() == Some(ctx.ns.as_str())
                && rc.labels().get("test-rc").map(String::as_str) == Some("patched")
        }),
        "the rc with its labels is missing from the list"
    );
    rcs.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(selector),
    )
    .await
    .step("deleting rcs by collection")?;
    watch_until(&mut events, "DELETED", |e| {
        Ok(matches!(e, WatchEvent::Deleted(_)))
    })
    .await?;
    Ok(())
}
