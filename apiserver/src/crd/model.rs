//! What the generic registry needs to serve one version of a CRD: the
//! `CustomVersion` (schema, printer columns, scale paths, selectable fields,
//! version conversion) and the resource table rows built from an
//! established CRD (`rows`).

use std::cmp::Ordering;
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceSubresourceScale,
    JSONSchemaProps,
};
use serde_json::Value;

use super::webhook::WebhookConverter;
use super::{cel, intern, schema, strategy::CustomResourceStrategy};
use crate::error::{ApiError, ApiResult};
use crate::registry::Resource;
use crate::registry::table::StrategyRef;
use crate::resources::{ResourceInfo, Subresource};

/// Verbs of a custom resource, in upstream's discovery order.
const CR_VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];
const SUB_VERBS: &[&str] = &["get", "patch", "update"];

/// One served version of a CRD.
pub struct CustomVersion {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub namespaced: bool,
    /// The version objects are stored in.
    pub storage_version: String,
    /// The structural schema (`openAPIV3Schema`), if any.
    pub schema: Option<JSONSchemaProps>,
    /// Compiled `x-kubernetes-validations` rules of the schema.
    pub rules: cel::CompiledRules,
    pub columns: Vec<CustomResourceColumnDefinition>,
    pub has_status: bool,
    pub scale: Option<CustomResourceSubresourceScale>,
    /// Extra field selector paths (`selectableFields`), without the dot.
    pub selectable: &'static [&'static str],
    /// `Webhook` conversion: the client, or why it cannot be built. None
    /// for `None` conversion.
    pub webhook: Option<Result<Arc<WebhookConverter>, String>>,
    /// The CRD is being deleted: no new objects (upstream answers 405).
    pub terminating: bool,
    /// The CRD this row was built from (uid and generation): a row of
    /// another CRD object or generation means the resource changed.
    pub crd_uid: String,
    pub crd_generation: i64,
}

impl CustomVersion {
    fn api_version(&self, version: &str) -> String {
        format!("{}/{version}", self.group)
    }

    /// Converts `obj` to `version` of this resource: `None` conversion
    /// rewrites apiVersion, `Webhook` conversion asks the webhook (objects
    /// already in that version are left alone).
    fn convert(&self, mut obj: Value, version: &str) -> ApiResult<Value> {
        let desired = self.api_version(version);
        if obj.get("apiVersion").and_then(Value::as_str) == Some(desired.as_str()) {
            return Ok(obj);
        }
        match &self.webhook {
            None => {
                if let Some(m) = obj.as_object_mut() {
                    m.insert("apiVersion".into(), Value::String(desired));
                }
                Ok(obj)
            }
            Some(Ok(hook)) => hook.convert_one_blocking(obj, &desired).map_err(|e| {
                ApiError::internal(format!(
                    "conversion webhook for {}, Kind={} failed: {e}",
                    desired, self.kind
                ))
            }),
            Some(Err(e)) => Err(ApiError::internal(format!(
                "conversion webhook for {}, Kind={} failed: {e}",
                desired, self.kind
            ))),
        }
    }

    /// A stored object as this version serves it: converted, then
    /// defaulted (upstream defaults on read).
    pub fn from_storage(&self, stored: Value) -> ApiResult<Value> {
        let mut obj = self.convert(stored, &self.version)?;
        if let Some(s) = &self.schema {
            schema::apply_defaults(s, &mut obj);
        }
        Ok(obj)
    }

    /// An object of this version as stored (in the storage version).
    pub fn to_storage(&self, obj: Value) -> ApiResult<Value> {
        self.convert(obj, &self.storage_version)
    }

    /// Whether `other` was built from the same CRD state (same object,
    /// same generation, same deletion state).
    pub fn same_definition(&self, other: &CustomVersion) -> bool {
        self.crd_uid == other.crd_uid
            && self.crd_generation == other.crd_generation
            && self.terminating == other.terminating
    }

    /// Refuses creating objects while the CRD is being deleted, with
    /// upstream's 405.
    pub fn check_create(&self) -> ApiResult<()> {
        if self.terminating {
            return Err(ApiError::method_not_allowed(format!(
                "create is not supported on resources of kind \"{}.{}\"",
                self.plural, self.group
            )));
        }
        Ok(())
    }
}

