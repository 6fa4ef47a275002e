//! Checks with no upstream conformance entry: OpenAPI documents, Table
//! output, and the three patch types. They are named like upstream tests
//! (`[sig-x] ...`) but are not in the upstream list.

use k8s_openapi::api::core::v1::{ConfigMap, PodTemplate};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::framework::{Ctx, Step, TestCase, TestResult, from_json, json_patch, truncate};
use crate::{ensure, ensure_eq};

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::extra(
            "[sig-api-machinery] OpenAPI should serve the v2 and v3 documents",
            |c| Box::pin(openapi(c)),
        ),
        TestCase::extra(
            "[sig-api-machinery] Table transformation should return columnDefinitions and rows for lists and single objects",
            |c| Box::pin(table(c)),
        ),
        TestCase::extra(
            "[sig-api-machinery] Patching should apply JSON, merge and strategic merge patches",
            |c| Box::pin(patch_types(c)),
        ),
    ]
}

async fn openapi(ctx: Ctx) -> TestResult {
    let v2 = ctx.get_raw("/openapi/v2", "application/json").await?;
    ensure_eq!(v2.status.as_u16(), 200, "GET /openapi/v2");
    let doc: Value = v2.json("/openapi/v2")?;
    ensure_eq!(doc["swagger"].as_str(), Some("2.0"), "swagger version");
    ensure!(
        doc["definitions"]["io.k8s.api.core.v1.ConfigMap"].is_object(),
        "/openapi/v2 lacks the io.k8s.api.core.v1.ConfigMap definition"
    );
    ensure!(
        doc["paths"]["/api/v1/namespaces/{namespace}/configmaps"].is_object(),
        "/openapi/v2 lacks the configmaps path"
    );
    let v3 = ctx.get_raw("/openapi/v3", "application/json").await?;
    ensure_eq!(v3.status.as_u16(), 200, "GET /openapi/v3");
    let index: Value = v3.json("/openapi/v3")?;
    let url = index["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            crate::framework::TestError::Assertion(format!(
                "/openapi/v3 index lacks paths[\"api/v1\"].serverRelativeURL: {}",
                truncate(&index.to_string(), 300)
            ))
        })?;
    let core = ctx.get_raw(&url, "application/json").await?;
    ensure_eq!(core.status.as_u16(), 200, "GET {url}");
    let doc: Value = core.json(&url)?;
    ensure!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{url}: openapi field is {:?}",
        doc["openapi"]
    );
    ensure!(
        doc["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"].is_object(),
        "{url} lacks the ConfigMap schema"
    );
    Ok(())
}

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

