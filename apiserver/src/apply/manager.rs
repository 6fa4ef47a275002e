//! The field manager: how one write changes `managedFields`.
//!
//! - [`update`] (create, update, every non-apply patch): the writer takes
//!   the fields it added or changed from everybody else, fields that
//!   disappeared leave every manager, and its `Update` entry gains the
//!   changes (its time moves only when something changed).
//! - [`apply`]: the configuration is merged into the live object; fields
//!   the manager applied last time and no longer applies are removed unless
//!   another manager (or the new configuration) still holds them; fields
//!   the write changes that other managers own are conflicts (refused
//!   unless forced, taken over when forced); the manager's `Apply` entry
//!   becomes exactly the applied field set.
//!
//! `ignored` fields (the status of a main-resource write, the spec of a
//! status write) are owned by nobody in that write, as upstream's reset
//! fields.

use serde_json::Value;

use super::fieldpath::{Path, Set};
use super::managed::{Entry, MAX_UPDATE_MANAGERS, Managed, Operation, strip};
use super::merge::merge;
use super::schema::{TypeId, TypeModel};
use super::walk::{Comparison, WalkError, compare, field_set, prune};

/// What a write is about.
pub struct Scope<'a> {
    pub model: &'a TypeModel,
    pub ty: TypeId,
    pub api_version: &'a str,
    pub subresource: &'a str,
    pub ignored: &'a Set,
    pub now: &'a str,
}

/// One conflicting field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The manager as conflict messages show it.
    pub manager: String,
    pub path: Path,
}

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error(transparent)]
    Walk(#[from] WalkError),
    #[error("{} conflicts", .0.len())]
    Conflicts(Vec<Conflict>),
}

fn filtered(c: Comparison, ignored: &Set) -> Comparison {
    if ignored.is_empty() {
        return c;
    }
    Comparison {
        added: c.added.recursive_difference(ignored),
        modified: c.modified.recursive_difference(ignored),
        removed: c.removed.recursive_difference(ignored),
    }
}

/// Records a non-apply write by `manager` from `old` to `new`.
pub fn update(
    scope: &Scope<'_>,
    managed: &mut Managed,
    old: &Value,
    new: &Value,
    manager: &str,
) -> Result<(), WalkError> {
    let c = filtered(compare(scope.model, scope.ty, old, new)?, scope.ignored);
    if c.is_same() {
        return Ok(());
    }
    let Comparison {
        added: mut changed,
        modified,
        removed,
    } = c;
    changed.union_in_place(&modified);
    for e in &mut managed.entries {
        e.set = e.set.difference(&changed);
        if !removed.is_empty() {
            e.set = e.set.difference(&removed);
        }
    }
    let mut gained = if removed.is_empty() {
        changed
    } else {
        changed.difference(&removed)
    };
    strip(&mut gained);
    if !gained.is_empty() {
        let like = Entry {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: scope.api_version.to_string(),
            time: None,
            subresource: scope.subresource.to_string(),
            set: Set::new(),
        };
        let entry = managed.entry_mut(&like);
        if entry.set.is_empty() {
            entry.set = gained;
        } else {
            entry.set.union_in_place(&gained);
        }
        entry.time = Some(scope.now.to_string());
    }
    managed.drop_empty();
    managed.cap_updaters(MAX_UPDATE_MANAGERS);
    Ok(())
}

/// Applies `config` for `manager` to `live`; returns the new object.
/// `allowed` conflicts (the client-side apply upgrade path) are taken over
/// as if forced.
pub fn apply(
    scope: &Scope<'_>,
    managed: &mut Managed,
    live: &Value,
    config: &Value,
    manager: &str,
    force: bool,
    allowed: Option<&Set>,
) -> Result<Value, ManageError> {
    let applied = field_set(scope.model, scope.ty, config)?.recursive_difference(scope.ignored);
    let like = Entry {
        manager: manager.to_string(),
        operation: Operation::Apply,
        api_version: scope.api_version.to_string(),
        time: None,
        subresource: scope.subresource.to_string(),
        set: Set::new(),
    };
    let mut merged = merge(scope.model, scope.ty, live, config)?;
    let last = managed
        .entries
        .iter()
        .find(|e| e.same_manager(&like))
        .map(|e| e.set.clone());
    if let Some(last) = last.as_ref().filter(|l| !l.is_empty()) {
        let mut holders = applied.clone();
        for e in managed.entries.iter().filter(|e| !e.same_manager(&like)) {
            holders.union_in_place(&e.set);
        }
        prune(scope.model, scope.ty, &mut merged, last, &holders)?;
    }
    let c = filtered(
        compare(scope.model, scope.ty, live, &merged)?,
        scope.ignored,
    );
    let changed = c.added.union(&c.modified);
    let mut conflicts = Vec::new();
    for e in managed.entries.iter().filter(|e| !e.same_manager(&like)) {
        let mine = e.set.intersection(&changed);
        let refused = match allowed {
            Some(a) => mine.difference(a),
            None => mine,
        };
        for path in refused.paths() {
            conflicts.push(Conflict {
                manager: e.display(),
                path,
            });
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| a.manager.cmp(&b.manager).then_with(|| a.path.cmp(&b.path)));
        return Err(ManageError::Conflicts(conflicts));
    }
    for e in managed
        .entries
        .iter_mut()
        .filter(|e| !e.same_manager(&like))
    {
        e.set = e.set.difference(&changed).difference(&c.removed);
    }
    let entry = managed.entry_mut(&like);
    let first = entry.time.is_none();
    entry.set = applied;
    strip(&mut entry.set);
    entry.api_version = scope.api_version.to_string();
    if first || !c.is_same() {
        entry.time = Some(scope.now.to_string());
    }
    managed.drop_empty();
    Ok(merged)
}

