//! Structural schemas of custom resources: validation of objects against a
//! CRD version's `openAPIV3Schema` (upstream's kube-openapi validator as the
//! apiextensions-apiserver converts its errors to field causes), defaulting
//! (`default`) and pruning of unknown fields.
//!
//! Messages follow upstream: `spec.replicas in body must be of type integer:
//! "string"` as a `FieldValueTypeInvalid` cause, `Required value`,
//! `Unsupported value: "x": supported values: "a", "b"`, `Too long`,
//! `Too many`, `Duplicate value`. Paths are field paths (`spec.items[0].name`).
//!
//! What it does not do: CEL rules (`cel.rs`), the CRD's own validation
//! (`crd_validation.rs`).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::{Map, Value};

use crate::error::Cause;
use crate::validation;

/// The fields every object has at its root, never pruned or validated by
/// the CRD schema (metadata is validated by the generic registry).
const ROOT_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// `parent.child`, or `child` at the root.
pub fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// The schema of array items (the first one when a list of schemas is given).
pub fn items(s: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match s.items.as_ref()? {
        JSONSchemaPropsOrArray::Schema(b) => Some(b),
        JSONSchemaPropsOrArray::Schemas(v) => v.first(),
    }
}

/// The schema of map values (`additionalProperties` with a schema).
pub fn additional(s: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match s.additional_properties.as_ref()? {
        JSONSchemaPropsOrBool::Schema(b) => Some(b),
        JSONSchemaPropsOrBool::Bool(_) => None,
    }
}

fn allows_any_additional(s: &JSONSchemaProps) -> bool {
    matches!(
        s.additional_properties,
        Some(JSONSchemaPropsOrBool::Bool(true))
    )
}

/// The schema of the value at `key` of an object described by `s`.
pub fn property<'a>(s: &'a JSONSchemaProps, key: &str) -> Option<&'a JSONSchemaProps> {
    s.properties
        .as_ref()
        .and_then(|p| p.get(key))
        .or_else(|| additional(s))
}

/// The type name kube-openapi reports for a JSON value.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => is_integer(v),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    }
}

/// `Invalid value: "<found>": <message>` with reason FieldValueTypeInvalid.
fn type_invalid(field: &str, found: &Value, message: &str) -> Cause {
    let mut c = validation::invalid(field, found, message);
    c.reason = "FieldValueTypeInvalid";
    c
}

fn too_many(field: &str, actual: usize, max: i64) -> Cause {
    Cause {
        reason: "FieldValueTooMany",
        message: format!("Too many: {actual}: must have at most {max} items"),
        field: field.to_string(),
    }
}

fn duplicate(field: &str, v: &Value) -> Cause {
    Cause {
        reason: "FieldValueDuplicate",
        message: format!("Duplicate value: {}", go_value(v)),
        field: field.to_string(),
    }
}

/// A value as Go's `%v`/`%q` prints it in field errors.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k:?}:{}", go_value(v)))
                .collect();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// A float as Go's `%v` prints it (5 not 5.0).
fn num(f: f64) -> String {
    format!("{f}")
}

/// Validates `v` (the value at `path`) against `s`, adding causes.
pub fn validate(s: &JSONSchemaProps, v: &Value, path: &str, out: &mut Vec<Cause>) {
    let root = path.is_empty();
    if v.is_null() {
        if s.nullable == Some(true) {
            return;
        }
        if let Some(ty) = s.type_.as_deref() {
            out.push(type_invalid(
                path,
                &Value::String("null".into()),
                &format!("{path} in body must be of type {ty}: \"null\""),
            ));
        }
        return;
    }
    if s.x_kubernetes_int_or_string == Some(true) {
        if !(is_integer(v) || v.is_string()) {
            let found = type_name(v);
            out.push(type_invalid(
                path,
                &Value::String(found.into()),
                &format!("{path} in body must be of type integer,string: \"{found}\""),
            ));
            return;
        }
    } else if let Some(ty) = s.type_.as_deref()
        && !type_matches(ty, v)
    {
        let found = type_name(v);
        out.push(type_invalid(
            path,
            &Value::String(found.into()),
            &format!("{path} in body must be of type {ty}: \"{found}\""),
        ));
        return;
    }
    if let Some(values) = &s.enum_
        && !values.iter().any(|e| &e.0 == v)
    {
        let supported: Vec<String> = values
            .iter()
            .map(|e| match &e.0 {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let refs: Vec<&str> = supported.iter().map(String::as_str).collect();
        out.push(validation::not_supported(path, v, &refs));
    }
    match v {
        Value::String(text) => validate_string(s, text, v, path, out),
        Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                validate_number(s, f, v, path, out);
            }
        }
        Value::Array(list) => validate_array(s, list, v, path, out),
        Value::Object(map) => validate_object(s, map, path, root, out),
        _ => {}
    }
}

