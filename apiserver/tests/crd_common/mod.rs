//! Shared set-up of the `crd_*` integration tests: an in-process server, a
//! kube client, and helpers to install a CRD and wait until it is served.

#![allow(dead_code)]

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;

pub struct Harness {
    pub client: Client,
    pub server: apiserver::testing::TestServer,
    _dir: tempfile::TempDir,
}

pub async fn harness() -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = apiserver::testing::TestServer::start(dir.path())
        .await
        .expect("start the API server");
    let kubeconfig = Kubeconfig::read_from(&server.kubeconfig).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("client config");
    let client = Client::try_from(config).expect("client");
    Harness {
        client,
        server,
        _dir: dir,
    }
}

/// Creates the CRD and waits until it is Established.
pub async fn install(client: &Client, crd: Value) -> CustomResourceDefinition {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(crd).expect("CRD json");
    let name = crd.metadata.name.clone().unwrap_or_default();
    api.create(&PostParams::default(), &crd)
        .await
        .expect("create CRD");
    wait_established(client, &name).await
}

pub async fn wait_established(client: &Client, name: &str) -> CustomResourceDefinition {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for _ in 0..100 {
        let got = api.get(name).await.expect("get CRD");
        let established = got
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("CRD {name} never became Established");
}

pub fn api(
    client: &Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// A raw request against the server; returns status and JSON body.
pub async fn raw(
    client: &Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http::Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let bytes = body
        .map(|b| serde_json::to_vec(&b).unwrap_or_default())
        .unwrap_or_default();
    let req = req.body(bytes).expect("request");
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A namespaced `widgets.example.com` CRD with a schema exercising most
/// keywords, CEL rules, printer columns, status and scale subresources.
pub fn widget_crd() -> Value {
    serde_json::from_str(
        r#"{
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                      "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                    "labelSelectorPath": ".status.selector"}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                "selectableFields": [{"jsonPath": ".spec.size"}],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["size"],
                            "x-kubernetes-validations": [
                                {"rule": "self.replicas <= 10", "message": "at most 10 replicas"},
                                {"rule": "self.size == oldSelf.size || self.size != 'tiny'",
                                 "message": "cannot shrink to tiny"}],
                            "properties": {
                                "size": {"type": "string", "enum": ["tiny", "small", "large"]},
                                "replicas": {"type": "integer", "minimum": 0, "maximum": 100, "default": 1},
                                "name": {"type": "string", "maxLength": 5, "minLength": 2, "pattern": "^[a-z]+$"},
                                "ratio": {"type": "number", "exclusiveMaximum": true, "maximum": 1},
                                "tags": {"type": "array", "maxItems": 3, "minItems": 1,
                                         "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                                          "x-kubernetes-list-map-keys": ["name"],
                                          "items": {"type": "object", "required": ["name"],
                                                    "properties": {"name": {"type": "string"},
                                                                   "port": {"type": "integer", "format": "int32"}}}},
                                "labels": {"type": "object", "maxProperties": 2,
                                           "additionalProperties": {"type": "string"}},
                                "when": {"type": "string", "format": "date-time"},
                                "data": {"type": "string", "format": "byte"},
                                "port": {"x-kubernetes-int-or-string": true},
                                "note": {"type": "string", "nullable": true},
                                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                                "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                             "x-kubernetes-preserve-unknown-fields": true}
                            }
                        },
                        "status": {"type": "object", "properties": {
                            "replicas": {"type": "integer"}, "selector": {"type": "string"},
                            "phase": {"type": "string"}}}
                    }
                }}
            }]
        }
    }"#,
    )
    .expect("widget CRD json")
}
