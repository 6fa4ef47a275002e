//! The type model server-side apply walks objects with: for every node, is
//! it a scalar, a map (struct fields and/or `additionalProperties`), a list,
//! or untyped; and whether maps are granular or atomic and lists atomic,
//! sets or associative maps with key fields.
//!
//! Built from OpenAPI schemas the way upstream's schema conversion
//! (`kube-openapi/pkg/schemaconv`) reads them:
//! - `x-kubernetes-list-type: atomic | set | map` (+ `x-kubernetes-list-map-keys`);
//!   without it, `x-kubernetes-patch-strategy: merge` makes the list
//!   associative, keyed by `x-kubernetes-patch-merge-key` (a set for
//!   lists of scalars); every other list is atomic;
//! - `x-kubernetes-map-type: atomic` makes a map or struct one leaf
//!   (`granular`, the default, makes each field a node);
//! - `x-kubernetes-int-or-string` and the scalar types are leaves;
//!   `x-kubernetes-preserve-unknown-fields` and schemas without a type are
//!   untyped: maps granular, lists atomic (upstream's "deduced" type).
//!
//! [`TypeModel::from_definitions`] reads a set of named definitions
//! (`#/definitions/<name>` or `#/components/schemas/<name>` references),
//! the built-in kinds' documents; [`TypeModel::from_schema`] reads one inline
//! schema such as a CRD version's `openAPIV3Schema`.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Index of a node in its model.
pub type TypeId = usize;

/// How a list's items are identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// The whole list is one value.
    Atomic,
    /// Items are scalars identified by their value.
    Set,
    /// Items are maps identified by these key fields.
    Map(Vec<String>),
}

/// One node of the model.
#[derive(Debug, Clone)]
pub enum Atom {
    Scalar,
    /// No schema: maps are granular, lists atomic.
    Untyped,
    Map {
        fields: HashMap<String, TypeId>,
        /// The type of keys that are not declared fields.
        elem: Option<TypeId>,
        atomic: bool,
    },
    List {
        elem: TypeId,
        kind: ListKind,
    },
}

/// A set of types, with named roots.
#[derive(Debug, Clone)]
pub struct TypeModel {
    atoms: Vec<Atom>,
    named: HashMap<String, TypeId>,
}

const SCALAR: TypeId = 0;
const UNTYPED: TypeId = 1;

/// Upstream's schemas give associative-list keys a default when an item may
/// leave them out; `protocol` (ports of containers and Services) is the only
/// such key of the built-in types.
pub fn key_default(key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::String("TCP".into()))
}

impl TypeModel {
    fn empty() -> TypeModel {
        TypeModel {
            atoms: vec![Atom::Scalar, Atom::Untyped],
            named: HashMap::new(),
        }
    }

    /// A model of named definitions (`name -> schema`).
    pub fn from_definitions(defs: &BTreeMap<String, Value>) -> TypeModel {
        let mut model = TypeModel::empty();
        // Reserve one node per definition so references can be cyclic.
        for name in defs.keys() {
            let id = model.atoms.len();
            model.atoms.push(Atom::Untyped);
            model.named.insert(name.clone(), id);
        }
        for (name, schema) in defs {
            let atom = model.convert_atom(schema);
            if let Some(&id) = model.named.get(name) {
                model.atoms[id] = atom;
            }
        }
        model
    }

    /// A model of one inline schema (e.g. a CRD's `openAPIV3Schema`); its
    /// root is named `""`.
    pub fn from_schema(schema: &Value) -> TypeModel {
        let mut model = TypeModel::empty();
        let root = model.convert(schema);
        model.named.insert(String::new(), root);
        model
    }

    /// The model of objects without a schema.
    pub fn untyped() -> TypeModel {
        let mut model = TypeModel::empty();
        model.named.insert(String::new(), UNTYPED);
        model
    }

    /// The node of a named definition.
    pub fn named(&self, name: &str) -> Option<TypeId> {
        self.named.get(name).copied()
    }

    /// The root of a model built with [`TypeModel::from_schema`] or
    /// [`TypeModel::untyped`].
    pub fn root(&self) -> TypeId {
        self.named("").unwrap_or(UNTYPED)
    }

    pub fn atom(&self, id: TypeId) -> &Atom {
        self.atoms.get(id).unwrap_or(&Atom::Untyped)
    }

    /// The node of a field of a map node (None: not a map, or no such
    /// field and no element type).
    pub fn field(&self, id: TypeId, name: &str) -> Option<TypeId> {
        match self.atom(id) {
            Atom::Map { fields, elem, .. } => fields.get(name).copied().or(*elem),
            Atom::Untyped => Some(UNTYPED),
            _ => None,
        }
    }

    /// Whether `name` is a declared field of a struct node.
    pub fn is_declared_field(&self, id: TypeId, name: &str) -> bool {
        matches!(self.atom(id), Atom::Map { fields, .. } if fields.contains_key(name))
    }

    fn push(&mut self, atom: Atom) -> TypeId {
        match atom {
            Atom::Scalar => SCALAR,
            Atom::Untyped => UNTYPED,
            other => {
                self.atoms.push(other);
                self.atoms.len() - 1
            }
        }
    }

