//! CEL validation rules (`x-kubernetes-validations`) of custom resources:
//! `message`, `messageExpression`, `reason`, `fieldPath`, rules on nested
//! fields and list items, transition rules with `oldSelf`, and a CRD whose
//! rule does not compile.

mod crd_common;

use crd_common::{harness, install, raw};
use serde_json::{Value, json};

const PATH: &str = "/apis/cel.example.com/v1/namespaces/default/limits";

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "limits.cel.example.com"},
        "spec": {"group": "cel.example.com", "scope": "Namespaced",
            "names": {"plural": "limits", "kind": "Limit"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object",
                        "x-kubernetes-validations": [
                            {"rule": "self.min <= self.max", "messageExpression": "'min (' + string(self.min) + ') must not exceed max (' + string(self.max) + ')'"},
                            {"rule": "!has(self.owner) || self.owner != 'root'", "message": "root may not own limits",
                             "reason": "FieldValueForbidden", "fieldPath": ".owner"},
                            {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable"}],
                        "properties": {
                            "min": {"type": "integer"},
                            "max": {"type": "integer"},
                            "owner": {"type": "string"},
                            "mode": {"type": "string"},
                            "names": {"type": "array", "items": {"type": "string",
                                "x-kubernetes-validations": [{"rule": "self.startsWith('n-')", "message": "names start with n-"}]}}}}}}}}]}
    })
}

fn limit(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "cel.example.com/v1", "kind": "Limit", "metadata": {"name": name}, "spec": spec})
}

fn causes(body: &Value) -> Vec<(String, String, String)> {
    body["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("reason"), s("field"), s("message"))
        })
        .collect()
}

fn cause(reason: &str, field: &str, message: &str) -> (String, String, String) {
    (reason.into(), field.into(), message.into())
}

#[tokio::test]
async fn cel_rules_refuse_objects_with_upstream_causes() {
    let h = harness().await;
    install(&h.client, crd()).await;
    let post = |obj: Value| {
        let client = h.client.clone();
        async move {
            raw(
                &client,
                "POST",
                PATH,
                Some("application/json"),
                None,
                Some(obj),
            )
            .await
        }
    };

    let (code, _) = post(limit(
        "ok",
        json!({"min": 1, "max": 2, "mode": "a", "names": ["n-x"]}),
    ))
    .await;
    assert_eq!(code, 201);

    let (code, body) = post(limit("minmax", json!({"min": 3, "max": 2, "mode": "a"}))).await;
    assert_eq!(code, 422);
    assert_eq!(
        causes(&body),
        vec![cause(
            "FieldValueInvalid",
            "spec",
            "Invalid value: \"object\": min (3) must not exceed max (2)"
        )]
    );

    let (code, body) = post(limit(
        "root",
        json!({"min": 1, "max": 2, "owner": "root", "mode": "a"}),
    ))
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        causes(&body),
        vec![cause(
            "FieldValueForbidden",
            "spec.owner",
            "Forbidden: root may not own limits"
        )]
    );

    let (code, body) = post(limit(
        "items",
        json!({"min": 1, "max": 2, "mode": "a", "names": ["n-a", "b"]}),
    ))
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        causes(&body),
        vec![cause(
            "FieldValueInvalid",
            "spec.names[1]",
            "Invalid value: \"string\": names start with n-"
        )]
    );

    // Transition rule: checked on update only.
    let (code, body) = raw(
        &h.client,
        "PATCH",
        &format!("{PATH}/ok"),
        Some("application/merge-patch+json"),
        None,
        Some(json!({"spec": {"mode": "b"}})),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        causes(&body),
        vec![cause(
            "FieldValueInvalid",
            "spec",
            "Invalid value: \"object\": mode is immutable"
        )]
    );
    let (code, _) = raw(
        &h.client,
        "PATCH",
        &format!("{PATH}/ok"),
        Some("application/merge-patch+json"),
        None,
        Some(json!({"spec": {"max": 5}})),
    )
    .await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn a_rule_that_does_not_compile_makes_the_crd_invalid() {
    let h = harness().await;
    let mut bad = crd();
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] =
        json!([{"rule": "self.min <="}]);
    let (code, body) = raw(
        &h.client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        Some("application/json"),
        None,
        Some(bad),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    let c = causes(&body);
    assert_eq!(c.len(), 1, "{body}");
    assert_eq!(
        c[0].1,
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    );
    assert!(
        c[0].2
            .starts_with("Invalid value: \"self.min <=\": compilation failed: "),
        "{}",
        c[0].2
    );
}
