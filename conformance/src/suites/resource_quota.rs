//! sig-api-machinery ResourceQuota tests (upstream
//! `test/e2e/apimachinery/resource_quota.go`): the quota API itself, and
//! usage captured by the quota controller and enforced by the API server's
//! quota admission for pods, services, secrets, ConfigMaps,
//! ReplicationControllers and ReplicaSets, with Terminating/NotTerminating
//! and BestEffort/NotBestEffort scopes. Quota test pods carry an
//! unsatisfiable nodeSelector (as upstream's), so no node is needed.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, Pod, ReplicationController, ResourceQuota, Secret, Service,
};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use component_base::quantity::milli_value;

use crate::framework::{
    Ctx, Step, TestCase, TestError, TestResult, expect_status, from_json, labels,
    update_with_retries, wait_for,
};
use crate::{ensure, ensure_eq};

/// Upstream's `resourceQuotaTimeout`.
const QUOTA_WAIT: Duration = Duration::from_secs(60);
/// Upstream's `ensureResourceQuota` window.
const STEADY: Duration = Duration::from_secs(10);

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-api-machinery] ResourceQuota should be able to update and delete ResourceQuota. [Conformance]",
            |c| Box::pin(quota_update_delete(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] ResourceQuota should manage the lifecycle of a ResourceQuota [Conformance]",
            |c| Box::pin(quota_lifecycle(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] ResourceQuota should apply changes to a resourcequota status [Conformance]",
            |c| Box::pin(quota_status(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and ensure its status is promptly calculated. [Conformance]",
            |c| Box::pin(quota_status_calculated(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a configMap. [Conformance]",
            |c| Box::pin(quota_configmap(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a service. [Conformance]",
            |c| Box::pin(quota_service(c)),
        ),
        TestCase {
            timeout: Duration::from_secs(120),
            ..TestCase::upstream(
                "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a secret. [Conformance]",
                |c| Box::pin(quota_secret(c)),
            )
        },
        TestCase::upstream(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a pod. [Conformance]",
            |c| Box::pin(quota_pod(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a replication controller. [Conformance]",
            |c| Box::pin(quota_replication_controller(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a replica set. [Conformance]",
            |c| Box::pin(quota_replica_set(c)),
        ),
        TestCase {
            timeout: Duration::from_secs(150),
            ..TestCase::upstream(
                "[sig-api-machinery] ResourceQuota should verify ResourceQuota with terminating scopes. [Conformance]",
                |c| Box::pin(quota_terminating_scopes(c)),
            )
        },
        TestCase {
            timeout: Duration::from_secs(120),
            ..TestCase::upstream(
                "[sig-api-machinery] ResourceQuota should verify ResourceQuota with best effort scope. [Conformance]",
                |c| Box::pin(quota_best_effort_scope(c)),
            )
        },
    ]
}

fn quota(
    name: &str,
    hard: &[(&str, &str)],
    extra_labels: &[(&str, &str)],
) -> TestResult<ResourceQuota> {
    from_json(json!({
        "metadata": {"name": name, "labels": labels(extra_labels)},
        "spec": {"hard": labels(hard)}
    }))
}

fn hard_of(q: &ResourceQuota) -> std::collections::BTreeMap<String, String> {
    q.spec
        .as_ref()
        .and_then(|s| s.hard.as_ref())
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
        .unwrap_or_default()
}

fn status_hard(q: &ResourceQuota) -> std::collections::BTreeMap<String, String> {
    q.status
        .as_ref()
        .and_then(|s| s.hard.as_ref())
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
        .unwrap_or_default()
}

fn status_used(q: &ResourceQuota) -> std::collections::BTreeMap<String, String> {
    q.status
        .as_ref()
        .and_then(|s| s.used.as_ref())
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
        .unwrap_or_default()
}

async fn quota_update_delete(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ResourceQuota>();
    let created = api
        .create(
            &PostParams::default(),
            &quota("test-quota", &[("cpu", "1"), ("memory", "500Mi")], &[])?,
        )
        .await
        .step("creating quota")?;
    ensure_eq!(
        hard_of(&created).get("cpu").map(String::as_str),
        Some("1"),
        "hard cpu after create"
    );
    let mut body = created;
    if let Some(spec) = body.spec.as_mut() {
        spec.hard = Some(
            [("cpu", "2"), ("memory", "1Gi")]
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        k8s_openapi::apimachinery::pkg::api::resource::Quantity(v.to_string()),
                    )
                })
                .collect(),
        );
    }
    let updated = api
        .replace("test-quota", &PostParams::default(), &body)
        .await
        .step("updating quota")?;
    ensure_eq!(
        hard_of(&updated).get("cpu").map(String::as_str),
        Some("2"),
        "hard cpu after update"
    );
    ensure_eq!(
        hard_of(&updated).get("memory").map(String::as_str),
        Some("1Gi"),
        "hard memory after update"
    );
    api.delete("test-quota", &DeleteParams::default())
        .await
        .step("deleting quota")?;
    let gone = expect_status(api.get("test-quota").await, 404, "GET of the deleted quota")?;
    let _ = gone;
    Ok(())
}

async fn quota_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ResourceQuota>();
    let label = ctx.name("e2e-rq");
    api.create(
        &PostParams::default(),
        &quota(
            "e2e-lifecycle",
            &[("cpu", "1"), ("memory", "500Mi")],
            &[("e2e-rq-label", &label)],
        )?,
    )
    .await
    .step("creating quota")?;
    let all = ctx.all_api::<ResourceQuota>();
    let list = all
        .list(&ListParams::default().labels(&format!("e2e-rq-label={label}")))
        .await
        .step("listing quotas in all namespaces by label")?;
    ensure_eq!(list.items.len(), 1, "quotas found by label");
    let patched = api
        .patch(
            "e2e-lifecycle",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"patched": "true"}}, "spec": {"hard": {"cpu": "2"}}})),
        )
        .await
        .step("patching quota")?;
    ensure_eq!(
        hard_of(&patched).get("cpu").map(String::as_str),
        Some("2"),
        "hard cpu after patch"
    );
    ensure!(
        patched
            .metadata
            .labels
            .unwrap_or_default()
            .get("patched")
            .map(String::as_str)
            == Some("true"),
        "label missing after patch"
    );
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&format!("e2e-rq-label={label}")),
    )
    .await
    .step("deleting quotas by collection")?;
    let left = api
        .list(&ListParams::default().labels(&format!("e2e-rq-label={label}")))
        .await
        .step("listing after deletecollection")?;
    ensure_eq!(left.items.len(), 0, "quotas left after deletecollection");
    Ok(())
}