fn validate_string(s: &JSONSchemaProps, text: &str, v: &Value, path: &str, out: &mut Vec<Cause>) {
    let chars = text.chars().count() as i64;
    if let Some(max) = s.max_length
        && chars > max
    {
        let mut c = validation::too_long(path, max.max(0) as usize);
        c.message = format!("Too long: may not be more than {max} bytes");
        out.push(c);
    }
    if let Some(min) = s.min_length
        && chars < min
    {
        out.push(validation::invalid(
            path,
            v,
            &format!("{path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(p) = &s.pattern
        && let Ok(re) = regex::Regex::new(p)
        && !re.is_match(text)
    {
        out.push(validation::invalid(
            path,
            v,
            &format!("{path} in body should match '{p}'"),
        ));
    }
    if let Some(format) = s.format.as_deref()
        && !super::formats::string_matches(format, text)
    {
        out.push(type_invalid(
            path,
            v,
            &format!("{path} in body must be of type {format}: {text:?}"),
        ));
    }
}

fn validate_number(s: &JSONSchemaProps, f: f64, v: &Value, path: &str, out: &mut Vec<Cause>) {
    if let Some(min) = s.minimum {
        let exclusive = s.exclusive_minimum == Some(true);
        if (exclusive && f <= min) || (!exclusive && f < min) {
            let rel = if exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            out.push(validation::invalid(
                path,
                v,
                &format!("{path} in body should be {rel} {}", num(min)),
            ));
        }
    }
    if let Some(max) = s.maximum {
        let exclusive = s.exclusive_maximum == Some(true);
        if (exclusive && f >= max) || (!exclusive && f > max) {
            let rel = if exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            out.push(validation::invalid(
                path,
                v,
                &format!("{path} in body should be {rel} {}", num(max)),
            ));
        }
    }
    if let Some(m) = s.multiple_of
        && m != 0.0
        && (f / m).fract() != 0.0
    {
        out.push(validation::invalid(
            path,
            v,
            &format!("{path} in body should be a multiple of {}", num(m)),
        ));
    }
    if let Some(format) = s.format.as_deref()
        && !super::formats::number_matches(format, f)
    {
        out.push(type_invalid(
            path,
            v,
            &format!("{path} in body must be of type {format}: \"{}\"", num(f)),
        ));
    }
}

fn validate_array(
    s: &JSONSchemaProps,
    list: &[Value],
    v: &Value,
    path: &str,
    out: &mut Vec<Cause>,
) {
    if let Some(max) = s.max_items
        && list.len() as i64 > max
    {
        out.push(too_many(path, list.len(), max));
    }
    if let Some(min) = s.min_items
        && (list.len() as i64) < min
    {
        out.push(validation::invalid(
            path,
            v,
            &format!("{path} in body should have at least {min} items"),
        ));
    }
    if s.unique_items == Some(true) && has_duplicates(list) {
        out.push(validation::invalid(
            path,
            v,
            &format!("{path} in body shouldn't contain duplicates"),
        ));
    }
    match s.x_kubernetes_list_type.as_deref() {
        Some("set") => {
            for (i, item) in list.iter().enumerate() {
                if list[..i].contains(item) {
                    out.push(duplicate(&index(path, i), item));
                }
            }
        }
        Some("map") => {
            let keys = s.x_kubernetes_list_map_keys.clone().unwrap_or_default();
            let key_of = |item: &Value| -> Value {
                let mut m = Map::new();
                for k in &keys {
                    if let Some(x) = item.get(k) {
                        m.insert(k.clone(), x.clone());
                    }
                }
                Value::Object(m)
            };
            for (i, item) in list.iter().enumerate() {
                let key = key_of(item);
                if list[..i].iter().any(|o| key_of(o) == key) {
                    out.push(duplicate(&index(path, i), &key));
                }
            }
        }
        _ => {}
    }
    if let Some(item_schema) = items(s) {
        for (i, item) in list.iter().enumerate() {
            validate(item_schema, item, &index(path, i), out);
        }
    }
}

fn has_duplicates(list: &[Value]) -> bool {
    list.iter()
        .enumerate()
        .any(|(i, item)| list[..i].contains(item))
}

fn validate_object(
    s: &JSONSchemaProps,
    map: &Map<String, Value>,
    path: &str,
    root: bool,
    out: &mut Vec<Cause>,
) {
    for name in s.required.iter().flatten() {
        if !map.contains_key(name) {
            out.push(validation::required(&child(path, name), ""));
        }
    }
    if let Some(max) = s.max_properties
        && map.len() as i64 > max
    {
        out.push(too_many(path, map.len(), max));
    }
    if let Some(min) = s.min_properties
        && (map.len() as i64) < min
    {
        out.push(validation::invalid(
            path,
            &Value::Object(map.clone()),
            &format!("{path} in body should have at least {min} properties"),
        ));
    }
    for (key, value) in map {
        if root && ROOT_FIELDS.contains(&key.as_str()) {
            continue;
        }
        if s.x_kubernetes_embedded_resource == Some(true) && key == "metadata" {
            continue;
        }
        if let Some(ps) = property(s, key) {
            validate(ps, value, &child(path, key), out);
        }
    }
}

/// Fills in `default`s of missing fields (and of nulls in non-nullable
/// fields), recursively, as upstream's structural defaulting.
pub fn apply_defaults(s: &JSONSchemaProps, v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(props) = &s.properties {
                for (key, ps) in props {
                    let missing = match map.get(key) {
                        None => true,
                        Some(Value::Null) => ps.nullable != Some(true),
                        Some(_) => false,
                    };
                    if missing && let Some(d) = &ps.default {
                        map.insert(key.clone(), d.0.clone());
                    }
                }
            }
            for (key, value) in map.iter_mut() {
                if let Some(ps) = property(s, key) {
                    apply_defaults(ps, value);
                }
            }
        }
        Value::Array(list) => {
            if let Some(item_schema) = items(s) {
                for item in list {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// Removes fields the schema does not declare (unless it preserves unknown
/// fields there) and returns their paths, as upstream's pruning.
pub fn prune(s: &JSONSchemaProps, v: &mut Value, path: &str, unknown: &mut Vec<String>) {
    let root = path.is_empty();
    match v {
        Value::Object(map) => {
            let preserve =
                s.x_kubernetes_preserve_unknown_fields == Some(true) || allows_any_additional(s);
            let embedded = s.x_kubernetes_embedded_resource == Some(true);
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if (root || embedded) && key == "metadata" {
                    if let Some(m) = map.get_mut("metadata") {
                        unknown.extend(crate::field_validation::prune_object_meta(
                            m,
                            &child(path, "metadata"),
                        ));
                    }
                    continue;
                }
                if (root || embedded) && ROOT_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                match property(s, &key) {
                    Some(ps) => {
                        if let Some(value) = map.get_mut(&key) {
                            prune(ps, value, &child(path, &key), unknown);
                        }
                    }
                    None if preserve => {}
                    None => {
                        map.remove(&key);
                        unknown.push(child(path, &key));
                    }
                }
            }
        }
        Value::Array(list) => {
            if let Some(item_schema) = items(s) {
                for (i, item) in list.iter_mut().enumerate() {
                    prune(item_schema, item, &index(path, i), unknown);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> JSONSchemaProps {
        serde_json::from_value(v).unwrap_or_default()
    }

    fn causes(s: &JSONSchemaProps, v: Value) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        validate(s, &v, "", &mut out);
        out.into_iter()
            .map(|c| (c.reason.to_string(), c.field, c.message))
            .collect()
    }

    #[test]
    fn type_errors_name_the_found_type() {
        let s = schema(
            json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"replicas": {"type": "integer"}}}}}),
        );
        assert_eq!(
            causes(&s, json!({"spec": {"replicas": "three"}})),
            vec![(
                "FieldValueTypeInvalid".into(),
                "spec.replicas".into(),
                "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"".into()
            )]
        );
    }

    #[test]
    fn defaults_fill_missing_and_prune_drops_unknown() {
        let s = schema(
            json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"size": {"type": "integer", "default": 3}}}}}),
        );
        let mut obj =
            json!({"apiVersion": "a/v1", "kind": "K", "metadata": {}, "spec": {"foo": 1}});
        let mut unknown = Vec::new();
        prune(&s, &mut obj, "", &mut unknown);
        apply_defaults(&s, &mut obj);
        assert_eq!(unknown, vec!["spec.foo".to_string()]);
        assert_eq!(obj["spec"], json!({"size": 3}));
    }
}
