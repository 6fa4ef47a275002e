//! Server-side apply: the upstream field-validation test that needs apply on
//! a custom resource and is not covered by the CRD suite. It installs a
//! cluster-scoped CRD whose `spec.template` is an embedded resource,
//! applies a custom resource with unknown fields in the root and embedded
//! metadata under `fieldValidation=Strict`, and expects the answer to name
//! one of them (`.metadata.unknownMeta: field not declared in schema`).

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use serde_json::json;

use crate::ensure;
use crate::framework::{Ctx, Step, TestCase, TestResult, from_json, truncate, wait_for};

const GROUP: &str = "mygroup.example.com";

pub fn tests() -> Vec<TestCase> {
    vec![TestCase::upstream(
        "[sig-api-machinery] FieldValidation should detect unknown metadata fields in both the root and embedded object of a CR [Conformance]",
        |c| Box::pin(unknown_metadata_refused(c)),
    )]
}

/// Installs the CRD (deleted after the test) and waits until its resource
/// answers; returns the plural.
async fn install(ctx: &Ctx) -> TestResult<String> {
    let plural = format!("noxus{}", ctx.unique.to_lowercase());
    let name = format!("{plural}.{GROUP}");
    let schema = json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": true,
                "properties": {
                    "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
                    "spec": {"type": "object"}
                }
            },
            "foo": {"type": "string"},
            "ports": {
                "type": "array",
                "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                "x-kubernetes-list-type": "map",
                "items": {"type": "object", "required": ["containerPort", "protocol"], "properties": {
                    "containerPort": {"type": "integer", "format": "int32"},
                    "name": {"type": "string"},
                    "protocol": {"type": "string"}
                }}
            }
        }
    }}});
    let crd: CustomResourceDefinition = from_json(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {"plural": plural, "singular": format!("noxu{}", ctx.unique.to_lowercase()),
                      "kind": "WishIHadChosenNoxu", "listKind": "NoxuItemList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "schema": {"openAPIV3Schema": schema}}]
        }
    }))?;
    ctx.cluster_api::<CustomResourceDefinition>()
        .create(&PostParams::default(), &crd)
        .await
        .step(format!("creating CRD {name}"))?;
    ctx.delete_after::<CustomResourceDefinition>(&name);
    let list_path = format!("/apis/{GROUP}/v1/{plural}");
    wait_for(
        "the custom resource to be served",
        Duration::from_secs(30),
        || {
            let path = list_path.clone();
            async move {
                let resp = ctx.get_raw(&path, "application/json").await?;
                Ok(if resp.status.as_u16() == 200 {
                    Ok(())
                } else {
                    Err(format!("GET {path}: {}", resp.status))
                })
            }
        },
    )
    .await?;
    Ok(plural)
}

async fn unknown_metadata_refused(ctx: Ctx) -> TestResult {
    let plural = install(&ctx).await?;
    let ns = &ctx.ns;
    let yaml = format!(
        "\napiVersion: {GROUP}/v1\nkind: WishIHadChosenNoxu\nmetadata:\n  name: mytest\n  unknownMeta: unknown\nspec:\n  template:\n    apiversion: foo/v1\n    kind: Sub\n    metadata:\n        unknownSubMeta: unknown\n        name: subobject\n        namespace: {ns}\n  foo: foo1\n  ports:\n  - name: x\n    containerPort: 80\n    protocol: TCP"
    );
    let resp = ctx
        .raw(
            http::Method::PATCH,
            &format!("/apis/{GROUP}/v1/{plural}/mytest?fieldManager=field_validation_mgr&fieldValidation=Strict"),
            &[
                ("Content-Type", "application/apply-patch+yaml"),
                ("Accept", "application/json"),
            ],
            Some(yaml.into_bytes()),
        )
        .await?;
    let text = resp.text();
    ensure!(
        text.contains(".spec.template.metadata.unknownSubMeta: field not declared in schema")
            || text.contains(".metadata.unknownMeta: field not declared in schema"),
        "the answer names neither unknown metadata field: {} {}",
        resp.status,
        truncate(&text, 400)
    );
    Ok(())
}
