//! sig-api-machinery: namespaces, discovery, field validation, watch,
//! chunking, server version, Table negotiation (ResourceQuota: `resource_quota`).

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, PodTemplate, Service, ServiceAccount};
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::{Value, json};

use crate::framework::{
    Ctx, Step, TestCase, TestError, TestResult, describe_event, expect_status, from_json, labels,
    next_event, truncate, wait_for,
};
use crate::{ensure, ensure_eq};

const SIG: &str = "[sig-api-machinery]";

pub fn tests() -> Vec<TestCase> {
    let _ = SIG;
    vec![
        TestCase::upstream(
            "[sig-api-machinery] Namespaces [Serial] should apply a finalizer to a Namespace [Conformance]",
            |c| Box::pin(namespace_finalizer(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Namespaces [Serial] should apply an update to a Namespace [Conformance]",
            |c| Box::pin(namespace_update(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Namespaces [Serial] should apply changes to a namespace status [Conformance]",
            |c| Box::pin(namespace_status(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Namespaces [Serial] should patch a Namespace [Conformance]",
            |c| Box::pin(namespace_patch(c)),
        ),
        TestCase {
            timeout: Duration::from_secs(150),
            ..TestCase::upstream(
                "[sig-api-machinery] Namespaces [Serial] should ensure that all services are removed when a namespace is deleted [Conformance]",
                |c| Box::pin(namespace_removes_services(c)),
            )
        },
        TestCase::upstream(
            "[sig-api-machinery] Namespaces [Serial] should ensure that all pods are removed when a namespace is deleted [Conformance]",
            |c| Box::pin(namespace_removes_pods(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-api-machinery] Discovery should validate PreferredVersion for each APIGroup [Conformance]",
            |c| Box::pin(discovery_preferred_version(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Discovery should locate the groupVersion and a resource within each APIGroup [Conformance]",
            |c| Box::pin(discovery_group_versions(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] AggregatedDiscovery should support raw aggregated discovery endpoint Accept headers [Conformance]",
            |c| Box::pin(aggregated_discovery_raw(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] AggregatedDiscovery should support aggregated discovery interface [Conformance]",
            |c| Box::pin(aggregated_discovery_builtins(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] FieldValidation should detect unknown and duplicate fields of a typed object [Conformance]",
            |c| Box::pin(field_validation_typed(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] FieldValidation should detect unknown metadata fields of a typed object [Conformance]",
            |c| Box::pin(field_validation_metadata(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Watchers should be able to start watching from a specific resource version [Conformance]",
            |c| Box::pin(watch_from_rv(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Watchers should be able to restart watching from the last resource version observed by the previous watch [Conformance]",
            |c| Box::pin(watch_restart(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Watchers should observe add, update, and delete watch notifications on configmaps [Conformance]",
            |c| Box::pin(watch_multiple_watchers(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Watchers should observe an object deletion if it stops meeting the requirements of the selector [Conformance]",
            |c| Box::pin(watch_label_changed(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Watchers should receive events on concurrent watches in same order [Conformance]",
            |c| Box::pin(watch_consistency(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] server version should find the server version [Conformance]",
            |c| Box::pin(server_version(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Servers with support for API chunking should return chunks of results for list calls [Conformance]",
            |c| Box::pin(chunking(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] Servers with support for Table transformation should return a 406 for a backend which does not implement metadata [Conformance]",
            |c| Box::pin(table_406(c)),
        ),
    ]
}

// ---------------------------------------------------------------- namespaces

async fn create_namespace(
    ctx: &Ctx,
    prefix: &str,
    extra_labels: &[(&str, &str)],
) -> TestResult<Namespace> {
    let name = ctx.name(prefix);
    let ns: Namespace = from_json(json!({
        "metadata": { "name": name, "labels": labels(extra_labels) }
    }))?;
    ctx.delete_after::<Namespace>(&name);
    ctx.cluster_api::<Namespace>()
        .create(&PostParams::default(), &ns)
        .await
        .step(format!("creating namespace {name}"))
}

async fn namespace_finalizer(ctx: Ctx) -> TestResult {
    const FAKE: &str = "e2e.example.com/fake-finalizer";
    let ns = create_namespace(&ctx, "fin", &[]).await?;
    let name = ns.metadata.name.clone().unwrap_or_default();
    let api = ctx.cluster_api::<Namespace>();
    let mut body = ns.clone();
    let spec = body.spec.get_or_insert_with(Default::default);
    spec.finalizers
        .get_or_insert_with(Vec::new)
        .push(FAKE.to_string());
    let updated: Namespace = api
        .replace_subresource("finalize", &name, &PostParams::default(), &body)
        .await
        .step("PUT namespaces/{name}/finalize adding a finalizer")?;
    let finalizers = updated.spec.and_then(|s| s.finalizers).unwrap_or_default();
    ensure!(
        finalizers.iter().any(|f| f == FAKE),
        "finalize response lacks {FAKE}: {finalizers:?}"
    );
    let got = api.get(&name).await.step("reading the namespace")?;
    let mut finalizers = got
        .spec
        .clone()
        .and_then(|s| s.finalizers)
        .unwrap_or_default();
    ensure!(
        finalizers.iter().any(|f| f == FAKE),
        "namespace lacks {FAKE} after finalize: {finalizers:?}"
    );
    finalizers.retain(|f| f != FAKE);
    let mut body = got;
    body.spec.get_or_insert_with(Default::default).finalizers = Some(finalizers);
    let updated: Namespace = api
        .replace_subresource("finalize", &name, &PostParams::default(), &body)
        .await
        .step("PUT namespaces/{name}/finalize removing the finalizer")?;
    let finalizers = updated.spec.and_then(|s| s.finalizers).unwrap_or_default();
    ensure!(
        !finalizers.iter().any(|f| f == FAKE),
        "finalizer still present: {finalizers:?}"
    );
    Ok(())
}

async fn namespace_update(ctx: Ctx) -> TestResult {
    let ns = create_namespace(&ctx, "upd", &[]).await?;
    let name = ns.metadata.name.clone().unwrap_or_default();
    let api = ctx.cluster_api::<Namespace>();
    let mut body = ns;
    body.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("e2e-updated".into(), "yes".into());
    let updated = api
        .replace(&name, &PostParams::default(), &body)
        .await
        .step("updating the namespace")?;
    let value = updated
        .metadata
        .labels
        .unwrap_or_default()
        .get("e2e-updated")
        .cloned();
    ensure_eq!(value.as_deref(), Some("yes"), "label after update");
    Ok(())
}

async fn namespace_status(ctx: Ctx) -> TestResult {
    let ns = create_namespace(&ctx, "status", &[]).await?;
    let name = ns.metadata.name.clone().unwrap_or_default();
    let api = ctx.cluster_api::<Namespace>();
    let status = api
        .get_status(&name)
        .await
        .step("GET namespaces/{name}/status")?;
    let phase = status.status.as_ref().and_then(|s| s.phase.clone());
    ensure_eq!(phase.as_deref(), Some("Active"), "phase of a new namespace");
    let patch = json!({"status": {"conditions": [{
        "type": "StatusPatch", "status": "True", "reason": "E2E", "message": "patched"
    }]}});
    let patched = api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .step("PATCH namespaces/{name}/status")?;
    let conds = patched
        .status
        .clone()
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    ensure!(
        conds
            .iter()
            .any(|c| c.type_ == "StatusPatch" && c.message.as_deref() == Some("patched")),
        "patched condition missing: {conds:?}"
    );
    let mut body = patched;
    if let Some(status) = body.status.as_mut() {
        status
            .conditions
            .get_or_insert_with(Vec::new)
            .push(from_json(json!({
                "type": "StatusUpdate", "status": "True", "reason": "E2E", "message": "updated"
            }))?);
    }
    let updated = api
        .replace_status(&name, &PostParams::default(), &body)
        .await
        .step("PUT namespaces/{name}/status")?;
    let conds = updated
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    ensure!(
        conds
            .iter()
            .any(|c| c.type_ == "StatusUpdate" && c.message.as_deref() == Some("updated")),
        "updated condition missing: {conds:?}"
    );
    Ok(())
}

async fn namespace_patch(ctx: Ctx) -> TestResult {
    let ns = create_namespace(&ctx, "patch", &[]).await?;
    let name = ns.metadata.name.clone().unwrap_or_default();
    let api = ctx.cluster_api::<Namespace>();
    let patch = json!({"metadata": {"labels": {"testLabel": "testValue"}}});
    api.patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .step("patching the namespace")?;
    let got = api.get(&name).await.step("reading the namespace")?;
    let value = got
        .metadata
        .labels
        .unwrap_or_default()
        .get("testLabel")
        .cloned();
    ensure_eq!(value.as_deref(), Some("testValue"), "label after patch");
    Ok(())
}

async fn namespace_removes_services(ctx: Ctx) -> TestResult {
    let ns = create_namespace(&ctx, "nsdel", &[]).await?;
    let name = ns.metadata.name.clone().unwrap_or_default();
    let svc_api: kube::Api<Service> = kube::Api::namespaced(ctx.client.clone(), &name);
    let svc: Service = from_json(json!({
        "metadata": {"name": "test-service"},
        "spec": {"selector": {"app": "none"}, "ports": [{"port": 80, "targetPort": 80}]}
    }))?;
    svc_api
        .create(&PostParams::default(), &svc)
        .await
        .step("creating a service in the namespace")?;
    delete_and_recreate(&ctx, &name, Duration::from_secs(100)).await?;
    let list = svc_api
        .list(&ListParams::default())
        .await
        .step("listing services")?;
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    ensure!(
        names.is_empty(),
        "services survived namespace deletion: {names:?}"
    );
    Ok(())
}

async fn namespace_removes_pods(ctx: Ctx) -> TestResult {
    let ns = create_namespace(&ctx, "nsdeletetest", &[]).await?;
    let name = ns.metadata.name.clone().unwrap_or_default();
    let sa_api: kube::Api<ServiceAccount> = kube::Api::namespaced(ctx.client.clone(), &name);
    wait_for("the default service account", WAIT, || {
        let sa_api = sa_api.clone();
        async move {
            Ok(
                match sa_api
                    .get_opt("default")
                    .await
                    .step("reading the default service account")?
                {
                    Some(_) => Ok(()),
                    None => Err("no default service account yet".to_string()),
                },
            )
        }
    })
    .await?;
    let pods: kube::Api<Pod> = kube::Api::namespaced(ctx.client.clone(), &name);
    // Upstream's pod keeps the default 30 s grace period.
    let pod: Pod = from_json(json!({
        "metadata": {"name": "test-pod"},
        "spec": {"containers": [crate::images::sleeper("nginx")]}
    }))?;
    pods.create(&PostParams::default(), &pod)
        .await
        .step("creating a pod in the namespace")?;
    wait_for("the pod to run", Duration::from_secs(60), || {
        let pods = pods.clone();
        async move {
            let pod = pods.get("test-pod").await.step("reading the pod")?;
            let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
            Ok(if phase == "Running" {
                Ok(())
            } else {
                Err(format!("phase {phase:?}"))
            })
        }
    })
    .await?;
    // Upstream waits 60 s plus the pod's grace period.
    delete_and_recreate(&ctx, &name, Duration::from_secs(90)).await?;
    expect_status(
        pods.get("test-pod").await,
        404,
        "reading the pod in the recreated namespace",
    )?;
    Ok(())
}

/// Deletes the namespace `name`, waits (reporting phase Terminating
/// meanwhile) until it is gone, and creates it again.
async fn delete_and_recreate(ctx: &Ctx, name: &str, limit: Duration) -> TestResult {
    let ns_api = ctx.cluster_api::<Namespace>();
    ns_api
        .delete(name, &DeleteParams::default())
        .await
        .step("deleting the namespace")?;
    wait_for("the namespace to be removed", limit, || {
        let ns_api = ns_api.clone();
        let name = name.to_string();
        async move {
            match ns_api
                .get_opt(&name)
                .await
                .step("reading the deleted namespace")?
            {
                None => Ok(Ok(())),
                Some(ns) => {
                    let phase = ns.status.and_then(|s| s.phase).unwrap_or_default();
                    if phase != "Terminating" {
                        return Err(TestError::Assertion(format!(
                            "a namespace being deleted has phase {phase:?}, want Terminating"
                        )));
                    }
                    Ok(Err(format!("phase {phase}")))
                }
            }
        }
    })
    .await?;
    let ns: Namespace = from_json(json!({"metadata": {"name": name}}))?;
    ns_api
        .create(&PostParams::default(), &ns)
        .await
        .step("recreating the namespace")?;
    Ok(())
}

// ---------------------------------------------------------------- discovery

async fn discovery_preferred_version(ctx: Ctx) -> TestResult {
    let groups = ctx.client.list_api_groups().await.step("GET /apis")?;
    ensure!(!groups.groups.is_empty(), "/apis lists no groups");
    for group in &groups.groups {
        if group.name.ends_with("example.com") {
            continue;
        }
        let preferred = group
            .preferred_version
            .as_ref()
            .map(|p| p.group_version.clone())
            .ok_or_else(|| {
                TestError::Assertion(format!("group {} has no preferredVersion", group.name))
            })?;
        ensure!(
            group.versions.iter().any(|v| v.group_version == preferred),
            "group {}: preferred version {preferred} is not among its versions",
            group.name
        );
        let resp = ctx
            .get_raw(&format!("/apis/{}", group.name), "application/json")
            .await?;
        ensure_eq!(resp.status.as_u16(), 200, "GET /apis/{}", group.name);
        let doc: Value = resp.json(&format!("/apis/{}", group.name))?;
        ensure_eq!(
            doc["kind"].as_str(),
            Some("APIGroup"),
            "kind of /apis/{}",
            group.name
        );
        ensure_eq!(
            doc["preferredVersion"]["groupVersion"].as_str(),
            Some(preferred.as_str()),
            "preferred version of /apis/{}",
            group.name
        );
    }
    Ok(())
}

async fn discovery_group_versions(ctx: Ctx) -> TestResult {
    let core = ctx.client.list_core_api_versions().await.step("GET /api")?;
    ensure!(
        core.versions.iter().any(|v| v == "v1"),
        "/api lacks v1: {:?}",
        core.versions
    );
    let core_res = ctx
        .client
        .list_core_api_resources("v1")
        .await
        .step("GET /api/v1")?;
    ensure_eq!(
        core_res.group_version.as_str(),
        "v1",
        "groupVersion of /api/v1"
    );
    ensure!(
        core_res.resources.iter().any(|r| r.name == "configmaps"),
        "/api/v1 lacks configmaps"
    );
    let groups = ctx.client.list_api_groups().await.step("GET /apis")?;
    for group in &groups.groups {
        for version in &group.versions {
            let list = ctx
                .client
                .list_api_group_resources(&version.group_version)
                .await
                .step(format!("GET /apis/{}", version.group_version))?;
            ensure_eq!(
                list.group_version.as_str(),
                version.group_version.as_str(),
                "groupVersion of /apis/{}",
                version.group_version
            );
            ensure!(
                !list.resources.is_empty(),
                "/apis/{} lists no resources",
                version.group_version
            );
        }
    }
    Ok(())
}

const AGGREGATED_ACCEPT: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

fn aggregated_has(doc: &Value, group: &str, version: &str, resource: &str) -> bool {
    doc["items"].as_array().is_some_and(|items| {
        items.iter().any(|g| {
            g["metadata"]["name"].as_str().unwrap_or("") == group
                && g["versions"].as_array().is_some_and(|vs| {
                    vs.iter().any(|v| {
                        v["version"].as_str() == Some(version)
                            && v["resources"].as_array().is_some_and(|rs| {
                                rs.iter().any(|r| r["resource"].as_str() == Some(resource))
                            })
                    })
                })
        })
    })
}

async fn aggregated_discovery_raw(ctx: Ctx) -> TestResult {
    for (path, group, version, resource) in [
        ("/api", "", "v1", "configmaps"),
        ("/apis", "apps", "v1", "deployments"),
    ] {
        let resp = ctx.get_raw(path, AGGREGATED_ACCEPT).await?;
        ensure_eq!(
            resp.status.as_u16(),
            200,
            "GET {path} with the aggregated Accept header"
        );
        let ct = resp.content_type();
        ensure!(
            ct.contains("as=APIGroupDiscoveryList")
                && ct.contains("g=apidiscovery.k8s.io")
                && ct.contains("v=v2"),
            "GET {path}: Content-Type {ct:?} is not the aggregated v2 type"
        );
        let doc: Value = resp.json(path)?;
        ensure_eq!(
            doc["kind"].as_str(),
            Some("APIGroupDiscoveryList"),
            "kind of {path}"
        );
        ensure_eq!(
            doc["apiVersion"].as_str(),
            Some("apidiscovery.k8s.io/v2"),
            "apiVersion of {path}"
        );
        ensure!(
            aggregated_has(&doc, group, version, resource),
            "{path}: aggregated document lacks {group}/{version} {resource}"
        );
        // Plain JSON still gets the unaggregated document.
        let plain = ctx.get_raw(path, "application/json").await?;
        let doc: Value = plain.json(path)?;
        let kind = doc["kind"].as_str().unwrap_or("");
        ensure!(
            kind == "APIVersions" || kind == "APIGroupList",
            "GET {path} as plain JSON returned kind {kind:?}"
        );
    }
    Ok(())
}

async fn aggregated_discovery_builtins(ctx: Ctx) -> TestResult {
    let core = ctx.get_raw("/api", AGGREGATED_ACCEPT).await?;
    let core: Value = core.json("/api aggregated")?;
    let groups = ctx.get_raw("/apis", AGGREGATED_ACCEPT).await?;
    let groups: Value = groups.json("/apis aggregated")?;
    let mut missing = Vec::new();
    for resource in [
        "pods",
        "services",
        "configmaps",
        "secrets",
        "namespaces",
        "nodes",
        "serviceaccounts",
        "events",
    ] {
        if !aggregated_has(&core, "", "v1", resource) {
            missing.push(format!("v1/{resource}"));
        }
    }
    for (group, version, resource) in [
        ("apps", "v1", "deployments"),
        ("apps", "v1", "statefulsets"),
        ("apps", "v1", "daemonsets"),
        ("apps", "v1", "replicasets"),
        ("batch", "v1", "jobs"),
        ("batch", "v1", "cronjobs"),
        ("coordination.k8s.io", "v1", "leases"),
        ("events.k8s.io", "v1", "events"),
        ("rbac.authorization.k8s.io", "v1", "roles"),
        ("rbac.authorization.k8s.io", "v1", "clusterroles"),
        ("networking.k8s.io", "v1", "networkpolicies"),
        ("discovery.k8s.io", "v1", "endpointslices"),
        ("storage.k8s.io", "v1", "storageclasses"),
        ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
        (
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
        ),
        ("policy", "v1", "poddisruptionbudgets"),
        ("scheduling.k8s.io", "v1", "priorityclasses"),
    ] {
        if !aggregated_has(&groups, group, version, resource) {
            missing.push(format!("{group}/{version}/{resource}"));
        }
    }
    ensure!(
        missing.is_empty(),
        "aggregated discovery lacks built-in resources: {missing:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------- field validation

async fn post_with_validation(
    ctx: &Ctx,
    path: &str,
    body: &str,
    validation: &str,
) -> TestResult<crate::framework::RawResponse> {
    ctx.raw(
        http::Method::POST,
        &format!("{path}?fieldValidation={validation}"),
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        Some(body.as_bytes().to_vec()),
    )
    .await
}

fn deployment_json(name: &str, spec_extra: &str, meta_extra: &str) -> String {
    format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{name}"{meta_extra}}},"spec":{{"replicas":0,"paused":true{spec_extra},"selector":{{"matchLabels":{{"app":"{name}"}}}},"template":{{"metadata":{{"labels":{{"app":"{name}"}}}},"spec":{{"containers":[{{"name":"c","image":"registry.k8s.io/pause:3.10"}}]}}}}}}}}"#
    )
}

async fn field_validation_typed(ctx: Ctx) -> TestResult {
    let path = format!("/apis/apps/v1/namespaces/{}/deployments", ctx.ns);
    // Unknown field, Strict: rejected with 400 naming the field.
    let body = deployment_json("strict-unknown", r#","foo":"bar""#, "");
    let resp = post_with_validation(&ctx, &path, &body, "Strict").await?;
    ensure_eq!(
        resp.status.as_u16(),
        400,
        "Strict create with an unknown field"
    );
    ensure!(
        resp.text().contains("unknown field \\\"spec.foo\\\"")
            || resp.text().contains("unknown field \"spec.foo\""),
        "Strict rejection does not name spec.foo: {}",
        truncate(&resp.text(), 300)
    );
    // Duplicate field, Strict: rejected with 400 naming the field.
    let body = deployment_json("strict-dup", r#","replicas":0"#, "");
    let resp = post_with_validation(&ctx, &path, &body, "Strict").await?;
    ensure_eq!(
        resp.status.as_u16(),
        400,
        "Strict create with a duplicate field"
    );
    ensure!(
        resp.text().contains("duplicate field"),
        "Strict rejection does not mention the duplicate field: {}",
        truncate(&resp.text(), 300)
    );
    // Warn: created, with Warning headers for both problems.
    let body = deployment_json("warn", r#","foo":"bar","replicas":0"#, "");
    let resp = post_with_validation(&ctx, &path, &body, "Warn").await?;
    ensure_eq!(
        resp.status.as_u16(),
        201,
        "Warn create with unknown and duplicate fields"
    );
    let warnings = resp.warnings().join(" | ");
    ensure!(
        warnings.contains("spec.foo"),
        "no Warning header for spec.foo: {warnings:?}"
    );
    ensure!(
        warnings.contains("duplicate field"),
        "no Warning header for the duplicate: {warnings:?}"
    );
    // Ignore: created, no warnings about fields.
    let body = deployment_json("ignore", r#","foo":"bar""#, "");
    let resp = post_with_validation(&ctx, &path, &body, "Ignore").await?;
    ensure_eq!(
        resp.status.as_u16(),
        201,
        "Ignore create with an unknown field"
    );
    let warnings = resp.warnings().join(" | ");
    ensure!(
        !warnings.contains("spec.foo"),
        "Ignore still warned: {warnings:?}"
    );
    Ok(())
}

async fn field_validation_metadata(ctx: Ctx) -> TestResult {
    let path = format!("/apis/apps/v1/namespaces/{}/deployments", ctx.ns);
    let body = deployment_json("meta-strict", "", r#","unknownMeta":"x""#);
    let resp = post_with_validation(&ctx, &path, &body, "Strict").await?;
    ensure_eq!(
        resp.status.as_u16(),
        400,
        "Strict create with an unknown metadata field"
    );
    ensure!(
        resp.text().contains("metadata.unknownMeta"),
        "rejection does not name metadata.unknownMeta: {}",
        truncate(&resp.text(), 300)
    );
    let body = deployment_json("meta-warn", "", r#","unknownMeta":"x""#);
    let resp = post_with_validation(&ctx, &path, &body, "Warn").await?;
    ensure_eq!(
        resp.status.as_u16(),
        201,
        "Warn create with an unknown metadata field"
    );
    let warnings = resp.warnings().join(" | ");
    ensure!(
        warnings.contains("metadata.unknownMeta"),
        "no Warning for metadata.unknownMeta: {warnings:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------- watch

fn configmap(name: &str, label: (&str, &str), data: &[(&str, &str)]) -> TestResult<ConfigMap> {
    from_json(json!({
        "metadata": {"name": name, "labels": {label.0: label.1}},
        "data": labels(data),
    }))
}

async fn set_data(ctx: &Ctx, name: &str, key: &str, value: &str) -> TestResult<ConfigMap> {
    ctx.api::<ConfigMap>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {key: value}})),
        )
        .await
        .step(format!("patching configmap {name}"))
}

const WAIT: Duration = Duration::from_secs(20);

async fn expect_event<S>(
    stream: &mut S,
    kind: &str,
    name: &str,
    what: &str,
) -> TestResult<ConfigMap>
where
    S: futures::Stream<Item = Result<WatchEvent<ConfigMap>, kube::Error>> + Unpin,
{
    let event = next_event(stream, WAIT, what).await?;
    let (got_kind, got_name, _) = describe_event(&event);
    ensure!(
        got_kind == kind && got_name == name,
        "{what}: got {got_kind} {got_name}, want {kind} {name}"
    );
    match event {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => Ok(o),
        _ => Err(TestError::Assertion(format!(
            "{what}: no object in the event"
        ))),
    }
}

async fn expect_quiet<S>(stream: &mut S, what: &str) -> TestResult
where
    S: futures::Stream<Item = Result<WatchEvent<ConfigMap>, kube::Error>> + Unpin,
{
    match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        Err(_) => Ok(()),
        Ok(Some(Ok(WatchEvent::Bookmark(_)))) => Ok(()),
        Ok(Some(Ok(event))) => {
            let (k, n, _) = describe_event(&event);
            Err(TestError::Assertion(format!(
                "{what}: unexpected event {k} {n}"
            )))
        }
        Ok(Some(Err(e))) => Err(TestError::Api {
            step: what.to_string(),
            source: e,
        }),
        Ok(None) => Ok(()),
    }
}

fn data_of(cm: &ConfigMap, key: &str) -> Option<String> {
    cm.data.as_ref().and_then(|d| d.get(key).cloned())
}

async fn watch_from_rv(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ConfigMap>();
    let name = "e2e-watch-from-rv";
    api.create(
        &PostParams::default(),
        &configmap(name, ("watch-this-configmap", "from-rv"), &[])?,
    )
    .await
    .step("creating configmap")?;
    let first = set_data(&ctx, name, "mutation", "1").await?;
    let rv = first.metadata.resource_version.clone().unwrap_or_default();
    set_data(&ctx, name, "mutation", "2").await?;
    api.delete(name, &DeleteParams::default())
        .await
        .step("deleting configmap")?;
    let wp = WatchParams::default().labels("watch-this-configmap=from-rv");
    let mut stream = api
        .watch(&wp, &rv)
        .await
        .step(format!("watch from resourceVersion {rv}"))?
        .boxed();
    let modified = expect_event(&mut stream, "MODIFIED", name, "the second modification").await?;
    ensure_eq!(
        data_of(&modified, "mutation").as_deref(),
        Some("2"),
        "data of the first event after the RV"
    );
    let deleted = expect_event(&mut stream, "DELETED", name, "the deletion").await?;
    ensure_eq!(
        data_of(&deleted, "mutation").as_deref(),
        Some("2"),
        "data of the DELETED event"
    );
    Ok(())
}

async fn watch_restart(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ConfigMap>();
    let name = "e2e-watch-restart";
    let list = api
        .list(&ListParams::default())
        .await
        .step("listing configmaps")?;
    let start = list.metadata.resource_version.clone().unwrap_or_default();
    let wp = WatchParams::default().labels("watch-this-configmap=restart");
    let mut stream = api.watch(&wp, &start).await.step("first watch")?.boxed();
    api.create(
        &PostParams::default(),
        &configmap(name, ("watch-this-configmap", "restart"), &[])?,
    )
    .await
    .step("creating configmap")?;
    set_data(&ctx, name, "mutation", "1").await?;
    set_data(&ctx, name, "mutation", "2").await?;
    expect_event(&mut stream, "ADDED", name, "creation").await?;
    expect_event(&mut stream, "MODIFIED", name, "first modification").await?;
    let last = expect_event(&mut stream, "MODIFIED", name, "second modification").await?;
    let last_rv = last.metadata.resource_version.clone().unwrap_or_default();
    drop(stream);
    set_data(&ctx, name, "mutation", "3").await?;
    api.delete(name, &DeleteParams::default())
        .await
        .step("deleting configmap")?;
    let mut stream = api
        .watch(&wp, &last_rv)
        .await
        .step(format!("restarted watch from {last_rv}"))?
        .boxed();
    let modified = expect_event(
        &mut stream,
        "MODIFIED",
        name,
        "the modification made while not watching",
    )
    .await?;
    ensure_eq!(
        data_of(&modified, "mutation").as_deref(),
        Some("3"),
        "data after restart"
    );
    expect_event(
        &mut stream,
        "DELETED",
        name,
        "the deletion made while not watching",
    )
    .await?;
    Ok(())
}

async fn watch_multiple_watchers(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ConfigMap>();
    let list = api
        .list(&ListParams::default())
        .await
        .step("listing configmaps")?;
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let key = "watch-this-configmap";
    let mut watch_a = api
        .watch(
            &WatchParams::default().labels(&format!("{key}=multiple-watchers-A")),
            &rv,
        )
        .await
        .step("watch A")?
        .boxed();
    let mut watch_b = api
        .watch(
            &WatchParams::default().labels(&format!("{key}=multiple-watchers-B")),
            &rv,
        )
        .await
        .step("watch B")?
        .boxed();
    let mut watch_ab = api
        .watch(
            &WatchParams::default().labels(&format!(
                "{key} in (multiple-watchers-A,multiple-watchers-B)"
            )),
            &rv,
        )
        .await
        .step("watch A or B")?
        .boxed();
    let (a, b) = ("e2e-watch-a", "e2e-watch-b");
    api.create(
        &PostParams::default(),
        &configmap(a, (key, "multiple-watchers-A"), &[])?,
    )
    .await
    .step("creating configmap A")?;
    expect_event(&mut watch_a, "ADDED", a, "A: creation of A").await?;
    expect_event(&mut watch_ab, "ADDED", a, "A|B: creation of A").await?;
    set_data(&ctx, a, "mutation", "1").await?;
    expect_event(&mut watch_a, "MODIFIED", a, "A: modification of A").await?;
    expect_event(&mut watch_ab, "MODIFIED", a, "A|B: modification of A").await?;
    set_data(&ctx, a, "mutation", "2").await?;
    expect_event(&mut watch_a, "MODIFIED", a, "A: second modification of A").await?;
    expect_event(
        &mut watch_ab,
        "MODIFIED",
        a,
        "A|B: second modification of A",
    )
    .await?;
    api.delete(a, &DeleteParams::default())
        .await
        .step("deleting A")?;
    expect_event(&mut watch_a, "DELETED", a, "A: deletion of A").await?;
    expect_event(&mut watch_ab, "DELETED", a, "A|B: deletion of A").await?;
    api.create(
        &PostParams::default(),
        &configmap(b, (key, "multiple-watchers-B"), &[])?,
    )
    .await
    .step("creating configmap B")?;
    expect_event(&mut watch_b, "ADDED", b, "B: creation of B").await?;
    expect_event(&mut watch_ab, "ADDED", b, "A|B: creation of B").await?;
    api.delete(b, &DeleteParams::default())
        .await
        .step("deleting B")?;
    expect_event(&mut watch_b, "DELETED", b, "B: deletion of B").await?;
    expect_event(&mut watch_ab, "DELETED", b, "A|B: deletion of B").await?;
    expect_quiet(&mut watch_a, "watcher A must not see B").await?;
    Ok(())
}

async fn watch_label_changed(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ConfigMap>();
    let key = "watch-this-configmap";
    let name = "e2e-watch-label";
    let list = api
        .list(&ListParams::default())
        .await
        .step("listing configmaps")?;
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut stream = api
        .watch(
            &WatchParams::default().labels(&format!("{key}=label-changed")),
            &rv,
        )
        .await
        .step("watch")?
        .boxed();
    api.create(
        &PostParams::default(),
        &configmap(name, (key, "label-changed"), &[])?,
    )
    .await
    .step("creating configmap")?;
    expect_event(&mut stream, "ADDED", name, "creation").await?;
    set_data(&ctx, name, "mutation", "1").await?;
    expect_event(&mut stream, "MODIFIED", name, "modification").await?;
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {key: "wrong-value"}}})),
    )
    .await
    .step("changing the label away")?;
    expect_event(
        &mut stream,
        "DELETED",
        name,
        "the object leaving the selector",
    )
    .await?;
    set_data(&ctx, name, "mutation", "2").await?;
    expect_quiet(&mut stream, "modification outside the selector").await?;
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {key: "label-changed"}}})),
    )
    .await
    .step("restoring the label")?;
    let back = expect_event(
        &mut stream,
        "ADDED",
        name,
        "the object re-entering the selector",
    )
    .await?;
    ensure_eq!(
        data_of(&back, "mutation").as_deref(),
        Some("2"),
        "data when re-entering"
    );
    set_data(&ctx, name, "mutation", "3").await?;
    expect_event(
        &mut stream,
        "MODIFIED",
        name,
        "modification after re-entering",
    )
    .await?;
    api.delete(name, &DeleteParams::default())
        .await
        .step("deleting configmap")?;
    expect_event(&mut stream, "DELETED", name, "the deletion").await?;
    Ok(())
}

async fn watch_consistency(ctx: Ctx) -> TestResult {
    const WRITES: usize = 30;
    let api = ctx.api::<ConfigMap>();
    let key = "watch-this-configmap";
    let list = api
        .list(&ListParams::default())
        .await
        .step("listing configmaps")?;
    let start = list.metadata.resource_version.clone().unwrap_or_default();
    let wp = WatchParams::default().labels(&format!("{key}=consistency"));
    let mut first = api.watch(&wp, &start).await.step("first watch")?.boxed();
    let writer = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let api = ctx.api::<ConfigMap>();
            for i in 0..WRITES {
                let name = format!("e2e-consistency-{}", i % 5);
                let result = match api.get_opt(&name).await {
                    Ok(None) => api
                        .create(
                            &PostParams::default(),
                            &configmap(&name, (key, "consistency"), &[])?,
                        )
                        .await
                        .map(|_| ()),
                    Ok(Some(_)) if i % 3 == 0 => api
                        .delete(&name, &DeleteParams::default())
                        .await
                        .map(|_| ()),
                    Ok(Some(_)) => set_data(&ctx, &name, "i", &i.to_string())
                        .await
                        .map(|_| ())
                        .map_err(|e| kube::Error::Service(e.to_string().into())),
                    Err(e) => Err(e),
                };
                result.step(format!("write {i}"))?;
            }
            Ok::<(), TestError>(())
        })
    };
    let mut seen: Vec<(String, String, String)> = Vec::new();
    while seen.len() < WRITES {
        let event = next_event(&mut first, WAIT, "events from the writer").await?;
        seen.push(describe_event(&event));
    }
    match writer.await {
        Ok(result) => result?,
        Err(e) => return Err(TestError::Assertion(format!("writer task failed: {e}"))),
    }
    // A watch started at each observed RV sees exactly the events after it.
    for i in (0..WRITES - 1).step_by(7) {
        let rv = &seen[i].2;
        let mut again = api
            .watch(&wp, rv)
            .await
            .step(format!("watch from {rv}"))?
            .boxed();
        for (j, want) in seen.iter().enumerate().skip(i + 1) {
            let event = next_event(&mut again, WAIT, "replayed events").await?;
            let got = describe_event(&event);
            ensure!(
                &got == want,
                "watch from RV {rv}: event #{j} is {got:?}, the first watch saw {want:?}"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- misc

async fn server_version(ctx: Ctx) -> TestResult {
    let info = ctx.client.apiserver_version().await.step("GET /version")?;
    let numeric = |s: &str| {
        let s = s.trim_end_matches('+');
        !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
    };
    ensure!(
        numeric(&info.major),
        "major version {:?} is not an integer",
        info.major
    );
    ensure!(
        numeric(&info.minor),
        "minor version {:?} is not an integer",
        info.minor
    );
    ensure!(!info.git_version.is_empty(), "gitVersion is empty");
    Ok(())
}

async fn chunking(ctx: Ctx) -> TestResult {
    const TOTAL: usize = 60;
    const LIMIT: u32 = 25;
    let api = ctx.api::<PodTemplate>();
    super::chunking::create_pod_templates(&api, TOTAL).await?;
    let mut seen = 0usize;
    let mut token: Option<String> = None;
    let mut first_rv: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(LIMIT);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.step("listing a chunk")?;
        ensure!(
            page.items.len() <= LIMIT as usize,
            "chunk has {} items, limit {LIMIT}",
            page.items.len()
        );
        seen += page.items.len();
        let rv = page.metadata.resource_version.clone().unwrap_or_default();
        match &first_rv {
            None => first_rv = Some(rv),
            Some(first) => ensure_eq!(&rv, first, "resourceVersion of a continued chunk"),
        }
        let remaining = TOTAL.saturating_sub(seen);
        match page.metadata.continue_.clone().filter(|c| !c.is_empty()) {
            Some(next) => {
                ensure!(remaining > 0, "continue token returned after the last item");
                ensure_eq!(
                    page.metadata.remaining_item_count,
                    Some(remaining as i64),
                    "remainingItemCount after {seen} items"
                );
                token = Some(next);
            }
            None => {
                ensure_eq!(remaining, 0, "items still missing when the list ended");
                break;
            }
        }
    }
    let all = api
        .list(&ListParams::default())
        .await
        .step("listing all at once")?;
    ensure_eq!(all.items.len(), TOTAL, "items in an unlimited list");
    ensure!(
        all.metadata.continue_.as_deref().unwrap_or("").is_empty(),
        "unlimited list has a continue token"
    );
    Ok(())
}

async fn table_406(ctx: Ctx) -> TestResult {
    let body = serde_json::to_vec(&json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"nonResourceAttributes": {"path": "/", "verb": "get"}}
    }))
    .step("encoding review")?;
    let resp = ctx
        .raw(
            http::Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"),
            ],
            Some(body),
        )
        .await?;
    ensure_eq!(
        resp.status.as_u16(),
        406,
        "Table requested from a resource without Table support (body {})",
        truncate(&resp.text(), 200)
    );
    Ok(())
}
