//! Reading an apply configuration: YAML (or JSON) into a JSON object,
//! duplicate keys reported as upstream's strict YAML decoding reports them
//! (`line 9: key "foo" already set in map`: refused under
//! `fieldValidation=Strict`, a warning under `Warn`), and the checks of
//! the object against the request (kind, name, namespace, no managedFields).

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::field_validation::Mode;
use crate::handlers::Ctx;
use crate::meta;

/// The configuration of an apply request, and the warnings to send.
pub fn decode(ctx: &Ctx) -> Result<(Value, Vec<String>), ApiError> {
    let mode = Mode::parse(ctx.param("fieldValidation"))?;
    let mut warnings = Vec::new();
    if mode != Mode::Ignore
        && let Some(line) = duplicate_key(&ctx.body)
    {
        let problem = format!("yaml: unmarshal errors:\n  {line}");
        if mode == Mode::Strict {
            return Err(ApiError::bad_request(format!(
                "error strict decoding YAML: error converting YAML to JSON: {problem}"
            )));
        }
        warnings.push(line);
    }
    let config: Value = serde_yaml::from_slice(&ctx.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    Ok((config, warnings))
}

/// The first duplicate key, as `line N: key "k" already set in map`.
fn duplicate_key(body: &[u8]) -> Option<String> {
    let err = serde_yaml::from_slice::<serde_yaml::Value>(body).err()?;
    let text = err.to_string();
    let rest = text.split("duplicate entry with key ").nth(1)?;
    let key: String = serde_json::from_str(rest.split(" at line").next()?)
        .ok()
        .or_else(|| rest.split(" at line").next().map(str::to_string))?;
    // serde_yaml reports where the mapping starts; the duplicate is the
    // second line at that mapping's indentation naming the key.
    let start = err.location().map(|l| l.line()).unwrap_or(1).max(1);
    let source = String::from_utf8_lossy(body);
    let lines: Vec<&str> = source.lines().collect();
    let indent = lines
        .get(start - 1)
        .map(|l| l.len() - l.trim_start().len())
        .unwrap_or(0);
    let names_key = |l: &str| {
        let t = l.trim_start();
        l.len() - t.len() == indent
            && (t.starts_with(&format!("{key}:")) || t.starts_with(&format!("\"{key}\":")))
    };
    let line = lines
        .iter()
        .enumerate()
        .skip(start - 1)
        .filter(|(_, l)| names_key(l))
        .map(|(i, _)| i + 1)
        .nth(1)
        .unwrap_or(start);
    Some(format!("line {line}: key {key:?} already set in map"))
}

/// Checks an apply configuration against the request: an object of the
/// endpoint's kind, without managedFields, naming the URL's object (name
/// and namespace are filled in when absent).
pub fn check(ctx: &Ctx, config: &mut Value) -> Result<(), ApiError> {
    let info = &ctx.res.info;
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "error decoding YAML: the applied configuration is not an object",
        ));
    }
    let api_version = config["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kind = config["kind"].as_str().unwrap_or_default().to_string();
    if api_version != info.api_version() || kind != info.kind {
        let (g, v) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        return Err(ApiError::bad_request(format!(
            "invalid object type: {g}/{v}, Kind={kind}"
        )));
    }
    if !config.get("metadata").is_some_and(Value::is_object) {
        config["metadata"] = json!({});
    }
    if config.pointer("/metadata/managedFields").is_some() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let name = meta::name(config).to_string();
    if name.is_empty() {
        meta::meta_mut(config).insert("name".into(), json!(ctx.name()));
    } else if name != ctx.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            ctx.name()
        )));
    }
    if let Some(ns) = ctx.ns() {
        let body_ns = meta::namespace(config).to_string();
        if body_ns.is_empty() {
            meta::meta_mut(config).insert("namespace".into(), json!(ns));
        } else if body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_name_the_second_line() {
        let body = b"\napiVersion: v1\nkind: X\nmetadata:\n  name: a\nspec:\n  unknown: uk1\n  foo: foo1\n  foo: foo2\n";
        assert_eq!(
            duplicate_key(body).as_deref(),
            Some("line 9: key \"foo\" already set in map")
        );
        assert_eq!(duplicate_key(b"a: 1\nb: 2\n"), None);
        assert_eq!(
            duplicate_key(br#"{"a": 1, "a": 2}"#).as_deref(),
            Some("line 1: key \"a\" already set in map")
        );
    }
}
