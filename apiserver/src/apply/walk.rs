//! Walks of JSON objects along a type model: the field set an object sets
//! ([`field_set`]), what changed between two objects ([`compare`]), and the
//! removal of fields a manager stopped applying ([`prune`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldpath::{PathElement, Set};
use super::schema::{Atom, ListKind, TypeId, TypeModel, key_default};

/// Why an object does not fit its type (upstream refuses such objects
/// when it converts them to typed values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct WalkError {
    pub path: String,
    pub message: String,
}

fn err(path: &[PathElement], message: String) -> WalkError {
    let path: String = path.iter().map(ToString::to_string).collect();
    WalkError { path, message }
}

/// The path element of item `index` of a list.
pub fn item_element(
    kind: &ListKind,
    index: usize,
    item: &Value,
    path: &[PathElement],
) -> Result<PathElement, WalkError> {
    match kind {
        ListKind::Set => Ok(PathElement::Value(item.clone())),
        ListKind::Atomic => Ok(PathElement::Index(index)),
        ListKind::Map(keys) if keys.is_empty() => Ok(PathElement::Index(index)),
        ListKind::Map(keys) => {
            let Value::Object(m) = item else {
                return Err(err(
                    path,
                    format!(
                        "element {index}: associative list with keys may not have non-map elements"
                    ),
                ));
            };
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                match m.get(k).cloned().or_else(|| key_default(k)) {
                    Some(v) => out.push((k.clone(), v)),
                    None => {
                        return Err(err(
                            path,
                            format!(
                                "element {index}: associative list with keys has an element that omits key field {k:?} (and doesn't have default value)"
                            ),
                        ));
                    }
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(out))
        }
    }
}

/// Whether a node is one leaf of the field set.
fn is_leaf(model: &TypeModel, ty: Option<TypeId>, value: &Value) -> bool {
    let Some(ty) = ty else { return true };
    match (model.atom(ty), value) {
        (Atom::Scalar, _) => true,
        (Atom::Map { atomic: true, .. }, _) => true,
        (Atom::Map { .. }, Value::Object(_)) => false,
        (Atom::List { kind, .. }, Value::Array(_)) => *kind == ListKind::Atomic,
        (Atom::Untyped, Value::Object(_)) => false,
        _ => true,
    }
}

/// The fields `value` (of type `ty`) sets, relative to it.
pub fn field_set(model: &TypeModel, ty: TypeId, value: &Value) -> Result<Set, WalkError> {
    let mut out = Set::new();
    collect(model, Some(ty), value, &mut Vec::new(), &mut out)?;
    Ok(out)
}

