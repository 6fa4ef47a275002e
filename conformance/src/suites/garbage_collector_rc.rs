//! sig-api-machinery garbage collector tests on ReplicationControllers and
//! their pods (upstream `test/e2e/apimachinery/garbage_collector.go`):
//! Background deletion collects the pods, Orphan keeps them, Foreground
//! keeps the RC until its pods are gone, and a pod with a second, valid
//! owner survives its foreground-deleted first owner. The pods need no
//! node (they may stay Pending); the RC and garbage collector controllers
//! must run.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, from_json, wait_for};
use crate::{ensure, ensure_eq};

/// Upstream's `estimateMaximumPods(c, 10, 100)` on a cluster with no
/// spare node capacity: the minimum.
const MANY_PODS: i32 = 10;
const WAIT: Duration = Duration::from_secs(60);
/// How long upstream watches for a collector that wrongly deletes.
const QUIET: Duration = Duration::from_secs(30);

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-api-machinery] Garbage collector should delete pods created by rc when not orphaning [Conformance]",
            |c| Box::pin(rc_background(c)),
        ),
        TestCase {
            timeout: Duration::from_secs(150),
            ..TestCase::upstream(
                "[sig-api-machinery] Garbage collector should orphan pods created by rc if delete options say so [Conformance]",
                |c| Box::pin(rc_orphan(c)),
            )
        },
        TestCase {
            timeout: Duration::from_secs(120),
            ..TestCase::upstream(
                "[sig-api-machinery] Garbage collector should keep the rc around until all its pods are deleted if the deleteOptions says so [Conformance]",
                |c| Box::pin(rc_foreground(c)),
            )
        },
        TestCase {
            timeout: Duration::from_secs(150),
            ..TestCase::upstream(
                "[sig-api-machinery] Garbage collector should not delete dependents that have both valid owner and owner that's waiting for dependents to be deleted [Conformance]",
                |c| Box::pin(valid_and_waiting_owner(c)),
            )
        },
    ]
}

/// Upstream's `newOwnerRC`: `replicas` pods labelled `labels`.
fn owner_rc(name: &str, replicas: i32, label: (&str, &str)) -> TestResult<ReplicationController> {
    let labels = json!({label.0: label.1});
    from_json(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": labels,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [crate::images::sleeper("nginx")]
                }
            }
        }
    }))
}

fn with_uid(mut params: DeleteParams, rc: &ReplicationController) -> DeleteParams {
    params.preconditions = Some(Preconditions {
        uid: rc.meta().uid.clone(),
        resource_version: None,
    });
    params
}

async fn create_rc(
    api: &Api<ReplicationController>,
    rc: &ReplicationController,
) -> TestResult<ReplicationController> {
    api.create(&PostParams::default(), rc)
        .await
        .step("creating the replication controller")
}

/// Waits until the RC reports `status.replicas == spec.replicas`.
async fn wait_stable(api: &Api<ReplicationController>, name: &str) -> TestResult {
    wait_for("status.replicas to reach spec.replicas", WAIT, || {
        let api = api.clone();
        let name = name.to_string();
        async move {
            let rc = api.get(&name).await.step("reading the rc")?;
            let want = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let have = rc.status.map(|s| s.replicas).unwrap_or(0);
            Ok(if have == want {
                Ok(())
            } else {
                Err(format!("status.replicas {have}, spec.replicas {want}"))
            })
        }
    })
    .await
}

async fn wait_rc_gone(api: &Api<ReplicationController>, name: &str, pods: &Api<Pod>) -> TestResult {
    wait_for(&format!("rc {name} to be deleted"), WAIT, || {
        let api = api.clone();
        let pods = pods.clone();
        let name = name.to_string();
        async move {
            match api.get_opt(&name).await.step("reading the rc")? {
                None => Ok(Ok(())),
                Some(_) => {
                    let list = pods
                        .list(&ListParams::default())
                        .await
                        .step("listing pods")?;
                    let live = list
                        .items
                        .iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_none())
                        .count();
                    Ok(Err(format!(
                        "rc still there; {} pods, {live} not being deleted",
                        list.items.len()
                    )))
                }
            }
        }
    })
    .await
}

async fn rc_background(ctx: Ctx) -> TestResult {
    let rcs = ctx.api::<ReplicationController>();
    let pods = ctx.api::<Pod>();
    let label = ctx.name("delete-pods");
    let rc = create_rc(&rcs, &owner_rc("simpletest.rc", 2, ("gctest", &label))?).await?;
    // Upstream deletes as soon as some pods exist, before the RC settles.
    wait_for("the rc to create some pods", WAIT, || {
        let pods = pods.clone();
        async move {
            let n = pods
                .list(&ListParams::default())
                .await
                .step("listing pods")?
                .items
                .len();
            Ok(if n > 0 {
                Ok(())
            } else {
                Err("no pods yet".to_string())
            })
        }
    })
    .await?;
    rcs.delete("simpletest.rc", &with_uid(DeleteParams::background(), &rc))
        .await
        .step("deleting the rc (Background)")?;
    wait_for("the rc and its pods to be collected", WAIT, || {
        let pods = pods.clone();
        let rcs = rcs.clone();
        async move {
            let rc_count = rcs
                .list(&ListParams::default())
                .await
                .step("listing rcs")?
                .items
                .len();
            let pod_count = pods
                .list(&ListParams::default())
                .await
                .step("listing pods")?
                .items
                .len();
            Ok(if rc_count == 0 && pod_count == 0 {
                Ok(())
            } else {
                Err(format!("{rc_count} rcs, {pod_count} pods"))
            })
        }
    })
    .await
}

