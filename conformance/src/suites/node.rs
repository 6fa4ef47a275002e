//! sig-node: ConfigMap, Secret, Lease, PodTemplate, RuntimeClass and Node API
//! behaviour, and pods that need a node.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, PodTemplate, Secret};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::framework::{Ctx, Step, TestCase, TestResult, expect_status, from_json, wait_for};
use crate::{ensure, ensure_eq};

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-node] ConfigMap should fail to create ConfigMap with empty key [Conformance]",
            |c| Box::pin(configmap_empty_key(c)),
        ),
        TestCase::upstream(
            "[sig-node] ConfigMap should run through a ConfigMap lifecycle [Conformance]",
            |c| Box::pin(configmap_lifecycle(c)),
        ),
        TestCase::upstream(
            "[sig-node] Secrets should fail to create secret due to empty secret key [Conformance]",
            |c| Box::pin(secret_empty_key(c)),
        ),
        TestCase::upstream(
            "[sig-node] Secrets should patch a secret [Conformance]",
            |c| Box::pin(secret_patch(c)),
        ),
        TestCase::upstream(
            "[sig-node] Lease lease API should be available [Conformance]",
            |c| Box::pin(lease_api(c)),
        ),
        TestCase::upstream(
            "[sig-node] PodTemplates should run the lifecycle of PodTemplates [Conformance]",
            |c| Box::pin(podtemplate_lifecycle(c)),
        ),
        TestCase::upstream(
            "[sig-node] PodTemplates should delete a collection of pod templates [Conformance]",
            |c| Box::pin(podtemplate_delete_collection(c)),
        ),
        TestCase::upstream(
            "[sig-node] PodTemplates should replace a pod template [Conformance]",
            |c| Box::pin(podtemplate_replace(c)),
        ),
        TestCase::upstream(
            "[sig-node] RuntimeClass should support RuntimeClasses API operations [Conformance]",
            |c| Box::pin(runtimeclass_api(c)),
        ),
        TestCase::upstream(
            "[sig-node] Node Lifecycle should run through the lifecycle of a node [Conformance]",
            |c| Box::pin(node_lifecycle(c)),
        ),
        TestCase::upstream(
            "[sig-node] Pods should get a host IP [NodeConformance] [Conformance]",
            |c| Box::pin(pod_host_ip(c)),
        )
        .with_nodes(),
    ]
}

async fn configmap_empty_key(ctx: Ctx) -> TestResult {
    let cm: ConfigMap =
        from_json(json!({"metadata": {"name": "empty-key"}, "data": {"": "value-1"}}))?;
    expect_status(
        ctx.api::<ConfigMap>()
            .create(&PostParams::default(), &cm)
            .await,
        422,
        "creating a ConfigMap with an empty key",
    )?;
    Ok(())
}

async fn configmap_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ConfigMap>();
    let label = ctx.name("cm-lifecycle");
    let cm: ConfigMap = from_json(json!({
        "metadata": {"name": "e2e-lifecycle", "labels": {"test-configmap-static": "true", "run": label}},
        "data": {"valueName": "value"}
    }))?;
    api.create(&PostParams::default(), &cm)
        .await
        .step("creating configmap")?;
    api.patch(
        "e2e-lifecycle",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"test-configmap": "patched"}}, "data": {"valueName": "value1"}})),
    )
    .await
    .step("patching configmap")?;
    let got = api.get("e2e-lifecycle").await.step("reading configmap")?;
    ensure_eq!(
        got.data
            .as_ref()
            .and_then(|d| d.get("valueName"))
            .map(String::as_str),
        Some("value1"),
        "data after patch"
    );
    let all = ctx.all_api::<ConfigMap>();
    let list = all
        .list(&ListParams::default().labels(&format!("test-configmap-static=true,run={label}")))
        .await
        .step("listing configmaps in all namespaces by label")?;
    ensure_eq!(list.items.len(), 1, "configmaps found by the static label");
    let found = &list.items[0];
    ensure_eq!(
        found
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("test-configmap"))
            .map(String::as_str),
        Some("patched"),
        "patched label in the list"
    );
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("test-configmap-static=true"),
    )
    .await
    .step("deleting configmaps by collection")?;
    let left = api
        .list(&ListParams::default().labels("test-configmap-static=true"))
        .await
        .step("listing after deletecollection")?;
    ensure_eq!(
        left.items.len(),
        0,
        "configmaps left after deletecollection"
    );
    Ok(())
}

