//! Lookup of resources by (group, version, plural), and the group/version
//! inventory discovery is generated from. Built from the built-in table;
//! the CRD controller (`crd::controller`) builds a new table with the
//! established custom resources added and swaps it in (hence
//! `Arc<ResourceTable>` everywhere: a request keeps the table it started
//! with).
//!
//! Built-in rows carry a `&'static` strategy; custom resource rows carry a
//! shared one (`StrategyRef::Shared`) holding the CRD version's schema, and
//! `Resource::custom` with what the generic code needs beyond the strategy
//! (printer columns, scale paths, version conversion).

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::crd::CustomVersion;
use crate::error::ApiResult;
use crate::printers::{self, IncludeObject};
use crate::resources::{ResourceInfo, builtin_resources};
use crate::strategy::{self, Strategy};

/// A resource's strategy: a static one for built-in kinds, a shared one
/// built from a CRD for custom resources.
#[derive(Clone)]
pub enum StrategyRef {
    Static(&'static dyn Strategy),
    Shared(Arc<dyn Strategy>),
}

impl Deref for StrategyRef {
    type Target = dyn Strategy;
    fn deref(&self) -> &Self::Target {
        match self {
            StrategyRef::Static(s) => *s,
            StrategyRef::Shared(s) => s.as_ref(),
        }
    }
}

/// A served resource: its table row and its strategy.
pub struct Resource {
    pub info: ResourceInfo,
    pub strategy: StrategyRef,
    /// Group, version and kind objects are stored in (the storage-version
    /// row with the same storage prefix; this row itself for most).
    pub storage: (&'static str, &'static str, &'static str),
    /// For custom resources: the CRD version this row serves.
    pub custom: Option<Arc<CustomVersion>>,
}

impl Resource {
    /// A stored object (in its storage version) as this row serves it
    /// (fails only when a CRD's conversion webhook does).
    pub fn from_storage(&self, stored: Value) -> ApiResult<Value> {
        let info = &self.info;
        match &self.custom {
            Some(custom) => custom.from_storage(stored),
            None => Ok(crate::conversion::convert(
                stored,
                info.group,
                info.version,
                info.kind,
            )),
        }
    }

    /// An object of this row in the storage version.
    pub fn to_storage(&self, obj: Value) -> ApiResult<Value> {
        match &self.custom {
            Some(custom) => custom.to_storage(obj),
            None => {
                let (group, version, kind) = self.storage;
                Ok(crate::conversion::convert(obj, group, version, kind))
            }
        }
    }

    /// The `meta.k8s.io/v1` Table of `objects` (kubectl get).
    pub fn table(
        &self,
        objects: &[Value],
        list_meta: Value,
        include_object: IncludeObject,
        now: DateTime<Utc>,
    ) -> Value {
        match &self.custom {
            Some(custom) => {
                crate::crd::printer::table(custom, objects, list_meta, include_object, now)
            }
            None => printers::table(
                self.info.group,
                self.info.kind,
                objects,
                list_meta,
                include_object,
                now,
            ),
        }
    }

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
        let strategy = StrategyRef::Static(strategy::for_kind(info.group, info.kind));
        self.insert_resource(Resource {
            info,
            strategy,
            storage,
            custom: None,
        });
    }

    /// Adds one row (a custom resource version, or a built-in one).
    pub fn insert_resource(&mut self, resource: Resource) {
        let info = &resource.info;
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
        self.by_path.insert(key, Arc::new(resource));
    }

    /// Reorders the versions of `group` (custom resource groups: several
    /// CRDs may add versions to one group, and the first is the preferred).
    pub fn sort_versions(&mut self, group: &str, order: impl Fn(&str, &str) -> std::cmp::Ordering) {
        if let Some(versions) = self.groups.get_mut(group) {
            versions.sort_by(|a, b| order(a, b));
        }
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
