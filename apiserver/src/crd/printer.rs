//! Table output of custom resources: the Name column, then the version's
//! `additionalPrinterColumns` (or the default Age column when it has none),
//! cells computed with their JSONPath and type, as upstream's CRD table
//! convertor does.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::jsonpath;
use super::model::CustomVersion;
use crate::printers::IncludeObject;

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// One printer column: name, type, format, description, priority, path.
struct Column {
    name: String,
    type_: String,
    format: String,
    description: String,
    priority: i32,
    json_path: String,
}

fn columns(v: &CustomVersion) -> Vec<Column> {
    let defined: Vec<Column> = v
        .columns
        .iter()
        .map(|c| Column {
            name: c.name.clone(),
            type_: c.type_.clone(),
            format: c.format.clone().unwrap_or_default(),
            description: c.description.clone().unwrap_or_else(|| {
                format!(
                    "Custom resource definition column (in JSONPath format): {}",
                    c.json_path
                )
            }),
            priority: c.priority.unwrap_or(0),
            json_path: c.json_path.clone(),
        })
        .collect();
    if !defined.is_empty() {
        return defined;
    }
    vec![Column {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description:
            "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp"
                .into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }]
}

/// The cell of one column, as upstream's CRD table convertor computes it:
/// the first value at its path if it has the column's type (integers from
/// whole numbers, `date` strings as an age like `5m`), else null.
fn cell(col: &Column, obj: &Value, now: DateTime<Utc>) -> Value {
    let found = jsonpath::eval(obj, &col.json_path);
    let Some(first) = found.first() else {
        return Value::Null;
    };
    match (col.type_.as_str(), first) {
        ("integer", Value::Number(n)) => match n.as_i64() {
            Some(i) => json!(i),
            None => n.as_f64().map(|f| json!(f as i64)).unwrap_or(Value::Null),
        },
        ("number", Value::Number(_)) => (*first).clone(),
        ("boolean", Value::Bool(_)) => (*first).clone(),
        ("string", Value::String(_)) => (*first).clone(),
        ("date", Value::String(s)) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => json!(crate::printers::human_duration(now - t.with_timezone(&Utc))),
            Err(_) => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

fn row_object(obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        }),
    }
}

/// The `meta.k8s.io/v1` Table of custom resources of version `v`.
pub fn table(
    v: &CustomVersion,
    objects: &[Value],
    list_meta: Value,
    include: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let cols = columns(v);
    let mut defs = vec![json!({
        "name": "Name", "type": "string", "format": "name",
        "description": NAME_DESCRIPTION, "priority": 0,
    })];
    defs.extend(cols.iter().map(|c| {
        json!({
            "name": c.name, "type": c.type_, "format": c.format,
            "description": c.description, "priority": c.priority,
        })
    }));
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut cells = vec![json!(crate::meta::name(obj))];
            cells.extend(cols.iter().map(|c| cell(c, obj, now)));
            json!({"cells": cells, "object": row_object(obj, include)})
        })
        .collect();
    let mut meta = Map::new();
    if let Some(m) = list_meta.as_object() {
        for key in ["resourceVersion", "continue", "remainingItemCount"] {
            match m.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s.is_empty() => {}
                Some(v) => {
                    meta.insert(key.into(), v.clone());
                }
            }
        }
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": defs,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_column_type() {
        let now = chrono::DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let obj = json!({"metadata": {"creationTimestamp": "2025-06-01T11:55:00Z"},
            "spec": {"n": 3.0, "s": "x", "b": true, "l": [1, 2]}});
        let col = |t: &str, p: &str| Column {
            name: "c".into(),
            type_: t.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: p.into(),
        };
        assert_eq!(
            cell(&col("date", ".metadata.creationTimestamp"), &obj, now),
            json!("5m")
        );
        assert_eq!(cell(&col("integer", ".spec.n"), &obj, now), json!(3));
        assert_eq!(cell(&col("string", ".spec.s"), &obj, now), json!("x"));
        assert_eq!(cell(&col("string", ".spec.b"), &obj, now), Value::Null);
        assert_eq!(cell(&col("integer", ".spec.l[*]"), &obj, now), json!(1));
        assert_eq!(
            cell(&col("string", ".spec.missing"), &obj, now),
            Value::Null
        );
    }
}
