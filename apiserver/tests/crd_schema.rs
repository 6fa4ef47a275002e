//! A table of schema cases for custom resources: for each keyword of the
//! structural schema (and the CEL rules), an object that passes and one
//! that is refused, with the status code, reason and causes upstream gives.

mod crd_common;

use crd_common::{harness, install, raw, widget_crd};
use serde_json::{Value, json};

const PATH: &str = "/apis/example.com/v1/namespaces/default/widgets";

/// (case, spec, expected causes as (reason, field, message)); no causes
/// means the object must be created.
/// A case: its name, the spec sent, the causes expected.
type Case = (
    &'static str,
    Value,
    Vec<(&'static str, &'static str, &'static str)>,
);

fn cases() -> Vec<Case> {
    vec![
        ("type ok", json!({"size": "small", "replicas": 3}), vec![]),
        (
            "type",
            json!({"size": "small", "replicas": "three"}),
            vec![(
                "FieldValueTypeInvalid",
                "spec.replicas",
                "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
            )],
        ),
        (
            "required",
            json!({"replicas": 1}),
            vec![("FieldValueRequired", "spec.size", "Required value")],
        ),
        (
            "enum",
            json!({"size": "huge"}),
            vec![(
                "FieldValueNotSupported",
                "spec.size",
                "Unsupported value: \"huge\": supported values: \"tiny\", \"small\", \"large\"",
            )],
        ),
        (
            "pattern ok",
            json!({"size": "small", "name": "abc"}),
            vec![],
        ),
        (
            "pattern",
            json!({"size": "small", "name": "AB"}),
            vec![(
                "FieldValueInvalid",
                "spec.name",
                "Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'",
            )],
        ),
        (
            "minimum",
            json!({"size": "small", "replicas": -1}),
            vec![(
                "FieldValueInvalid",
                "spec.replicas",
                "Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
            )],
        ),
        (
            "maximum",
            json!({"size": "small", "replicas": 101}),
            vec![(
                "FieldValueInvalid",
                "spec.replicas",
                "Invalid value: 101: spec.replicas in body should be less than or equal to 100",
            )],
        ),
        (
            "exclusiveMaximum ok",
            json!({"size": "small", "ratio": 0.5}),
            vec![],
        ),
        (
            "exclusiveMaximum",
            json!({"size": "small", "ratio": 1}),
            vec![(
                "FieldValueInvalid",
                "spec.ratio",
                "Invalid value: 1: spec.ratio in body should be less than 1",
            )],
        ),
        (
            "maxLength",
            json!({"size": "small", "name": "abcdef"}),
            vec![(
                "FieldValueTooLong",
                "spec.name",
                "Too long: may not be more than 5 bytes",
            )],
        ),
        (
            "minLength",
            json!({"size": "small", "name": "a"}),
            vec![(
                "FieldValueInvalid",
                "spec.name",
                "Invalid value: \"a\": spec.name in body should be at least 2 chars long",
            )],
        ),
        (
            "maxItems",
            json!({"size": "small", "tags": ["a", "b", "c", "d"]}),
            vec![(
                "FieldValueTooMany",
                "spec.tags",
                "Too many: 4: must have at most 3 items",
            )],
        ),
        (
            "list-type set",
            json!({"size": "small", "tags": ["a", "a"]}),
            vec![(
                "FieldValueDuplicate",
                "spec.tags[1]",
                "Duplicate value: \"a\"",
            )],
        ),
        (
            "list-type map ok",
            json!({"size": "small", "ports": [{"name": "a", "port": 1}, {"name": "b"}]}),
            vec![],
        ),
        (
            "list-type map",
            json!({"size": "small", "ports": [{"name": "a"}, {"name": "a"}]}),
            vec![(
                "FieldValueDuplicate",
                "spec.ports[1]",
                "Duplicate value: map[string]interface {}{\"name\":\"a\"}",
            )],
        ),
        (
            "required in items",
            json!({"size": "small", "ports": [{"port": 1}]}),
            vec![("FieldValueRequired", "spec.ports[0].name", "Required value")],
        ),
        (
            "format int32",
            json!({"size": "small", "ports": [{"name": "a", "port": 30000000000i64}]}),
            vec![(
                "FieldValueTypeInvalid",
                "spec.ports[0].port",
                "Invalid value: 30000000000: spec.ports[0].port in body must be of type int32: \"30000000000\"",
            )],
        ),
        (
            "maxProperties",
            json!({"size": "small", "labels": {"a": "1", "b": "2", "c": "3"}}),
            vec![(
                "FieldValueTooMany",
                "spec.labels",
                "Too many: 3: must have at most 2 items",
            )],
        ),
        (
            "additionalProperties type",
            json!({"size": "small", "labels": {"a": 1}}),
            vec![(
                "FieldValueTypeInvalid",
                "spec.labels.a",
                "Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\"",
            )],
        ),
        (
            "format date-time ok",
            json!({"size": "small", "when": "2025-01-02T03:04:05Z"}),
            vec![],
        ),
        (
            "format date-time",
            json!({"size": "small", "when": "yesterday"}),
            vec![(
                "FieldValueTypeInvalid",
                "spec.when",
                "Invalid value: \"yesterday\": spec.when in body must be of type date-time: \"yesterday\"",
            )],
        ),
        (
            "format byte",
            json!({"size": "small", "data": "not base64!"}),
            vec![(
                "FieldValueTypeInvalid",
                "spec.data",
                "Invalid value: \"not base64!\": spec.data in body must be of type byte: \"not base64!\"",
            )],
        ),
        (
            "int-or-string int",
            json!({"size": "small", "port": 80}),
            vec![],
        ),
        (
            "int-or-string string",
            json!({"size": "small", "port": "http"}),
            vec![],
        ),
        (
            "int-or-string",
            json!({"size": "small", "port": true}),
            vec![(
                "FieldValueTypeInvalid",
                "spec.port",
                "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"",
            )],
        ),
        ("nullable", json!({"size": "small", "note": null}), vec![]),
        (
            "not nullable",
            json!({"size": "small", "name": null}),
            vec![(
                "FieldValueTypeInvalid",
                "spec.name",
                "Invalid value: \"null\": spec.name in body must be of type string: \"null\"",
            )],
        ),
        (
            "preserve-unknown-fields",
            json!({"size": "small", "extra": {"free": {"form": [1, 2]}}}),
            vec![],
        ),
        (
            "embedded-resource",
            json!({"size": "small", "template": {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p"}, "spec": {"containers": []}}}),
            vec![],
        ),
        (
            "CEL rule",
            json!({"size": "small", "replicas": 11}),
            vec![(
                "FieldValueInvalid",
                "spec",
                "Invalid value: \"object\": at most 10 replicas",
            )],
        ),
    ]
}

#[tokio::test]
async fn schema_cases_match_upstream() {
    let h = harness().await;
    install(&h.client, widget_crd()).await;
    let mut failures = Vec::new();
    for (i, (case, spec, expected)) in cases().into_iter().enumerate() {
        let name = format!("case-{i}");
        let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": name}, "spec": spec});
        let (code, body) = raw(
            &h.client,
            "POST",
            PATH,
            Some("application/json"),
            None,
            Some(obj),
        )
        .await;
        if expected.is_empty() {
            if code != 201 {
                failures.push(format!("{case}: expected 201, got {code}: {body}"));
            }
            continue;
        }
        let causes: Vec<(String, String, String)> = body["details"]["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (s("reason"), s("field"), s("message"))
            })
            .collect();
        let want: Vec<(String, String, String)> = expected
            .iter()
            .map(|(r, f, m)| (r.to_string(), f.to_string(), m.to_string()))
            .collect();
        let message_ok = body["message"].as_str().is_some_and(|m| {
            m.starts_with(&format!(
                "Widget.example.com \"{name}\" is invalid: {}: {}",
                want[0].1, want[0].2
            ))
        });
        if code != 422 || body["reason"] != "Invalid" || causes != want || !message_ok {
            failures.push(format!("{case}: got {code} {body}"));
        }
    }
    assert!(
        failures.is_empty(),
        "cases failing:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn defaults_pruning_and_transition_rules() {
    let h = harness().await;
    install(&h.client, widget_crd()).await;
    // Unknown fields: pruned, with a warning under fieldValidation=Warn.
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": "small", "bogus": 1, "extra": {"kept": true}}});
    let (code, body) = raw(
        &h.client,
        "POST",
        &format!("{PATH}?fieldValidation=Warn"),
        Some("application/json"),
        None,
        Some(obj),
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(
        body["spec"],
        json!({"size": "small", "replicas": 1, "extra": {"kept": true}})
    );

    // Transition rule: size may not change to tiny, but may be created tiny.
    let (code, body) = raw(
        &h.client,
        "PATCH",
        &format!("{PATH}/w"),
        Some("application/merge-patch+json"),
        None,
        Some(json!({"spec": {"size": "tiny"}})),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["message"],
        "Invalid value: \"object\": cannot shrink to tiny"
    );
    let tiny = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "t"}, "spec": {"size": "tiny"}});
    let (code, _) = raw(
        &h.client,
        "POST",
        PATH,
        Some("application/json"),
        None,
        Some(tiny),
    )
    .await;
    assert_eq!(code, 201);

    // Defaults are applied on read to objects stored without them.
    let key = b"/registry/example.com/widgets/default/raw".to_vec();
    let stored = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "raw", "namespace": "default", "uid": "u", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"size": "large"}});
    h.server
        .kv
        .put(store::PutRequest {
            key,
            value: serde_json::to_vec(&stored).unwrap_or_default(),
            ..Default::default()
        })
        .await
        .expect("put");
    let (code, body) = raw(&h.client, "GET", &format!("{PATH}/raw"), None, None, None).await;
    assert_eq!(code, 200);
    assert_eq!(body["spec"]["replicas"], 1);
}
