//! sig-api-machinery garbage collector tests that need no running
//! containers: a Deployment's ReplicaSets are collected (Background) or
//! orphaned (Orphan), and foreground deletion through a circle of owners
//! finishes. They need the controller manager (deployment, replicaset and
//! garbage collector controllers).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::ensure;
use crate::framework::{
    Ctx, Step, TestCase, TestResult, from_json, wait_for, wait_until_none_left,
};

const WAIT: Duration = Duration::from_secs(60);

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-api-machinery] Garbage collector should delete RS created by deployment when not orphaning [Conformance]",
            |c| Box::pin(deployment_not_orphaning(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Garbage collector should orphan RS created by deployment when deleteOptions.PropagationPolicy is Orphan [Conformance]",
            |c| Box::pin(deployment_orphaning(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Garbage collector should not be blocked by dependency circle [Conformance]",
            |c| Box::pin(dependency_circle(c)),
        ),
    ]
}

fn deployment(name: &str) -> TestResult<Deployment> {
    from_json(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"gc-test": name}},
            "template": {
                "metadata": {"labels": {"gc-test": name}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
            }
        }
    }))
}

/// Waits for the Deployment's ReplicaSet and returns it.
async fn replica_set_of(api: &Api<ReplicaSet>, name: &str) -> TestResult<ReplicaSet> {
    let selector = format!("gc-test={name}");
    wait_for("the deployment's ReplicaSet", WAIT, || {
        let api = api.clone();
        let selector = selector.clone();
        async move {
            let list = api
                .list(&ListParams::default().labels(&selector))
                .await
                .step("listing replicasets")?;
            Ok(match list.items.into_iter().next() {
                Some(rs) => Ok(rs),
                None => Err("no ReplicaSet yet".to_string()),
            })
        }
    })
    .await
}

async fn deployment_not_orphaning(ctx: Ctx) -> TestResult {
    let name = ctx.name("gc-deploy");
    let deployments = ctx.api::<Deployment>();
    let sets = ctx.api::<ReplicaSet>();
    deployments
        .create(&PostParams::default(), &deployment(&name)?)
        .await
        .step("creating deployment")?;
    let rs = replica_set_of(&sets, &name).await?;
    deployments
        .delete(&name, &DeleteParams::background())
        .await
        .step("deleting deployment")?;
    wait_for("the ReplicaSet to be collected", WAIT, || {
        let sets = sets.clone();
        let rs_name = rs.name_any();
        async move {
            Ok(
                match sets.get_opt(&rs_name).await.step("reading replicaset")? {
                    None => Ok(()),
                    Some(_) => Err("ReplicaSet still exists".to_string()),
                },
            )
        }
    })
    .await
}

async fn deployment_orphaning(ctx: Ctx) -> TestResult {
    let name = ctx.name("gc-orphan");
    let deployments = ctx.api::<Deployment>();
    let sets = ctx.api::<ReplicaSet>();
    let d = deployments
        .create(&PostParams::default(), &deployment(&name)?)
        .await
        .step("creating deployment")?;
    let rs = replica_set_of(&sets, &name).await?;
    deployments
        .delete(
            &name,
            &DeleteParams {
                propagation_policy: Some(kube::api::PropagationPolicy::Orphan),
                ..Default::default()
            },
        )
        .await
        .step("deleting deployment with Orphan")?;
    wait_for("the deployment to be gone", WAIT, || {
        let deployments = deployments.clone();
        let name = name.clone();
        async move {
            Ok(
                match deployments
                    .get_opt(&name)
                    .await
                    .step("reading deployment")?
                {
                    None => Ok(()),
                    Some(_) => Err("deployment still exists".to_string()),
                },
            )
        }
    })
    .await?;
    // Upstream waits 30 s to see that the ReplicaSet is not collected.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let kept = sets
        .get_opt(&rs.name_any())
        .await
        .step("reading replicaset")?;
    let Some(kept) = kept else {
        return Err(crate::framework::TestError::Assertion(
            "the ReplicaSet was deleted despite Orphan".into(),
        ));
    };
    ensure!(
        !kept
            .owner_references()
            .iter()
            .any(|r| Some(&r.uid) == d.meta().uid.as_ref()),
        "the ReplicaSet still refers to the deleted deployment"
    );
    Ok(())
}

async fn dependency_circle(ctx: Ctx) -> TestResult {
    let pods = ctx.api::<Pod>();
    let prefix = ctx.name("gc-circle");
    let names = [
        format!("{prefix}-1"),
        format!("{prefix}-2"),
        format!("{prefix}-3"),
    ];
    let mut uids = Vec::new();
    for name in &names {
        let pod: Pod = from_json(json!({
            "metadata": {"name": name, "labels": {"gc-circle": prefix}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
        }))?;
        let created = pods
            .create(&PostParams::default(), &pod)
            .await
            .step("creating pod")?;
        uids.push(created.uid().unwrap_or_default());
    }
    // pod1 is owned by pod3, pod2 by pod1, pod3 by pod2.
    for (dependent, owner) in [(0usize, 2usize), (1, 0), (2, 1)] {
        let patch = json!({"metadata": {"ownerReferences": [{
            "apiVersion": "v1", "kind": "Pod", "name": names[owner], "uid": uids[owner],
            "controller": true, "blockOwnerDeletion": true
        }]}});
        pods.patch(
            &names[dependent],
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .step("setting the owner reference")?;
    }
    pods.delete(&names[0], &DeleteParams::foreground())
        .await
        .step("deleting pod1 in the foreground")?;
    let selector = format!("gc-circle={prefix}");
    wait_until_none_left(
        "every pod of the circle to be deleted",
        WAIT,
        &pods,
        &selector,
    )
    .await
}
