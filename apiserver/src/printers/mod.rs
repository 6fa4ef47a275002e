//! Server-side Table printing (`application/json;as=Table;v=v1;g=meta.k8s.io`).
//!
//! kube-apiserver answers `kubectl get` with a `meta.k8s.io/v1` `Table`: column
//! definitions plus one row of cells per object. This module owns the column
//! definitions and the cell logic per kind, following upstream's printers
//! (`pkg/printers/internalversion`), the aggregator's APIService printer and the
//! default table convertor (Name, Created At) for every other kind. The server
//! always prints the wide form; kubectl hides priority-1 columns itself.
//!
//! It works on objects as `serde_json::Value` (the stored API JSON) and does not
//! own content negotiation, list/get handling or CRD `additionalPrinterColumns`.

mod apps;
mod batch;
mod core;
mod events;
mod hpa;
mod misc;
mod network;
mod pod;
mod rbac;
mod storage;
mod util;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

pub use util::human_duration;

/// One column of a Table (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

impl Column {
    /// A priority-0 column.
    pub(crate) const fn new(
        name: &'static str,
        type_: &'static str,
        description: &'static str,
    ) -> Self {
        Column {
            name,
            type_,
            format: "",
            description,
            priority: 0,
        }
    }

    /// A priority-1 column (shown by `kubectl get -o wide`).
    pub(crate) const fn wide(
        name: &'static str,
        type_: &'static str,
        description: &'static str,
    ) -> Self {
        Column {
            name,
            type_,
            format: "",
            description,
            priority: 1,
        }
    }

    fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.type_,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// Upstream's `includeObject` table option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object in the rows.
    None,
    /// The whole object.
    Object,
    /// A `PartialObjectMetadata` with the object's metadata (the default).
    #[default]
    Metadata,
}

impl IncludeObject {
    /// Parses the query parameter value; an empty value is the default (`Metadata`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            "Metadata" | "" => Some(IncludeObject::Metadata),
            _ => None,
        }
    }
}

pub(crate) const NAME_DESC: &str = "Name of the object, unique within its namespace.";
pub(crate) const AGE_DESC: &str = "Time since the object was created.";
pub(crate) const CONTAINERS_DESC: &str = "Names of the containers in the pod template.";
pub(crate) const IMAGES_DESC: &str = "Images of the containers in the pod template.";

/// The Name column every printer starts with.
pub(crate) const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: NAME_DESC,
    priority: 0,
};
/// The Age column.
pub(crate) const AGE: Column = Column::new("Age", "string", AGE_DESC);

/// Columns of the default table convertor.
static DEFAULT_COLUMNS: [Column; 2] = [NAME, Column::new("Created At", "date", AGE_DESC)];

type CellFn = fn(&Value, DateTime<Utc>) -> Vec<Value>;

/// A kind's printer: its columns and the function computing one row's cells.
pub(crate) type Printer = (&'static [Column], CellFn);

fn printer(group: &str, kind: &str) -> Option<Printer> {
    let group = if group == "core" { "" } else { group };
    pod::lookup(group, kind)
        .or_else(|| core::lookup(group, kind))
        .or_else(|| apps::lookup(group, kind))
        .or_else(|| batch::lookup(group, kind))
        .or_else(|| network::lookup(group, kind))
        .or_else(|| storage::lookup(group, kind))
        .or_else(|| rbac::lookup(group, kind))
        .or_else(|| misc::lookup(group, kind))
}

/// Column definitions for a kind; the default (Name, Created At) for kinds without a printer.
pub fn columns(group: &str, kind: &str) -> &'static [Column] {
    match printer(group, kind) {
        Some((cols, _)) => cols,
        None => &DEFAULT_COLUMNS,
    }
}

/// The cells of one row, in the order of `columns(group, kind)`. `now` is used for AGE and durations.
pub fn cells(group: &str, kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    match printer(group, kind) {
        Some((_, f)) => f(obj, now),
        None => default_cells(obj),
    }
}

/// The default convertor's cells: the name and the creation timestamp in RFC 3339 (UTC).
fn default_cells(obj: &Value) -> Vec<Value> {
    let created = util::str_at(obj, &["metadata", "creationTimestamp"]);
    let created = match util::parse_time(created) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "0001-01-01T00:00:00Z".to_string(),
    };
    vec![json!(util::name(obj)), json!(created)]
}