async fn quota_status(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ResourceQuota>();
    let name = "e2e-status";
    api.create(
        &PostParams::default(),
        &quota(name, &[("cpu", "500m"), ("memory", "500Mi")], &[])?,
    )
    .await
    .step("creating quota")?;
    // The quota controller writes the status too: GET and PUT again on a
    // conflict, as upstream's test does (retry.RetryOnConflict).
    let status: k8s_openapi::api::core::v1::ResourceQuotaStatus =
        from_json(json!({"hard": {"cpu": "500m", "memory": "500Mi"}}))?;
    let updated = update_with_retries(&api, name, true, |q: &mut ResourceQuota| {
        q.status = Some(status.clone());
        Ok(())
    })
    .await?;
    ensure_eq!(
        status_hard(&updated).get("cpu").map(String::as_str),
        Some("500m"),
        "status.hard.cpu after PUT"
    );
    let patched = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hard": {"cpu": "1", "memory": "1Gi"}}})),
        )
        .await
        .step("patching spec")?;
    ensure_eq!(
        hard_of(&patched).get("cpu").map(String::as_str),
        Some("1"),
        "spec.hard.cpu after patch"
    );
    let status_patched = api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"hard": {"cpu": "1", "memory": "1Gi"}}})),
        )
        .await
        .step("patching status")?;
    ensure_eq!(
        status_hard(&status_patched)
            .get("memory")
            .map(String::as_str),
        Some("1Gi"),
        "status.hard.memory after patch"
    );
    let status_patched = api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"hard": {"cpu": "7"}}, "status": {"hard": {"cpu": "1"}}}),
            ),
        )
        .await
        .step("patching status with a spec change")?;
    ensure_eq!(
        hard_of(&status_patched).get("cpu").map(String::as_str),
        Some("1"),
        "spec.hard.cpu must not change through /status"
    );
    Ok(())
}