/// Upstream's conflict message.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager, only.path
        );
    }
    let mut lines = Vec::new();
    let mut current: Option<&str> = None;
    for c in conflicts {
        if current != Some(c.manager.as_str()) {
            lines.push(format!("conflicts with {}:", c.manager));
            current = Some(c.manager.as_str());
        }
        lines.push(format!("- {}", c.path));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
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
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                }},
                "data": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        }))
    }

    fn scope(m: &TypeModel) -> (Set, String) {
        let _ = m;
        (Set::new(), "2024-01-01T00:00:00Z".to_string())
    }

    #[test]
    fn apply_conflicts_force_and_removal() {
        let m = model();
        let (ignored, now) = scope(&m);
        let s = Scope {
            model: &m,
            ty: m.root(),
            api_version: "v1",
            subresource: "",
            ignored: &ignored,
            now: &now,
        };
        let mut managed = Managed::default();
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        let cfg1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                          "data": {"x": "1", "y": "1"}});
        let obj = apply(&s, &mut managed, &live, &cfg1, "one", false, None).unwrap();
        assert_eq!(
            fieldsv1::encode(&managed.entries[0].set),
            json!({"f:data": {"f:x": {}, "f:y": {}}})
        );
        // Same value from a second manager: shared, no conflict.
        let cfg2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                          "data": {"x": "1"}});
        let obj = apply(&s, &mut managed, &obj, &cfg2, "two", false, None).unwrap();
        assert_eq!(managed.entries.len(), 2);
        // A different value conflicts.
        let cfg3 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                          "data": {"x": "2"}});
        let Err(ManageError::Conflicts(c)) =
            apply(&s, &mut managed, &obj, &cfg3, "two", false, None)
        else {
            panic!("expected a conflict");
        };
        assert_eq!(
            conflict_message(&c),
            "Apply failed with 1 conflict: conflict with \"one\": .data.x"
        );
        // Forced: "two" takes .data.x.
        let obj = apply(&s, &mut managed, &obj, &cfg3, "two", true, None).unwrap();
        assert_eq!(obj["data"], json!({"x": "2", "y": "1"}));
        assert_eq!(
            fieldsv1::encode(&managed.entries[0].set),
            json!({"f:data": {"f:y": {}}})
        );
        // "one" stops applying y: nobody else holds it, so it goes.
        let cfg4 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        let obj = apply(&s, &mut managed, &obj, &cfg4, "one", false, None).unwrap();
        assert_eq!(obj["data"], json!({"x": "2"}));
        assert_eq!(managed.entries.len(), 1);
        assert_eq!(managed.entries[0].manager, "two");
    }

    #[test]
    fn update_takes_changed_fields() {
        let m = model();
        let (ignored, now) = scope(&m);
        let s = Scope {
            model: &m,
            ty: m.root(),
            api_version: "v1",
            subresource: "",
            ignored: &ignored,
            now: &now,
        };
        let mut managed = Managed::default();
        let empty = json!({});
        let created = json!({"metadata": {"name": "a", "labels": {"l": "1"}}, "data": {"x": "1"}});
        update(&s, &mut managed, &empty, &created, "kubectl-create").unwrap();
        assert_eq!(
            fieldsv1::encode(&managed.entries[0].set),
            json!({"f:data": {".": {}, "f:x": {}}, "f:metadata": {"f:labels": {".": {}, "f:l": {}}}})
        );
        let edited = json!({"metadata": {"name": "a", "labels": {"l": "1"}}, "data": {"x": "2"}});
        update(&s, &mut managed, &created, &edited, "kubectl-edit").unwrap();
        assert_eq!(
            fieldsv1::encode(&managed.entries[1].set),
            json!({"f:data": {"f:x": {}}})
        );
        assert_eq!(
            fieldsv1::encode(&managed.entries[0].set),
            json!({"f:data": {}, "f:metadata": {"f:labels": {".": {}, "f:l": {}}}})
        );
        let mut c = vec![
            Conflict {
                manager: "\"b\"".into(),
                path: Path(vec![super::super::fieldpath::PathElement::field("x")]),
            },
            Conflict {
                manager: "\"b\"".into(),
                path: Path(vec![super::super::fieldpath::PathElement::field("y")]),
            },
        ];
        c.push(Conflict {
            manager: "\"c\"".into(),
            path: Path(vec![super::super::fieldpath::PathElement::field("z")]),
        });
        assert_eq!(
            conflict_message(&c),
            "Apply failed with 3 conflicts: conflicts with \"b\":\n- .x\n- .y\nconflicts with \"c\":\n- .z"
        );
    }
}