fn collect(
    model: &TypeModel,
    ty: Option<TypeId>,
    value: &Value,
    path: &mut Vec<PathElement>,
    out: &mut Set,
) -> Result<(), WalkError> {
    if is_leaf(model, ty, value) {
        return Ok(());
    }
    let Some(ty) = ty else { return Ok(()) };
    match (model.atom(ty), value) {
        (Atom::List { elem, kind }, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let pe = item_element(kind, i, item, path)?;
                let mut child = Set::new();
                path.push(pe.clone());
                collect(model, Some(*elem), item, path, &mut child)?;
                path.pop();
                out.members.insert(pe.clone());
                if !child.is_empty() {
                    out.children.insert(pe, child);
                }
            }
        }
        (_, Value::Object(m)) => {
            for (key, v) in m {
                let pe = PathElement::Field(key.clone());
                let fty = model.field(ty, key);
                let mut child = Set::new();
                path.push(pe.clone());
                collect(model, fty, v, path, &mut child)?;
                path.pop();
                let empty_map = matches!(v, Value::Object(o) if o.is_empty());
                if is_leaf(model, fty, v)
                    || v.is_null()
                    || empty_map
                    || !model.is_declared_field(ty, key)
                {
                    out.members.insert(pe.clone());
                }
                if !child.is_empty() {
                    out.children.insert(pe, child);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The fields of `value` its type does not declare (upstream's typed
/// conversion refuses them: `.spec.foo: field not declared in schema`).
pub fn undeclared(model: &TypeModel, ty: TypeId, value: &Value) -> Vec<WalkError> {
    let mut out = Vec::new();
    find_undeclared(model, ty, value, &mut Vec::new(), &mut out);
    out
}

fn find_undeclared(
    model: &TypeModel,
    ty: TypeId,
    value: &Value,
    path: &mut Vec<PathElement>,
    out: &mut Vec<WalkError>,
) {
    match (model.atom(ty), value) {
        (Atom::Map { .. }, Value::Object(m)) => {
            for (k, v) in m {
                path.push(PathElement::Field(k.clone()));
                match model.field(ty, k) {
                    Some(fty) => find_undeclared(model, fty, v, path, out),
                    None => out.push(err(path, "field not declared in schema".into())),
                }
                path.pop();
            }
        }
        (Atom::List { elem, .. }, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                path.push(PathElement::Index(i));
                find_undeclared(model, *elem, item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// What changed from `old` to `new`.
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

/// Compares two objects of type `ty`.
pub fn compare(
    model: &TypeModel,
    ty: TypeId,
    old: &Value,
    new: &Value,
) -> Result<Comparison, WalkError> {
    let mut c = Comparison::default();
    let mut path = Vec::new();
    compare_children(model, Some(ty), old, new, &mut path, &mut c)?;
    Ok(c)
}

/// The children of a node as (element, value) pairs.
fn children<'a>(
    model: &TypeModel,
    ty: Option<TypeId>,
    value: &'a Value,
    path: &[PathElement],
) -> Result<Vec<(PathElement, &'a Value)>, WalkError> {
    let Some(ty) = ty else {
        return Ok(Vec::new());
    };
    match (model.atom(ty), value) {
        (Atom::List { kind, .. }, Value::Array(items)) if *kind != ListKind::Atomic => items
            .iter()
            .enumerate()
            .map(|(i, item)| Ok((item_element(kind, i, item, path)?, item)))
            .collect(),
        (Atom::Map { atomic: false, .. } | Atom::Untyped, Value::Object(m)) => {
            // managedFields is bookkeeping, never a field anybody owns.
            let in_metadata = matches!(path, [PathElement::Field(f)] if f == "metadata");
            Ok(m.iter()
                .filter(|(k, _)| !(in_metadata && k.as_str() == "managedFields"))
                .map(|(k, v)| (PathElement::Field(k.clone()), v))
                .collect())
        }
        _ => Ok(Vec::new()),
    }
}

fn child_type(model: &TypeModel, ty: Option<TypeId>, pe: &PathElement) -> Option<TypeId> {
    let ty = ty?;
    match (model.atom(ty), pe) {
        (Atom::List { elem, .. }, _) => Some(*elem),
        (_, PathElement::Field(name)) => model.field(ty, name),
        _ => None,
    }
}

/// Whether a node that appears or disappears as a whole is itself a member
/// (lists, maps without declared fields and leaves are; structs are not).
fn whole_is_member(model: &TypeModel, ty: Option<TypeId>, value: &Value) -> bool {
    if is_leaf(model, ty, value) {
        return true;
    }
    match ty.map(|t| model.atom(t)) {
        Some(Atom::Map { fields, .. }) => fields.is_empty(),
        Some(Atom::List { .. }) => false,
        _ => true,
    }
}

fn compare_children(
    model: &TypeModel,
    ty: Option<TypeId>,
    old: &Value,
    new: &Value,
    path: &mut Vec<PathElement>,
    out: &mut Comparison,
) -> Result<(), WalkError> {
    let old_children: BTreeMap<PathElement, &Value> =
        children(model, ty, old, path)?.into_iter().collect();
    let new_children = children(model, ty, new, path)?;
    let mut seen = BTreeSet::new();
    for (pe, nv) in new_children {
        let cty = child_type(model, ty, &pe);
        path.push(pe.clone());
        match old_children.get(&pe) {
            Some(ov) => {
                if is_leaf(model, cty, nv) || is_leaf(model, cty, ov) {
                    if *ov != nv {
                        out.modified.members.insert(pe.clone());
                    }
                } else {
                    let mut sub = Comparison::default();
                    compare_children(model, cty, ov, nv, path, &mut sub)?;
                    attach(&mut out.added, &pe, sub.added);
                    attach(&mut out.modified, &pe, sub.modified);
                    attach(&mut out.removed, &pe, sub.removed);
                }
            }
            None => {
                if whole_is_member(model, cty, nv) || is_list_item(model, ty) {
                    out.added.members.insert(pe.clone());
                }
                let sub = added_nodes(model, cty, nv, path)?;
                attach(&mut out.added, &pe, sub);
            }
        }
        path.pop();
        seen.insert(pe);
    }
    for (pe, ov) in old_children {
        if seen.contains(&pe) {
            continue;
        }
        let cty = child_type(model, ty, &pe);
        path.push(pe.clone());
        let sub = all_nodes(model, cty, ov, path)?;
        path.pop();
        out.removed.members.insert(pe.clone());
        attach(&mut out.removed, &pe, sub);
    }
    Ok(())
}

/// Puts a non-empty child set under `pe`.
fn attach(set: &mut Set, pe: &PathElement, child: Set) {
    if child.is_empty() {
        return;
    }
    match set.children.get_mut(pe) {
        Some(existing) => existing.union_in_place(&child),
        None => {
            set.children.insert(pe.clone(), child);
        }
    }
}

fn is_list_item(model: &TypeModel, parent: Option<TypeId>) -> bool {
    matches!(parent.map(|t| model.atom(t)), Some(Atom::List { .. }))
}

/// Every node below `value`, containers included.
fn all_nodes(
    model: &TypeModel,
    ty: Option<TypeId>,
    value: &Value,
    path: &mut Vec<PathElement>,
) -> Result<Set, WalkError> {
    let mut out = Set::new();
    for (pe, v) in children(model, ty, value, path)? {
        let cty = child_type(model, ty, &pe);
        path.push(pe.clone());
        let sub = all_nodes(model, cty, v, path)?;
        path.pop();
        out.members.insert(pe.clone());
        if !sub.is_empty() {
            out.children.insert(pe, sub);
        }
    }
    Ok(out)
}

/// The nodes of a subtree that appeared: leaves, list items, and maps
/// without declared fields are members; structs only hold their fields.
fn added_nodes(
    model: &TypeModel,
    ty: Option<TypeId>,
    value: &Value,
    path: &mut Vec<PathElement>,
) -> Result<Set, WalkError> {
    let mut out = Set::new();
    for (pe, v) in children(model, ty, value, path)? {
        let cty = child_type(model, ty, &pe);
        path.push(pe.clone());
        let sub = added_nodes(model, cty, v, path)?;
        path.pop();
        if whole_is_member(model, cty, v) || is_list_item(model, ty) {
            out.members.insert(pe.clone());
        }
        if !sub.is_empty() {
            out.children.insert(pe, sub);
        }
    }
    Ok(out)
}

/// Removes from `value` every child that `last` holds (as a member, or as a
/// declared struct field with owned fields below it) and `managed` does
/// not: what a manager applied before and nobody manages any more.
pub fn prune(
    model: &TypeModel,
    ty: TypeId,
    value: &mut Value,
    last: &Set,
    managed: &Set,
) -> Result<(), WalkError> {
    prune_node(model, Some(ty), value, last, Some(managed), &mut Vec::new())
}

fn holds(model: &TypeModel, ty: Option<TypeId>, set: Option<&Set>, pe: &PathElement) -> bool {
    let Some(set) = set else { return false };
    if set.members.contains(pe) {
        return true;
    }
    match (ty, pe) {
        (Some(t), PathElement::Field(name)) => {
            set.children.contains_key(pe) && model.is_declared_field(t, name)
        }
        _ => false,
    }
}

fn prune_node(
    model: &TypeModel,
    ty: Option<TypeId>,
    value: &mut Value,
    last: &Set,
    managed: Option<&Set>,
    path: &mut Vec<PathElement>,
) -> Result<(), WalkError> {
    let elements: Vec<PathElement> = children(model, ty, value, path)?
        .into_iter()
        .map(|(pe, _)| pe)
        .collect();
    let mut remove = Vec::new();
    for (i, pe) in elements.iter().enumerate() {
        let in_last = holds(model, ty, Some(last), pe);
        if in_last && !holds(model, ty, managed, pe) {
            remove.push(i);
            continue;
        }
        let Some(last_child) = last.children.get(pe) else {
            continue;
        };
        let cty = child_type(model, ty, pe);
        let managed_child = managed.and_then(|m| m.children.get(pe));
        path.push(pe.clone());
        let child = match value {
            Value::Array(items) => items.get_mut(i),
            Value::Object(m) => match pe {
                PathElement::Field(k) => m.get_mut(k),
                _ => None,
            },
            _ => None,
        };
        if let Some(child) = child {
            prune_node(model, cty, child, last_child, managed_child, path)?;
        }
        path.pop();
    }
    match value {
        Value::Array(items) => {
            for i in remove.into_iter().rev() {
                items.remove(i);
            }
        }
        Value::Object(m) => {
            for i in remove {
                if let PathElement::Field(k) = &elements[i] {
                    m.shift_remove(k);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Keeps only the top-level fields of `obj` for which `keep` is true.
pub fn retain_top(obj: &mut Value, keep: impl Fn(&str) -> bool) {
    if let Value::Object(m) = obj {
        let kept: Map<String, Value> = std::mem::take(m)
            .into_iter()
            .filter(|(k, _)| keep(k))
            .collect();
        *m = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::super::fieldsv1;
    use super::*;
    use serde_json::json;

    fn model() -> TypeModel {
        TypeModel::from_schema(&json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                }},
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer"},
                    "containers": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {
                            "name": {"type": "string"},
                            "image": {"type": "string"},
                            "args": {"type": "array", "items": {"type": "string"}}
                        }}
                    }
                }}
            }
        }))
    }

    #[test]
    fn field_set_of_an_object() {
        let m = model();
        let obj = json!({
            "metadata": {"name": "a", "labels": {"app": "x"}},
            "spec": {"replicas": 1, "containers": [{"name": "c", "image": "i", "args": ["x"]}]}
        });
        let set = field_set(&m, m.root(), &obj).unwrap();
        assert_eq!(
            fieldsv1::encode(&set),
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}, "f:name": {}},
                "f:spec": {
                    "f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:args": {}, "f:image": {}, "f:name": {}}},
                    "f:replicas": {}
                }
            })
        );
    }

    #[test]
    fn missing_key_is_an_error() {
        let m = model();
        let e = field_set(
            &m,
            m.root(),
            &json!({"spec": {"containers": [{"image": "i"}]}}),
        )
        .unwrap_err();
        assert_eq!(e.path, ".spec.containers");
        assert!(e.message.contains("omits key field \"name\""));
    }

    #[test]
    fn compare_reports_added_modified_removed() {
        let m = model();
        let old = json!({"metadata": {"name": "a"}, "spec": {"replicas": 1, "containers": [{"name": "c", "image": "i"}]}});
        let new =
            json!({"metadata": {"name": "a", "labels": {"app": "x"}}, "spec": {"replicas": 2}});
        let c = compare(&m, m.root(), &old, &new).unwrap();
        assert_eq!(
            fieldsv1::encode(&c.added),
            json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
        );
        assert_eq!(
            fieldsv1::encode(&c.modified),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(
            fieldsv1::encode(&c.removed),
            json!({"f:spec": {"f:containers": {".": {}, "k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}}}})
        );
    }

    #[test]
    fn prune_removes_only_unmanaged_fields() {
        let m = model();
        let mut obj = json!({"metadata": {"name": "a", "labels": {"a": "1", "b": "2"}},
                             "spec": {"replicas": 1, "containers": [{"name": "c"}, {"name": "d"}]}});
        let last = fieldsv1::decode(&json!({
            "f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}},
            "f:spec": {"f:replicas": {}, "f:containers": {"k:{\"name\":\"c\"}": {".": {}}, "k:{\"name\":\"d\"}": {".": {}}}}
        })).unwrap();
        let managed = fieldsv1::decode(&json!({
            "f:metadata": {"f:labels": {"f:b": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"d\"}": {".": {}}}}
        }))
        .unwrap();
        prune(&m, m.root(), &mut obj, &last, &managed).unwrap();
        assert_eq!(
            obj,
            json!({"metadata": {"name": "a", "labels": {"b": "2"}}, "spec": {"containers": [{"name": "d"}]}})
        );
    }
}
