//! Merging an applied configuration into the live object: maps and
//! granular structs merge field by field, associative lists and sets item
//! by item (matched by their path element), everything else (scalars,
//! atomic lists and maps) is replaced by the applied value. A `null` in the
//! configuration removes the field.
//!
//! List order: shared items follow the configuration's order, items only
//! the live object has keep their place, new items come before the next
//! shared item (upstream's merge interleaves the same way).

use serde_json::Value;

use super::fieldpath::PathElement;
use super::schema::{Atom, ListKind, TypeId, TypeModel};
use super::walk::{WalkError, item_element};

/// `live` with `config` merged in.
pub fn merge(
    model: &TypeModel,
    ty: TypeId,
    live: &Value,
    config: &Value,
) -> Result<Value, WalkError> {
    merge_node(model, Some(ty), live, config, &mut Vec::new())
}

fn merge_node(
    model: &TypeModel,
    ty: Option<TypeId>,
    live: &Value,
    config: &Value,
    path: &mut Vec<PathElement>,
) -> Result<Value, WalkError> {
    let Some(ty) = ty else {
        return Ok(config.clone());
    };
    match (model.atom(ty), live, config) {
        (Atom::Map { atomic: false, .. } | Atom::Untyped, Value::Object(l), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    out.shift_remove(k);
                    continue;
                }
                let merged = match l.get(k) {
                    Some(lv) => {
                        path.push(PathElement::Field(k.clone()));
                        let m = merge_node(model, model.field(ty, k), lv, cv, path)?;
                        path.pop();
                        m
                    }
                    None => cv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        (Atom::List { elem, kind }, Value::Array(l), Value::Array(c))
            if *kind != ListKind::Atomic =>
        {
            merge_list(model, *elem, kind, l, c, path).map(Value::Array)
        }
        _ => Ok(config.clone()),
    }
}

fn merge_list(
    model: &TypeModel,
    elem: TypeId,
    kind: &ListKind,
    live: &[Value],
    config: &[Value],
    path: &mut Vec<PathElement>,
) -> Result<Vec<Value>, WalkError> {
    let live_pes: Vec<PathElement> = live
        .iter()
        .enumerate()
        .map(|(i, v)| item_element(kind, i, v, path))
        .collect::<Result<_, _>>()?;
    let config_pes: Vec<PathElement> = config
        .iter()
        .enumerate()
        .map(|(i, v)| item_element(kind, i, v, path))
        .collect::<Result<_, _>>()?;
    let mut emitted = vec![false; config.len()];
    let mut out = Vec::with_capacity(live.len() + config.len());
    let mut next_config = 0;
    for (li, lpe) in live_pes.iter().enumerate() {
        match config_pes.iter().position(|c| c == lpe) {
            None => out.push(live[li].clone()),
            Some(ci) => {
                // Emit configuration items up to this shared one.
                while next_config <= ci {
                    if !emitted[next_config] {
                        emitted[next_config] = true;
                        out.push(merged_item(
                            model,
                            elem,
                            &live_pes,
                            live,
                            &config_pes[next_config],
                            &config[next_config],
                            path,
                        )?);
                    }
                    next_config += 1;
                }
            }
        }
    }
    for ci in next_config..config.len() {
        if !emitted[ci] {
            out.push(merged_item(
                model,
                elem,
                &live_pes,
                live,
                &config_pes[ci],
                &config[ci],
                path,
            )?);
        }
    }
    Ok(out)
}

fn merged_item(
    model: &TypeModel,
    elem: TypeId,
    live_pes: &[PathElement],
    live: &[Value],
    pe: &PathElement,
    config: &Value,
    path: &mut Vec<PathElement>,
) -> Result<Value, WalkError> {
    match live_pes.iter().position(|l| l == pe) {
        Some(li) => {
            path.push(pe.clone());
            let m = merge_node(model, Some(elem), &live[li], config, path);
            path.pop();
            m
        }
        None => Ok(config.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> TypeModel {
        TypeModel::from_schema(&json!({
            "type": "object",
            "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                             "additionalProperties": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "finalizers": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "containers": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "image": {"type": "string"}, "cpu": {"type": "string"}
                    }}
                }
            }
        }))
    }

    #[test]
    fn merges_by_list_and_map_semantics() {
        let m = model();
        let live = json!({
            "labels": {"a": "1", "b": "2"},
            "selector": {"x": "1", "y": "2"},
            "args": ["1", "2"],
            "finalizers": ["f1", "f2"],
            "containers": [{"name": "a", "image": "a:1", "cpu": "1"}, {"name": "b", "image": "b:1"}]
        });
        let config = json!({
            "labels": {"b": "3", "a": null},
            "selector": {"z": "1"},
            "args": ["3"],
            "finalizers": ["f3", "f1"],
            "containers": [{"name": "c", "image": "c:1"}, {"name": "a", "image": "a:2"}]
        });
        let out = merge(&m, m.root(), &live, &config).unwrap();
        assert_eq!(
            out,
            json!({
                "labels": {"b": "3"},
                "selector": {"z": "1"},
                "args": ["3"],
                "finalizers": ["f3", "f1", "f2"],
                "containers": [
                    {"name": "c", "image": "c:1"},
                    {"name": "a", "image": "a:2", "cpu": "1"},
                    {"name": "b", "image": "b:1"}
                ]
            })
        );
    }
}
