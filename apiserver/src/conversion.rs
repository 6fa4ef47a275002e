//! Conversion between the versions of a resource that share one storage
//! location: objects are stored in the storage version and converted to the
//! version a request addresses on the way in and out. Today that is
//! core/v1 <-> events.k8s.io/v1 Event and autoscaling/v2 <-> v1
//! HorizontalPodAutoscaler; every other resource has one served version.

use serde_json::{Map, Value, json};

/// Converts `obj` to `group`/`version`/`kind`. Objects already there are
/// returned unchanged.
pub fn convert(mut obj: Value, group: &str, version: &str, kind: &str) -> Value {
    let target = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let source = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if source == target {
        return obj;
    }
    obj = match (kind, source.as_str(), target.as_str()) {
        ("Event", "v1", "events.k8s.io/v1") => core_event_to_events(obj),
        ("Event", "events.k8s.io/v1", "v1") => events_event_to_core(obj),
        ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling/v1") => hpa_v2_to_v1(obj),
        ("HorizontalPodAutoscaler", "autoscaling/v1", "autoscaling/v2") => hpa_v1_to_v2(obj),
        _ => obj,
    };
    obj["apiVersion"] = Value::String(target);
    obj["kind"] = Value::String(kind.to_string());
    obj
}

/// Field renames between core/v1 and events.k8s.io/v1 Events.
const EVENT_FIELDS: [(&str, &str); 8] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingInstance", "reportingInstance"),
];

fn rename(obj: Value, pairs: impl Iterator<Item = (&'static str, &'static str)>) -> Value {
    let Value::Object(mut map) = obj else {
        return obj;
    };
    let mut renamed = Map::new();
    for (from, to) in pairs {
        if let Some(v) = map.remove(from) {
            renamed.insert(to.to_string(), v);
        }
    }
    map.extend(renamed);
    Value::Object(map)
}

fn core_event_to_events(obj: Value) -> Value {
    rename(obj, EVENT_FIELDS.into_iter())
}

fn events_event_to_core(obj: Value) -> Value {
    rename(obj, EVENT_FIELDS.into_iter().map(|(a, b)| (b, a)))
}

fn is_cpu_utilization(metric: &Value) -> bool {
    metric.get("type").and_then(Value::as_str) == Some("Resource")
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
        && metric
            .pointer("/resource/target/type")
            .and_then(Value::as_str)
            == Some("Utilization")
}

fn hpa_v2_to_v1(mut obj: Value) -> Value {
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        let metrics = spec.remove("metrics");
        spec.remove("behavior");
        let cpu = metrics
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|m| m.iter().find(|m| is_cpu_utilization(m)))
            .and_then(|m| m.pointer("/resource/target/averageUtilization").cloned());
        if let Some(cpu) = cpu {
            spec.insert("targetCPUUtilizationPercentage".into(), cpu);
        }
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
        let current = status.remove("currentMetrics");
        status.remove("conditions");
        let cpu = current
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|m| {
                m.iter().find(|m| {
                    m.get("type").and_then(Value::as_str) == Some("Resource")
                        && m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
                })
            })
            .and_then(|m| m.pointer("/resource/current/averageUtilization").cloned());
        if let Some(cpu) = cpu {
            status.insert("currentCPUUtilizationPercentage".into(), cpu);
        }
    }
    obj
}

fn hpa_v1_to_v2(mut obj: Value) -> Value {
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(cpu) = spec.remove("targetCPUUtilizationPercentage")
    {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}]),
        );
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut)
        && let Some(cpu) = status.remove("currentCPUUtilizationPercentage")
    {
        status.insert(
            "currentMetrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}}]),
        );
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "hi", "reason": "Started",
            "source": {"component": "kubelet"}, "count": 2});
        let ev = convert(core.clone(), "events.k8s.io", "v1", "Event");
        assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
        assert_eq!(ev["regarding"]["name"], "p");
        assert_eq!(ev["note"], "hi");
        assert_eq!(ev["deprecatedCount"], 2);
        assert_eq!(ev["reason"], "Started");
        assert_eq!(convert(ev, "", "v1", "Event"), core);
    }

    #[test]
    fn hpa_cpu_target_round_trips() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "spec": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 50}});
        let v2 = convert(v1.clone(), "autoscaling", "v2", "HorizontalPodAutoscaler");
        assert_eq!(
            v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            50
        );
        assert_eq!(
            convert(v2, "autoscaling", "v1", "HorizontalPodAutoscaler"),
            v1
        );
    }
}
