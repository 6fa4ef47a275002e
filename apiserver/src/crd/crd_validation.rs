//! Validation of CustomResourceDefinition objects with upstream's rules and
//! messages (apiextensions-apiserver `pkg/apis/apiextensions/validation`):
//! names, group, scope, versions (exactly one storage version, at least one
//! served), structural schemas, printer columns, scale paths, conversion,
//! and CEL rules that must compile.
//!
//! Differences: Go renders whole structs as the bad value of a few causes
//! (`spec.versions`); we render them as JSON.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, JSONSchemaProps,
};
use serde_json::Value;

use super::{cel, schema};
use crate::error::Cause;
use crate::validation::{self, forbidden, invalid, not_supported, required};

const DNS1035_MESSAGE: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// Upstream's DNS-1035 label check.
fn dns1035(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !ok {
        errs.push(DNS1035_MESSAGE.to_string());
    }
    errs
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// Every problem of a CRD (create and update alike).
pub fn validate(obj: &Value) -> Vec<Cause> {
    let crd: CustomResourceDefinition = match serde_json::from_value(obj.clone()) {
        Ok(c) => c,
        Err(e) => return vec![invalid("spec", &Value::Null, &e.to_string())],
    };
    let mut out = Vec::new();
    let spec = &crd.spec;
    let names = &spec.names;
    let name = crd.metadata.name.as_deref().unwrap_or_default();
    let expected = format!("{}.{}", names.plural, spec.group);
    if !name.is_empty() && name != expected {
        out.push(invalid(
            "metadata.name",
            &s(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    // group
    if spec.group.is_empty() {
        out.push(required("spec.group", ""));
    } else {
        for e in validation::dns1123_subdomain(&spec.group) {
            out.push(invalid("spec.group", &s(&spec.group), &e));
        }
        if spec.group.split('.').count() < 2 {
            out.push(invalid(
                "spec.group",
                &s(&spec.group),
                "should be a domain with at least one dot",
            ));
        }
    }
    // scope
    match spec.scope.as_str() {
        "" => out.push(required("spec.scope", "")),
        "Cluster" | "Namespaced" => {}
        other => out.push(not_supported(
            "spec.scope",
            &s(other),
            &["Cluster", "Namespaced"],
        )),
    }
    if spec.preserve_unknown_fields == Some(true) {
        out.push(invalid(
            "spec.preserveUnknownFields",
            &Value::Bool(true),
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
    validate_names(&crd, &mut out);
    validate_versions(&crd, &mut out);
    validate_conversion(&crd, &mut out);
    out
}

fn validate_names(crd: &CustomResourceDefinition, out: &mut Vec<Cause>) {
    let names = &crd.spec.names;
    let label = |field: &str, v: &str, out: &mut Vec<Cause>| {
        for e in dns1035(v) {
            out.push(invalid(field, &s(v), &e));
        }
    };
    if names.plural.is_empty() {
        out.push(required("spec.names.plural", ""));
    } else {
        label("spec.names.plural", &names.plural, out);
    }
    if let Some(singular) = names.singular.as_deref()
        && !singular.is_empty()
    {
        label("spec.names.singular", singular, out);
    }
    let kind_check = |field: &str, v: &str, out: &mut Vec<Cause>| {
        if !dns1035(&v.to_lowercase()).is_empty() {
            out.push(invalid(
                field,
                &s(v),
                "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?",
            ));
        }
    };
    if names.kind.is_empty() {
        out.push(required("spec.names.kind", ""));
    } else {
        kind_check("spec.names.kind", &names.kind, out);
    }
    if let Some(list_kind) = names.list_kind.as_deref()
        && !list_kind.is_empty()
    {
        kind_check("spec.names.listKind", list_kind, out);
        if list_kind == names.kind {
            out.push(invalid(
                "spec.names.listKind",
                &s(list_kind),
                "kind and listKind may not be the same",
            ));
        }
    }
    for (i, short) in names.short_names.iter().flatten().enumerate() {
        label(&format!("spec.names.shortNames[{i}]"), short, out);
    }
    for (i, cat) in names.categories.iter().flatten().enumerate() {
        label(&format!("spec.names.categories[{i}]"), cat, out);
    }
}

fn versions_value(versions: &[CustomResourceDefinitionVersion]) -> Value {
    serde_json::to_value(versions).unwrap_or(Value::Null)
}

fn validate_versions(crd: &CustomResourceDefinition, out: &mut Vec<Cause>) {
    let versions = &crd.spec.versions;
    if versions.is_empty() {
        out.push(required("spec.versions", "must have at least one version"));
        return;
    }
    let storage = versions.iter().filter(|v| v.storage).count();
    if storage != 1 {
        out.push(invalid(
            "spec.versions",
            &versions_value(versions),
            "must have exactly one version marked as storage version",
        ));
    }
    if !versions.iter().any(|v| v.served) {
        out.push(invalid(
            "spec.versions",
            &versions_value(versions),
            "must have at least one version marked as served",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        let base = format!("spec.versions[{i}]");
        if v.name.is_empty() {
            out.push(required(&format!("{base}.name"), ""));
        } else {
            for e in dns1035(&v.name) {
                out.push(invalid(&format!("{base}.name"), &s(&v.name), &e));
            }
            if versions[..i].iter().any(|o| o.name == v.name) {
                out.push(Cause {
                    reason: "FieldValueDuplicate",
                    message: format!("Duplicate value: {:?}", v.name),
                    field: format!("{base}.name"),
                });
            }
        }
        match v
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
        {
            None => out.push(required(
                &format!("{base}.schema.openAPIV3Schema"),
                "schemas are required",
            )),
            Some(root) => {
                let path = format!("{base}.schema.openAPIV3Schema");
                structural(root, &path, true, out);
                for e in cel::compile_errors(root, &path) {
                    out.push(invalid(
                        &e.path,
                        &s(&e.rule),
                        &format!("compilation failed: {}", e.error),
                    ));
                }
            }
        }
        for (j, col) in v.additional_printer_columns.iter().flatten().enumerate() {
            let cbase = format!("{base}.additionalPrinterColumns[{j}]");
            if col.name.is_empty() {
                out.push(required(&format!("{cbase}.name"), ""));
            }
            if !matches!(
                col.type_.as_str(),
                "integer" | "number" | "string" | "boolean" | "date"
            ) {
                out.push(not_supported(
                    &format!("{cbase}.type"),
                    &s(&col.type_),
                    &["boolean", "date", "integer", "number", "string"],
                ));
            }
            if let Some(f) = col.format.as_deref()
                && !f.is_empty()
                && !matches!(
                    f,
                    "int32"
                        | "int64"
                        | "float"
                        | "double"
                        | "byte"
                        | "date"
                        | "date-time"
                        | "password"
                        | "name"
                )
            {
                out.push(not_supported(
                    &format!("{cbase}.format"),
                    &s(f),
                    &[
                        "int32",
                        "int64",
                        "float",
                        "double",
                        "byte",
                        "date",
                        "date-time",
                        "password",
                    ],
                ));
            }
            if col.json_path.is_empty() {
                out.push(required(&format!("{cbase}.jsonPath"), ""));
            }
        }
        if let Some(scale) = v.subresources.as_ref().and_then(|s| s.scale.as_ref()) {
            let sbase = format!("{base}.subresources.scale");
            if !scale.spec_replicas_path.starts_with(".spec.") {
                out.push(invalid(
                    &format!("{sbase}.specReplicasPath"),
                    &s(&scale.spec_replicas_path),
                    "should be a json path under .spec",
                ));
            }
            if !scale.status_replicas_path.starts_with(".status.") {
                out.push(invalid(
                    &format!("{sbase}.statusReplicasPath"),
                    &s(&scale.status_replicas_path),
                    "should be a json path under .status",
                ));
            }
            if let Some(sel) = scale.label_selector_path.as_deref()
                && !sel.starts_with(".spec.")
                && !sel.starts_with(".status.")
            {
                out.push(invalid(
                    &format!("{sbase}.labelSelectorPath"),
                    &s(sel),
                    "should be a json path under either .spec or .status",
                ));
            }
        }
    }
}

/// Upstream's structural schema rules (the ones users meet): every node
/// specifies a type, except where `x-kubernetes-int-or-string` or
/// `x-kubernetes-preserve-unknown-fields` says otherwise, and the root is an
/// object.
fn structural(s: &JSONSchemaProps, path: &str, root: bool, out: &mut Vec<Cause>) {
    let preserve = s.x_kubernetes_preserve_unknown_fields == Some(true);
    let int_or_string = s.x_kubernetes_int_or_string == Some(true);
    match s.type_.as_deref() {
        None | Some("") if root => out.push(required(
            &format!("{path}.type"),
            "must not be empty at the root",
        )),
        Some(t) if root && t != "object" => out.push(invalid(
            &format!("{path}.type"),
            &s_(t),
            "must be object at the root",
        )),
        None | Some("") if !preserve && !int_or_string => out.push(required(
            &format!("{path}.type"),
            "must not be empty for specified object fields",
        )),
        Some(t)
            if !matches!(
                t,
                "object" | "array" | "string" | "integer" | "number" | "boolean"
            ) =>
        {
            out.push(not_supported(
                &format!("{path}.type"),
                &s_(t),
                &["array", "boolean", "integer", "number", "object", "string"],
            ))
        }
        _ => {}
    }
    if int_or_string && s.type_.as_deref().is_some_and(|t| !t.is_empty()) {
        out.push(forbidden(
            &format!("{path}.type"),
            "must be empty if x-kubernetes-int-or-string is true",
        ));
    }
    if s.type_.as_deref() == Some("array") && s.items.is_none() {
        out.push(required(&format!("{path}.items"), "must be specified"));
    }
    if s.properties.as_ref().is_some_and(|p| !p.is_empty())
        && matches!(
            s.additional_properties,
            Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrBool::Schema(_))
        )
    {
        out.push(forbidden(
            &format!("{path}.additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    // A default must be valid for its own node (upstream validates it like
    // a value of the field).
    if let Some(d) = &s.default {
        let mut causes = Vec::new();
        schema::validate(s, &d.0, &format!("{path}.default"), &mut causes);
        out.extend(causes);
    }
    if let Some(p) = &s.pattern
        && regex::Regex::new(p).is_err()
    {
        out.push(invalid(
            &format!("{path}.pattern"),
            &s_(p),
            "must be a valid regular expression",
        ));
    }
    for (name, ps) in s.properties.iter().flatten() {
        structural(ps, &format!("{path}.properties[{name}]"), false, out);
    }
    if let Some(is) = schema::items(s) {
        structural(is, &format!("{path}.items"), false, out);
    }
    if let Some(a) = schema::additional(s) {
        structural(a, &format!("{path}.additionalProperties"), false, out);
    }
}

fn s_(v: &str) -> Value {
    s(v)
}

fn validate_conversion(crd: &CustomResourceDefinition, out: &mut Vec<Cause>) {
    let Some(conv) = &crd.spec.conversion else {
        return;
    };
    match conv.strategy.as_str() {
        "None" => {
            if conv.webhook.is_some() {
                out.push(forbidden(
                    "spec.conversion.webhook",
                    "should not be set when strategy is not set to Webhook",
                ));
            }
        }
        "Webhook" => match &conv.webhook {
            None => out.push(required(
                "spec.conversion.webhook",
                "required when strategy is set to Webhook",
            )),
            Some(w) => {
                let cc = w.client_config.as_ref();
                let has_url = cc.and_then(|c| c.url.as_ref()).is_some();
                let has_service = cc.and_then(|c| c.service.as_ref()).is_some();
                if !has_url && !has_service {
                    out.push(required(
                        "spec.conversion.webhook.clientConfig",
                        "exactly one of url or service is required",
                    ));
                }
                if !w
                    .conversion_review_versions
                    .iter()
                    .any(|v| v == "v1" || v == "v1beta1")
                {
                    out.push(invalid(
                        "spec.conversion.webhook.conversionReviewVersions",
                        &serde_json::to_value(&w.conversion_review_versions).unwrap_or(Value::Null),
                        "must include at least one of v1, v1beta1",
                    ));
                }
            }
        },
        "" => out.push(required("spec.conversion.strategy", "")),
        other => out.push(not_supported(
            "spec.conversion.strategy",
            &s(other),
            &["None", "Webhook"],
        )),
    }
}

/// Update rules beyond `validate`: every stored version stays in
/// `spec.versions` (upstream keeps storage versions readable).
pub fn validate_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut out = validate(new);
    let stored: Vec<String> = old
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let names: Vec<&str> = new
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    for (i, sv) in stored.iter().enumerate() {
        if !names.contains(&sv.as_str()) {
            out.push(invalid(
                &format!("status.storedVersions[{i}]"),
                &s(sv),
                "must appear in spec.versions",
            ));
        }
    }
    let old_scope = old.pointer("/spec/scope").and_then(Value::as_str);
    let new_scope = new.pointer("/spec/scope").and_then(Value::as_str);
    if old_scope.is_some() && old_scope != new_scope {
        out.push(invalid(
            "spec.scope",
            &s(new_scope.unwrap_or_default()),
            "field is immutable",
        ));
    }
    out
}