async fn secret_empty_key(ctx: Ctx) -> TestResult {
    let s: Secret =
        from_json(json!({"metadata": {"name": "empty-key"}, "data": {"": "dmFsdWUtMQ=="}}))?;
    expect_status(
        ctx.api::<Secret>().create(&PostParams::default(), &s).await,
        422,
        "creating a Secret with an empty key",
    )?;
    Ok(())
}

async fn secret_patch(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Secret>();
    let label = ctx.name("secret-patch");
    let s: Secret = from_json(json!({
        "metadata": {"name": "e2e-patch", "labels": {"testsecret-constant": "true", "run": label}},
        "stringData": {"key": "value"},
        "type": "Opaque"
    }))?;
    let created = api
        .create(&PostParams::default(), &s)
        .await
        .step("creating secret")?;
    // stringData is write-only: it is merged into data, base64 on the wire.
    let data = created.data.clone().unwrap_or_default();
    ensure_eq!(
        data.get("key").map(|b| b.0.clone()),
        Some(b"value".to_vec()),
        "data.key after create with stringData"
    );
    ensure!(
        created.string_data.is_none(),
        "stringData returned by the server"
    );
    let all = ctx.all_api::<Secret>();
    let selector = format!("testsecret-constant=true,run={label}");
    let list = all
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing secrets")?;
    ensure_eq!(list.items.len(), 1, "secrets found by label");
    api.patch(
        "e2e-patch",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"labels": {"testsecret": "true"}}, "data": {"key": "dmFsdWUx"}}),
        ),
    )
    .await
    .step("patching secret")?;
    let got = api.get("e2e-patch").await.step("reading secret")?;
    ensure_eq!(
        got.data.unwrap_or_default().get("key").map(|b| b.0.clone()),
        Some(b"value1".to_vec()),
        "data.key after patch"
    );
    ensure_eq!(
        got.metadata
            .labels
            .unwrap_or_default()
            .get("testsecret")
            .map(String::as_str),
        Some("true"),
        "label after patch"
    );
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("testsecret-constant=true"),
    )
    .await
    .step("deleting secrets by collection")?;
    let list = all
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing secrets")?;
    ensure_eq!(list.items.len(), 0, "secrets left after deletecollection");
    Ok(())
}

fn lease(name: &str, holder: &str, labels: serde_json::Value) -> TestResult<Lease> {
    from_json(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 30,
            "acquireTime": "2024-01-01T00:00:00.000000Z",
            "renewTime": "2024-01-01T00:00:01.000000Z",
            "leaseTransitions": 0
        }
    }))
}

async fn lease_api(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Lease>();
    let created = api
        .create(
            &PostParams::default(),
            &lease("lease", "holder", json!({}))?,
        )
        .await
        .step("creating lease")?;
    let got = api.get("lease").await.step("reading lease")?;
    ensure_eq!(got.spec, created.spec, "spec read back after create");
    let mut body = got;
    if let Some(spec) = body.spec.as_mut() {
        spec.holder_identity = Some("holder2".into());
        spec.lease_transitions = Some(1);
    }
    let updated = api
        .replace("lease", &PostParams::default(), &body)
        .await
        .step("updating lease")?;
    let got = api.get("lease").await.step("reading lease")?;
    ensure_eq!(got.spec, updated.spec, "spec read back after update");
    ensure_eq!(
        got.spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .as_deref(),
        Some("holder2"),
        "holder after update"
    );
    api.patch(
        "lease",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"holderIdentity": "holder3", "leaseTransitions": 2}})),
    )
    .await
    .step("patching lease")?;
    let got = api.get("lease").await.step("reading lease")?;
    ensure_eq!(
        got.spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .as_deref(),
        Some("holder3"),
        "holder after patch"
    );
    ensure_eq!(
        got.spec.as_ref().and_then(|s| s.lease_transitions),
        Some(2),
        "transitions after patch"
    );
    api.create(
        &PostParams::default(),
        &lease("lease2", "holder", json!({"deletecollection": "true"}))?,
    )
    .await
    .step("creating a labelled lease")?;
    let list = api
        .list(&ListParams::default())
        .await
        .step("listing leases")?;
    ensure_eq!(list.items.len(), 2, "leases in the namespace");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("deletecollection=true"),
    )
    .await
    .step("deleting leases by collection")?;
    let list = api
        .list(&ListParams::default())
        .await
        .step("listing leases")?;
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|l| l.metadata.name.clone())
        .collect();
    ensure_eq!(
        names,
        vec!["lease".to_string()],
        "leases left after deletecollection"
    );
    api.delete("lease", &DeleteParams::default())
        .await
        .step("deleting lease")?;
    expect_status(api.get("lease").await, 404, "GET of the deleted lease")?;
    Ok(())
}

