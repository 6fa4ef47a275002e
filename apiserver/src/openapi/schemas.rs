//! Definitions: the JSON Schema of every served kind, generated from the
//! k8s-openapi types (their `schemars` implementations), then shaped the way
//! kube-apiserver publishes them: `x-kubernetes-group-version-kind` on
//! top-level kinds, `<Kind>List` definitions, patch and list extensions from
//! [`super::extensions`], and the upstream spelling of `IntOrString` and
//! `Quantity` (which differs between OpenAPI v2 and v3).
//!
//! The output of [`Definitions::build`] is neutral: references are
//! `#/definitions/<name>` with their description as a sibling, the v2 form.
//! [`to_v3`] rewrites a schema for OpenAPI v3.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use k8s_openapi::{ListableResource, Resource};
use serde_json::{Map, Value, json};

use super::extensions;
use crate::registry::ResourceTable;

pub(crate) const V2_REF_PREFIX: &str = "#/definitions/";
pub(crate) const V3_REF_PREFIX: &str = "#/components/schemas/";

pub(crate) const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
pub(crate) const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(crate) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(crate) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// A Rust type serving one group/version/kind.
pub(crate) struct KindType {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Whether the kind has a `<Kind>List`.
    pub listable: bool,
    name: fn() -> Cow<'static, str>,
    generate: fn(&mut SchemaGenerator) -> Schema,
}

fn subschema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// `KindType` of a listable resource.
macro_rules! listable {
    ($($ty:ty),* $(,)?) => {
        [$(KindType {
            group: <$ty as Resource>::GROUP,
            version: <$ty as Resource>::VERSION,
            kind: <$ty as Resource>::KIND,
            listable: { let _ = <$ty as ListableResource>::LIST_KIND; true },
            name: <$ty as JsonSchema>::schema_name,
            generate: subschema::<$ty>,
        }),*]
    };
}

/// `KindType` of a kind without a list (reviews, subresource kinds).
macro_rules! single {
    ($($ty:ty),* $(,)?) => {
        [$(KindType {
            group: <$ty as Resource>::GROUP,
            version: <$ty as Resource>::VERSION,
            kind: <$ty as Resource>::KIND,
            listable: false,
            name: <$ty as JsonSchema>::schema_name,
            generate: subschema::<$ty>,
        }),*]
    };
}

mod ty {
    pub use k8s_openapi::api::admissionregistration::v1 as admissionregistration;
    pub use k8s_openapi::api::apps::v1 as apps;
    pub use k8s_openapi::api::authentication::v1 as authentication;
    pub use k8s_openapi::api::authorization::v1 as authorization;
    pub use k8s_openapi::api::autoscaling::v1 as autoscaling1;
    pub use k8s_openapi::api::autoscaling::v2 as autoscaling2;
    pub use k8s_openapi::api::batch::v1 as batch;
    pub use k8s_openapi::api::certificates::v1 as certificates;
    pub use k8s_openapi::api::coordination::v1 as coordination;
    pub use k8s_openapi::api::core::v1 as core;
    pub use k8s_openapi::api::discovery::v1 as discovery;
    pub use k8s_openapi::api::events::v1 as events;
    pub use k8s_openapi::api::flowcontrol::v1 as flowcontrol;
    pub use k8s_openapi::api::networking::v1 as networking;
    pub use k8s_openapi::api::node::v1 as node;
    pub use k8s_openapi::api::policy::v1 as policy;
    pub use k8s_openapi::api::rbac::v1 as rbac;
    pub use k8s_openapi::api::scheduling::v1 as scheduling;
    pub use k8s_openapi::api::storage::v1 as storage;
    pub use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    pub use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;
}

