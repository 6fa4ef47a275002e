//! sig-api-machinery, CustomResourceDefinitions: CRD lifecycle, listing,
//! status, discovery (legacy and aggregated), defaulting, watches of custom
//! resources, OpenAPI publishing and field validation of custom resources.
//! Each test installs its own CRDs under a group unique to the test
//! (`crd-<unique>.example.com`) and deletes them afterwards.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::{Value, json};

use crate::framework::{
    Ctx, Step, TestCase, TestError, TestResult, from_json, next_event, truncate, wait_for,
};
use crate::{ensure, ensure_eq};

const WAIT: Duration = Duration::from_secs(30);

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] Simple CustomResourceDefinition creating/deleting custom resource definition objects works [Conformance]",
            |c| Box::pin(create_delete(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] Simple CustomResourceDefinition listing custom resource definition objects works [Conformance]",
            |c| Box::pin(listing(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] Simple CustomResourceDefinition getting/updating/patching custom resource definition status sub-resource works [Conformance]",
            |c| Box::pin(status_subresource(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] should include custom resource definition resources in discovery documents [Conformance]",
            |c| Box::pin(discovery(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] custom resource defaulting for requests and from storage works [Conformance]",
            |c| Box::pin(defaulting(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourceDefinition Watch [Privileged:ClusterAdmin] CustomResourceDefinition Watch watch on custom resource definition objects [Conformance]",
            |c| Box::pin(watch_custom_resources(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] AggregatedDiscovery should support aggregated discovery interface for CRDs [Conformance]",
            |c| Box::pin(aggregated_discovery(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] AggregatedDiscovery should support raw aggregated discovery request for CRDs [Conformance]",
            |c| Box::pin(aggregated_discovery_raw(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for CRD with validation schema [Conformance]",
            |c| Box::pin(openapi_with_schema(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for CRD without validation schema [Conformance]",
            |c| Box::pin(openapi_preserving_root(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for CRD preserving unknown fields at the schema root [Conformance]",
            |c| Box::pin(openapi_preserving_root(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for CRD preserving unknown fields in an embedded object [Conformance]",
            |c| Box::pin(openapi_preserving_embedded(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for multiple CRDs of different groups [Conformance]",
            |c| Box::pin(openapi_different_groups(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for multiple CRDs of same group but different versions [Conformance]",
            |c| Box::pin(openapi_same_group_different_versions(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for multiple CRDs of same group and version but different kinds [Conformance]",
            |c| Box::pin(openapi_same_group_version(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] removes definition from spec when one version gets changed to not be served [Conformance]",
            |c| Box::pin(openapi_version_unserved(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] updates the published spec when one version gets renamed [Conformance]",
            |c| Box::pin(openapi_version_renamed(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] FieldValidation should create/apply a valid CR for CRD with validation schema [Conformance]",
            |c| Box::pin(field_validation_valid(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] FieldValidation should create/apply an invalid CR with extra properties for CRD with validation schema [Conformance]",
            |c| Box::pin(field_validation_extra(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] FieldValidation should create/apply a CR with unknown fields for CRD with no validation schema [Conformance]",
            |c| Box::pin(field_validation_no_schema(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] FieldValidation should detect duplicates in a CR when preserving unknown fields [Conformance]",
            |c| Box::pin(field_validation_duplicates(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] FieldValidation should detect unknown metadata fields in both the root and embedded object of a CR [Conformance]",
            |c| Box::pin(field_validation_unknown_metadata(c)),
        ),
    ]
}

// ------------------------------------------------------------------ helpers

/// One CRD of a test: its group, names and served versions.
struct TestCrd {
    group: String,
    plural: String,
    kind: String,
}

impl TestCrd {
    fn new(ctx: &Ctx, suffix: &str) -> Self {
        let u = ctx.unique.to_lowercase();
        TestCrd {
            group: format!("crd-{u}.example.com"),
            plural: format!("e2e{u}{suffix}s"),
            kind: format!("E2e{u}{suffix}"),
        }
    }

    fn in_group(mut self, group: String) -> Self {
        self.group = group;
        self
    }

    fn name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }

    /// The CRD with `versions` (name, served, storage), each with `schema`.
    fn definition(&self, versions: &[(&str, bool, bool)], schema: &Value) -> Value {
        let versions: Vec<Value> = versions
            .iter()
            .map(|(name, served, storage)| {
                json!({"name": name, "served": served, "storage": storage,
                    "schema": {"openAPIV3Schema": schema}})
            })
            .collect();
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": self.name()},
            "spec": {
                "group": self.group,
                "scope": "Namespaced",
                "names": {"plural": self.plural, "singular": self.kind.to_lowercase(),
                          "kind": self.kind, "listKind": format!("{}List", self.kind)},
                "versions": versions,
            }
        })
    }

    fn api(&self, ctx: &Ctx, version: &str) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(&self.group, version, &self.kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, &self.plural);
        Api::namespaced_with(ctx.client.clone(), &ctx.ns, &ar)
    }

    fn object(&self, version: &str, name: &str, body: Value) -> Value {
        let mut obj = json!({"apiVersion": format!("{}/{version}", self.group),
            "kind": self.kind, "metadata": {"name": name}});
        if let (Some(o), Some(b)) = (obj.as_object_mut(), body.as_object()) {
            o.extend(b.clone());
        }
        obj
    }
}

fn simple_schema() -> Value {
    json!({"type": "object", "description": "an e2e test kind", "properties": {
        "spec": {"type": "object", "description": "Specification of the test object",
            "properties": {
                "bars": {"type": "array", "description": "List of Bars",
                    "items": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string", "description": "Name of Bar."},
                        "age": {"type": "string", "description": "Age of Bar."}}}}}},
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}})
}

fn preserve_root_schema() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// Creates the CRD, deletes it after the test, waits until Established.
async fn install(ctx: &Ctx, crd: Value) -> TestResult<CustomResourceDefinition> {
    let crd: CustomResourceDefinition = from_json(crd)?;
    let name = crd.metadata.name.clone().unwrap_or_default();
    let api: Api<CustomResourceDefinition> = ctx.cluster_api();
    api.create(&PostParams::default(), &crd)
        .await
        .step(format!("create CRD {name}"))?;
    ctx.delete_after::<CustomResourceDefinition>(&name);
    until(&format!("CRD {name} Established"), WAIT, || {
        let api = api.clone();
        let name = name.clone();
        async move {
            let got = api.get(&name).await.ok()?;
            let established = got
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            established.then_some(got)
        }
    })
    .await
}

/// The OpenAPI v3 document of a group/version, once it lists `kind`
/// (or `None` once it no longer does, when `present` is false).
async fn openapi_v3(
    ctx: &Ctx,
    group: &str,
    version: &str,
    kind: &str,
    present: bool,
) -> TestResult<Value> {
    until(
        &format!(
            "{kind} {} in /openapi/v3/apis/{group}/{version}",
            if present { "published" } else { "removed" }
        ),
        WAIT,
        || async move {
            let r = ctx
                .get_raw(
                    &format!("/openapi/v3/apis/{group}/{version}"),
                    "application/json",
                )
                .await
                .ok()?;
            let doc: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let has = r.status.as_u16() == 200 && find_kind(&doc, group, version, kind).is_some();
            (has == present).then_some(doc)
        },
    )
    .await
}

/// The schema of `kind` in an OpenAPI v3 document (by its GVK extension).
fn find_kind<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> Option<&'a Value> {
    doc["components"]["schemas"]
        .as_object()?
        .values()
        .find(|s| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|l| {
                    l.iter().any(|g| {
                        g["group"] == group && g["version"] == version && g["kind"] == kind
                    })
                })
        })
}

async fn post(ctx: &Ctx, path: &str, body: &[u8]) -> TestResult<crate::framework::RawResponse> {
    ctx.raw(
        http::Method::POST,
        path,
        &[("Content-Type", "application/json")],
        Some(body.to_vec()),
    )
    .await
}

/// Polls `check` until it yields `Some` (the framework's `wait_for` with
/// "not yet" as the last observation).
async fn until<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_for(what, limit, || {
        let fut = check();
        async move { Ok(fut.await.ok_or_else(|| "not yet".to_string())) }
    })
    .await
}

// -------------------------------------------------------------------- tests

async fn create_delete(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(&ctx, t.definition(&[("v1", true, true)], &simple_schema())).await?;
    let api: Api<CustomResourceDefinition> = ctx.cluster_api();
    api.delete(&t.name(), &DeleteParams::default())
        .await
        .step("delete CRD")?;
    until("CRD deleted", WAIT, || {
        let api = api.clone();
        let name = t.name();
        async move { matches!(api.get_opt(&name).await, Ok(None)).then_some(()) }
    })
    .await
}

async fn listing(ctx: Ctx) -> TestResult {
    let api: Api<CustomResourceDefinition> = ctx.cluster_api();
    let label = format!("e2e-list-test-{}", ctx.unique);
    let mut names = Vec::new();
    for suffix in ["a", "b", "c"] {
        let t = TestCrd::new(&ctx, suffix);
        let mut crd = t.definition(&[("v1", true, true)], &simple_schema());
        crd["metadata"]["labels"] = json!({label.clone(): "true"});
        install(&ctx, crd).await?;
        names.push(t.name());
    }
    let list = api
        .list(&ListParams::default().labels(&format!("{label}=true")))
        .await
        .step("list CRDs by label")?;
    let mut got: Vec<String> = list
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    got.sort();
    ensure_eq!(got, names, "CRDs listed by label");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&format!("{label}=true")),
    )
    .await
    .step("deletecollection of CRDs")?;
    until("CRDs deleted", WAIT, || {
        let api = api.clone();
        let label = label.clone();
        async move {
            let l = api
                .list(&ListParams::default().labels(&format!("{label}=true")))
                .await
                .ok()?;
            l.items.is_empty().then_some(())
        }
    })
    .await
}

async fn status_subresource(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(&ctx, t.definition(&[("v1", true, true)], &simple_schema())).await?;
    let api: Api<CustomResourceDefinition> = ctx.cluster_api();
    let got = api.get_status(&t.name()).await.step("get CRD status")?;
    ensure!(got.status.is_some(), "CRD status is empty");
    let mut updated = got.clone();
    if let Some(status) = updated.status.as_mut() {
        let mut conds = status.conditions.clone().unwrap_or_default();
        conds.push(from_json(
            json!({"type": "StatusUpdated", "status": "True",
            "reason": "E2E", "message": "Set from an e2e test"}),
        )?);
        status.conditions = Some(conds);
    }
    let after = api
        .replace_status(&t.name(), &PostParams::default(), &updated)
        .await
        .step("update CRD status")?;
    let has = |c: &CustomResourceDefinition, ty: &str| {
        c.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|l| l.iter().any(|c| c.type_ == ty))
    };
    ensure!(has(&after, "StatusUpdated"), "updated condition missing");
    let patch = json!({"status": {"conditions": [{"type": "StatusPatched", "status": "True",
        "reason": "E2E", "message": "Set by a patch"}]}});
    let patched = api
        .patch_status(&t.name(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .step("patch CRD status")?;
    ensure!(has(&patched, "StatusPatched"), "patched condition missing");
    Ok(())
}

async fn discovery(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(&ctx, t.definition(&[("v1", true, true)], &simple_schema())).await?;
    let r = ctx.get_raw("/apis", "application/json").await?;
    let groups: Value = r.json("/apis")?;
    let group = groups["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == t.group.as_str()).cloned())
        .ok_or_else(|| TestError::Assertion(format!("/apis lacks {}", t.group)))?;
    ensure_eq!(
        group["preferredVersion"]["version"].as_str(),
        Some("v1"),
        "preferred version"
    );
    let r = ctx
        .get_raw(&format!("/apis/{}", t.group), "application/json")
        .await?;
    ensure_eq!(r.status.as_u16(), 200, "GET /apis/{}", t.group);
    let r = ctx
        .get_raw(&format!("/apis/{}/v1", t.group), "application/json")
        .await?;
    let list: Value = r.json("resource list")?;
    let found = list["resources"].as_array().is_some_and(|l| {
        l.iter()
            .any(|r| r["name"] == t.plural.as_str() && r["kind"] == t.kind.as_str())
    });
    ensure!(
        found,
        "/apis/{}/v1 lacks {}: {}",
        t.group,
        t.plural,
        truncate(&list.to_string(), 300)
    );
    Ok(())
}

async fn defaulting(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    let schema = json!({"type": "object", "properties": {"a": {"type": "string", "default": "A"}}});
    install(&ctx, t.definition(&[("v1", true, true)], &schema)).await?;
    let api = t.api(&ctx, "v1");
    let created = api
        .create(
            &PostParams::default(),
            &from_json(t.object("v1", "one", json!({})))?,
        )
        .await
        .step("create custom resource")?;
    ensure_eq!(
        created.data["a"].as_str(),
        Some("A"),
        "default applied on create"
    );
    // A new default reaches objects already stored, when they are read.
    let crds: Api<CustomResourceDefinition> = ctx.cluster_api();
    let schema = json!({"type": "object", "properties": {
        "a": {"type": "string", "default": "A"}, "b": {"type": "string", "default": "B"}}});
    let patch = json!({"spec": {"versions": [{"name": "v1", "served": true, "storage": true,
        "schema": {"openAPIV3Schema": schema}}]}});
    crds.patch(&t.name(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .step("add a default to the CRD")?;
    until("default applied from storage", WAIT, || {
        let api = api.clone();
        async move {
            let got = api.get("one").await.ok()?;
            (got.data["b"] == "B").then_some(())
        }
    })
    .await
}

async fn watch_custom_resources(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(
        &ctx,
        t.definition(&[("v1", true, true)], &preserve_root_schema()),
    )
    .await?;
    let api = t.api(&ctx, "v1");
    let mut stream = Box::pin(
        api.watch(&WatchParams::default(), "0")
            .await
            .step("watch custom resources")?,
    );
    let kind_of = |e: &WatchEvent<DynamicObject>| match e {
        WatchEvent::Added(o) => ("ADDED", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(o) => ("MODIFIED", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Deleted(o) => ("DELETED", o.metadata.name.clone().unwrap_or_default()),
        _ => ("OTHER", String::new()),
    };
    for name in ["name1", "name2"] {
        api.create(
            &PostParams::default(),
            &from_json(t.object("v1", name, json!({"content": {"key": "value"}})))?,
        )
        .await
        .step("create custom resource")?;
        let e = next_event(&mut stream, WAIT, "ADDED").await?;
        ensure_eq!(kind_of(&e), ("ADDED", name.to_string()), "event");
    }
    for name in ["name1", "name2"] {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"dummy": "test"})),
        )
        .await
        .step("modify custom resource")?;
        let e = next_event(&mut stream, WAIT, "MODIFIED").await?;
        ensure_eq!(kind_of(&e), ("MODIFIED", name.to_string()), "event");
    }
    for name in ["name1", "name2"] {
        api.delete(name, &DeleteParams::default())
            .await
            .step("delete custom resource")?;
        let e = next_event(&mut stream, WAIT, "DELETED").await?;
        ensure_eq!(kind_of(&e), ("DELETED", name.to_string()), "event");
    }
    Ok(())
}

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

async fn aggregated_has(ctx: &Ctx, t: &TestCrd, accept: &str) -> TestResult<()> {
    let r = ctx.get_raw("/apis", accept).await?;
    ensure!(
        r.content_type().contains("as=APIGroupDiscoveryList"),
        "Content-Type {:?}",
        r.content_type()
    );
    let doc: Value = r.json("aggregated discovery")?;
    let group = doc["items"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|g| g["metadata"]["name"] == t.group.as_str())
                .cloned()
        })
        .ok_or_else(|| TestError::Assertion(format!("aggregated discovery lacks {}", t.group)))?;
    let found = group["versions"][0]["resources"]
        .as_array()
        .is_some_and(|l| {
            l.iter().any(|r| {
                r["resource"] == t.plural.as_str() && r["responseKind"]["kind"] == t.kind.as_str()
            })
        });
    ensure!(
        found,
        "aggregated discovery lacks {}: {}",
        t.plural,
        truncate(&group.to_string(), 300)
    );
    Ok(())
}

async fn aggregated_discovery(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(&ctx, t.definition(&[("v1", true, true)], &simple_schema())).await?;
    aggregated_has(&ctx, &t, AGGREGATED).await
}

async fn aggregated_discovery_raw(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(&ctx, t.definition(&[("v1", true, true)], &simple_schema())).await?;
    for accept in [
        AGGREGATED,
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    ] {
        aggregated_has(&ctx, &t, accept).await?;
    }
    Ok(())
}

async fn openapi_with_schema(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(&ctx, t.definition(&[("v1", true, true)], &simple_schema())).await?;
    let doc = openapi_v3(&ctx, &t.group, "v1", &t.kind, true).await?;
    let schema = find_kind(&doc, &t.group, "v1", &t.kind)
        .cloned()
        .unwrap_or_default();
    ensure_eq!(
        schema["properties"]["spec"]["properties"]["bars"]["description"].as_str(),
        Some("List of Bars"),
        "published schema"
    );
    let explain = ctx
        .kubectl(&["explain", &format!("{}.spec.bars", t.plural)], None)
        .await?;
    ensure!(
        explain.contains("List of Bars"),
        "kubectl explain: {}",
        truncate(&explain, 300)
    );
    // Client-side and server-side validation refuse an unknown field.
    let bad = t.object(
        "v1",
        "bad",
        json!({"spec": {"bars": [{"name": "b", "unknown": 1}]}}),
    );
    let run = ctx
        .kubectl_any(
            &["create", "--validate=strict", "-f", "-"],
            Some(&bad.to_string()),
        )
        .await?;
    ensure!(
        !run.success(),
        "kubectl create of an unknown field succeeded"
    );
    ensure!(
        run.stderr
            .contains("unknown field \"spec.bars[0].unknown\""),
        "kubectl: {}",
        truncate(&run.stderr, 300)
    );
    // A missing required field is refused.
    let missing = t.object("v1", "missing", json!({"spec": {"bars": [{"age": "10"}]}}));
    let run = ctx
        .kubectl_any(&["create", "-f", "-"], Some(&missing.to_string()))
        .await?;
    ensure!(
        !run.success(),
        "a custom resource without a required field was created"
    );
    ensure!(
        run.stderr.contains("spec.bars[0].name: Required value"),
        "kubectl: {}",
        truncate(&run.stderr, 300)
    );
    Ok(())
}

async fn openapi_preserving_root(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(
        &ctx,
        t.definition(&[("v1", true, true)], &preserve_root_schema()),
    )
    .await?;
    openapi_v3(&ctx, &t.group, "v1", &t.kind, true).await?;
    let obj = t.object(
        "v1",
        "free",
        json!({"a": {"b": [1, 2]}, "spec": {"anything": true}}),
    );
    ctx.kubectl(
        &["create", "--validate=strict", "-f", "-"],
        Some(&obj.to_string()),
    )
    .await?;
    let got = t.api(&ctx, "v1").get("free").await.step("get the object")?;
    ensure_eq!(got.data["a"], json!({"b": [1, 2]}), "unknown fields kept");
    Ok(())
}

async fn openapi_preserving_embedded(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "x-kubernetes-preserve-unknown-fields": true, "description": "Specification of Waldo"}}});
    install(&ctx, t.definition(&[("v1", true, true)], &schema)).await?;
    openapi_v3(&ctx, &t.group, "v1", &t.kind, true).await?;
    let obj = t.object("v1", "embedded", json!({"spec": {"free": {"form": 1}}}));
    ctx.kubectl(
        &["create", "--validate=strict", "-f", "-"],
        Some(&obj.to_string()),
    )
    .await?;
    let explain = ctx
        .kubectl(&["explain", &format!("{}.spec", t.plural)], None)
        .await?;
    ensure!(
        explain.contains("Specification of Waldo"),
        "kubectl explain: {}",
        truncate(&explain, 300)
    );
    Ok(())
}

async fn openapi_different_groups(ctx: Ctx) -> TestResult {
    let a = TestCrd::new(&ctx, "a");
    let b = TestCrd::new(&ctx, "b")
        .in_group(format!("crd-{}-b.example.com", ctx.unique.to_lowercase()));
    install(&ctx, a.definition(&[("v1", true, true)], &simple_schema())).await?;
    install(&ctx, b.definition(&[("v1", true, true)], &simple_schema())).await?;
    openapi_v3(&ctx, &a.group, "v1", &a.kind, true).await?;
    openapi_v3(&ctx, &b.group, "v1", &b.kind, true).await?;
    Ok(())
}

async fn openapi_same_group_different_versions(ctx: Ctx) -> TestResult {
    let a = TestCrd::new(&ctx, "a");
    let b = TestCrd::new(&ctx, "b");
    install(&ctx, a.definition(&[("v2", true, true)], &simple_schema())).await?;
    install(&ctx, b.definition(&[("v3", true, true)], &simple_schema())).await?;
    openapi_v3(&ctx, &a.group, "v2", &a.kind, true).await?;
    openapi_v3(&ctx, &b.group, "v3", &b.kind, true).await?;
    Ok(())
}

async fn openapi_same_group_version(ctx: Ctx) -> TestResult {
    let a = TestCrd::new(&ctx, "a");
    let b = TestCrd::new(&ctx, "b");
    install(&ctx, a.definition(&[("v4", true, true)], &simple_schema())).await?;
    install(&ctx, b.definition(&[("v4", true, true)], &simple_schema())).await?;
    let doc = openapi_v3(&ctx, &a.group, "v4", &a.kind, true).await?;
    ensure!(
        find_kind(&doc, &b.group, "v4", &b.kind).is_some(),
        "{} missing next to {}",
        b.kind,
        a.kind
    );
    Ok(())
}

async fn set_versions(ctx: &Ctx, t: &TestCrd, versions: &[(&str, bool, bool)]) -> TestResult<()> {
    let crds: Api<CustomResourceDefinition> = ctx.cluster_api();
    let mut crd = crds.get(&t.name()).await.step("get CRD")?;
    let def: CustomResourceDefinition = from_json(t.definition(versions, &simple_schema()))?;
    crd.spec.versions = def.spec.versions;
    crds.replace(&t.name(), &PostParams::default(), &crd)
        .await
        .step("update CRD versions")?;
    Ok(())
}

async fn openapi_version_unserved(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(
        &ctx,
        t.definition(&[("v5", true, true), ("v6", true, false)], &simple_schema()),
    )
    .await?;
    openapi_v3(&ctx, &t.group, "v6", &t.kind, true).await?;
    set_versions(&ctx, &t, &[("v5", true, true), ("v6", false, false)]).await?;
    openapi_v3(&ctx, &t.group, "v6", &t.kind, false).await?;
    openapi_v3(&ctx, &t.group, "v5", &t.kind, true).await?;
    Ok(())
}

async fn openapi_version_renamed(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(
        &ctx,
        t.definition(&[("v5", true, true), ("v6", true, false)], &simple_schema()),
    )
    .await?;
    openapi_v3(&ctx, &t.group, "v6", &t.kind, true).await?;
    set_versions(&ctx, &t, &[("v5", true, true), ("v6alpha1", true, false)]).await?;
    openapi_v3(&ctx, &t.group, "v6alpha1", &t.kind, true).await?;
    openapi_v3(&ctx, &t.group, "v6", &t.kind, false).await?;
    openapi_v3(&ctx, &t.group, "v5", &t.kind, true).await?;
    Ok(())
}

fn cr_path(ctx: &Ctx, t: &TestCrd, query: &str) -> String {
    format!(
        "/apis/{}/v1/namespaces/{}/{}?{query}",
        t.group, ctx.ns, t.plural
    )
}

async fn field_validation_valid(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(&ctx, t.definition(&[("v1", true, true)], &simple_schema())).await?;
    let obj = t.object(
        "v1",
        "valid",
        json!({"spec": {"bars": [{"name": "test-bar"}]}}),
    );
    let r = post(
        &ctx,
        &cr_path(&ctx, &t, "fieldValidation=Strict"),
        obj.to_string().as_bytes(),
    )
    .await?;
    ensure_eq!(
        r.status.as_u16(),
        201,
        "create a valid CR: {}",
        truncate(&r.text(), 300)
    );
    ensure!(r.warnings().is_empty(), "warnings: {:?}", r.warnings());
    Ok(())
}

async fn field_validation_extra(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(&ctx, t.definition(&[("v1", true, true)], &simple_schema())).await?;
    let obj = t.object(
        "v1",
        "extra",
        json!({"spec": {"foo": true, "bars": [{"name": "b", "color": "blue"}]}}),
    );
    let r = post(
        &ctx,
        &cr_path(&ctx, &t, "fieldValidation=Strict"),
        obj.to_string().as_bytes(),
    )
    .await?;
    ensure_eq!(
        r.status.as_u16(),
        400,
        "Strict create with extra fields: {}",
        truncate(&r.text(), 300)
    );
    let text = r.text();
    for field in ["spec.foo", "spec.bars[0].color"] {
        ensure!(
            text.contains(&format!("unknown field \\\"{field}\\\"")),
            "error lacks {field}: {}",
            truncate(&text, 300)
        );
    }
    let r = post(
        &ctx,
        &cr_path(&ctx, &t, "fieldValidation=Warn"),
        obj.to_string().as_bytes(),
    )
    .await?;
    ensure_eq!(
        r.status.as_u16(),
        201,
        "Warn create: {}",
        truncate(&r.text(), 300)
    );
    ensure_eq!(r.warnings().len(), 2, "warnings {:?}", r.warnings());
    Ok(())
}

async fn field_validation_no_schema(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(
        &ctx,
        t.definition(&[("v1", true, true)], &preserve_root_schema()),
    )
    .await?;
    let obj = t.object("v1", "free", json!({"spec": {"foo": true}, "other": 1}));
    let r = post(
        &ctx,
        &cr_path(&ctx, &t, "fieldValidation=Strict"),
        obj.to_string().as_bytes(),
    )
    .await?;
    ensure_eq!(
        r.status.as_u16(),
        201,
        "Strict create without a schema: {}",
        truncate(&r.text(), 300)
    );
    Ok(())
}

async fn field_validation_duplicates(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    install(
        &ctx,
        t.definition(&[("v1", true, true)], &preserve_root_schema()),
    )
    .await?;
    let body = format!(
        r#"{{"apiVersion":"{}/v1","kind":"{}","metadata":{{"name":"dup"}},"spec":{{"foo":"a","foo":"b"}}}}"#,
        t.group, t.kind
    );
    let r = post(
        &ctx,
        &cr_path(&ctx, &t, "fieldValidation=Strict"),
        body.as_bytes(),
    )
    .await?;
    ensure_eq!(
        r.status.as_u16(),
        400,
        "Strict create with a duplicate field: {}",
        truncate(&r.text(), 300)
    );
    ensure!(
        r.text().contains("duplicate field \\\"spec.foo\\\""),
        "error: {}",
        truncate(&r.text(), 300)
    );
    let r = post(
        &ctx,
        &cr_path(&ctx, &t, "fieldValidation=Warn"),
        body.as_bytes(),
    )
    .await?;
    ensure_eq!(
        r.status.as_u16(),
        201,
        "Warn create: {}",
        truncate(&r.text(), 300)
    );
    ensure!(
        !r.warnings().is_empty(),
        "no warning for the duplicate field"
    );
    Ok(())
}

async fn field_validation_unknown_metadata(ctx: Ctx) -> TestResult {
    let t = TestCrd::new(&ctx, "");
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "template": {"type": "object", "x-kubernetes-embedded-resource": true,
            "x-kubernetes-preserve-unknown-fields": true}}}}});
    install(&ctx, t.definition(&[("v1", true, true)], &schema)).await?;
    let obj = t.object(
        "v1",
        "meta",
        json!({"metadata": {"name": "meta", "unknownMeta": "foo"},
            "spec": {"template": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "unknownSubMeta": "bar"}}}}),
    );
    let r = post(
        &ctx,
        &cr_path(&ctx, &t, "fieldValidation=Strict"),
        obj.to_string().as_bytes(),
    )
    .await?;
    ensure_eq!(
        r.status.as_u16(),
        400,
        "Strict create: {}",
        truncate(&r.text(), 300)
    );
    for field in [
        "metadata.unknownMeta",
        "spec.template.metadata.unknownSubMeta",
    ] {
        ensure!(
            r.text().contains(&format!("unknown field \\\"{field}\\\"")),
            "error lacks {field}: {}",
            truncate(&r.text(), 300)
        );
    }
    Ok(())
}
