//! Invalid CustomResourceDefinitions are refused with upstream's causes;
//! name conflicts between CRDs are reported in NamesAccepted as upstream's
//! naming controller does.

mod crd_common;

use std::time::Duration;

use crd_common::{harness, install, raw, widget_crd};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

fn base() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "things", "kind": "Thing"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"a": {"type": "integer"}}}}}}}]}
    })
}

/// `v` with `value` set at `pointer` (the last key is created if missing).
fn with(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(key.to_string(), value);
        }
        Some(Value::Array(a)) => {
            if let Some(slot) = key.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *slot = value;
            }
        }
        _ => panic!("no {parent} in the base CRD"),
    }
    v
}

#[tokio::test]
async fn invalid_crds_are_refused_with_upstream_causes() {
    let h = harness().await;
    let schema = "spec.versions[0].schema.openAPIV3Schema";
    let cases: Vec<(&str, Value, String, String)> = vec![
        ("name", with(base(), "/metadata/name", json!("other.example.com")),
            "metadata.name".into(), "Invalid value: \"other.example.com\": must be spec.names.plural+\".\"+spec.group".into()),
        ("group without dot", with(with(base(), "/spec/group", json!("example")), "/metadata/name", json!("things.example")),
            "spec.group".into(), "Invalid value: \"example\": should be a domain with at least one dot".into()),
        ("scope", with(base(), "/spec/scope", json!("Galaxy")),
            "spec.scope".into(), "Unsupported value: \"Galaxy\": supported values: \"Cluster\", \"Namespaced\"".into()),
        ("plural", with(with(base(), "/spec/names/plural", json!("Things")), "/metadata/name", json!("Things.example.com")),
            "spec.names.plural".into(), "Invalid value: \"Things\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".into()),
        ("kind required", with(base(), "/spec/names/kind", json!("")),
            "spec.names.kind".into(), "Required value".into()),
        ("no storage version", with(base(), "/spec/versions/0/storage", json!(false)),
            "spec.versions".into(), "must have exactly one version marked as storage version".into()),
        ("no served version", with(base(), "/spec/versions/0/served", json!(false)),
            "spec.versions".into(), "must have at least one version marked as served".into()),
        ("schema required", with(base(), "/spec/versions/0/schema", json!(null)),
            schema.to_string(), "Required value: schemas are required".into()),
        ("structural: type", with(base(), "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/a", json!({"minimum": 1})),
            format!("{schema}.properties[spec].properties[a].type"), "Required value: must not be empty for specified object fields".into()),
        ("structural: root type", with(base(), "/spec/versions/0/schema/openAPIV3Schema/type", json!("string")),
            format!("{schema}.type"), "Invalid value: \"string\": must be object at the root".into()),
        ("CEL rule does not compile", with(base(), "/spec/versions/0/schema/openAPIV3Schema/properties/spec/x-kubernetes-validations", json!([{"rule": "self.a >"}])),
            format!("{schema}.properties[spec].x-kubernetes-validations[0].rule"), "compilation failed".into()),
        ("printer column type", with(base(), "/spec/versions/0/additionalPrinterColumns", json!([{"name": "A", "type": "float", "jsonPath": ".spec.a"}])),
            "spec.versions[0].additionalPrinterColumns[0].type".into(), "Unsupported value: \"float\": supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\"".into()),
        ("preserveUnknownFields", with(base(), "/spec/preserveUnknownFields", json!(true)),
            "spec.preserveUnknownFields".into(), "Invalid value: true: cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead".into()),
        ("default of the wrong type", with(base(), "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/a", json!({"type": "integer", "default": "x"})),
            format!("{schema}.properties[spec].properties[a].default"), "must be of type integer: \"string\"".into()),
        ("webhook conversion without webhook", with(base(), "/spec/conversion", json!({"strategy": "Webhook"})),
            "spec.conversion.webhook".into(), "Required value: required when strategy is set to Webhook".into()),
    ];
    let mut failures = Vec::new();
    for (case, crd, field, message) in cases {
        let (code, body) = raw(
            &h.client,
            "POST",
            CRDS,
            Some("application/json"),
            None,
            Some(crd),
        )
        .await;
        let found = body["details"]["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["field"] == field.as_str()
                    && c["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(message.as_str()))
            });
        if code != 422
            || body["reason"] != "Invalid"
            || body["details"]["kind"] != "CustomResourceDefinition"
            || !found
        {
            failures.push(format!("{case}: {code} {body}"));
        }
    }
    assert!(
        failures.is_empty(),
        "cases failing:\n{}",
        failures.join("\n")
    );
    // Nothing was stored.
    let (_, list) = raw(&h.client, "GET", CRDS, None, None, None).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn conflicting_names_are_not_accepted() {
    let h = harness().await;
    install(&h.client, widget_crd()).await;
    // Another CRD of the same group claiming the kind Widget.
    let gadget = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "kind": "Widget", "listKind": "GadgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    });
    let api: Api<CustomResourceDefinition> = Api::all(h.client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(gadget).expect("crd"),
    )
    .await
    .expect("create");
    let mut last = Value::Null;
    for _ in 0..100 {
        let got = serde_json::to_value(api.get("gadgets.example.com").await.expect("get"))
            .unwrap_or_default();
        let conds = got["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names = conds.iter().find(|c| c["type"] == "NamesAccepted").cloned();
        if let Some(n) = names {
            assert_eq!(n["status"], "False");
            assert_eq!(n["reason"], "KindConflict");
            assert_eq!(n["message"], "\"Widget\" is already in use");
            let est = conds
                .iter()
                .find(|c| c["type"] == "Established")
                .cloned()
                .unwrap_or_default();
            assert_eq!(est["status"], "False");
            assert_eq!(est["reason"], "NotAccepted");
            let (code, _) = raw(
                &h.client,
                "GET",
                "/apis/example.com/v1/gadgets",
                None,
                None,
                None,
            )
            .await;
            assert_eq!(
                code, 404,
                "a CRD whose names are not accepted is not served"
            );
            return;
        }
        last = got;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("NamesAccepted never set: {last}");
}

#[tokio::test]
async fn terminating_crd_refuses_new_objects_until_its_objects_are_gone() {
    let h = harness().await;
    install(&h.client, widget_crd()).await;
    let path = "/apis/example.com/v1/namespaces/default/widgets";
    let held = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]}, "spec": {"size": "small"}});
    let (code, body) = raw(
        &h.client,
        "POST",
        path,
        Some("application/json"),
        None,
        Some(held),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let api: Api<CustomResourceDefinition> = Api::all(h.client.clone());
    api.delete("widgets.example.com", &Default::default())
        .await
        .expect("delete CRD");

    // The CRD waits for its object; meanwhile creates are refused.
    let mut refused = Value::Null;
    for _ in 0..100 {
        let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "late"}, "spec": {"size": "small"}});
        let (code, body) = raw(
            &h.client,
            "POST",
            path,
            Some("application/json"),
            None,
            Some(obj),
        )
        .await;
        if code == 405 {
            refused = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refused["reason"], "MethodNotAllowed");
    assert_eq!(
        refused["message"],
        "create is not supported on resources of kind \"widgets.example.com\""
    );
    let mut terminating = Value::Null;
    for _ in 0..100 {
        let crd = serde_json::to_value(api.get("widgets.example.com").await.expect("get"))
            .unwrap_or_default();
        terminating = crd["status"]["conditions"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["type"] == "Terminating").cloned())
            .unwrap_or_default();
        if !terminating.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(terminating["status"], "True");
    assert_eq!(terminating["reason"], "InstanceDeletionInProgress");

    // Releasing the object lets the cleanup finish and the CRD go.
    let (code, body) = raw(
        &h.client,
        "PATCH",
        &format!("{path}/held"),
        Some("application/merge-patch+json"),
        None,
        Some(json!({"metadata": {"finalizers": null}})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    for _ in 0..100 {
        if api
            .get_opt("widgets.example.com")
            .await
            .expect("get")
            .is_none()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the CRD was not removed after its last object went");
}