/// Every kind with a Rust type: the built-in resources and the kinds their
/// subresources serve.
pub(crate) fn kind_types() -> Vec<KindType> {
    let mut out = Vec::with_capacity(72);
    out.extend(listable![
        ty::core::ComponentStatus,
        ty::core::ConfigMap,
        ty::core::Endpoints,
        ty::core::Event,
        ty::core::LimitRange,
        ty::core::Namespace,
        ty::core::Node,
        ty::core::PersistentVolumeClaim,
        ty::core::PersistentVolume,
        ty::core::Pod,
        ty::core::PodTemplate,
        ty::core::ReplicationController,
        ty::core::ResourceQuota,
        ty::core::Secret,
        ty::core::ServiceAccount,
        ty::core::Service,
        ty::apiregistration::APIService,
        ty::apps::ControllerRevision,
        ty::apps::DaemonSet,
        ty::apps::Deployment,
        ty::apps::ReplicaSet,
        ty::apps::StatefulSet,
        ty::events::Event,
        ty::autoscaling2::HorizontalPodAutoscaler,
        ty::autoscaling1::HorizontalPodAutoscaler,
        ty::batch::CronJob,
        ty::batch::Job,
        ty::certificates::CertificateSigningRequest,
        ty::networking::IngressClass,
        ty::networking::Ingress,
        ty::networking::IPAddress,
        ty::networking::NetworkPolicy,
        ty::networking::ServiceCIDR,
        ty::policy::PodDisruptionBudget,
        ty::rbac::ClusterRoleBinding,
        ty::rbac::ClusterRole,
        ty::rbac::RoleBinding,
        ty::rbac::Role,
        ty::storage::CSIDriver,
        ty::storage::CSINode,
        ty::storage::CSIStorageCapacity,
        ty::storage::StorageClass,
        ty::storage::VolumeAttachment,
        ty::admissionregistration::MutatingWebhookConfiguration,
        ty::admissionregistration::ValidatingAdmissionPolicy,
        ty::admissionregistration::ValidatingAdmissionPolicyBinding,
        ty::admissionregistration::ValidatingWebhookConfiguration,
        ty::apiextensions::CustomResourceDefinition,
        ty::scheduling::PriorityClass,
        ty::coordination::Lease,
        ty::node::RuntimeClass,
        ty::discovery::EndpointSlice,
        ty::flowcontrol::FlowSchema,
        ty::flowcontrol::PriorityLevelConfiguration,
    ]);
    out.extend(single![
        ty::core::Binding,
        ty::authentication::SelfSubjectReview,
        ty::authentication::TokenReview,
        ty::authentication::TokenRequest,
        ty::authorization::LocalSubjectAccessReview,
        ty::authorization::SelfSubjectAccessReview,
        ty::authorization::SelfSubjectRulesReview,
        ty::authorization::SubjectAccessReview,
        ty::autoscaling1::Scale,
        ty::policy::Eviction,
    ]);
    out
}

/// Every definition of a set of served kinds, in the neutral (v2) form.
pub(crate) struct Definitions {
    /// Definition name -> schema, sorted by name.
    pub schemas: BTreeMap<String, Value>,
    /// (group, version, kind) -> definition name.
    pub by_gvk: BTreeMap<(String, String, String), String>,
}