fn pod_template(name: &str, labels: serde_json::Value) -> TestResult<PodTemplate> {
    from_json(json!({
        "metadata": {"name": name, "labels": labels},
        "template": {"spec": {"containers": [{"name": "token-test", "image": "registry.k8s.io/pause:3.10"}]}}
    }))
}

async fn podtemplate_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.api::<PodTemplate>();
    let label = ctx.name("pt");
    api.create(
        &PostParams::default(),
        &pod_template(
            "nginx-pod-template",
            json!({"podtemplate-static": "true", "run": label}),
        )?,
    )
    .await
    .step("creating pod template")?;
    let all = ctx.all_api::<PodTemplate>();
    let list = all
        .list(&ListParams::default().labels(&format!("podtemplate-static=true,run={label}")))
        .await
        .step("listing pod templates by label")?;
    ensure_eq!(list.items.len(), 1, "pod templates found by label");
    api.patch(
        "nginx-pod-template",
        &PatchParams::default(),
        &Patch::Strategic(json!({"metadata": {"labels": {"podtemplate": "patched"}}})),
    )
    .await
    .step("patching pod template")?;
    let got = api
        .get("nginx-pod-template")
        .await
        .step("reading pod template")?;
    ensure_eq!(
        got.metadata
            .labels
            .unwrap_or_default()
            .get("podtemplate")
            .map(String::as_str),
        Some("patched"),
        "label after patch"
    );
    api.delete("nginx-pod-template", &DeleteParams::default())
        .await
        .step("deleting pod template")?;
    let list = api
        .list(&ListParams::default().labels("podtemplate-static=true"))
        .await
        .step("listing after delete")?;
    ensure_eq!(list.items.len(), 0, "pod templates left after delete");
    Ok(())
}

async fn podtemplate_delete_collection(ctx: Ctx) -> TestResult {
    let api = ctx.api::<PodTemplate>();
    for name in ["podtemplate-1", "podtemplate-2", "podtemplate-3"] {
        api.create(
            &PostParams::default(),
            &pod_template(name, json!({"podtemplate-set": "true"}))?,
        )
        .await
        .step(format!("creating {name}"))?;
    }
    let list = api
        .list(&ListParams::default().labels("podtemplate-set=true"))
        .await
        .step("listing pod templates")?;
    ensure_eq!(list.items.len(), 3, "pod templates found by label");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("podtemplate-set=true"),
    )
    .await
    .step("deleting by collection")?;
    let list = api
        .list(&ListParams::default().labels("podtemplate-set=true"))
        .await
        .step("listing after deletecollection")?;
    ensure_eq!(
        list.items.len(),
        0,
        "pod templates left after deletecollection"
    );
    Ok(())
}

async fn podtemplate_replace(ctx: Ctx) -> TestResult {
    let api = ctx.api::<PodTemplate>();
    let created = api
        .create(
            &PostParams::default(),
            &pod_template("podtemplate-replace", json!({}))?,
        )
        .await
        .step("creating pod template")?;
    let mut body = created;
    body.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("updated".into(), "true".into());
    let replaced = api
        .replace("podtemplate-replace", &PostParams::default(), &body)
        .await
        .step("replacing pod template")?;
    ensure_eq!(
        replaced
            .metadata
            .annotations
            .unwrap_or_default()
            .get("updated")
            .map(String::as_str),
        Some("true"),
        "annotation after replace"
    );
    Ok(())
}

