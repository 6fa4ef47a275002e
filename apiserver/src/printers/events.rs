//! Event printer, for core/v1 Events and events.k8s.io Events (upstream serves both
//! from one storage and prints both with the same columns).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::util::{at, int_at, name, since, str_at, time_at};
use super::{Column, NAME, Printer};

static EVENT: [Column; 10] = [
    Column::new(
        "Last Seen",
        "string",
        "Time since the event was last observed.",
    ),
    Column::new("Type", "string", "Normal or Warning."),
    Column::new("Reason", "string", "Machine-readable reason of the event."),
    Column::new(
        "Object",
        "string",
        "The object the event is about, as kind/name.",
    ),
    Column::wide("Subobject", "string", "Field path within the object."),
    Column::wide(
        "Source",
        "string",
        "Component (and host) that reported the event.",
    ),
    Column::new("Message", "string", "Human-readable description."),
    Column::wide(
        "First Seen",
        "string",
        "Time since the event was first observed.",
    ),
    Column::wide("Count", "string", "Number of occurrences."),
    Column {
        priority: 1,
        ..NAME
    },
];

pub(super) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    match (group, kind) {
        ("", "Event") => Some((&EVENT, core_event)),
        ("events.k8s.io", "Event") => Some((&EVENT, events_event)),
        _ => None,
    }
}

/// The fields the printer reads, under either API's names.
struct Fields<'a> {
    regarding: &'a str,
    message: &'a str,
    source: &'a str,
    first: &'a str,
    last: &'a str,
    count: &'a str,
    reporting_controller: &'a str,
}

const CORE: Fields<'static> = Fields {
    regarding: "involvedObject",
    message: "message",
    source: "source",
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
    reporting_controller: "reportingComponent",
};

fn core_event(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    event(obj, &CORE, now)
}

fn events_event(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let f = Fields {
        regarding: "regarding",
        message: "note",
        source: "deprecatedSource",
        first: "deprecatedFirstTimestamp",
        last: "deprecatedLastTimestamp",
        count: "deprecatedCount",
        reporting_controller: "reportingController",
    };
    event(obj, &f, now)
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

fn event(obj: &Value, f: &Fields<'_>, now: DateTime<Utc>) -> Vec<Value> {
    let first = match time_at(obj, &[f.first]) {
        Some(t) => since(Some(t), now),
        None => since(time_at(obj, &["eventTime"]), now),
    };
    let mut last = match time_at(obj, &[f.last]) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = int_at(obj, &[f.count]);
    if let Some(series) = at(obj, &["series"]) {
        last = since(time_at(series, &["lastObservedTime"]), now);
        count = int_at(series, &["count"]);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(obj, &[f.regarding, "kind"]).to_lowercase();
    let obj_name = str_at(obj, &[f.regarding, "name"]);
    let target = if obj_name.is_empty() {
        kind
    } else {
        format!("{kind}/{obj_name}")
    };
    let component = first_non_empty(
        str_at(obj, &[f.source, "component"]),
        str_at(obj, &[f.reporting_controller]),
    );
    let instance = first_non_empty(
        str_at(obj, &[f.source, "host"]),
        str_at(obj, &["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(str_at(obj, &["type"])),
        json!(str_at(obj, &["reason"])),
        json!(target),
        json!(str_at(obj, &[f.regarding, "fieldPath"])),
        json!(source),
        json!(str_at(obj, &[f.message]).trim()),
        json!(first),
        json!(count),
        json!(name(obj)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::columns;
    use super::super::tests::assert_shape;
    use serde_json::json;

    #[test]
    fn core_event_cells() {
        let ev = json!({"metadata": {"name": "web-1.17f3"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
            "reason": "BackOff", "message": "Back-off restarting failed container\n", "type": "Warning",
            "source": {"component": "kubelet", "host": "node-a"},
            "firstTimestamp": "2025-06-01T11:00:00Z", "lastTimestamp": "2025-06-01T11:59:00Z", "count": 14});
        assert_eq!(
            assert_shape("", "Event", &ev),
            vec![
                json!("60s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web-1"),
                json!("spec.containers{app}"),
                json!("kubelet, node-a"),
                json!("Back-off restarting failed container"),
                json!("60m"),
                json!(14),
                json!("web-1.17f3")
            ]
        );
        let cols = columns("", "Event");
        assert_eq!(
            (cols[9].name, cols[9].format, cols[9].priority),
            ("Name", "name", 1)
        );
    }

    #[test]
    fn new_style_events() {
        // core/v1 shape written by an events.k8s.io client: eventTime, series, reporting fields.
        let ev = json!({"metadata": {"name": "n.1"}, "involvedObject": {"kind": "Node", "name": "n"},
            "reason": "Starting", "type": "Normal", "eventTime": "2025-06-01T11:58:00.123456Z",
            "reportingComponent": "kube-proxy", "reportingInstance": "n",
            "series": {"count": 3, "lastObservedTime": "2025-06-01T11:59:30.000000Z"}});
        let c = assert_shape("", "Event", &ev);
        assert_eq!(c[0], "30s");
        assert_eq!(c[5], "kube-proxy, n");
        assert_eq!(c[7], "119s");
        assert_eq!(c[8], 3);
        let ev2 = json!({"metadata": {"name": "x"}, "regarding": {"kind": "Deployment", "name": "web"},
            "note": "Scaled up", "reason": "ScalingReplicaSet", "type": "Normal",
            "eventTime": "2025-06-01T11:59:50.000000Z", "reportingController": "deployment-controller"});
        let c = assert_shape("events.k8s.io", "Event", &ev2);
        assert_eq!(
            c[..4],
            [
                json!("10s"),
                json!("Normal"),
                json!("ScalingReplicaSet"),
                json!("deployment/web")
            ]
        );
        assert_eq!(
            (c[5].clone(), c[6].clone(), c[8].clone()),
            (json!("deployment-controller"), json!("Scaled up"), json!(1))
        );
        let unknown = json!({"metadata": {"name": "u"}, "involvedObject": {"kind": "Node"}});
        let c = assert_shape("", "Event", &unknown);
        assert_eq!(
            (c[0].clone(), c[3].clone()),
            (json!("<unknown>"), json!("node"))
        );
    }
}
