//! sig-scheduling: LimitRange and PriorityClass APIs.

use k8s_openapi::api::core::v1::LimitRange;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::framework::{Ctx, Step, TestCase, TestResult, expect_status, from_json};
use crate::{ensure, ensure_eq};

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-scheduling] LimitRange should list, patch and delete a LimitRange by collection [Conformance]",
            |c| Box::pin(limitrange_collection(c)),
        ),
        TestCase::upstream(
            "[sig-scheduling] SchedulerPreemption [Serial] PriorityClass endpoints verify PriorityClass endpoints can be operated with different HTTP methods [Conformance]",
            |c| Box::pin(priorityclass_endpoints(c)),
        ),
    ]
}

fn limit_range(name: &str, label: &str) -> TestResult<LimitRange> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-limitrange": label}},
        "spec": {"limits": [{
            "type": "Container",
            "min": {"cpu": "100m", "memory": "100Mi"},
            "max": {"cpu": "500m", "memory": "500Mi"},
            "default": {"cpu": "300m", "memory": "300Mi"},
            "defaultRequest": {"cpu": "200m", "memory": "200Mi"}
        }]}
    }))
}

async fn limitrange_collection(ctx: Ctx) -> TestResult {
    let label = ctx.name("lr");
    // A second namespace, so the cross-namespace list finds two.
    let other_ns = ctx.name("lr-other");
    let ns: k8s_openapi::api::core::v1::Namespace =
        from_json(json!({"metadata": {"name": other_ns}}))?;
    ctx.delete_after::<k8s_openapi::api::core::v1::Namespace>(&other_ns);
    ctx.cluster_api::<k8s_openapi::api::core::v1::Namespace>()
        .create(&PostParams::default(), &ns)
        .await
        .step("creating a second namespace")?;
    let api = ctx.api::<LimitRange>();
    let other: kube::Api<LimitRange> = kube::Api::namespaced(ctx.client.clone(), &other_ns);
    api.create(
        &PostParams::default(),
        &limit_range("e2e-limitrange", &label)?,
    )
    .await
    .step("creating the first limit range")?;
    other
        .create(
            &PostParams::default(),
            &limit_range("e2e-limitrange", &label)?,
        )
        .await
        .step("creating the second limit range")?;
    let selector = format!("e2e-limitrange={label}");
    let list = ctx
        .all_api::<LimitRange>()
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing limit ranges in all namespaces")?;
    ensure_eq!(list.items.len(), 2, "limit ranges found by label");
    let patched = api
        .patch(
            "e2e-limitrange",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"labels": {"patched": "true"}}})),
        )
        .await
        .step("patching the limit range")?;
    ensure_eq!(
        patched
            .metadata
            .labels
            .unwrap_or_default()
            .get("patched")
            .map(String::as_str),
        Some("true"),
        "label after patch"
    );
    let limit = patched.spec.and_then(|s| s.limits.into_iter().next());
    let max_cpu = limit
        .and_then(|l| l.max)
        .and_then(|m| m.get("cpu").map(|q| q.0.clone()));
    ensure_eq!(
        max_cpu.as_deref(),
        Some("500m"),
        "max cpu kept by the patch"
    );
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .step("deleting limit ranges by collection in the first namespace")?;
    let list = ctx
        .all_api::<LimitRange>()
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing after deletecollection")?;
    ensure_eq!(
        list.items.len(),
        1,
        "limit ranges left (only the other namespace's)"
    );
    Ok(())
}

async fn priorityclass_endpoints(ctx: Ctx) -> TestResult {
    let api = ctx.cluster_api::<PriorityClass>();
    let label = ctx.name("pc");
    let mut names = Vec::new();
    for i in 1..=2 {
        let name = ctx.name(&format!("e2e-pc{i}"));
        ctx.delete_after::<PriorityClass>(&name);
        let pc: PriorityClass = from_json(json!({
            "metadata": {"name": name, "labels": {"e2e-pc": label}},
            "value": 1000 + i
        }))?;
        api.create(&PostParams::default(), &pc)
            .await
            .step(format!("creating {name}"))?;
        names.push(name);
    }
    let list = api
        .list(&ListParams::default().labels(&format!("e2e-pc={label}")))
        .await
        .step("listing priority classes")?;
    ensure_eq!(list.items.len(), 2, "priority classes found by label");
    // value is immutable: patch and update must fail.
    let result = api
        .patch(
            &names[0],
            &PatchParams::default(),
            &Patch::Merge(json!({"value": 5})),
        )
        .await;
    ensure!(result.is_err(), "patching the immutable value succeeded");
    let mut body = api.get(&names[0]).await.step("reading priority class")?;
    body.value = 6;
    expect_status(
        api.replace(&names[0], &PostParams::default(), &body).await,
        422,
        "updating the immutable value",
    )?;
    // Mutable fields: description via patch and update.
    let patched = api
        .patch(
            &names[0],
            &PatchParams::default(),
            &Patch::Merge(json!({"description": "patched"})),
        )
        .await
        .step("patching description")?;
    ensure_eq!(
        patched.description.as_deref(),
        Some("patched"),
        "description after patch"
    );
    let mut body = patched;
    body.description = Some("updated".into());
    let updated = api
        .replace(&names[0], &PostParams::default(), &body)
        .await
        .step("updating description")?;
    ensure_eq!(
        updated.description.as_deref(),
        Some("updated"),
        "description after update"
    );
    api.delete(&names[1], &DeleteParams::default())
        .await
        .step("deleting priority class")?;
    expect_status(
        api.get(&names[1]).await,
        404,
        "GET of the deleted priority class",
    )?;
    Ok(())
}
