//! Strategies of the CRD world: `CrdStrategy` for CustomResourceDefinition
//! objects (defaults, status reset, the cleanup finalizer, validation) and
//! `CustomResourceStrategy` for the objects of one CRD version (schema
//! defaults, pruning, structural validation, CEL rules, selectable fields).

use std::sync::Arc;

use serde_json::{Value, json};

use super::model::CustomVersion;
use super::{crd_validation, schema};
use crate::error::Cause;
use crate::meta;
use crate::strategy::Strategy;

/// The finalizer the API server puts on every CRD: removed once the CRD's
/// custom resources are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// CustomResourceDefinition objects.
pub struct CrdStrategy;

impl CrdStrategy {
    /// Upstream's defaults: singular and listKind from kind, conversion None.
    fn defaults(obj: &mut Value) {
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
            return;
        };
        if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
            let kind = names
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let empty = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
            if empty(names.get("singular")) && !kind.is_empty() {
                names.insert("singular".into(), json!(kind.to_lowercase()));
            }
            if empty(names.get("listKind")) && !kind.is_empty() {
                names.insert("listKind".into(), json!(format!("{kind}List")));
            }
        }
        if !spec.contains_key("conversion") {
            spec.insert("conversion".into(), json!({"strategy": "None"}));
        }
    }

    fn storage_version(obj: &Value) -> Option<String> {
        obj.pointer("/spec/versions")?
            .as_array()?
            .iter()
            .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .and_then(|v| v.get("name").and_then(Value::as_str))
            .map(str::to_string)
    }
}

impl Strategy for CrdStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        Self::defaults(obj);
        let stored: Vec<String> = Self::storage_version(obj).into_iter().collect();
        obj["status"] = json!({
            "acceptedNames": {"kind": "", "plural": ""},
            "conditions": [],
            "storedVersions": stored,
        });
        let m = meta::meta_mut(obj);
        let mut finalizers: Vec<Value> = m
            .get("finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
            finalizers.push(json!(CLEANUP_FINALIZER));
        }
        m.insert("finalizers".into(), Value::Array(finalizers));
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        Self::defaults(new);
        // A new storage version joins storedVersions (upstream's
        // PrepareForUpdate).
        if let Some(storage) = Self::storage_version(new)
            && let Some(status) = new.get_mut("status").and_then(Value::as_object_mut)
        {
            let list = status.entry("storedVersions").or_insert_with(|| json!([]));
            if let Some(a) = list.as_array_mut()
                && !a.iter().any(|v| v == storage.as_str())
            {
                a.push(json!(storage));
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        crd_validation::validate(obj)
    }

    /// Prunes with the built-in definitions, except inside the versions'
    /// schemas: those are free-form JSON schemas (the generated definition
    /// of JSONSchemaProps misses the `x-kubernetes-*` extensions).
    fn prune_unknown(&self, obj: &mut Value) -> Option<Vec<String>> {
        let mut schemas = Vec::new();
        if let Some(versions) = obj
            .pointer_mut("/spec/versions")
            .and_then(Value::as_array_mut)
        {
            for v in versions.iter_mut() {
                schemas.push(v.as_object_mut().and_then(|m| m.remove("schema")));
            }
        }
        let unknown = crate::field_validation::prune_unknown(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            obj,
        );
        if let Some(versions) = obj
            .pointer_mut("/spec/versions")
            .and_then(Value::as_array_mut)
        {
            for (v, schema) in versions.iter_mut().zip(schemas) {
                if let (Some(m), Some(s)) = (v.as_object_mut(), schema) {
                    m.insert("schema".into(), s);
                }
            }
        }
        Some(unknown)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        crd_validation::validate_update(new, old)
    }
}

/// The objects of one CRD version.
pub struct CustomResourceStrategy {
    pub version: Arc<CustomVersion>,
}

impl CustomResourceStrategy {
    fn check(&self, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
        let mut out = Vec::new();
        if let Some(s) = &self.version.schema {
            schema::validate(s, obj, "", &mut out);
            if out.is_empty() && !self.version.rules.is_empty() {
                self.version.rules.validate(s, obj, old, "", &mut out);
            }
        }
        out
    }
}

impl Strategy for CustomResourceStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        if self.version.has_status
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        if let Some(s) = &self.version.schema {
            schema::apply_defaults(s, obj);
        }
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        if let Some(s) = &self.version.schema {
            schema::apply_defaults(s, new);
        }
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        self.check(obj, None)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        self.check(new, Some(old))
    }

    fn selectable_fields(&self) -> &'static [&'static str] {
        self.version.selectable
    }

    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        let pointer = format!("/{}", field.replace('.', "/"));
        Some(match obj.pointer(&pointer) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        })
    }

    fn prune_unknown(&self, obj: &mut Value) -> Option<Vec<String>> {
        let s = self.version.schema.as_ref()?;
        let mut unknown = Vec::new();
        schema::prune(s, obj, "", &mut unknown);
        Some(unknown)
    }
}
