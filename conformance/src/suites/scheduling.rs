//! sig-scheduling: LimitRange (API and admission defaults) and
//! PriorityClass APIs.

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
            "[sig-scheduling] LimitRange should create a LimitRange with defaults and ensure pod has those defaults applied. [Conformance]",
            |c| Box::pin(limitrange_defaults(c)),
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

/// cpu, memory and ephemeral-storage quantities (empty strings left out),
/// as upstream's `getResourceList`.
fn resources(cpu: &str, memory: &str, storage: &str) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (k, v) in [
        ("cpu", cpu),
        ("memory", memory),
        ("ephemeral-storage", storage),
    ] {
        if !v.is_empty() {
            out.insert(k.into(), json!(v));
        }
    }
    serde_json::Value::Object(out)
}

fn resource_pod(
    name: &str,
    requests: serde_json::Value,
    limits: serde_json::Value,
) -> TestResult<k8s_openapi::api::core::v1::Pod> {
    from_json(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{
            "name": "pause",
            "image": crate::images::busybox(),
            "resources": {"requests": requests, "limits": limits},
        }]}
    }))
}

/// Requests and limits of every container equal `requests`/`limits`
/// (compared as quantities).
fn expect_resources(
    pod: &k8s_openapi::api::core::v1::Pod,
    requests: &serde_json::Value,
    limits: &serde_json::Value,
) -> TestResult {
    let same = |want: &serde_json::Value,
                got: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >| {
        want.as_object().is_some_and(|w| {
            w.iter().all(|(k, v)| {
                let got = got.and_then(|g| g.get(k)).map(|q| q.0.clone());
                got.as_deref()
                    .and_then(component_base::quantity::milli_value)
                    == v.as_str().and_then(component_base::quantity::milli_value)
            })
        })
    };
    for c in pod.spec.iter().flat_map(|s| &s.containers) {
        let r = c.resources.clone().unwrap_or_default();
        ensure!(
            same(requests, r.requests.as_ref()) && same(limits, r.limits.as_ref()),
            "container {} has requests {:?} and limits {:?}, want {requests} and {limits}",
            c.name,
            r.requests,
            r.limits
        );
    }
    Ok(())
}

async fn limitrange_defaults(ctx: Ctx) -> TestResult {
    use k8s_openapi::api::core::v1::Pod;
    let label = ctx.name("time");
    let lr: LimitRange = from_json(json!({
        "metadata": {"name": "limit-range", "labels": {"time": label}},
        "spec": {"limits": [{
            "type": "Container",
            "min": resources("50m", "100Mi", "100Gi"),
            "max": resources("500m", "500Mi", "500Gi"),
            "default": resources("500m", "500Mi", "500Gi"),
            "defaultRequest": resources("100m", "200Mi", "200Gi"),
        }]}
    }))?;
    let ranges = ctx.api::<LimitRange>();
    let mut lr = ranges
        .create(&PostParams::default(), &lr)
        .await
        .step("creating the LimitRange")?;
    let pods = ctx.api::<Pod>();
    let defaults = (
        resources("100m", "200Mi", "200Gi"),
        resources("500m", "500Mi", "500Gi"),
    );
    let created = pods
        .create(
            &PostParams::default(),
            &resource_pod("pod-no-resources", json!({}), json!({}))?,
        )
        .await
        .step("creating a pod without resources")?;
    expect_resources(&created, &defaults.0, &defaults.1)?;

    let partial = resource_pod(
        "pod-partial-resources",
        resources("", "150Mi", "150Gi"),
        resources("300m", "", ""),
    )?;
    let created = pods
        .create(&PostParams::default(), &partial)
        .await
        .step("creating a pod with partial resources")?;
    // A limit without a request stands for the request, so defaultRequest
    // only applies where no limit was given.
    expect_resources(
        &created,
        &resources("300m", "150Mi", "150Gi"),
        &resources("300m", "500Mi", "500Gi"),
    )?;

    let too_small = resource_pod("pfpod", resources("10m", "50Mi", "50Gi"), json!({}))?;
    let refused = pods.create(&PostParams::default(), &too_small).await;
    ensure!(refused.is_err(), "a pod under the minimum was created");
    let too_big = resource_pod("pfpod", resources("600m", "600Mi", "600Gi"), json!({}))?;
    let refused = pods.create(&PostParams::default(), &too_big).await;
    ensure!(refused.is_err(), "a pod over the maximum was created");

    if let Some(item) = lr.spec.as_mut().and_then(|s| s.limits.first_mut()) {
        item.min = Some(from_json(resources("9m", "49Mi", "49Gi"))?);
    }
    ranges
        .replace("limit-range", &PostParams::default(), &lr)
        .await
        .step("updating the LimitRange")?;
    pods.create(&PostParams::default(), &too_small)
        .await
        .step("creating a pod under the former minimum")?;
    let refused = pods
        .create(
            &PostParams::default(),
            &resource_pod("pfpod2", resources("600m", "600Mi", "600Gi"), json!({}))?,
        )
        .await;
    ensure!(
        refused.is_err(),
        "a pod over the maximum was created after the update"
    );

    ranges
        .delete("limit-range", &DeleteParams::default())
        .await
        .step("deleting the LimitRange")?;
    let remaining = ranges
        .list(&ListParams::default())
        .await
        .step("listing LimitRanges")?;
    ensure_eq!(remaining.items.len(), 0, "LimitRanges left");
    pods.create(
        &PostParams::default(),
        &resource_pod("pfpod2", resources("600m", "600Mi", "600Gi"), json!({}))?,
    )
    .await
    .step("creating a pod over the former maximum")?;
    Ok(())
}