async fn table(ctx: Ctx) -> TestResult {
    let cm: ConfigMap =
        from_json(json!({"metadata": {"name": "table-cm"}, "data": {"a": "1", "b": "2"}}))?;
    ctx.api::<ConfigMap>()
        .create(&PostParams::default(), &cm)
        .await
        .step("creating configmap")?;
    let path = format!("/api/v1/namespaces/{}/configmaps", ctx.ns);
    for (url, what) in [
        (path.clone(), "list"),
        (format!("{path}/table-cm"), "single object"),
    ] {
        let resp = ctx.get_raw(&url, TABLE).await?;
        ensure_eq!(resp.status.as_u16(), 200, "GET {url} as Table");
        let doc: Value = resp.json(&url)?;
        ensure_eq!(
            doc["kind"].as_str(),
            Some("Table"),
            "kind of the {what} response"
        );
        ensure_eq!(
            doc["apiVersion"].as_str(),
            Some("meta.k8s.io/v1"),
            "apiVersion of the {what} Table"
        );
        let columns: Vec<&str> = doc["columnDefinitions"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
            .unwrap_or_default();
        ensure!(
            columns.first() == Some(&"Name"),
            "{what}: first column is not Name: {columns:?}"
        );
        let rows = doc["rows"].as_array().cloned().unwrap_or_default();
        let row = rows
            .iter()
            .find(|r| r["cells"][0].as_str() == Some("table-cm"))
            .ok_or_else(|| {
                crate::framework::TestError::Assertion(format!(
                    "{what}: no row for table-cm: {}",
                    truncate(&doc.to_string(), 300)
                ))
            })?;
        let cells = row["cells"].as_array().map(Vec::len).unwrap_or(0);
        ensure_eq!(cells, columns.len(), "{what}: cells per row vs columns");
        ensure_eq!(
            row["object"]["kind"].as_str(),
            Some("PartialObjectMetadata"),
            "{what}: row object kind (includeObject defaults to Metadata)"
        );
    }
    Ok(())
}

async fn patch_types(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ConfigMap>();
    let cm: ConfigMap =
        from_json(json!({"metadata": {"name": "patched"}, "data": {"a": "1", "b": "2"}}))?;
    api.create(&PostParams::default(), &cm)
        .await
        .step("creating configmap")?;
    // JSON patch: ops, including a test op that must fail when false.
    let out: ConfigMap = json_patch(
        &ctx,
        true,
        "patched",
        json!([
            {"op": "test", "path": "/data/a", "value": "1"},
            {"op": "replace", "path": "/data/a", "value": "10"},
            {"op": "remove", "path": "/data/b"},
            {"op": "add", "path": "/data/c", "value": "3"}
        ]),
    )
    .await?;
    let data = out.data.unwrap_or_default();
    ensure_eq!(
        (
            data.get("a").map(String::as_str),
            data.get("b"),
            data.get("c").map(String::as_str)
        ),
        (Some("10"), None, Some("3")),
        "data after JSON patch"
    );
    let failing = json_patch::<ConfigMap>(
        &ctx,
        true,
        "patched",
        json!([{"op": "test", "path": "/data/a", "value": "nope"}]),
    )
    .await;
    ensure!(
        failing.is_err(),
        "a JSON patch whose test op fails was accepted"
    );
    // Merge patch: null deletes a key.
    let out = api
        .patch(
            "patched",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": null, "d": "4"}})),
        )
        .await
        .step("merge patch")?;
    let data = out.data.unwrap_or_default();
    ensure!(
        !data.contains_key("a") && data.get("d").map(String::as_str) == Some("4"),
        "data after merge patch: {data:?}"
    );
    // Strategic merge on a pod template: containers merge by name.
    let pt: PodTemplate = from_json(json!({
        "metadata": {"name": "smp"},
        "template": {"spec": {"containers": [
            {"name": "one", "image": "registry.k8s.io/pause:3.10"},
            {"name": "two", "image": "registry.k8s.io/pause:3.10"}
        ]}}
    }))?;
    let pts = ctx.api::<PodTemplate>();
    pts.create(&PostParams::default(), &pt)
        .await
        .step("creating pod template")?;
    let out = pts
        .patch(
            "smp",
            &PatchParams::default(),
            &Patch::Strategic(json!({"template": {"spec": {"containers": [{"name": "two", "image": "registry.k8s.io/pause:3.9"}]}}})),
        )
        .await
        .step("strategic merge patch")?;
    let containers = out
        .template
        .and_then(|t| t.spec)
        .map(|s| s.containers)
        .unwrap_or_default();
    let summary: Vec<(String, Option<String>)> = containers
        .iter()
        .map(|c| (c.name.clone(), c.image.clone()))
        .collect();
    ensure_eq!(
        summary,
        vec![
            (
                "one".to_string(),
                Some("registry.k8s.io/pause:3.10".to_string())
            ),
            (
                "two".to_string(),
                Some("registry.k8s.io/pause:3.9".to_string())
            ),
        ],
        "containers after a strategic merge by name"
    );
    // The same body as a merge patch replaces the whole list.
    let out = pts
        .patch(
            "smp",
            &PatchParams::default(),
            &Patch::Merge(json!({"template": {"spec": {"containers": [{"name": "two", "image": "registry.k8s.io/pause:3.9"}]}}})),
        )
        .await
        .step("merge patch of a list")?;
    let names: Vec<String> = out
        .template
        .and_then(|t| t.spec)
        .map(|s| s.containers.into_iter().map(|c| c.name).collect())
        .unwrap_or_default();
    ensure_eq!(
        names,
        vec!["two".to_string()],
        "containers after a merge patch (lists are replaced)"
    );
    Ok(())
}