    fn reference(&self, schema: &Value) -> Option<TypeId> {
        let target = schema.get("$ref").and_then(Value::as_str).or_else(|| {
            let all = schema.get("allOf")?.as_array()?;
            if all.len() == 1 {
                all[0].get("$ref")?.as_str()
            } else {
                None
            }
        })?;
        let name = target.rsplit('/').next()?;
        self.named.get(name).copied()
    }

    fn convert(&mut self, schema: &Value) -> TypeId {
        if let Some(id) = self.reference(schema) {
            if schema.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic") {
                return self.push(Atom::Map {
                    fields: HashMap::new(),
                    elem: None,
                    atomic: true,
                });
            }
            return id;
        }
        let atom = self.convert_atom(schema);
        self.push(atom)
    }

    fn convert_atom(&mut self, schema: &Value) -> Atom {
        if let Some(id) = self.reference(schema) {
            return self.atom(id).clone();
        }
        let ext = |k: &str| schema.get(k);
        if ext("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
            return Atom::Scalar;
        }
        let ty = match schema.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or(""),
            _ => "",
        };
        let preserve =
            ext("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
        let props = schema.get("properties").and_then(Value::as_object);
        let atomic_map = ext("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
        match ty {
            "array" => {
                let elem = match schema.get("items") {
                    Some(items) => self.convert(items),
                    None => UNTYPED,
                };
                Atom::List {
                    elem,
                    kind: list_kind(schema, matches!(self.atom(elem), Atom::Scalar)),
                }
            }
            "string" | "integer" | "number" | "boolean" => Atom::Scalar,
            _ if props.is_some() || schema.get("additionalProperties").is_some() => {
                let mut fields = HashMap::new();
                for (name, prop) in props.into_iter().flatten() {
                    let id = self.convert(prop);
                    fields.insert(name.clone(), id);
                }
                let elem = match schema.get("additionalProperties") {
                    Some(Value::Bool(true)) => Some(UNTYPED),
                    Some(Value::Bool(false)) | None if preserve => Some(UNTYPED),
                    Some(Value::Bool(false)) | None => None,
                    Some(s) => Some(self.convert(s)),
                };
                Atom::Map {
                    fields,
                    elem,
                    atomic: atomic_map,
                }
            }
            "object" if atomic_map => Atom::Map {
                fields: HashMap::new(),
                elem: Some(UNTYPED),
                atomic: true,
            },
            _ => Atom::Untyped,
        }
    }
}

/// The list kind of an array schema, with the patch-strategy fallback.
fn list_kind(schema: &Value, scalar_items: bool) -> ListKind {
    let s = |k: &str| schema.get(k).and_then(Value::as_str);
    match s("x-kubernetes-list-type") {
        Some("set") => return ListKind::Set,
        Some("map") => {
            let keys = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            return ListKind::Map(keys);
        }
        Some(_) => return ListKind::Atomic,
        None => {}
    }
    let merge =
        s("x-kubernetes-patch-strategy").is_some_and(|st| st.split(',').any(|p| p == "merge"));
    if !merge {
        return ListKind::Atomic;
    }
    match s("x-kubernetes-patch-merge-key") {
        Some(key) if !scalar_items => ListKind::Map(vec![key.to_string()]),
        _ => ListKind::Set,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_list_and_map_semantics() {
        let model = TypeModel::from_schema(&json!({
            "type": "object",
            "properties": {
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port", "protocol"],
                    "items": {"type": "object", "properties": {"port": {"type": "integer"}}}
                },
                "env": {
                    "type": "array",
                    "x-kubernetes-patch-strategy": "merge",
                    "x-kubernetes-patch-merge-key": "name",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}}
                },
                "finalizers": {
                    "type": "array",
                    "x-kubernetes-patch-strategy": "merge",
                    "items": {"type": "string"}
                },
                "args": {"type": "array", "items": {"type": "string"}},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                             "additionalProperties": {"type": "string"}},
                "raw": {"x-kubernetes-preserve-unknown-fields": true}
            }
        }));
        let root = model.root();
        let kind = |f: &str| match model.atom(model.field(root, f).unwrap()) {
            Atom::List { kind, .. } => format!("{kind:?}"),
            Atom::Map { atomic, .. } => format!("map atomic={atomic}"),
            other => format!("{other:?}"),
        };
        assert_eq!(kind("ports"), "Map([\"port\", \"protocol\"])");
        assert_eq!(kind("env"), "Map([\"name\"])");
        assert_eq!(kind("finalizers"), "Set");
        assert_eq!(kind("args"), "Atomic");
        assert_eq!(kind("selector"), "map atomic=true");
        assert_eq!(kind("raw"), "Untyped");
    }

    #[test]
    fn follows_references() {
        let mut defs = BTreeMap::new();
        defs.insert(
            "A".to_string(),
            json!({"type": "object", "properties": {"b": {"$ref": "#/definitions/B"}}}),
        );
        defs.insert(
            "B".to_string(),
            json!({"type": "object", "properties": {"a": {"allOf": [{"$ref": "#/components/schemas/A"}]}}}),
        );
        let model = TypeModel::from_definitions(&defs);
        let a = model.named("A").unwrap();
        let b = model.field(a, "b").unwrap();
        assert_eq!(model.field(b, "a"), Some(a));
    }
}
