//! `metadata.managedFields`: one entry per manager (its name, `Apply` or
//! `Update`, the API version, the time of its last change, the
//! subresource, and its field set in FieldsV1), read from and written to an
//! object, in upstream's order (Apply entries first, then by time, manager,
//! apiVersion, subresource).
//!
//! Managers are told apart as upstream does: by name, operation and
//! subresource, and for `Update` entries also by API version.

use serde_json::{Map, Value, json};

use super::fieldpath::{PathElement, Set};
use super::fieldsv1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: String,
    pub set: Set,
}

impl Entry {
    /// Whether `self` and `other` are the same manager.
    pub fn same_manager(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How conflict messages name this manager: `"name"`, with `with
    /// subresource "status"` and, for Update entries, `using apps/v1`.
    pub fn display(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// Why an object's managedFields could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagedError {
    #[error("managedFields must be a list")]
    NotAList,
    #[error("operation must be `Apply` or `Update`")]
    BadOperation,
    #[error("apiVersion must not be empty")]
    NoApiVersion,
    #[error("missing fieldsType in managed fields entry {0}")]
    NoFieldsType(usize),
    #[error("invalid fieldsType {0:?} in managed fields entry {1}")]
    BadFieldsType(String, usize),
    #[error("error decoding FieldsV1 in managed fields entry {0}: {1}")]
    Fields(usize, fieldsv1::FieldsV1Error),
}

/// All entries of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Managed {
    pub entries: Vec<Entry>,
}

/// Whether a client's managedFields ask for a reset: an empty list, or a
/// list with one empty entry.
pub fn is_reset(list: Option<&Value>) -> bool {
    match list {
        Some(Value::Array(items)) => {
            items.is_empty()
                || (items.len() == 1 && items[0].as_object().is_some_and(Map::is_empty))
        }
        _ => false,
    }
}

impl Managed {
    /// Reads `metadata.managedFields` of an object (absent: no entries).
    pub fn of(obj: &Value) -> Result<Managed, ManagedError> {
        match obj.pointer("/metadata/managedFields") {
            None | Some(Value::Null) => Ok(Managed::default()),
            Some(list) => Managed::decode(list),
        }
    }

    pub fn decode(list: &Value) -> Result<Managed, ManagedError> {
        let Value::Array(items) = list else {
            return Err(ManagedError::NotAList);
        };
        let mut entries: Vec<Entry> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
            let operation = match s("operation") {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                _ => return Err(ManagedError::BadOperation),
            };
            if s("apiVersion").is_empty() {
                return Err(ManagedError::NoApiVersion);
            }
            match s("fieldsType") {
                "FieldsV1" => {}
                "" => return Err(ManagedError::NoFieldsType(i)),
                other => return Err(ManagedError::BadFieldsType(other.to_string(), i)),
            }
            let set = match item.get("fieldsV1") {
                None | Some(Value::Null) => Set::new(),
                Some(v) => fieldsv1::decode(v).map_err(|e| ManagedError::Fields(i, e))?,
            };
            let entry = Entry {
                manager: s("manager").to_string(),
                operation,
                api_version: s("apiVersion").to_string(),
                time: item.get("time").and_then(Value::as_str).map(str::to_string),
                subresource: s("subresource").to_string(),
                set,
            };
            // Duplicate managers are merged (upstream keys them by identity).
            match entries.iter_mut().find(|e| e.same_manager(&entry)) {
                Some(e) => e.set.union_in_place(&entry.set),
                None => entries.push(entry),
            }
        }
        Ok(Managed { entries })
    }