impl Definitions {
    /// The definition name of a kind, if it has a schema.
    pub fn name_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.by_gvk
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .map(String::as_str)
    }

    /// Generates the definitions of every kind the table serves (its rows
    /// and the kinds of their subresources) and everything they reference.
    pub fn build(table: &ResourceTable) -> Definitions {
        let mut served: BTreeSet<(String, String, String)> = BTreeSet::new();
        let mut group_versions: BTreeSet<(String, String)> = BTreeSet::new();
        for (group, versions) in table.groups() {
            for version in versions {
                group_versions.insert((group.to_string(), version.clone()));
                for res in table.resources_in(group, version) {
                    let info = &res.info;
                    served.insert((
                        info.group.to_string(),
                        info.version.to_string(),
                        info.kind.to_string(),
                    ));
                    for sub in info.subresources {
                        let (g, v) = if sub.version.is_empty() {
                            (info.group, info.version)
                        } else {
                            (sub.group, sub.version)
                        };
                        served.insert((g.to_string(), v.to_string(), sub.kind.to_string()));
                    }
                }
            }
        }

        let settings = SchemaSettings::draft07().with(|s| {
            s.meta_schema = None;
            s.definitions_path = "/definitions".into();
        });
        let mut generator = settings.into_generator();
        let mut by_gvk = BTreeMap::new();
        let mut lists = Vec::new();
        for kt in kind_types() {
            let key = (
                kt.group.to_string(),
                kt.version.to_string(),
                kt.kind.to_string(),
            );
            if !served.contains(&key) {
                continue;
            }
            (kt.generate)(&mut generator);
            let name = (kt.name)().into_owned();
            if kt.listable {
                let list_name = format!("{name}List");
                lists.push((
                    kt.group,
                    kt.version,
                    kt.kind,
                    name.clone(),
                    list_name.clone(),
                ));
                by_gvk.insert(
                    (key.0.clone(), key.1.clone(), format!("{}List", kt.kind)),
                    list_name,
                );
            }
            by_gvk.insert(key, name);
        }
        use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
        generator.subschema_for::<meta::Status>();
        generator.subschema_for::<meta::DeleteOptions>();
        generator.subschema_for::<meta::Patch>();
        generator.subschema_for::<meta::APIResourceList>();
        generator.subschema_for::<meta::ListMeta>();
        generator.subschema_for::<meta::WatchEvent<()>>();

        let mut schemas: BTreeMap<String, Value> =
            generator.take_definitions(false).into_iter().collect();

        for (group, version, kind, item, list_name) in lists {
            schemas.insert(list_name, list_schema(group, version, kind, &item));
        }
        // Custom resources: their CRD's schema (`crd::openapi`).
        for custom in table.all().filter_map(|r| r.custom.as_ref()) {
            for (kind, name, schema) in crate::crd::openapi::definitions(custom) {
                let key = (custom.group.clone(), custom.version.clone(), kind);
                by_gvk.insert(key, name.clone());
                schemas.insert(name, schema);
            }
        }
        for schema in schemas.values_mut() {
            drop_required_metadata(schema);
        }
        for ((group, version, kind), name) in &by_gvk {
            if let Some(Value::Object(obj)) = schemas.get_mut(name) {
                obj.insert(
                    "x-kubernetes-group-version-kind".into(),
                    json!([{"group": group, "kind": kind, "version": version}]),
                );
            }
        }
        // Meta kinds every group/version serves (upstream lists them once
        // per group/version, core first).
        let mut gvs: Vec<&(String, String)> = group_versions.iter().collect();
        gvs.sort_by_key(|(g, _)| !g.is_empty());
        for (name, kind) in [
            (DELETE_OPTIONS, "DeleteOptions"),
            (WATCH_EVENT, "WatchEvent"),
        ] {
            let gvks: Vec<Value> = gvs
                .iter()
                .map(|(g, v)| json!({"group": g, "kind": kind, "version": v}))
                .collect();
            if let Some(Value::Object(obj)) = schemas.get_mut(name) {
                obj.insert("x-kubernetes-group-version-kind".into(), Value::Array(gvks));
            }
        }
        if let Some(Value::Object(obj)) = schemas.get_mut(STATUS) {
            obj.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": "", "kind": "Status", "version": "v1"}]),
            );
        }
        apply_extensions(&mut schemas);
        Definitions { schemas, by_gvk }
    }
}

/// `<Kind>List`: the shape every upstream list type has.
fn list_schema(group: &str, version: &str, kind: &str, item: &str) -> Value {
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({
        "description": format!("{kind}List is a list of {kind} objects ({api_version})."),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            },
            "items": {
                "description": format!("List of {kind} objects."),
                "type": "array",
                "items": {"$ref": format!("{V2_REF_PREFIX}{item}")},
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string",
            },
            "metadata": {
                "$ref": format!("{V2_REF_PREFIX}{LIST_META}"),
                "description": "Standard list metadata.",
            },
        },
        "required": ["items"],
    })
}

/// k8s-openapi requires `metadata` of every resource (it is not an `Option`
/// there); upstream never does.
fn drop_required_metadata(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let empty = match obj.get_mut("required") {
        Some(Value::Array(required)) => {
            required.retain(|r| r != "metadata");
            required.is_empty()
        }
        _ => false,
    };
    if empty {
        obj.remove("required");
    }
}

