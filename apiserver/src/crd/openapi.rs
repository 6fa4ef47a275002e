//! OpenAPI definitions of custom resources: the CRD version's structural
//! schema with `apiVersion`, `kind` and `metadata` (ObjectMeta) filled in,
//! named like upstream (`com.example.v1.Widget`), plus its list type. The
//! OpenAPI builder (`openapi::schemas`) adds them next to the built-in
//! definitions, so paths, `kubectl explain` and client-side validation see
//! them.

use serde_json::{Value, json};

use super::model::CustomVersion;

const OBJECT_META: &str = "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// `com.example.v1.Widget` for example.com/v1 Widget.
pub fn definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The object and list definitions of one custom resource version:
/// ((kind, name, schema), (list kind, name, schema)).
pub fn definitions(v: &CustomVersion) -> [(String, String, Value); 2] {
    let name = definition_name(&v.group, &v.version, &v.kind);
    let mut schema = v
        .schema
        .as_ref()
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(obj) = schema.as_object_mut() {
        let props = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(p) = props.as_object_mut() {
            p.insert(
                "apiVersion".into(),
                json!({"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"}),
            );
            p.insert(
                "kind".into(),
                json!({"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"}),
            );
            p.insert(
                "metadata".into(),
                json!({"description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", "$ref": OBJECT_META}),
            );
        }
        obj.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": v.group, "kind": v.kind, "version": v.version}]),
        );
    }
    let list_name = definition_name(&v.group, &v.version, &v.list_kind);
    let list = json!({
        "description": format!("{} is a list of {}", v.list_kind, v.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object.", "type": "string"},
            "items": {
                "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", v.plural),
                "type": "array",
                "items": {"$ref": format!("#/definitions/{name}")},
            },
            "kind": {"description": "Kind is a string value representing the REST resource this object represents.", "type": "string"},
            "metadata": {"description": "Standard list metadata.", "$ref": LIST_META},
        },
        "x-kubernetes-group-version-kind": [{"group": v.group, "kind": v.list_kind, "version": v.version}],
    });
    [
        (v.kind.clone(), name, schema),
        (v.list_kind.clone(), list_name, list),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reverse_the_group() {
        assert_eq!(
            definition_name("stable.example.com", "v1", "CronTab"),
            "com.example.stable.v1.CronTab"
        );
    }
}
