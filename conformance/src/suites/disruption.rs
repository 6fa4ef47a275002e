//! sig-apps DisruptionController with running pods: the controller keeps
//! PodDisruptionBudget status current, the status subresource takes
//! `disruptedPods` from clients, and `pods/eviction` honours the budget.
//! (The API-only PDB tests are in `resource_apis`.)

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, from_json, wait_for};
use crate::{ensure, ensure_eq};

const PDB: &str = "foo";
const LABELS: &str = "foo=bar";
const VIOLATION: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-apps] DisruptionController should observe PodDisruptionBudget status updated [Conformance]",
            |c| Box::pin(observe_status(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-apps] DisruptionController should update/patch PodDisruptionBudget status [Conformance]",
            |c| Box::pin(update_patch_status(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-apps] DisruptionController should block an eviction until the PDB is updated to allow it [Conformance]",
            |c| Box::pin(block_eviction(c)),
        )
        .with_nodes(),
    ]
}

async fn create_pdb(ctx: &Ctx, min_available: i32) -> TestResult<PodDisruptionBudget> {
    let pdb: PodDisruptionBudget = from_json(json!({
        "metadata": {"name": PDB},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"foo": "bar"}}}
    }))?;
    ctx.api::<PodDisruptionBudget>()
        .create(&PostParams::default(), &pdb)
        .await
        .step("creating the PodDisruptionBudget")
}

async fn create_pods(ctx: &Ctx, count: usize) -> TestResult {
    for i in 0..count {
        let pod: Pod = from_json(json!({
            "metadata": {"name": format!("pod-{i}"), "labels": {"foo": "bar"}},
            "spec": {"containers": [crate::images::sleeper("donothing")]}
        }))?;
        ctx.api::<Pod>()
            .create(&PostParams::default(), &pod)
            .await
            .step("creating a pod")?;
    }
    Ok(())
}

async fn create_replica_set(ctx: &Ctx, replicas: i32) -> TestResult {
    let rs: ReplicaSet = from_json(json!({
        "metadata": {"name": "rs"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"foo": "bar"}},
            "template": {
                "metadata": {"labels": {"foo": "bar"}},
                "spec": {"containers": [crate::images::sleeper("donothing")]}
            }
        }
    }))?;
    ctx.api::<ReplicaSet>()
        .create(&PostParams::default(), &rs)
        .await
        .step("creating the ReplicaSet")?;
    Ok(())
}

fn running_and_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && pod.metadata.deletion_timestamp.is_none()
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits until `count` pods with the test labels run, Ready; returns one.
async fn wait_for_running(ctx: &Ctx, count: usize) -> TestResult<String> {
    wait_for(
        &format!("{count} running pods"),
        Duration::from_secs(120),
        || async {
            let pods = ctx
                .api::<Pod>()
                .list(&ListParams::default().labels(LABELS))
                .await
                .step("listing pods")?;
            let running: Vec<String> = pods
                .items
                .iter()
                .filter(|p| running_and_ready(p))
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            Ok(match running.first() {
                Some(first) if running.len() >= count => Ok(first.clone()),
                _ => Err(format!("{} of {count} running", running.len())),
            })
        },
    )
    .await
}

/// Waits until the PDB's status reflects its spec and `healthy` pods.
async fn wait_for_healthy(ctx: &Ctx, healthy: i32) -> TestResult<PodDisruptionBudget> {
    wait_for(
        &format!("the PDB to observe {healthy} healthy pods"),
        Duration::from_secs(60),
        || async {
            let pdb = ctx
                .api::<PodDisruptionBudget>()
                .get(PDB)
                .await
                .step("reading the PDB")?;
            let status = pdb.status.clone().unwrap_or_default();
            Ok(
                if status.observed_generation == pdb.metadata.generation
                    && status.current_healthy == healthy
                {
                    Ok(pdb)
                } else {
                    Err(format!(
                        "observedGeneration {:?} of {:?}, currentHealthy {}",
                        status.observed_generation, pdb.metadata.generation, status.current_healthy
                    ))
                },
            )
        },
    )
    .await
}

