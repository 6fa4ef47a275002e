//! Multiple versions of one CRD: `None` conversion (apiVersion rewritten),
//! the storage version in etcd, `served: false`, storedVersions, and a
//! cluster-scoped CRD.

mod crd_common;

use std::time::Duration;

use crd_common::{harness, install, raw};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

fn version(name: &str, served: bool, storage: bool) -> Value {
    json!({"name": name, "served": served, "storage": storage,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"color": {"type": "string"}}}}}}})
}

#[tokio::test]
async fn none_conversion_between_versions() {
    let h = harness().await;
    install(&h.client, json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "paints.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
            "names": {"plural": "paints", "kind": "Paint"},
            "versions": [version("v1", true, true), version("v2beta1", true, false), version("v1alpha1", false, false)]}
    }))
    .await;
    // Discovery lists served versions, preferred (GA) first.
    let (_, group) = raw(&h.client, "GET", "/apis/example.com", None, None, None).await;
    assert_eq!(group["preferredVersion"]["version"], "v1");
    let versions: Vec<&str> = group["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(versions, vec!["v1", "v2beta1"]);

    // Created through v2beta1, stored as v1, read back through both.
    let (code, created) = raw(&h.client, "POST", "/apis/example.com/v2beta1/paints", Some("application/json"), None,
        Some(json!({"apiVersion": "example.com/v2beta1", "kind": "Paint", "metadata": {"name": "red"}, "spec": {"color": "red"}}))).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["apiVersion"], "example.com/v2beta1");
    let stored = h
        .server
        .kv
        .range(store::RangeRequest::key(
            b"/registry/example.com/paints/red".to_vec(),
        ))
        .await
        .expect("range");
    let stored: Value = serde_json::from_slice(&stored.kvs[0].value).expect("json");
    assert_eq!(stored["apiVersion"], "example.com/v1");
    let (_, v1) = raw(
        &h.client,
        "GET",
        "/apis/example.com/v1/paints/red",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(v1["apiVersion"], "example.com/v1");
    assert_eq!(v1["spec"]["color"], "red");
    let (_, list) = raw(
        &h.client,
        "GET",
        "/apis/example.com/v2beta1/paints",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(list["kind"], "PaintList");
    assert_eq!(list["items"][0]["apiVersion"], "example.com/v2beta1");

    // Not served: 404.
    let (code, _) = raw(
        &h.client,
        "GET",
        "/apis/example.com/v1alpha1/paints",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(code, 404);

    // Moving storage to v2beta1 adds it to storedVersions.
    let api: Api<CustomResourceDefinition> = Api::all(h.client.clone());
    let patch = json!({"spec": {"versions": [version("v1", true, false), version("v2beta1", true, true), version("v1alpha1", false, false)]}});
    let after = api
        .patch(
            "paints.example.com",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .expect("patch CRD");
    assert_eq!(
        after.status.and_then(|s| s.stored_versions),
        Some(vec!["v1".to_string(), "v2beta1".to_string()])
    );
    for _ in 0..100 {
        let (_, _) = raw(
            &h.client,
            "PATCH",
            "/apis/example.com/v1/paints/red",
            Some("application/merge-patch+json"),
            None,
            Some(json!({"spec": {"color": "blue"}})),
        )
        .await;
        let stored = h
            .server
            .kv
            .range(store::RangeRequest::key(
                b"/registry/example.com/paints/red".to_vec(),
            ))
            .await
            .expect("range");
        let stored: Value = serde_json::from_slice(&stored.kvs[0].value).expect("json");
        if stored["apiVersion"] == "example.com/v2beta1" {
            assert_eq!(stored["spec"]["color"], "blue");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("objects are not written in the new storage version");
}

#[tokio::test]
async fn versions_of_several_crds_in_one_group_are_ordered_by_priority() {
    let h = harness().await;
    for (plural, kind, versions) in [
        ("alphas", "Alpha", vec![version("v1beta1", true, true)]),
        ("gammas", "Gamma", vec![version("v2", true, true)]),
        ("betas", "Beta", vec![version("v1", true, true)]),
    ] {
        install(
            &h.client,
            json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("{plural}.order.example.com")},
                "spec": {"group": "order.example.com", "scope": "Namespaced",
                    "names": {"plural": plural, "kind": kind}, "versions": versions}
            }),
        )
        .await;
    }
    let (_, group) = raw(
        &h.client,
        "GET",
        "/apis/order.example.com",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(group["preferredVersion"]["version"], "v2");
    let versions: Vec<&str> = group["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(versions, vec!["v2", "v1", "v1beta1"]);
}