async fn quota_status_calculated(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ResourceQuota>();
    let name = "e2e-calculated";
    api.create(
        &PostParams::default(),
        &quota(
            name,
            &[("configmaps", "10"), ("secrets", "10"), ("pods", "5")],
            &[],
        )?,
    )
    .await
    .step("creating quota")?;
    wait_for(
        "the quota status to be calculated",
        Duration::from_secs(40),
        || {
            let api = api.clone();
            async move {
                let q = api.get(name).await.step("reading quota")?;
                let hard = status_hard(&q);
                let used = status_used(&q);
                if hard.get("pods").map(String::as_str) == Some("5")
                    && used.get("pods").map(String::as_str) == Some("0")
                {
                    Ok(Ok(()))
                } else {
                    Ok(Err(format!("status.hard {hard:?}, status.used {used:?}")))
                }
            }
        },
    )
    .await
}

async fn quota_configmap(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ResourceQuota>();
    let name = "e2e-cm-quota";
    api.create(
        &PostParams::default(),
        &quota(name, &[("configmaps", "10")], &[])?,
    )
    .await
    .step("creating quota")?;
    let used = |want: i64| {
        let api = api.clone();
        async move {
            wait_for(
                &format!("configmaps used to settle at {want}+"),
                Duration::from_secs(40),
                || {
                    let api = api.clone();
                    async move {
                        let q = api.get(name).await.step("reading quota")?;
                        let used = status_used(&q);
                        let value = used.get("configmaps").and_then(|v| v.parse::<i64>().ok());
                        match value {
                            Some(v) if v == want => Ok(Ok(v)),
                            other => Ok(Err(format!("used configmaps {other:?}"))),
                        }
                    }
                },
            )
            .await
        }
    };
    // Namespaces may hold configmaps created by controllers (kube-root-ca.crt).
    let base = wait_for("an initial quota usage", Duration::from_secs(40), || {
        let api = api.clone();
        async move {
            let q = api.get(name).await.step("reading quota")?;
            match status_used(&q)
                .get("configmaps")
                .and_then(|v| v.parse::<i64>().ok())
            {
                Some(v) => Ok(Ok(v)),
                None => Ok(Err("status.used has no configmaps".into())),
            }
        }
    })
    .await?;
    ctx.api::<ConfigMap>()
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "quota-cm"}, "data": {"a": "b"}}))?,
        )
        .await
        .step("creating configmap")?;
    used(base + 1).await?;
    ctx.api::<ConfigMap>()
        .delete("quota-cm", &DeleteParams::default())
        .await
        .step("deleting configmap")?;
    used(base).await?;
    Ok(())
}

// ------------------------------------------------------- usage and admission

/// Upstream's `newTestResourceQuota`: limits on every kind the tests use.
fn test_quota(name: &str, extra: &[(&str, &str)]) -> TestResult<ResourceQuota> {
    let mut hard = labels(&[
        ("pods", "5"),
        ("services", "10"),
        ("services.nodeports", "1"),
        ("services.loadbalancers", "1"),
        ("replicationcontrollers", "10"),
        ("resourcequotas", "1"),
        ("cpu", "1"),
        ("memory", "500Mi"),
        ("configmaps", "10"),
        ("secrets", "10"),
        ("persistentvolumeclaims", "10"),
        ("requests.storage", "10Gi"),
        ("ephemeral-storage", "50Gi"),
        (
            "gold.storageclass.storage.k8s.io/persistentvolumeclaims",
            "10",
        ),
        ("gold.storageclass.storage.k8s.io/requests.storage", "10Gi"),
        ("count/replicasets.apps", "5"),
        ("requests.example.com/dongle", "3"),
    ]);
    hard.extend(labels(extra));
    from_json(json!({"metadata": {"name": name}, "spec": {"hard": hard}}))
}

