//! ConfigMap: key syntax, the 1 MiB size limit, and `immutable`.

use serde_json::Value;

use super::Strategy;
use crate::error::Cause;
use crate::validation::{forbidden, invalid, too_long};

pub struct ConfigMapStrategy;

/// Upstream's IsConfigMapKey: `[-._a-zA-Z0-9]+`, at most 253 characters,
/// not "." or "..".
pub(crate) fn config_key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string());
    }
    if key == "." || key == ".." {
        errs.push(format!("must not be '{key}'"));
    }
    errs
}

/// Validates keys and total size of `data` and `binaryData`-style maps.
pub(crate) fn validate_data_maps(
    obj: &Value,
    maps: &[&str],
    limit: usize,
    causes: &mut Vec<Cause>,
) {
    let mut total = 0usize;
    let mut seen = std::collections::HashSet::new();
    for map in maps {
        if let Some(m) = obj.get(*map).and_then(Value::as_object) {
            for (k, v) in m {
                for e in config_key_errors(k) {
                    causes.push(invalid(
                        &format!("{map}[{k}]"),
                        &Value::String(k.clone()),
                        &e,
                    ));
                }
                if !seen.insert(k.clone()) {
                    causes.push(invalid(
                        &format!("{map}[{k}]"),
                        &Value::String(k.clone()),
                        "duplicate of key present in another data map",
                    ));
                }
                total += v.as_str().map(str::len).unwrap_or(0);
            }
        }
    }
    if total > limit {
        causes.push(too_long("", limit));
    }
}

/// `immutable: true` objects refuse changes to data and to `immutable`.
pub(crate) fn validate_immutable(new: &Value, old: &Value, maps: &[&str], causes: &mut Vec<Cause>) {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        causes.push(forbidden(
            "immutable",
            "field is immutable when `immutable` is set",
        ));
    }
    for map in maps {
        if new.get(*map) != old.get(*map) {
            causes.push(forbidden(map, "field is immutable when `immutable` is set"));
        }
    }
}

impl Strategy for ConfigMapStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        validate_data_maps(obj, &["data", "binaryData"], 1024 * 1024, &mut causes);
        causes
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = self.validate(new);
        validate_immutable(new, old, &["data", "binaryData"], &mut causes);
        causes
    }
}