/// Adds the patch and list extensions of [`extensions::FIELDS`] and
/// [`extensions::ATOMIC_TYPES`] to the definitions that exist.
fn apply_extensions(schemas: &mut BTreeMap<String, Value>) {
    for name in extensions::ATOMIC_TYPES {
        if let Some(Value::Object(obj)) = schemas.get_mut(*name) {
            obj.insert("x-kubernetes-map-type".into(), "atomic".into());
        }
    }
    for (name, fields) in extensions::FIELDS {
        let Some(props) = schemas
            .get_mut(*name)
            .and_then(|s| s.get_mut("properties"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (field, strategy, merge_key, list_type, map_keys, map_type) in fields.iter() {
            let Some(Value::Object(prop)) = props.get_mut(*field) else {
                continue;
            };
            if !list_type.is_empty() {
                if !map_keys.is_empty() {
                    prop.insert("x-kubernetes-list-map-keys".into(), json!(map_keys));
                }
                prop.insert("x-kubernetes-list-type".into(), (*list_type).into());
            }
            if !map_type.is_empty() {
                prop.insert("x-kubernetes-map-type".into(), (*map_type).into());
            }
            if !merge_key.is_empty() {
                prop.insert("x-kubernetes-patch-merge-key".into(), (*merge_key).into());
            }
            if !strategy.is_empty() {
                prop.insert("x-kubernetes-patch-strategy".into(), (*strategy).into());
            }
        }
    }
}

/// The v2 form of one definition (the neutral form, with upstream's v2
/// spelling of `IntOrString` and `Quantity`).
pub(crate) fn to_v2(name: &str, schema: &Value) -> Value {
    match name {
        INT_OR_STRING => json!({
            "description": description(schema),
            "format": "int-or-string",
            "type": "string",
        }),
        QUANTITY => json!({"description": description(schema), "type": "string"}),
        _ => schema.clone(),
    }
}

/// The v3 form of one definition: references under `#/components/schemas/`,
/// wrapped in `allOf` when they carry siblings (OpenAPI 3.0 ignores a
/// `$ref`'s siblings), and upstream's v3 spelling of `IntOrString` and
/// `Quantity`.
pub(crate) fn to_v3(name: &str, schema: &Value) -> Value {
    match name {
        INT_OR_STRING => json!({
            "description": description(schema),
            "format": "int-or-string",
            "oneOf": [{"type": "integer"}, {"type": "string"}],
        }),
        QUANTITY => json!({
            "description": description(schema),
            "oneOf": [{"type": "string"}, {"type": "number"}],
        }),
        _ => v3_refs(schema),
    }
}

fn description(schema: &Value) -> Value {
    schema.get("description").cloned().unwrap_or(Value::Null)
}

/// Rewrites every reference in `value` for OpenAPI v3.
pub(crate) fn v3_refs(value: &Value) -> Value {
    match value {
        Value::Object(obj) => {
            if let Some(Value::String(target)) = obj.get("$ref") {
                let target = match target.strip_prefix(V2_REF_PREFIX) {
                    Some(name) => format!("{V3_REF_PREFIX}{name}"),
                    None => target.clone(),
                };
                if obj.len() == 1 {
                    return json!({"$ref": target});
                }
                let mut out = Map::new();
                out.insert("allOf".into(), json!([{"$ref": target}]));
                for (k, v) in obj {
                    if k != "$ref" {
                        out.insert(k.clone(), v3_refs(v));
                    }
                }
                return Value::Object(out);
            }
            Value::Object(obj.iter().map(|(k, v)| (k.clone(), v3_refs(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(v3_refs).collect()),
        other => other.clone(),
    }
}

/// Names of the definitions `value` references directly.
pub(crate) fn refs_in(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(obj) => {
            for (k, v) in obj {
                if k == "$ref" {
                    if let Some(name) = v.as_str().and_then(|s| s.strip_prefix(prefix)) {
                        out.push(name.to_string());
                    }
                } else {
                    refs_in(v, prefix, out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                refs_in(item, prefix, out);
            }
        }
        _ => {}
    }
}

/// `roots` and every definition they reference, transitively.
pub(crate) fn closure(
    schemas: &BTreeMap<String, Value>,
    roots: impl IntoIterator<Item = String>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = roots.into_iter().collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.get(&name) {
            let mut found = Vec::new();
            refs_in(schema, V2_REF_PREFIX, &mut found);
            stack.extend(found.into_iter().filter(|n| !seen.contains(n)));
        }
    }
    seen
}