    /// The entries as upstream writes them, sorted, empty ones dropped.
    pub fn encode(&self) -> Value {
        let mut entries: Vec<&Entry> = self.entries.iter().filter(|e| !e.set.is_empty()).collect();
        entries.sort_by(|p, q| {
            p.operation
                .cmp(&q.operation)
                .then_with(|| p.time.cmp(&q.time))
                .then_with(|| p.manager.cmp(&q.manager))
                .then_with(|| p.api_version.cmp(&q.api_version))
                .then_with(|| p.subresource.cmp(&q.subresource))
        });
        let list: Vec<Value> = entries
            .into_iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("manager".into(), json!(e.manager));
                m.insert("operation".into(), json!(e.operation.as_str()));
                m.insert("apiVersion".into(), json!(e.api_version));
                if let Some(t) = &e.time {
                    m.insert("time".into(), json!(t));
                }
                m.insert("fieldsType".into(), json!("FieldsV1"));
                m.insert("fieldsV1".into(), fieldsv1::encode(&e.set));
                if !e.subresource.is_empty() {
                    m.insert("subresource".into(), json!(e.subresource));
                }
                Value::Object(m)
            })
            .collect();
        Value::Array(list)
    }

    /// Writes the entries into `obj` (removing the field when none is left).
    pub fn write_to(&self, obj: &mut Value) {
        let list = self.encode();
        let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
            return;
        };
        if list.as_array().is_some_and(Vec::is_empty) {
            meta.shift_remove("managedFields");
        } else {
            meta.insert("managedFields".into(), list);
        }
    }

    /// The entry of `like`'s manager, created empty when missing.
    pub fn entry_mut(&mut self, like: &Entry) -> &mut Entry {
        match self.entries.iter().position(|e| e.same_manager(like)) {
            Some(i) => &mut self.entries[i],
            None => {
                self.entries.push(like.clone());
                let last = self.entries.len() - 1;
                &mut self.entries[last]
            }
        }
    }

    /// Drops empty entries.
    pub fn drop_empty(&mut self) {
        self.entries.retain(|e| !e.set.is_empty());
    }

    /// Keeps at most `max` Update entries: the oldest are merged, per API
    /// version, into an `ancient-changes` entry (upstream's cap, 10).
    pub fn cap_updaters(&mut self, max: usize) {
        let mut updaters: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].operation == Operation::Update)
            .collect();
        if updaters.len() <= max {
            return;
        }
        updaters.sort_by(|&a, &b| self.entries[a].time.cmp(&self.entries[b].time));
        let mut count = updaters.len();
        let mut first_of_version: Vec<(String, usize)> = Vec::new();
        let mut removed = Vec::new();
        for &i in &updaters {
            if count <= max {
                break;
            }
            let version = self.entries[i].api_version.clone();
            match first_of_version.iter().find(|(v, _)| *v == version) {
                Some(&(_, bucket)) => {
                    let merged = self.entries[i].set.clone();
                    let time = self.entries[i].time.clone();
                    let b = &mut self.entries[bucket];
                    b.manager = ANCIENT_CHANGES.to_string();
                    b.subresource.clear();
                    b.set.union_in_place(&merged);
                    b.time = time;
                    removed.push(i);
                    count -= 1;
                }
                None => first_of_version.push((version, i)),
            }
        }
        removed.sort_unstable();
        for i in removed.into_iter().rev() {
            self.entries.remove(i);
        }
    }
}

/// The manager the oldest Update entries are merged into.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// Most Update entries an object keeps.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// Removes the fields no manager owns (upstream's `stripMetaManager`):
/// apiVersion, kind, metadata itself and its server-set fields.
pub fn strip(set: &mut Set) {
    const META: &[&str] = &[
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ];
    for f in ["apiVersion", "kind", "metadata"] {
        set.members.remove(&PathElement::Field(f.to_string()));
    }
    let metadata = PathElement::Field("metadata".to_string());
    if let Some(m) = set.children.get_mut(&metadata) {
        for f in META {
            m.members.remove(&PathElement::Field((*f).to_string()));
        }
        if m.is_empty() {
            set.children.remove(&metadata);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_sorts_and_encodes() {
        let list = json!([
            {"manager": "b", "operation": "Update", "apiVersion": "v1", "time": "2024-01-01T00:00:02Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:x": {}}}},
            {"manager": "a", "operation": "Update", "apiVersion": "v1", "time": "2024-01-01T00:00:01Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:y": {}}}, "subresource": "status"},
            {"manager": "z", "operation": "Apply", "apiVersion": "v1", "time": "2024-01-01T00:00:09Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:z": {}}}}
        ]);
        let m = Managed::decode(&list).unwrap();
        let out = m.encode();
        let managers: Vec<&str> = out
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["z", "a", "b"]);
        assert_eq!(out[1]["subresource"], "status");
        assert_eq!(
            m.entries[1].display(),
            "\"a\" with subresource \"status\" using v1"
        );
    }

    #[test]
    fn caps_update_managers() {
        let mut m = Managed::default();
        for i in 0..12 {
            let mut set = Set::new();
            set.insert(&[
                PathElement::field("data"),
                PathElement::field(&format!("k{i}")),
            ]);
            m.entries.push(Entry {
                manager: format!("m{i:02}"),
                operation: Operation::Update,
                api_version: "v1".into(),
                time: Some(format!("2024-01-01T00:00:{i:02}Z")),
                subresource: String::new(),
                set,
            });
        }
        m.cap_updaters(MAX_UPDATE_MANAGERS);
        assert_eq!(m.entries.len(), 10);
        let ancient = m
            .entries
            .iter()
            .find(|e| e.manager == ANCIENT_CHANGES)
            .expect("ancient-changes");
        assert_eq!(ancient.set.paths().len(), 3);
        assert_eq!(ancient.time.as_deref(), Some("2024-01-01T00:00:02Z"));
    }

    #[test]
    fn refuses_bad_entries_and_detects_reset() {
        assert_eq!(
            Managed::decode(&json!([{"manager": "a", "operation": "Get", "apiVersion": "v1"}])),
            Err(ManagedError::BadOperation)
        );
        assert_eq!(
            Managed::decode(&json!([{"manager": "a", "operation": "Update", "apiVersion": "v1"}])),
            Err(ManagedError::NoFieldsType(0))
        );
        assert!(is_reset(Some(&json!([]))));
        assert!(is_reset(Some(&json!([{}]))));
        assert!(!is_reset(None));
        assert!(!is_reset(Some(&json!([{"manager": "a"}]))));
    }
}
