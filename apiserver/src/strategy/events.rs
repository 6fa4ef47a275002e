//! events.k8s.io/v1 Event: the strict create rules of upstream's
//! `ValidateEventCreate` for the new API (eventTime, reportingController,
//! reportingInstance, action, reason, type, deprecated fields unset) and
//! field selectors under both the new and the core field names.

use serde_json::{Value, json};

use super::common::{i64_at, str_at};
use super::{Strategy, pointer_str};
use crate::error::Cause;
use crate::validation::{dns1123_subdomain, invalid, qualified_name, required};

pub struct EventsV1Strategy;

fn set(obj: &Value, key: &str) -> bool {
    obj.get(key)
        .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
}

fn validate_event(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let namespace = crate::meta::namespace(obj);
    let regarding_ns = str_at(obj, "/regarding/namespace");
    let has_time = set(obj, "eventTime");
    if !has_time {
        let ok = if regarding_ns.is_empty() {
            namespace.is_empty() || namespace == "default"
        } else {
            namespace == regarding_ns
        };
        if !ok {
            causes.push(invalid(
                "involvedObject.namespace",
                &json!(regarding_ns),
                "does not match event.namespace",
            ));
        }
    } else {
        if regarding_ns.is_empty() && namespace != "default" && namespace != "kube-system" {
            causes.push(invalid(
                "involvedObject.namespace",
                &json!(regarding_ns),
                "does not match event.namespace",
            ));
        }
        let controller = str_at(obj, "/reportingController");
        if controller.is_empty() {
            causes.push(required("reportingController", ""));
        }
        for e in qualified_name(controller) {
            causes.push(invalid("reportingController", &json!(controller), &e));
        }
        for (key, limit) in [("reportingInstance", 128), ("action", 128), ("reason", 128)] {
            let v = str_at(obj, &format!("/{key}"));
            if v.is_empty() {
                causes.push(required(key, ""));
            }
            if v.len() > limit {
                causes.push(invalid(
                    key,
                    &json!(""),
                    &format!("can have at most {limit} characters"),
                ));
            }
        }
        if str_at(obj, "/note").len() > 1024 {
            causes.push(invalid(
                "message",
                &json!(""),
                "can have at most 1024 characters",
            ));
        }
    }
    for e in dns1123_subdomain(namespace) {
        causes.push(invalid("namespace", &json!(namespace), &e));
    }
    if !has_time {
        causes.push(required("eventTime", ""));
    }
    let t = str_at(obj, "/type");
    if t != "Normal" && t != "Warning" {
        causes.push(invalid(
            "type",
            &json!(""),
            &format!("has invalid value: {t}"),
        ));
    }
    for key in ["deprecatedFirstTimestamp", "deprecatedLastTimestamp"] {
        if set(obj, key) {
            causes.push(invalid(key, &json!(""), "needs to be unset"));
        }
    }
    if i64_at(obj, "/deprecatedCount").unwrap_or(0) != 0 {
        causes.push(invalid("deprecatedCount", &json!(""), "needs to be unset"));
    }
    if !str_at(obj, "/deprecatedSource/component").is_empty()
        || !str_at(obj, "/deprecatedSource/host").is_empty()
    {
        causes.push(invalid("deprecatedSource", &json!(""), "needs to be unset"));
    }
    causes
}

impl Strategy for EventsV1Strategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_event(obj)
    }
    fn validate_update(&self, _new: &Value, _old: &Value) -> Vec<Cause> {
        Vec::new()
    }
    fn selectable_fields(&self) -> &'static [&'static str] {
        &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reportingComponent",
            "source",
        ]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let path = match field {
            "source" => "/deprecatedSource/component".to_string(),
            "reportingComponent" => "/reportingController".to_string(),
            f => format!(
                "/{}",
                f.replacen("involvedObject.", "regarding.", 1)
                    .replace('.', "/")
            ),
        };
        pointer_str(obj, &path)
    }
    fn allow_create_on_update(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_create_rules() {
        let ev = json!({"metadata": {"namespace": "default", "name": "e"},
            "eventTime": "2025-01-01T00:00:00.000000Z",
            "reportingController": "example.com/ctl", "reportingInstance": "i",
            "action": "Create", "reason": "Made", "type": "Normal",
            "regarding": {"namespace": "default", "kind": "Pod", "name": "p"}});
        assert!(EventsV1Strategy.validate(&ev).is_empty());
        let mut bad = ev.clone();
        bad["type"] = json!("Odd");
        bad["deprecatedCount"] = json!(3);
        let causes = EventsV1Strategy.validate(&bad);
        assert_eq!(causes[0].field, "type");
        assert_eq!(
            causes[0].message,
            "Invalid value: \"\": has invalid value: Odd"
        );
        assert_eq!(causes[1].field, "deprecatedCount");
        assert_eq!(
            EventsV1Strategy
                .field_value(&ev, "involvedObject.kind")
                .as_deref(),
            Some("Pod")
        );
    }
}