/// Upstream's `newTestResourceQuotaWithScope`.
fn scoped_quota(name: &str, scope: &str) -> TestResult<ResourceQuota> {
    let mut hard = labels(&[("pods", "5")]);
    if matches!(scope, "Terminating" | "NotTerminating") {
        hard.extend(labels(&[
            ("requests.cpu", "1"),
            ("requests.memory", "500Mi"),
            ("limits.cpu", "2"),
            ("limits.memory", "1Gi"),
        ]));
    }
    from_json(json!({"metadata": {"name": name}, "spec": {"hard": hard, "scopes": [scope]}}))
}

/// Upstream's `newTestPodForQuota`: never scheduled (unsatisfiable
/// nodeSelector), with the given requests and limits.
fn pod_for_quota(name: &str, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"x-test.k8s.io/unsatisfiable": "not-schedulable"},
            "containers": [{
                "name": "pause",
                "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": labels(requests), "limits": labels(limits)}
            }]
        }
    })
}

/// Differences between `status.used` and `want` (compared as quantities),
/// or None when every wanted entry is there with the same amount.
fn used_mismatch(q: &ResourceQuota, want: &BTreeMap<String, String>) -> Option<String> {
    let used = status_used(q);
    let wrong: Vec<String> = want
        .iter()
        .filter(|(k, v)| {
            let have = used.get(*k).and_then(|h| milli_value(h));
            have.is_none() || have != milli_value(v)
        })
        .map(|(k, v)| format!("{k}: want {v}, have {:?}", used.get(k)))
        .collect();
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

/// Upstream's `waitForResourceQuota`: until `status.used` shows `want`
/// (other entries are ignored).
async fn wait_used(api: &Api<ResourceQuota>, name: &str, want: &[(&str, &str)]) -> TestResult {
    let want = labels(want);
    wait_for(
        &format!("quota {name} to show used {want:?}"),
        QUOTA_WAIT,
        || {
            let api = api.clone();
            let want = want.clone();
            let name = name.to_string();
            async move {
                let q = api.get(&name).await.step("reading the quota")?;
                Ok(match used_mismatch(&q, &want) {
                    None => Ok(()),
                    Some(diff) => Err(diff),
                })
            }
        },
    )
    .await
}

/// Upstream's `ensureResourceQuota`: `status.used` shows `want` for the
/// whole window.
async fn ensure_used(api: &Api<ResourceQuota>, name: &str, want: &[(&str, &str)]) -> TestResult {
    let want = labels(want);
    let deadline = tokio::time::Instant::now() + STEADY;
    while tokio::time::Instant::now() < deadline {
        let q = api.get(name).await.step("reading the quota")?;
        if let Some(diff) = used_mismatch(&q, &want) {
            return Err(TestError::Assertion(format!(
                "quota {name} changed while it had to stay: {diff}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Creating must be refused by quota admission (403, `exceeded quota`).
fn expect_over_quota<T: std::fmt::Debug>(result: kube::Result<T>, what: &str) -> TestResult {
    let message = expect_status(result, 403, what)?;
    ensure!(
        message.contains("exceeded quota: "),
        "{what}: refused, but not for quota: {message}"
    );
    Ok(())
}

async fn create_test_quota(ctx: &Ctx, quota: &ResourceQuota) -> TestResult<Api<ResourceQuota>> {
    let api = ctx.api::<ResourceQuota>();
    api.create(&PostParams::default(), quota)
        .await
        .step("creating the quota")?;
    Ok(api)
}

/// Deletes a pod at once (upstream's `NewDeleteOptions(0)`).
async fn delete_now(pods: &Api<Pod>, name: &str) -> TestResult {
    pods.delete(
        name,
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .step(format!("deleting pod {name}"))?;
    Ok(())
}

fn service(name: &str, type_: &str) -> TestResult<Service> {
    let mut spec = json!({"type": type_, "ports": [{"port": 80, "targetPort": 80}]});
    if type_ == "LoadBalancer" {
        spec["allocateLoadBalancerNodePorts"] = json!(true);
    }
    from_json(json!({"metadata": {"name": name}, "spec": spec}))
}

async fn quota_service(ctx: Ctx) -> TestResult {
    let api = create_test_quota(&ctx, &test_quota("test-quota", &[])?).await?;
    wait_used(&api, "test-quota", &[("resourcequotas", "1")]).await?;
    let services = ctx.api::<Service>();
    services
        .create(
            &PostParams::default(),
            &service("test-service", "ClusterIP")?,
        )
        .await
        .step("creating a ClusterIP service")?;
    services
        .create(
            &PostParams::default(),
            &service("test-service-np", "NodePort")?,
        )
        .await
        .step("creating a NodePort service")?;
    expect_over_quota(
        services
            .create(
                &PostParams::default(),
                &service("test-service-lb", "LoadBalancer")?,
            )
            .await,
        "creating a LoadBalancer service past services.nodeports",
    )?;
    wait_used(
        &api,
        "test-quota",
        &[
            ("resourcequotas", "1"),
            ("services", "2"),
            ("services.nodeports", "1"),
        ],
    )
    .await?;
    for name in ["test-service", "test-service-np"] {
        services
            .delete(name, &DeleteParams::default())
            .await
            .step(format!("deleting service {name}"))?;
    }
    wait_used(
        &api,
        "test-quota",
        &[
            ("resourcequotas", "1"),
            ("services", "0"),
            ("services.nodeports", "0"),
        ],
    )
    .await
}

/// The number of `K` objects in the namespace once it has not changed for
/// a few seconds (controllers may still be adding defaults).
async fn settled_count<K>(api: &Api<K>) -> TestResult<usize>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut last = usize::MAX;
    let mut unchanged = 0;
    for _ in 0..30 {
        let n = api
            .list(&ListParams::default())
            .await
            .step("counting objects")?
            .items
            .len();
        if n == last {
            unchanged += 1;
            if unchanged > 4 {
                return Ok(n);
            }
        } else {
            unchanged = 0;
            last = n;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(TestError::Assertion(
        "the object count never settled".into(),
    ))
}

async fn quota_secret(ctx: Ctx) -> TestResult {
    let secrets = ctx.api::<Secret>();
    let found = settled_count(&secrets).await?;
    let (default, hard) = (found.to_string(), (found + 1).to_string());
    let api = create_test_quota(&ctx, &test_quota("test-quota", &[("secrets", &hard)])?).await?;
    wait_used(
        &api,
        "test-quota",
        &[("resourcequotas", "1"), ("secrets", &default)],
    )
    .await?;
    let secret: Secret = from_json(json!({
        "metadata": {"name": "test-secret"},
        "data": {"data-1": "dmFsdWUtMQo=", "data-2": "dmFsdWUtMgo=", "data-3": "dmFsdWUtMwo="}
    }))?;
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .step("creating a secret")?;
    wait_used(&api, "test-quota", &[("secrets", &hard)]).await?;
    secrets
        .delete("test-secret", &DeleteParams::default())
        .await
        .step("deleting the secret")?;
    wait_used(&api, "test-quota", &[("secrets", &default)]).await
}

async fn quota_pod(ctx: Ctx) -> TestResult {
    let api = create_test_quota(&ctx, &test_quota("test-quota", &[])?).await?;
    wait_used(&api, "test-quota", &[("resourcequotas", "1")]).await?;
    let pods = ctx.api::<Pod>();
    let fits = pod_for_quota(
        "test-pod",
        &[
            ("cpu", "500m"),
            ("memory", "252Mi"),
            ("ephemeral-storage", "30Gi"),
            ("example.com/dongle", "2"),
        ],
        &[("example.com/dongle", "2")],
    );
    let created = pods
        .create(&PostParams::default(), &from_json(fits)?)
        .await
        .step("creating a pod that fits the quota")?;
    let used = [
        ("resourcequotas", "1"),
        ("pods", "1"),
        ("cpu", "500m"),
        ("memory", "252Mi"),
        ("ephemeral-storage", "30Gi"),
        ("requests.example.com/dongle", "2"),
    ];
    wait_used(&api, "test-quota", &used).await?;
    let too_much_cpu = pod_for_quota("fail-pod", &[("cpu", "600m"), ("memory", "100Mi")], &[]);
    expect_over_quota(
        pods.create(&PostParams::default(), &from_json(too_much_cpu)?)
            .await,
        "creating a pod past the cpu quota",
    )?;
    let too_many_dongles = pod_for_quota(
        "fail-pod-for-extended-resource",
        &[
            ("cpu", "500m"),
            ("memory", "100Mi"),
            ("ephemeral-storage", "30Gi"),
            ("example.com/dongle", "2"),
        ],
        &[("example.com/dongle", "2")],
    );
    expect_over_quota(
        pods.create(&PostParams::default(), &from_json(too_many_dongles)?)
            .await,
        "creating a pod past the extended resource quota",
    )?;
    // A pod cannot change its resource requirements.
    let mut changed = created;
    if let Some(c) = changed.spec.as_mut().and_then(|s| s.containers.first_mut()) {
        c.resources = Some(from_json(json!({"requests": {
            "cpu": "100m", "memory": "100Mi", "ephemeral-storage": "10Gi"
        }}))?);
    }
    let update = pods
        .replace("test-pod", &PostParams::default(), &changed)
        .await;
    ensure!(
        update.is_err(),
        "updating the pod's resource requests succeeded"
    );
    wait_used(&api, "test-quota", &used).await?;
    delete_now(&pods, "test-pod").await?;
    wait_used(
        &api,
        "test-quota",
        &[
            ("resourcequotas", "1"),
            ("pods", "0"),
            ("cpu", "0"),
            ("memory", "0"),
            ("ephemeral-storage", "0"),
            ("requests.example.com/dongle", "0"),
        ],
    )
    .await
}

async fn quota_replication_controller(ctx: Ctx) -> TestResult {
    let api = create_test_quota(&ctx, &test_quota("test-quota", &[])?).await?;
    wait_used(
        &api,
        "test-quota",
        &[("resourcequotas", "1"), ("replicationcontrollers", "0")],
    )
    .await?;
    let rcs = ctx.api::<ReplicationController>();
    let rc: ReplicationController = from_json(json!({
        "metadata": {"name": "test-rc"},
        "spec": {
            "replicas": 0,
            "selector": {"name": "test-rc"},
            "template": {
                "metadata": {"labels": {"name": "test-rc"}},
                "spec": {"containers": [{"name": "test-rc", "image": "nginx"}]}
            }
        }
    }))?;
    rcs.create(&PostParams::default(), &rc)
        .await
        .step("creating a replication controller")?;
    wait_used(&api, "test-quota", &[("replicationcontrollers", "1")]).await?;
    // RCs orphan by default; Background removes the object at once.
    rcs.delete("test-rc", &DeleteParams::background())
        .await
        .step("deleting the replication controller")?;
    wait_used(&api, "test-quota", &[("replicationcontrollers", "0")]).await
}

async fn quota_replica_set(ctx: Ctx) -> TestResult {
    let api = create_test_quota(&ctx, &test_quota("test-quota", &[])?).await?;
    wait_used(
        &api,
        "test-quota",
        &[("resourcequotas", "1"), ("count/replicasets.apps", "0")],
    )
    .await?;
    let sets = ctx.api::<ReplicaSet>();
    let rs: ReplicaSet = from_json(json!({
        "metadata": {"name": "test-rs"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"name": "test-rs"}},
            "template": {
                "metadata": {"labels": {"name": "test-rs"}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "test-rs", "image": "nginx"}]
                }
            }
        }
    }))?;
    sets.create(&PostParams::default(), &rs)
        .await
        .step("creating a replica set")?;
    wait_used(&api, "test-quota", &[("count/replicasets.apps", "1")]).await?;
    sets.delete("test-rs", &DeleteParams::default())
        .await
        .step("deleting the replica set")?;
    wait_used(&api, "test-quota", &[("count/replicasets.apps", "0")]).await
}

const COMPUTE_ZERO: [(&str, &str); 5] = [
    ("pods", "0"),
    ("requests.cpu", "0"),
    ("requests.memory", "0"),
    ("limits.cpu", "0"),
    ("limits.memory", "0"),
];

const COMPUTE_ONE_POD: [(&str, &str); 5] = [
    ("pods", "1"),
    ("requests.cpu", "500m"),
    ("requests.memory", "200Mi"),
    ("limits.cpu", "1"),
    ("limits.memory", "400Mi"),
];

fn burstable_pod(name: &str) -> Value {
    pod_for_quota(
        name,
        &[("cpu", "500m"), ("memory", "200Mi")],
        &[("cpu", "1"), ("memory", "400Mi")],
    )
}

async fn quota_terminating_scopes(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ResourceQuota>();
    for (name, scope) in [
        ("quota-terminating", "Terminating"),
        ("quota-not-terminating", "NotTerminating"),
    ] {
        api.create(&PostParams::default(), &scoped_quota(name, scope)?)
            .await
            .step(format!("creating quota {name}"))?;
        wait_used(&api, name, &[("pods", "0")]).await?;
    }
    let pods = ctx.api::<Pod>();
    pods.create(
        &PostParams::default(),
        &from_json(burstable_pod("test-pod"))?,
    )
    .await
    .step("creating a long running pod")?;
    wait_used(&api, "quota-not-terminating", &COMPUTE_ONE_POD).await?;
    ensure_used(&api, "quota-terminating", &COMPUTE_ZERO).await?;
    delete_now(&pods, "test-pod").await?;
    wait_used(&api, "quota-not-terminating", &COMPUTE_ZERO).await?;

    let mut terminating = burstable_pod("terminating-pod");
    terminating["spec"]["activeDeadlineSeconds"] = json!(3600);
    pods.create(&PostParams::default(), &from_json(terminating)?)
        .await
        .step("creating a terminating pod")?;
    wait_used(&api, "quota-terminating", &COMPUTE_ONE_POD).await?;
    wait_used(&api, "quota-not-terminating", &COMPUTE_ZERO).await?;
    ensure_used(&api, "quota-not-terminating", &COMPUTE_ZERO).await?;
    delete_now(&pods, "terminating-pod").await?;
    wait_used(&api, "quota-terminating", &COMPUTE_ZERO).await
}

async fn quota_best_effort_scope(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ResourceQuota>();
    for (name, scope) in [
        ("quota-besteffort", "BestEffort"),
        ("quota-not-besteffort", "NotBestEffort"),
    ] {
        api.create(&PostParams::default(), &scoped_quota(name, scope)?)
            .await
            .step(format!("creating quota {name}"))?;
        wait_used(&api, name, &[("pods", "0")]).await?;
    }
    let pods = ctx.api::<Pod>();
    pods.create(
        &PostParams::default(),
        &from_json(pod_for_quota("pfpod", &[], &[]))?,
    )
    .await
    .step("creating a best-effort pod")?;
    wait_used(&api, "quota-besteffort", &[("pods", "1")]).await?;
    wait_used(&api, "quota-not-besteffort", &[("pods", "0")]).await?;
    delete_now(&pods, "pfpod").await?;
    wait_used(&api, "quota-besteffort", &[("pods", "0")]).await?;

    pods.create(
        &PostParams::default(),
        &from_json(burstable_pod("burstable-pod"))?,
    )
    .await
    .step("creating a not best-effort pod")?;
    wait_used(&api, "quota-not-besteffort", &[("pods", "1")]).await?;
    wait_used(&api, "quota-besteffort", &[("pods", "0")]).await?;
    delete_now(&pods, "burstable-pod").await?;
    wait_used(&api, "quota-not-besteffort", &[("pods", "0")]).await
}