async fn rc_orphan(ctx: Ctx) -> TestResult {
    let rcs = ctx.api::<ReplicationController>();
    let pods = ctx.api::<Pod>();
    let label = ctx.name("orphan-pods");
    let rc = create_rc(
        &rcs,
        &owner_rc("simpletest.rc", MANY_PODS, ("gctest", &label))?,
    )
    .await?;
    wait_stable(&rcs, "simpletest.rc").await?;
    let orphan = DeleteParams {
        propagation_policy: Some(kube::api::PropagationPolicy::Orphan),
        ..DeleteParams::default()
    };
    rcs.delete("simpletest.rc", &with_uid(orphan, &rc))
        .await
        .step("deleting the rc (Orphan)")?;
    wait_for("the rc to be deleted", WAIT, || {
        let rcs = rcs.clone();
        async move {
            let n = rcs
                .list(&ListParams::default())
                .await
                .step("listing rcs")?
                .items
                .len();
            Ok(if n == 0 {
                Ok(())
            } else {
                Err(format!("{n} rcs left"))
            })
        }
    })
    .await?;
    tokio::time::sleep(QUIET).await;
    let left = pods
        .list(&ListParams::default())
        .await
        .step("listing pods")?;
    ensure_eq!(
        left.items.len(),
        MANY_PODS as usize,
        "pods left after orphaning"
    );
    let uid = rc.uid().unwrap_or_default();
    ensure!(
        left.items
            .iter()
            .all(|p| !p.owner_references().iter().any(|r| r.uid == uid)),
        "orphaned pods still refer to the deleted rc"
    );
    Ok(())
}

async fn rc_foreground(ctx: Ctx) -> TestResult {
    let rcs = ctx.api::<ReplicationController>();
    let pods = ctx.api::<Pod>();
    let label = ctx.name("delete-pods-foreground");
    let rc = create_rc(
        &rcs,
        &owner_rc("simpletest.rc", MANY_PODS, ("gctest", &label))?,
    )
    .await?;
    wait_stable(&rcs, "simpletest.rc").await?;
    rcs.delete("simpletest.rc", &with_uid(DeleteParams::foreground(), &rc))
        .await
        .step("deleting the rc (Foreground)")?;
    // While pods remain, the rc must still be readable (being deleted).
    if let Some(kept) = rcs.get_opt("simpletest.rc").await.step("reading the rc")? {
        ensure!(
            kept.metadata.deletion_timestamp.is_some(),
            "the rc kept in the foreground has no deletionTimestamp"
        );
    }
    wait_rc_gone(&rcs, "simpletest.rc", &pods).await?;
    let left = pods
        .list(&ListParams::default())
        .await
        .step("listing pods")?;
    ensure!(
        left.items.is_empty(),
        "the rc is gone but {} of its pods remain",
        left.items.len()
    );
    Ok(())
}

async fn valid_and_waiting_owner(ctx: Ctx) -> TestResult {
    let rcs = ctx.api::<ReplicationController>();
    let pods = ctx.api::<Pod>();
    let replicas = MANY_PODS;
    let half = (replicas / 2) as usize;
    let deleted_label = ctx.name("valid-and-pending-owners-d");
    let stay_label = ctx.name("valid-and-pending-owners-s");
    let rc1 = create_rc(
        &rcs,
        &owner_rc(
            "simpletest-rc-to-be-deleted",
            replicas,
            ("gctest-d", &deleted_label),
        )?,
    )
    .await?;
    let rc2 = create_rc(
        &rcs,
        &owner_rc("simpletest-rc-to-stay", 0, ("gctest-s", &stay_label))?,
    )
    .await?;
    wait_stable(&rcs, "simpletest-rc-to-be-deleted").await?;
    let list = pods
        .list(&ListParams::default())
        .await
        .step("listing pods")?;
    ensure!(
        list.items.len() >= half,
        "only {} pods exist, want at least {half}",
        list.items.len()
    );
    // A strategic merge patch adds rc2 (merged by uid) beside rc1.
    let patch = json!({"metadata": {"ownerReferences": [{
        "apiVersion": "v1", "kind": "ReplicationController",
        "name": rc2.name_any(), "uid": rc2.uid().unwrap_or_default()
    }]}});
    for pod in list.items.iter().take(half) {
        let patched = pods
            .patch(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
            .step("adding rc2 as a second owner")?;
        ensure_eq!(
            patched.owner_references().len(),
            2,
            "owner references after the strategic merge patch"
        );
    }
    rcs.delete(
        "simpletest-rc-to-be-deleted",
        &with_uid(DeleteParams::foreground(), &rc1),
    )
    .await
    .step("deleting rc1 (Foreground)")?;
    wait_rc_gone(&rcs, "simpletest-rc-to-be-deleted", &pods).await?;
    let left = pods
        .list(&ListParams::default())
        .await
        .step("listing pods")?;
    ensure_eq!(
        left.items.len(),
        half,
        "pods left (those with rc2 as owner)"
    );
    let rc2_uid = rc2.uid().unwrap_or_default();
    for pod in &left.items {
        if pod.metadata.deletion_timestamp.is_some() {
            return Err(TestError::Assertion(format!(
                "pod {} with a valid owner is being deleted",
                pod.name_any()
            )));
        }
        let refs = pod.owner_references();
        ensure!(
            refs.len() == 1 && refs[0].uid == rc2_uid,
            "pod {} should keep only rc2 as owner, has {refs:?}",
            pod.name_any()
        );
    }
    Ok(())
}
