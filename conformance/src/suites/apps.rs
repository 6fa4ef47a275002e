//! sig-apps: workload API behaviour that needs no running pods.

use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::ensure_eq;
use crate::framework::{Ctx, Step, TestCase, TestResult, from_json};

pub fn tests() -> Vec<TestCase> {
    vec![TestCase::upstream(
        "[sig-apps] Job should manage the lifecycle of a job [Conformance]",
        |c| Box::pin(job_lifecycle(c)),
    )]
}

async fn job_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Job>();
    let label = ctx.name("job");
    // Suspended: no pods are created, so no node is needed.
    let job: Job = from_json(json!({
        "metadata": {"name": "e2e-suspended", "labels": {"e2e-job-label": label}},
        "spec": {
            "suspend": true,
            "parallelism": 1,
            "completions": 1,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
        }
    }))?;
    let created = api
        .create(&PostParams::default(), &job)
        .await
        .step("creating a suspended job")?;
    ensure_eq!(
        created.spec.as_ref().and_then(|s| s.suspend),
        Some(true),
        "suspend after create"
    );
    api.patch(
        "e2e-suspended",
        &PatchParams::default(),
        &Patch::Strategic(json!({"metadata": {"labels": {"e2e-patched": "true"}}})),
    )
    .await
    .step("patching the job")?;
    let mut body = api.get("e2e-suspended").await.step("reading the job")?;
    ensure_eq!(
        body.metadata
            .labels
            .clone()
            .unwrap_or_default()
            .get("e2e-patched")
            .map(String::as_str),
        Some("true"),
        "label after patch"
    );
    body.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("updated".into(), "true".into());
    let updated = api
        .replace("e2e-suspended", &PostParams::default(), &body)
        .await
        .step("updating the job")?;
    ensure_eq!(
        updated
            .metadata
            .annotations
            .unwrap_or_default()
            .get("updated")
            .map(String::as_str),
        Some("true"),
        "annotation after update"
    );
    let selector = format!("e2e-job-label={label}");
    let list = ctx
        .all_api::<Job>()
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing jobs in all namespaces")?;
    ensure_eq!(list.items.len(), 1, "jobs found by label");
    api.delete_collection(
        &DeleteParams::background(),
        &ListParams::default().labels(&selector),
    )
    .await
    .step("deleting jobs by collection")?;
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing jobs")?;
    let live = list
        .items
        .iter()
        .filter(|j| j.metadata.deletion_timestamp.is_none())
        .count();
    ensure_eq!(
        live,
        0,
        "jobs left (not being deleted) after deletecollection"
    );
    Ok(())
}
