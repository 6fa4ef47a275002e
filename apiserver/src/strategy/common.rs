//! Helpers shared by the strategies: defaulting, upstream's field-error
//! renderings of Go values (`%#v` of maps, label selectors, int-or-string),
//! label selector validation and matching.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use serde_json::{Value, json};

use crate::error::Cause;
use crate::validation::{forbidden, invalid, label_value, qualified_name, required};

/// Sets `obj[key]` when it is missing or null.
pub(crate) fn default_if_missing(obj: &mut Value, key: &str, value: Value) {
    if obj.is_object() && obj.get(key).is_none_or(Value::is_null) {
        obj[key] = value;
    }
}

/// Makes `obj[key]` an object (creating it) and returns it.
pub(crate) fn object_at<'a>(obj: &'a mut Value, key: &str) -> &'a mut Value {
    if !obj.get(key).is_some_and(Value::is_object) {
        obj[key] = json!({});
    }
    &mut obj[key]
}

pub(crate) fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(crate) fn i64_at(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

/// `Invalid value: <rendered>: <msg>` where `rendered` is already in Go's
/// notation.
pub(crate) fn invalid_go(field: &str, rendered: String, msg: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        message: format!("Invalid value: {rendered}: {msg}"),
        field: field.to_string(),
    }
}

/// `Unsupported value: <rendered>: supported values: ...` with a Go-rendered value.
pub(crate) fn not_supported_go(field: &str, rendered: String, supported: &[&str]) -> Cause {
    let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
    Cause {
        reason: "FieldValueNotSupported",
        message: format!(
            "Unsupported value: {rendered}: supported values: {}",
            list.join(", ")
        ),
        field: field.to_string(),
    }
}

pub(crate) fn duplicate(field: &str, rendered: String) -> Cause {
    Cause {
        reason: "FieldValueDuplicate",
        message: format!("Duplicate value: {rendered}"),
        field: field.to_string(),
    }
}

/// Upstream's ValidateNonnegativeField.
pub(crate) fn nonnegative(obj: &Value, pointer: &str, field: &str, causes: &mut Vec<Cause>) {
    if let Some(v) = i64_at(obj, pointer)
        && v < 0
    {
        causes.push(invalid(
            field,
            &json!(v),
            "must be greater than or equal to 0",
        ));
    }
}

/// Go's `%q` for a string.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `%#v` of a `map[string]string` (nil when absent).
pub(crate) fn go_string_map(v: Option<&Value>) -> String {
    match v.and_then(Value::as_object) {
        None => "map[string]string(nil)".to_string(),
        Some(m) => {
            let sorted: BTreeMap<&String, &str> = m
                .iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default()))
                .collect();
            let items: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
                .collect();
            format!("map[string]string{{{}}}", items.join(", "))
        }
    }
}

/// `%#v` of a `[]string` (nil when absent).
pub(crate) fn go_string_slice(v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        None => "[]string(nil)".to_string(),
        Some(a) => {
            let items: Vec<String> = a
                .iter()
                .map(|s| go_quote(s.as_str().unwrap_or_default()))
                .collect();
            format!("[]string{{{}}}", items.join(", "))
        }
    }
}

/// `%#v` of a `metav1.LabelSelector` (`null` for a nil pointer).
pub(crate) fn go_label_selector(v: Option<&Value>) -> String {
    let Some(sel) = v.filter(|s| s.is_object()) else {
        return "null".to_string();
    };
    let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|e| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(str_at(e, "/key")),
                        go_quote(str_at(e, "/operator")),
                        go_string_slice(e.get("values"))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        go_string_map(sel.get("matchLabels")),
        exprs
    )
}

/// `%#v` of an `intstr.IntOrString`.
pub(crate) fn go_int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            go_quote(s)
        ),
        other => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            other.as_i64().unwrap_or(0)
        ),
    }
}

/// Labels validation (`ValidateLabels`): every error at `field` itself.
pub(crate) fn validate_labels(labels: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    let Some(m) = labels.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in m {
        for e in qualified_name(k) {
            causes.push(invalid(field, &json!(k), &e));
        }
        let s = v.as_str().unwrap_or_default();
        for e in label_value(s) {
            causes.push(invalid(field, &json!(s), &e));
        }
    }
}