async fn runtimeclass_api(ctx: Ctx) -> TestResult {
    let groups = ctx
        .client
        .list_api_group_resources("node.k8s.io/v1")
        .await
        .step("GET /apis/node.k8s.io/v1")?;
    ensure!(
        groups.resources.iter().any(|r| r.name == "runtimeclasses"),
        "runtimeclasses not in discovery"
    );
    let api = ctx.cluster_api::<RuntimeClass>();
    let label = ctx.name("rc");
    let mut names = Vec::new();
    for i in 1..=3 {
        let name = ctx.name(&format!("e2e-rc{i}"));
        ctx.delete_after::<RuntimeClass>(&name);
        let rc: RuntimeClass = from_json(json!({
            "metadata": {"name": name, "labels": {"test": label}},
            "handler": "e2e-handler"
        }))?;
        api.create(&PostParams::default(), &rc)
            .await
            .step(format!("creating {name}"))?;
        names.push(name);
    }
    let got = api.get(&names[0]).await.step("reading runtimeclass")?;
    ensure_eq!(got.handler.as_str(), "e2e-handler", "handler");
    let list = api
        .list(&ListParams::default().labels(&format!("test={label}")))
        .await
        .step("listing runtimeclasses")?;
    ensure_eq!(list.items.len(), 3, "runtimeclasses found by label");
    let patched = api
        .patch(
            &names[0],
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"patched": "true"}}})),
        )
        .await
        .step("patching runtimeclass")?;
    ensure_eq!(
        patched
            .metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .get("patched")
            .map(String::as_str),
        Some("true"),
        "annotation after patch"
    );
    let mut body = patched;
    body.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("updated".into(), "true".into());
    let updated = api
        .replace(&names[0], &PostParams::default(), &body)
        .await
        .step("updating runtimeclass")?;
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
    // The handler is immutable.
    let mut body = api.get(&names[0]).await.step("reading runtimeclass")?;
    body.handler = "other-handler".into();
    expect_status(
        api.replace(&names[0], &PostParams::default(), &body).await,
        422,
        "changing the handler",
    )?;
    api.delete(&names[1], &DeleteParams::default())
        .await
        .step("deleting runtimeclass")?;
    expect_status(
        api.get(&names[1]).await,
        404,
        "GET of the deleted runtimeclass",
    )?;
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&format!("test={label}")),
    )
    .await
    .step("deleting runtimeclasses by collection")?;
    let list = api
        .list(&ListParams::default().labels(&format!("test={label}")))
        .await
        .step("listing after deletecollection")?;
    ensure_eq!(list.items.len(), 0, "runtimeclasses left");
    Ok(())
}

async fn node_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.cluster_api::<Node>();
    let name = ctx.name("e2e-fake-node");
    ctx.delete_after::<Node>(&name);
    // A Node object with a NoSchedule taint: nothing will be placed on it.
    let node: Node = from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-fake-node": ctx.unique}},
        "spec": {"taints": [{"key": "e2e.example.com/fake", "effect": "NoSchedule"}]}
    }))?;
    api.create(&PostParams::default(), &node)
        .await
        .step("creating node")?;
    let got = api.get(&name).await.step("reading node")?;
    ensure_eq!(
        got.metadata.name.as_deref(),
        Some(name.as_str()),
        "node name"
    );
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"patched": "true"}}})),
    )
    .await
    .step("patching node")?;
    let list = api
        .list(&ListParams::default().labels(&format!("e2e-fake-node={},patched=true", ctx.unique)))
        .await
        .step("listing nodes by label")?;
    ensure_eq!(list.items.len(), 1, "nodes found by label");
    let mut body = api.get(&name).await.step("reading node")?;
    body.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("updated".into(), "true".into());
    let updated = api
        .replace(&name, &PostParams::default(), &body)
        .await
        .step("updating node")?;
    ensure_eq!(
        updated
            .metadata
            .labels
            .unwrap_or_default()
            .get("updated")
            .map(String::as_str),
        Some("true"),
        "label after update"
    );
    api.delete(&name, &DeleteParams::default())
        .await
        .step("deleting node")?;
    wait_for("the node to be gone", Duration::from_secs(30), || {
        let api = api.clone();
        let name = name.clone();
        async move {
            match api.get_opt(&name).await.step("reading node")? {
                None => Ok(Ok(())),
                Some(_) => Ok(Err("still present".to_string())),
            }
        }
    })
    .await
}

async fn pod_host_ip(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Pod>();
    let pod: Pod = from_json(json!({
        "metadata": {"name": "pod-hostip"},
        "spec": {"containers": [crate::images::sleeper("test")]}
    }))?;
    api.create(&PostParams::default(), &pod)
        .await
        .step("creating pod")?;
    let ip = wait_for(
        "the pod to run with a host IP",
        Duration::from_secs(150),
        || {
            let api = api.clone();
            async move {
                let pod = api.get("pod-hostip").await.step("reading pod")?;
                let status = pod.status.unwrap_or_default();
                match (status.phase.as_deref(), status.host_ip) {
                    (Some("Running"), Some(ip)) if !ip.is_empty() => Ok(Ok(ip)),
                    (phase, ip) => Ok(Err(format!("phase {phase:?}, hostIP {ip:?}"))),
                }
            }
        },
    )
    .await?;
    ensure!(
        ip.parse::<std::net::IpAddr>().is_ok(),
        "hostIP {ip:?} is not an IP address"
    );
    Ok(())
}