/// Row conditions (`metav1.TableRowCondition`) upstream attaches to some rows:
/// a finished pod is marked `Completed`.
fn row_conditions(group: &str, kind: &str, obj: &Value) -> Option<Value> {
    if !(group.is_empty() || group == "core") || kind != "Pod" {
        return None;
    }
    let (reason, message) = match util::str_at(obj, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

/// The row's `object` as upstream fills it for the given `includeObject`.
fn row_object(obj: &Value, include_object: IncludeObject) -> Value {
    match include_object {
        // A nil RawExtension marshals as `null`: upstream keeps the key.
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

/// Keeps the ListMeta fields upstream sets, dropping empty ones (they are `omitempty`).
fn table_metadata(list_meta: Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(m) = list_meta {
        for (k, v) in m {
            let keep = match &v {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if keep {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

/// Builds the whole Table JSON for a list of objects.
pub fn table(
    group: &str,
    kind: &str,
    objects: &[Value],
    list_meta: Value,
    include_object: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let column_definitions: Vec<Value> = columns(group, kind).iter().map(|c| c.to_json()).collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells(group, kind, obj, now)));
            if let Some(conds) = row_conditions(group, kind, obj) {
                row.insert("conditions".into(), conds);
            }
            row.insert("object".into(), row_object(obj, include_object));
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": table_metadata(list_meta),
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// Checks every registered printer returns as many cells as it has columns.
    pub(crate) fn assert_shape(group: &str, kind: &str, obj: &Value) -> Vec<Value> {
        let c = cells(group, kind, obj, now());
        assert_eq!(c.len(), columns(group, kind).len(), "{group}/{kind}");
        c
    }

    #[test]
    fn default_convertor_for_unknown_kinds() {
        for (g, k) in [
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("", "LimitRange"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("example.com", "Widget"),
        ] {
            let cols = columns(g, k);
            assert_eq!(cols.len(), 2);
            assert_eq!(
                (cols[0].name, cols[0].type_, cols[0].format),
                ("Name", "string", "name")
            );
            assert_eq!(
                (cols[1].name, cols[1].type_, cols[1].format),
                ("Created At", "date", "")
            );
        }
        let role =
            json!({"metadata": {"name": "reader", "creationTimestamp": "2025-05-30T08:01:02Z"}});
        assert_eq!(
            cells("rbac.authorization.k8s.io", "Role", &role, now()),
            vec![json!("reader"), json!("2025-05-30T08:01:02Z")]
        );
    }

    fn two_pods() -> Vec<Value> {
        vec![
            json!({"kind": "Pod", "apiVersion": "v1",
                "metadata": {"name": "a", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                             "creationTimestamp": "2025-06-01T11:59:00Z"},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                "status": {"phase": "Pending"}}),
            json!({"kind": "Pod", "apiVersion": "v1",
                "metadata": {"name": "b", "namespace": "default", "creationTimestamp": "2025-06-01T10:00:00Z"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                "status": {"phase": "Succeeded",
                           "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0,
                               "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}),
        ]
    }

    #[test]
    fn table_shape_with_metadata_default() {
        let t = table(
            "",
            "Pod",
            &two_pods(),
            json!({"resourceVersion": "42", "continue": ""}),
            IncludeObject::default(),
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "42"}));
        assert_eq!(
            t["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 0})
        );
        assert_eq!(t["columnDefinitions"][5]["name"], "IP");
        assert_eq!(t["columnDefinitions"][5]["priority"], 1);
        assert_eq!(t["columnDefinitions"].as_array().map(Vec::len), Some(9));
        let rows = t["rows"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0]["cells"],
            json!([
                "a", "0/1", "Pending", "0", "60s", "<none>", "<none>", "<none>", "<none>"
            ])
        );
        assert!(rows[0].get("conditions").is_none());
        assert_eq!(
            rows[0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"name": "a", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                                "creationTimestamp": "2025-06-01T11:59:00Z"}})
        );
        assert_eq!(rows[1]["cells"][2], "Completed");
        assert_eq!(
            rows[1]["conditions"],
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                    "message": "The pod has completed successfully."}])
        );
    }

    #[test]
    fn table_include_object_variants() {
        let pods = two_pods();
        let t = table("", "Pod", &pods, json!({}), IncludeObject::Object, now());
        assert_eq!(t["rows"][0]["object"], pods[0]);
        assert_eq!(t["metadata"], json!({}));
        let t = table(
            "",
            "Pod",
            &pods,
            json!({"continue": "abc"}),
            IncludeObject::None,
            now(),
        );
        assert_eq!(t["rows"][1]["object"], Value::Null);
        assert_eq!(t["metadata"], json!({"continue": "abc"}));
        assert_eq!(IncludeObject::parse(""), Some(IncludeObject::Metadata));
        assert_eq!(IncludeObject::parse("None"), Some(IncludeObject::None));
        assert_eq!(IncludeObject::parse("bogus"), None);
    }

    #[test]
    fn empty_table_keeps_columns() {
        let t = table(
            "apps",
            "Deployment",
            &[],
            json!({"resourceVersion": "1"}),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["rows"], json!([]));
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers",
                "Images",
                "Selector"
            ]
        );
    }
}
