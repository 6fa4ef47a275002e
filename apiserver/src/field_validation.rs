//! Unknown-field handling for built-in kinds, driven by the OpenAPI
//! definitions: `fieldValidation=Strict` refuses unknown fields (400),
//! `Warn` answers with `Warning` headers, and in every mode the unknown
//! fields are dropped before storage, as upstream's typed decoding does.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::openapi::schemas::{Definitions, V2_REF_PREFIX};
use crate::registry::ResourceTable;

/// The client's `fieldValidation` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ignore,
    Warn,
    Strict,
}

impl Mode {
    pub fn parse(v: Option<&str>) -> ApiResult<Mode> {
        match v {
            None | Some("") | Some("Warn") => Ok(Mode::Warn),
            Some("Ignore") => Ok(Mode::Ignore),
            Some("Strict") => Ok(Mode::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            ))),
        }
    }
}

fn definitions() -> &'static Definitions {
    static DEFS: OnceLock<Definitions> = OnceLock::new();
    DEFS.get_or_init(|| Definitions::build(&ResourceTable::builtin()))
}

/// Builds the definitions ahead of the first write (it takes a moment).
pub fn warm_up() {
    definitions();
}

/// Removes fields the kind's schema does not know from `obj` and returns
/// their paths (`spec.foo`, `spec.containers[0].bar`). Kinds without a
/// schema are left alone.
pub fn prune_unknown(group: &str, version: &str, kind: &str, obj: &mut Value) -> Vec<String> {
    let defs = definitions();
    let Some(name) = defs.name_of(group, version, kind) else {
        return Vec::new();
    };
    let Some(schema) = defs.schemas.get(name) else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    walk(defs, schema, obj, "", &mut unknown, 0);
    unknown
}

/// Removes fields an `ObjectMeta` does not know from `meta` (the metadata of
/// a custom resource or of an embedded resource, at `path`) and returns
/// their paths (`metadata.foo`).
pub fn prune_object_meta(meta: &mut Value, path: &str) -> Vec<String> {
    let defs = definitions();
    let Some(schema) = defs
        .schemas
        .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    walk(defs, schema, meta, path, &mut unknown, 0);
    unknown
}

/// Applies `mode` to the unknown and duplicate fields found: an error for
/// Strict, the warnings to send for Warn, nothing for Ignore.
pub fn check(mode: Mode, unknown: &[String], duplicates: &[String]) -> ApiResult<Vec<String>> {
    if (unknown.is_empty() && duplicates.is_empty()) || mode == Mode::Ignore {
        return Ok(Vec::new());
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .chain(
            duplicates
                .iter()
                .map(|f| format!("duplicate field \"{f}\"")),
        )
        .collect();
    match mode {
        Mode::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            messages.join(", ")
        ))),
        _ => Ok(messages),
    }
}

fn resolve<'a>(defs: &'a Definitions, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..8 {
        if let Some(r) = current.get("$ref").and_then(Value::as_str) {
            match r
                .strip_prefix(V2_REF_PREFIX)
                .and_then(|n| defs.schemas.get(n))
            {
                Some(s) => current = s,
                None => return current,
            }
        } else if let Some(first) = current
            .get("allOf")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            current = first;
        } else {
            return current;
        }
    }
    current
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn walk(
    defs: &Definitions,
    schema: &Value,
    value: &mut Value,
    path: &str,
    unknown: &mut Vec<String>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    let schema = resolve(defs, schema);
    match value {
        Value::Object(map) => walk_object(defs, schema, map, path, unknown, depth),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(
                        defs,
                        item_schema,
                        item,
                        &format!("{path}[{i}]"),
                        unknown,
                        depth + 1,
                    );
                }
            }
        }
        _ => {}
    }
}

fn walk_object(
    defs: &Definitions,
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    unknown: &mut Vec<String>,
    depth: usize,
) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let mut drop = Vec::new();
        for (k, v) in map.iter_mut() {
            match props.get(k) {
                Some(s) => walk(defs, s, v, &join(path, k), unknown, depth + 1),
                None => {
                    unknown.push(join(path, k));
                    drop.push(k.clone());
                }
            }
        }
        for k in drop {
            map.remove(&k);
        }
    } else if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        for (k, v) in map.iter_mut() {
            walk(defs, values, v, &format!("{path}[{k}]"), unknown, depth + 1);
        }
    }
    // An object schema with neither (RawExtension, FieldsV1, JSON) takes anything.
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_and_drops_unknown_fields() {
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "bogus": 1, "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i", "colour": "red"}], "foo": true},
        });
        let unknown = prune_unknown("", "v1", "Pod", &mut pod);
        assert_eq!(
            unknown,
            vec!["metadata.bogus", "spec.containers[0].colour", "spec.foo"]
        );
        assert!(pod["spec"].get("foo").is_none());
        assert_eq!(pod["metadata"]["labels"]["a"], "b");
        let err = check(Mode::Strict, &unknown, &[]).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message
                .starts_with("strict decoding error: unknown field \"metadata.bogus\"")
        );
        assert_eq!(check(Mode::Warn, &unknown, &[]).unwrap().len(), 3);
    }

    #[test]
    fn known_objects_pass_untouched() {
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"any-key": "v"}});
        let before = cm.clone();
        assert!(prune_unknown("", "v1", "ConfigMap", &mut cm).is_empty());
        assert_eq!(cm, before);
    }
}

/// Paths of keys that appear twice in the same JSON object of `body`
/// (`spec.replicas`, `spec.containers[0].name`); empty for non-JSON bodies.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = serde::de::DeserializeSeed::deserialize(
        DuplicateSeed {
            path: String::new(),
            found: &mut found,
            depth: 0,
        },
        &mut de,
    );
    found
}

/// Walks any JSON value, recording duplicate keys with their paths.
struct DuplicateSeed<'a> {
    path: String,
    found: &'a mut Vec<String>,
    depth: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for DuplicateSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for DuplicateSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = join(&self.path, &key);
            if !seen.insert(key) {
                self.found.push(path.clone());
            }
            if self.depth < 64 {
                map.next_value_seed(DuplicateSeed {
                    path,
                    found: self.found,
                    depth: self.depth + 1,
                })?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while self.depth < 64 {
            let seed = DuplicateSeed {
                path: format!("{}[{i}]", self.path),
                found: self.found,
                depth: self.depth + 1,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod duplicate_tests {
    use super::duplicate_fields;

    #[test]
    fn finds_duplicates_with_paths() {
        let body = br#"{"metadata":{"name":"a","name":"b"},"spec":{"containers":[{"name":"c","image":"i","image":"j"}]}}"#;
        assert_eq!(
            duplicate_fields(body),
            vec!["metadata.name", "spec.containers[0].image"]
        );
        assert!(duplicate_fields(br#"{"a":1,"b":{"a":2}}"#).is_empty());
    }
}
