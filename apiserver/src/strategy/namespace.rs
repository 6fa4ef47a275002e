//! Namespace: DNS-label names, the `kubernetes` finalizer, phase Active, and
//! the `kubernetes.io/metadata.name` label upstream keeps equal to the name.

use serde_json::{Value, json};

use super::{NameRule, Strategy, pointer_str};
use crate::meta;

pub struct NamespaceStrategy;

fn set_name_label(obj: &mut Value) {
    let name = meta::name(obj).to_string();
    let m = meta::meta_mut(obj);
    let labels = m.entry("labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    labels["kubernetes.io/metadata.name"] = Value::String(name);
}

impl Strategy for NamespaceStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
        obj["status"] = json!({"phase": "Active"});
        set_name_label(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // spec.finalizers change only through the finalize subresource.
        new["spec"] = old.get("spec").cloned().unwrap_or_else(|| json!({}));
        set_name_label(new);
    }
    fn selectable_fields(&self) -> &'static [&'static str] {
        &["status.phase"]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "status.phase" => pointer_str(obj, "/status/phase"),
            _ => None,
        }
    }
    fn return_deleted_object(&self) -> bool {
        true
    }
}