/// Upstream's ValidateLabelSelector (strict label values).
pub(crate) fn validate_label_selector(sel: &Value, field: &str, causes: &mut Vec<Cause>) {
    validate_labels(
        sel.get("matchLabels"),
        &format!("{field}.matchLabels"),
        causes,
    );
    for (i, e) in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("{field}.matchExpressions[{i}]");
        let values = e.get("values").and_then(Value::as_array);
        let n = values.map(Vec::len).unwrap_or(0);
        match str_at(e, "/operator") {
            "In" | "NotIn" => {
                if n == 0 {
                    causes.push(required(
                        &format!("{path}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if n > 0 {
                    causes.push(forbidden(
                        &format!("{path}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            op => causes.push(invalid(
                &format!("{path}.operator"),
                &json!(op),
                "not a valid selector operator",
            )),
        }
        let key = str_at(e, "/key");
        for msg in qualified_name(key) {
            causes.push(invalid(&format!("{path}.key"), &json!(key), &msg));
        }
        for (j, v) in values.into_iter().flatten().enumerate() {
            let s = v.as_str().unwrap_or_default();
            for msg in label_value(s) {
                causes.push(invalid(&format!("{path}.values[{j}]"), &json!(s), &msg));
            }
        }
    }
}

/// A parsed label selector (`metav1.LabelSelectorAsSelector`).
pub(crate) enum Selector {
    /// A nil selector: matches nothing.
    Nothing,
    /// Requirements (empty = everything).
    Requirements(Vec<(String, String, Vec<String>)>),
}

impl Selector {
    /// Parses a selector; `Err` when an expression is malformed.
    pub(crate) fn parse(sel: Option<&Value>) -> Result<Selector, ()> {
        let Some(sel) = sel.filter(|s| s.is_object()) else {
            return Ok(Selector::Nothing);
        };
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                let v = v.as_str().unwrap_or_default().to_string();
                if !qualified_name(k).is_empty() || !label_value(&v).is_empty() {
                    return Err(());
                }
                reqs.push((k.clone(), "In".to_string(), vec![v]));
            }
        }
        for e in sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = str_at(e, "/key").to_string();
            let op = str_at(e, "/operator").to_string();
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect();
            let ok = match op.as_str() {
                "In" | "NotIn" => !values.is_empty(),
                "Exists" | "DoesNotExist" => values.is_empty(),
                _ => false,
            };
            if !ok
                || !qualified_name(&key).is_empty()
                || values.iter().any(|v| !label_value(v).is_empty())
            {
                return Err(());
            }
            reqs.push((key, op, values));
        }
        Ok(Selector::Requirements(reqs))
    }

    /// `labels.Selector.Empty()`.
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }

    pub(crate) fn matches(&self, labels: Option<&Value>) -> bool {
        let Selector::Requirements(reqs) = self else {
            return false;
        };
        let get = |k: &str| {
            labels
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        reqs.iter().all(|(k, op, values)| match op.as_str() {
            "In" => get(k).is_some_and(|v| values.contains(&v)),
            "NotIn" => get(k).is_none_or(|v| !values.contains(&v)),
            "Exists" => get(k).is_some(),
            _ => get(k).is_none(),
        })
    }
}

/// `true` when `sel` has no matchLabels and no matchExpressions.
pub(crate) fn selector_is_empty(sel: &Value) -> bool {
    let n = |k: &str| {
        sel.get(k)
            .map(|v| match v {
                Value::Object(m) => m.len(),
                Value::Array(a) => a.len(),
                _ => 0,
            })
            .unwrap_or(0)
    };
    n("matchLabels") + n("matchExpressions") == 0
}

/// Field selector value of a boolean at `pointer` ("false" when absent).
pub(crate) fn bool_field(obj: &Value, pointer: &str) -> Option<String> {
    Some(
        obj.pointer(pointer)
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string(),
    )
}

/// Field selector value of an integer at `pointer` ("0" when absent).
pub(crate) fn int_field(obj: &Value, pointer: &str) -> Option<String> {
    Some(i64_at(obj, pointer).unwrap_or(0).to_string())
}

static PERCENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[0-9]+%$").expect("static regex"));

/// `ValidatePositiveIntOrPercent`.
pub(crate) fn validate_int_or_percent(v: &Value, field: &str, causes: &mut Vec<Cause>) {
    match v {
        Value::String(s) => {
            if !PERCENT.is_match(s) {
                causes.push(invalid_go(field, go_int_or_string(v), "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"));
            }
        }
        Value::Number(n) => {
            let n = n.as_i64().unwrap_or(0);
            if n < 0 {
                causes.push(invalid(
                    field,
                    &json!(n),
                    "must be greater than or equal to 0",
                ));
            }
        }
        _ => causes.push(invalid_go(
            field,
            go_int_or_string(v),
            "must be an integer or percentage (e.g '5%')",
        )),
    }
}

/// The numeric value of an int-or-percent (`getIntOrPercentValue`).
pub(crate) fn int_or_percent_value(v: &Value) -> i64 {
    match v {
        Value::String(s) => {
            let digits = if PERCENT.is_match(s) {
                &s[..s.len() - 1]
            } else {
                s.as_str()
            };
            digits.parse().unwrap_or(0)
        }
        other => other.as_i64().unwrap_or(0),
    }
}

pub(crate) fn not_more_than_100(v: &Value, field: &str, causes: &mut Vec<Cause>) {
    if let Value::String(s) = v
        && PERCENT.is_match(s)
        && int_or_percent_value(v) > 100
    {
        causes.push(invalid_go(
            field,
            go_int_or_string(v),
            "must not be greater than 100%",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_renderings() {
        assert_eq!(
            go_string_map(Some(&json!({"b": "2", "a": "1"}))),
            r#"map[string]string{"a":"1", "b":"2"}"#
        );
        assert_eq!(go_string_map(None), "map[string]string(nil)");
        assert_eq!(
            go_label_selector(Some(&json!({"matchLabels": {"app": "x"}}))),
            r#"v1.LabelSelector{MatchLabels:map[string]string{"app":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
        );
        assert_eq!(
            go_int_or_string(&json!("5x")),
            r#"intstr.IntOrString{Type:1, IntVal:0, StrVal:"5x"}"#
        );
    }

    #[test]
    fn selectors_match() {
        let sel = Selector::parse(Some(&json!({
            "matchLabels": {"app": "x"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]
        })))
        .unwrap_or(Selector::Nothing);
        assert!(sel.matches(Some(&json!({"app": "x", "tier": "web"}))));
        assert!(!sel.matches(Some(&json!({"app": "x", "tier": "db"}))));
        assert!(!Selector::Nothing.matches(Some(&json!({"app": "x"}))));
        assert!(
            Selector::parse(Some(
                &json!({"matchExpressions": [{"key": "a", "operator": "Bad"}]})
            ))
            .is_err()
        );
    }
}