/// Orders versions as upstream does: GA before beta before alpha, higher
/// numbers first, then anything else alphabetically.
pub fn version_order(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u64, u8, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((major, 2, 0));
        }
        for (word, rank) in [("beta", 1u8), ("alpha", 0u8)] {
            if let Some(n) = tail.strip_prefix(word) {
                return n.parse().ok().map(|minor| (major, rank, minor));
            }
        }
        None
    }
    match (parse(a), parse(b)) {
        (Some((ma, ra, na)), Some((mb, rb, nb))) => rb.cmp(&ra).then(mb.cmp(&ma)).then(nb.cmp(&na)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// The resource table rows of an established CRD, one per served version
/// (preferred version first), served under its accepted names.
pub fn rows(crd: &CustomResourceDefinition) -> Vec<Resource> {
    let spec = &crd.spec;
    let Some(names) = crd.status.as_ref().and_then(|s| s.accepted_names.as_ref()) else {
        return Vec::new();
    };
    let storage_version = spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.clone())
        .unwrap_or_default();
    let namespaced = spec.scope == "Namespaced";
    let mut versions: Vec<_> = spec.versions.iter().filter(|v| v.served).collect();
    versions.sort_by(|a, b| version_order(&a.name, &b.name));
    let kind = intern::str(&names.kind);
    let group = intern::str(&spec.group);
    let storage = (group, intern::str(&storage_version), kind);
    let webhook = spec
        .conversion
        .as_ref()
        .filter(|c| c.strategy == "Webhook")
        .map(|c| {
            let config = c
                .webhook
                .as_ref()
                .and_then(|w| w.client_config.as_ref())
                .ok_or_else(|| "no webhook client config".to_string())?;
            WebhookConverter::new(config)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        });
    versions
        .into_iter()
        .map(|v| {
            let subs = v.subresources.as_ref();
            let has_status = subs.is_some_and(|s| s.status.is_some());
            let scale = subs.and_then(|s| s.scale.clone());
            let mut subresources = Vec::new();
            if scale.is_some() {
                subresources.push(Subresource {
                    name: "scale",
                    kind: "Scale",
                    group: "autoscaling",
                    version: "v1",
                    verbs: SUB_VERBS,
                });
            }
            if has_status {
                subresources.push(Subresource {
                    name: "status",
                    kind,
                    group: "",
                    version: "",
                    verbs: SUB_VERBS,
                });
            }
            let selectable: Vec<String> = v
                .selectable_fields
                .iter()
                .flatten()
                .map(|f| f.json_path.trim_start_matches('.').to_string())
                .collect();
            let schema = v.schema.as_ref().and_then(|s| s.open_api_v3_schema.clone());
            let rules = schema.as_ref().map(cel::compile).unwrap_or_default();
            let custom = Arc::new(CustomVersion {
                group: spec.group.clone(),
                version: v.name.clone(),
                kind: names.kind.clone(),
                list_kind: names
                    .list_kind
                    .clone()
                    .unwrap_or_else(|| format!("{}List", names.kind)),
                plural: names.plural.clone(),
                namespaced,
                storage_version: storage_version.clone(),
                schema,
                rules,
                columns: v.additional_printer_columns.clone().unwrap_or_default(),
                has_status,
                scale,
                selectable: intern::list(&selectable),
                webhook: webhook.clone(),
                terminating: crd.metadata.deletion_timestamp.is_some(),
                crd_uid: crd.metadata.uid.clone().unwrap_or_default(),
                crd_generation: crd.metadata.generation.unwrap_or(0),
            });
            let info = ResourceInfo {
                group,
                version: intern::str(&v.name),
                kind,
                plural: intern::str(&names.plural),
                singular: intern::str(names.singular.as_deref().unwrap_or_default()),
                namespaced,
                verbs: CR_VERBS,
                short_names: intern::list(names.short_names.as_deref().unwrap_or_default()),
                categories: intern::list(names.categories.as_deref().unwrap_or_default()),
                subresources: intern::subresources(&subresources),
                storage_prefix: intern::str(&format!("{}/{}", spec.group, spec.names.plural)),
                storage_version: v.storage,
            };
            Resource {
                info,
                strategy: StrategyRef::Shared(Arc::new(CustomResourceStrategy {
                    version: custom.clone(),
                })),
                storage,
                custom: Some(custom),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_upstream() {
        let mut v = vec!["v1alpha1", "foo", "v2beta1", "v1", "v2", "v1beta2", "bar"];
        v.sort_by(|a, b| version_order(a, b));
        assert_eq!(
            v,
            vec!["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "bar", "foo"]
        );
    }
}
