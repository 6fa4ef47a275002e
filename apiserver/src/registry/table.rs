//! Lookup of resources by (group, version, plural), and the group/version
//! inventory discovery is generated from. Built once from the built-in table;
//! CRDs will swap in a new table (hence `Arc<ResourceTable>` everywhere).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::resources::{ResourceInfo, builtin_resources};
use crate::strategy::{self, Strategy};

/// A served resource: its table row and its strategy.
pub struct Resource {
    pub info: ResourceInfo,
    pub strategy: &'static dyn Strategy,
    /// Group, version and kind objects are stored in (the storage-version
    /// row with the same storage prefix; this row itself for most).
    pub storage: (&'static str, &'static str, &'static str),
}

impl Resource {
    pub fn has_subresource(&self, name: &str) -> bool {
        self.info.subresources.iter().any(|s| s.name == name)
    }

    pub fn is_stored(&self) -> bool {
        !self.info.storage_prefix.is_empty()
    }

    /// Server-set metadata of a new object (uid, creationTimestamp,
    /// generation where tracked), then the kind's create defaults.
    pub fn prepare_new(&self, obj: &mut serde_json::Value) {
        crate::meta::stamp_created(obj);
        let m = crate::meta::meta_mut(obj);
        if self.strategy.tracks_generation() {
            m.insert("generation".into(), serde_json::json!(1));
        } else {
            m.remove("generation");
        }
        self.strategy.prepare_for_create(obj);
    }
}

#[derive(Default)]
pub struct ResourceTable {
    by_path: HashMap<(String, String, String), Arc<Resource>>,
    /// group -> versions in preference order (as upstream lists them).
    groups: BTreeMap<String, Vec<String>>,
    /// Group order as discovery lists them (core first, then upstream order).
    group_order: Vec<String>,
}

impl ResourceTable {
    pub fn builtin() -> Self {
        let mut table = ResourceTable::default();
        let rows = builtin_resources();
        for info in &rows {
            let storage = rows
                .iter()
                .find(|r| {
                    r.storage_version
                        && !r.storage_prefix.is_empty()
                        && r.storage_prefix == info.storage_prefix
                })
                .map(|r| (r.group, r.version, r.kind))
                .unwrap_or((info.group, info.version, info.kind));
            table.insert(info.clone(), storage);
        }
        table
    }

    pub fn insert(
        &mut self,
        info: ResourceInfo,
        storage: (&'static str, &'static str, &'static str),
    ) {
        let strategy = strategy::for_kind(info.group, info.kind);
        let versions = self.groups.entry(info.group.to_string()).or_default();
        if !versions.iter().any(|v| v == info.version) {
            versions.push(info.version.to_string());
        }
        if !self.group_order.iter().any(|g| g == info.group) {
            self.group_order.push(info.group.to_string());
        }
        let key = (
            info.group.to_string(),
            info.version.to_string(),
            info.plural.to_string(),
        );
        self.by_path.insert(
            key,
            Arc::new(Resource {
                info,
                strategy,
                storage,
            }),
        );
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<Resource>> {
        self.by_path
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Groups in discovery order, each with its versions (preferred first).
    pub fn groups(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.group_order
            .iter()
            .filter_map(|g| self.groups.get(g).map(|v| (g.as_str(), v.as_slice())))
    }

    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.groups
            .get(group)
            .is_some_and(|vs| vs.iter().any(|v| v == version))
    }

    /// Resources of one group/version, sorted by plural.
    pub fn resources_in(&self, group: &str, version: &str) -> Vec<Arc<Resource>> {
        let mut out: Vec<Arc<Resource>> = self
            .by_path
            .values()
            .filter(|r| r.info.group == group && r.info.version == version)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.info.plural.cmp(b.info.plural));
        out
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Resource>> {
        self.by_path.values()
    }
}