async fn evict(ctx: &Ctx, pod: &str) -> Result<(), kube::Error> {
    ctx.api::<Pod>()
        .evict(pod, &EvictParams::default())
        .await
        .map(|_| ())
}

fn expect_denied(result: Result<(), kube::Error>, what: &str) -> TestResult {
    match result {
        Err(kube::Error::Api(status)) if status.code == 429 => {
            ensure_eq!(status.message.as_str(), VIOLATION, "message of {what}");
            Ok(())
        }
        Err(other) => Err(TestError::Assertion(format!(
            "{what}: expected 429, got {other}"
        ))),
        Ok(()) => Err(TestError::Assertion(format!(
            "{what}: the eviction was allowed"
        ))),
    }
}

async fn observe_status(ctx: Ctx) -> TestResult {
    create_pdb(&ctx, 1).await?;
    create_pods(&ctx, 3).await?;
    wait_for_running(&ctx, 3).await?;
    // disruptionsAllowed starts at 0: seeing it positive shows the
    // controller at work.
    wait_for(
        "disruptionsAllowed > 0",
        Duration::from_secs(60),
        || async {
            let pdb = ctx
                .api::<PodDisruptionBudget>()
                .get(PDB)
                .await
                .step("reading the PDB")?;
            let allowed = pdb.status.map(|s| s.disruptions_allowed).unwrap_or(0);
            Ok(if allowed > 0 {
                Ok(())
            } else {
                Err(format!("disruptionsAllowed {allowed}"))
            })
        },
    )
    .await
}

async fn update_patch_status(ctx: Ctx) -> TestResult {
    create_pdb(&ctx, 1).await?;
    create_pods(&ctx, 1).await?;
    let pod = wait_for_running(&ctx, 1).await?;
    wait_for_healthy(&ctx, 1).await?;
    let api = ctx.api::<PodDisruptionBudget>();
    let mut current = api.get_status(PDB).await.step("reading the status")?;
    let status = current.status.get_or_insert_with(Default::default);
    status.disrupted_pods = Some(BTreeMap::from([(
        pod.clone(),
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    )]));
    api.replace_status(PDB, &PostParams::default(), &current)
        .await
        .step("updating the status")?;
    let updated = api.get_status(PDB).await.step("reading the status")?;
    ensure!(
        updated
            .status
            .as_ref()
            .and_then(|s| s.disrupted_pods.as_ref())
            .is_some_and(|d| d.contains_key(&pod)),
        "disruptedPods without {pod} after the status update"
    );
    let patched = api
        .patch_status(
            PDB,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"disruptedPods": {pod.as_str(): null}}})),
        )
        .await
        .step("patching the status")?;
    ensure!(
        patched
            .status
            .and_then(|s| s.disrupted_pods)
            .is_none_or(|d| d.is_empty()),
        "disruptedPods not empty after the status patch"
    );
    Ok(())
}

async fn block_eviction(ctx: Ctx) -> TestResult {
    let api = ctx.api::<PodDisruptionBudget>();
    create_pdb(&ctx, 3).await?;
    create_replica_set(&ctx, 3).await?;
    let pod = wait_for_running(&ctx, 3).await?;
    wait_for_healthy(&ctx, 3).await?;
    expect_denied(evict(&ctx, &pod).await, "evicting with minAvailable 3")?;

    api.patch(
        PDB,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 2}})),
    )
    .await
    .step("lowering minAvailable to 2")?;
    wait_for_running(&ctx, 3).await?;
    wait_for_healthy(&ctx, 3).await?;
    evict(&ctx, &pod)
        .await
        .step("evicting once minAvailable is 2")?;

    api.patch(
        PDB,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 3}})),
    )
    .await
    .step("raising minAvailable to 3")?;
    // The ReplicaSet replaces the evicted pod.
    let pod = wait_for_running(&ctx, 3).await?;
    wait_for_healthy(&ctx, 3).await?;
    expect_denied(
        evict(&ctx, &pod).await,
        "evicting with minAvailable 3 again",
    )?;

    api.delete(PDB, &DeleteParams::default())
        .await
        .step("deleting the PDB")?;
    evict(&ctx, &pod).await.step("evicting without a PDB")?;
    Ok(())
}
