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

/// The cell of one column: the value at its path, as its type prints.
fn cell(col: &Column, obj: &Value) -> Value {
    let found = jsonpath::eval(obj, &col.json_path);
    let Some(first) = found.first() else {
        return Value::Null;
    };
    if found.len() > 1 {
        let parts: Vec<String> = found.iter().map(|v| plain(v)).collect();
        return json!(parts.join(","));
    }
    match (col.type_.as_str(), first) {
        ("integer" | "number", Value::Number(_)) => (*first).clone(),
        ("boolean", Value::Bool(_)) => (*first).clone(),
        ("date" | "string", Value::String(_)) => (*first).clone(),
        (_, Value::Object(_) | Value::Array(_)) => json!(first.to_string()),
        (_, other) => json!(plain(other)),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
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
    _now: DateTime<Utc>,
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
            cells.extend(cols.iter().map(|c| cell(c, obj)));
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
