//! HorizontalPodAutoscaler printer (autoscaling/v2 shape; a v1 CPU target is
//! printed as the Resource metric it converts to). Quantities are printed as stored.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::util::{age, arr_at, at, int_at, int_or_string, name, str_at};
use super::{AGE, Column, NAME, Printer};

static HPA: [Column; 7] = [
    NAME,
    Column::new("Reference", "string", "The scaled object, as Kind/name."),
    Column::new("Targets", "string", "Current/target value of each metric."),
    Column::new("MinPods", "string", "Lower replica limit."),
    Column::new("MaxPods", "string", "Upper replica limit."),
    Column::new("Replicas", "string", "Current number of replicas."),
    AGE,
];

pub(super) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    match (group, kind) {
        ("autoscaling", "HorizontalPodAutoscaler") => Some((&HPA, hpa)),
        _ => None,
    }
}

/// A quantity, or "<nil>" like Go's nil *Quantity.
fn qty(v: Option<&Value>) -> String {
    v.map_or_else(|| "<nil>".to_string(), int_or_string)
}

fn percent(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_i64).map(|p| format!("{p}%"))
}

/// One "current/target" entry for a v2 metric spec and its status (if any).
fn metric(spec: &Value, status: Option<&Value>) -> String {
    let type_ = str_at(spec, &["type"]);
    let (field, named) = match type_ {
        "External" => ("external", false),
        "Pods" => ("pods", false),
        "Object" => ("object", false),
        "Resource" => ("resource", true),
        "ContainerResource" => ("containerResource", true),
        _ => return "<unknown type>".to_string(),
    };
    let target = at(spec, &[field, "target"]);
    let target_of = |k: &str| target.and_then(|t| at(t, &[k]));
    let current = status.and_then(|s| at(s, &[field]));
    let current_of = |k: &str| current.and_then(|c| at(c, &["current", k]));
    if type_ == "Pods" {
        let cur = current.map_or_else(
            || "<unknown>".to_string(),
            |_| qty(current_of("averageValue")),
        );
        return format!("{cur}/{}", qty(target_of("averageValue")));
    }
    if !named {
        // External and Object: an average-value target, else a value target.
        if let Some(avg) = target_of("averageValue") {
            let cur =
                current_of("averageValue").map_or_else(|| "<unknown>".to_string(), int_or_string);
            return format!("{cur}/{} (avg)", int_or_string(avg));
        }
        let cur = current.map_or_else(|| "<unknown>".to_string(), |_| qty(current_of("value")));
        return format!("{cur}/{}", qty(target_of("value")));
    }
    let res = str_at(spec, &[field, "name"]);
    if let Some(avg) = target_of("averageValue") {
        let cur = current.map_or_else(
            || "<unknown>".to_string(),
            |_| qty(current_of("averageValue")),
        );
        return format!("{res}: {cur}/{}", int_or_string(avg));
    }
    let cur = percent(current_of("averageUtilization")).unwrap_or_else(|| "<unknown>".to_string());
    let tgt = percent(target_of("averageUtilization")).unwrap_or_else(|| "<auto>".to_string());
    format!("{res}: {cur}/{tgt}")
}

fn targets(obj: &Value) -> String {
    // autoscaling/v1: the CPU utilization target.
    if let Some(t) = at(obj, &["spec", "targetCPUUtilizationPercentage"]).and_then(Value::as_i64) {
        let cur = percent(at(obj, &["status", "currentCPUUtilizationPercentage"]))
            .unwrap_or_else(|| "<unknown>".to_string());
        return format!("cpu: {cur}/{t}%");
    }
    let specs = arr_at(obj, &["spec", "metrics"]);
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let statuses = arr_at(obj, &["status", "currentMetrics"]);
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| metric(s, statuses.get(i)))
        .collect();
    const MAX: usize = 2;
    if list.len() > MAX {
        format!("{} + {} more...", list[..MAX].join(", "), list.len() - MAX)
    } else {
        list.join(", ")
    }
}

fn hpa(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        str_at(obj, &["spec", "scaleTargetRef", "kind"]),
        str_at(obj, &["spec", "scaleTargetRef", "name"])
    );
    let min = at(obj, &["spec", "minReplicas"])
        .and_then(Value::as_i64)
        .map_or("<unset>".to_string(), |m| m.to_string());
    vec![
        json!(name(obj)),
        json!(reference),
        json!(targets(obj)),
        json!(min),
        json!(int_at(obj, &["spec", "maxReplicas"])),
        json!(int_at(obj, &["status", "currentReplicas"])),
        json!(age(obj, now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_shape;
    use serde_json::json;

    #[test]
    fn hpa_targets() {
        let h = json!({"metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10, "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                    {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}]},
            "status": {"currentReplicas": 3, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 23, "averageValue": "115m"}}}]}});
        assert_eq!(
            assert_shape("autoscaling", "HorizontalPodAutoscaler", &h),
            vec![
                json!("web"),
                json!("Deployment/web"),
                json!("cpu: 23%/50%, memory: <unknown>/500Mi + 1 more..."),
                json!("2"),
                json!(10),
                json!(3),
                json!("60m")
            ]
        );
        let fresh = json!({"metadata": {"name": "f"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "f"},
            "maxReplicas": 5, "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}});
        let c = assert_shape("autoscaling", "HorizontalPodAutoscaler", &fresh);
        assert_eq!(
            c[2..5],
            [json!("cpu: <unknown>/80%"), json!("<unset>"), json!(5)]
        );
        let v1 = json!({"metadata": {"name": "v"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "v"},
            "maxReplicas": 3, "targetCPUUtilizationPercentage": 70}, "status": {"currentCPUUtilizationPercentage": 12}});
        assert_eq!(
            assert_shape("autoscaling", "HorizontalPodAutoscaler", &v1)[2],
            "cpu: 12%/70%"
        );
    }
}
