//! The type model of each served resource.
//!
//! Built-in kinds: one model of every definition the OpenAPI documents
//! publish (`openapi::schemas::Definitions` of the built-in resource table,
//! with their patch and list extensions), built once on first use.
//! Custom resources: the CRD version's `openAPIV3Schema` with `metadata`
//! typed as the built-in `ObjectMeta` (as upstream does), cached per served
//! version; untyped when the version has no schema.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde_json::{Value, json};

use super::schema::{TypeId, TypeModel};
use crate::crd::CustomVersion;
use crate::openapi::schemas::Definitions;
use crate::registry::{Resource, ResourceTable};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// The definition name the root of a custom resource's schema gets.
const CUSTOM_ROOT: &str = "oxkube.custom.Root";

struct Builtin {
    definitions: BTreeMap<String, Value>,
    model: Arc<TypeModel>,
    /// (group, version, kind) -> root.
    roots: HashMap<(String, String, String), TypeId>,
}

fn builtin() -> &'static Builtin {
    static BUILTIN: OnceLock<Builtin> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let defs = Definitions::build(&ResourceTable::builtin());
        let model = TypeModel::from_definitions(&defs.schemas);
        let roots = defs
            .by_gvk
            .iter()
            .filter_map(|(gvk, name)| Some((gvk.clone(), model.named(name)?)))
            .collect();
        Builtin {
            definitions: defs.schemas,
            model: Arc::new(model),
            roots,
        }
    })
}

/// Builds the built-in model now (server start), so the first write does
/// not pay for it.
pub fn warm_up() {
    let _ = builtin();
}

type CustomCache = Mutex<Vec<(Weak<CustomVersion>, Arc<TypeModel>)>>;

fn custom_cache() -> &'static CustomCache {
    static CACHE: OnceLock<CustomCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Vec::new()))
}

/// The model of a custom resource schema (`openAPIV3Schema` as JSON).
pub fn custom_model(schema: Option<&Value>) -> TypeModel {
    let Some(schema) = schema else {
        return TypeModel::untyped();
    };
    let mut root = schema.clone();
    mark_embedded(&mut root);
    add_object_fields(&mut root);
    let mut defs = builtin().definitions.clone();
    defs.insert(CUSTOM_ROOT.to_string(), root);
    TypeModel::from_definitions(&defs)
}

/// Declares `apiVersion`, `kind` and `metadata` (as `ObjectMeta`) on the
/// root of a custom resource schema and on its embedded resources, as
/// upstream's CRD schema conversion does.
fn add_object_fields(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let props = obj.entry("properties").or_insert_with(|| json!({}));
    if let Some(props) = props.as_object_mut() {
        props.insert("apiVersion".into(), json!({"type": "string"}));
        props.insert("kind".into(), json!({"type": "string"}));
        props.insert(
            "metadata".into(),
            json!({"$ref": format!("#/definitions/{OBJECT_META}")}),
        );
    }
}

fn mark_embedded(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            let embedded = obj.get("x-kubernetes-embedded-resource") == Some(&json!(true));
            for (k, v) in obj.iter_mut() {
                if k != "x-kubernetes-embedded-resource" {
                    mark_embedded(v);
                }
            }
            if embedded {
                add_object_fields(schema);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mark_embedded),
        _ => {}
    }
}

fn custom(version: &Arc<CustomVersion>) -> (Arc<TypeModel>, TypeId) {
    let weak = Arc::downgrade(version);
    let mut cache = match custom_cache().lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    cache.retain(|(w, _)| w.strong_count() > 0);
    let model = match cache.iter().find(|(w, _)| Weak::ptr_eq(w, &weak)) {
        Some((_, m)) => m.clone(),
        None => {
            let schema = version
                .schema
                .as_ref()
                .and_then(|s| serde_json::to_value(s).ok());
            let m = Arc::new(custom_model(schema.as_ref()));
            cache.push((weak, m.clone()));
            m
        }
    };
    let root = model.named(CUSTOM_ROOT).unwrap_or_else(|| model.root());
    (model, root)
}

/// The model and root type of a resource's objects (untyped when unknown).
pub fn for_resource(res: &Resource) -> (Arc<TypeModel>, TypeId) {
    if let Some(version) = &res.custom {
        return custom(version);
    }
    let b = builtin();
    let info = &res.info;
    let key = (
        info.group.to_string(),
        info.version.to_string(),
        info.kind.to_string(),
    );
    match b.roots.get(&key) {
        Some(&root) => (b.model.clone(), root),
        None => {
            let untyped = TypeModel::untyped();
            let root = untyped.root();
            (Arc::new(untyped), root)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{fieldsv1, walk};
    use super::*;

    fn root_of(group: &str, version: &str, kind: &str) -> (Arc<TypeModel>, TypeId) {
        let b = builtin();
        let key = (group.to_string(), version.to_string(), kind.to_string());
        (b.model.clone(), b.roots[&key])
    }

    #[test]
    fn deployment_field_set_matches_upstream() {
        let (model, ty) = root_of("apps", "v1", "Deployment");
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "nginx", "image": "nginx",
                                        "ports": [{"containerPort": 80}],
                                        "args": ["a"]}],
                        "tolerations": [{"key": "k"}],
                        "nodeSelector": {"disk": "ssd"}
                    }
                }
            }
        });
        let set = walk::field_set(&model, ty, &obj).unwrap();
        assert_eq!(
            fieldsv1::encode(&set)["f:spec"],
            json!({
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:containers": {"k:{\"name\":\"nginx\"}": {
                            ".": {}, "f:args": {}, "f:image": {}, "f:name": {},
                            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                        }},
                        "f:nodeSelector": {},
                        "f:tolerations": {}
                    }
                }
            })
        );
    }

    #[test]
    fn service_ports_and_finalizers() {
        let (model, ty) = root_of("", "v1", "Service");
        let obj = json!({
            "metadata": {"finalizers": ["a"]},
            "spec": {"ports": [{"port": 80, "protocol": "UDP"}], "selector": {"app": "x"}}
        });
        let set = walk::field_set(&model, ty, &obj).unwrap();
        assert_eq!(
            fieldsv1::encode(&set),
            json!({
                "f:metadata": {"f:finalizers": {"v:\"a\"": {}}},
                "f:spec": {
                    "f:ports": {"k:{\"port\":80,\"protocol\":\"UDP\"}": {".": {}, "f:port": {}, "f:protocol": {}}},
                    "f:selector": {}
                }
            })
        );
    }

    #[test]
    fn custom_schema_uses_object_meta() {
        let model = custom_model(Some(&json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object"},
                "spec": {"type": "object", "properties": {
                    "items": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
                }}
            }
        })));
        let ty = model.named(CUSTOM_ROOT).unwrap();
        let obj = json!({"metadata": {"labels": {"a": "b"}}, "spec": {"items": ["x"]}});
        let set = walk::field_set(&model, ty, &obj).unwrap();
        assert_eq!(
            fieldsv1::encode(&set),
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:items": {"v:\"x\"": {}}}})
        );
    }
}
