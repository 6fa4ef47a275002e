//! Secret: `stringData` merged into base64 `data`, type defaults to Opaque
//! and is immutable, keys like ConfigMap keys, 1 MiB limit, `immutable`.

use base64::Engine as _;
use serde_json::{Value, json};

use super::configmap::{validate_data_maps, validate_immutable};
use super::{Strategy, pointer_str};
use crate::error::Cause;
use crate::validation::{invalid, required};

pub struct SecretStrategy;

fn merge_string_data(obj: &mut Value) {
    let Some(string_data) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    let Some(entries) = string_data.as_object() else {
        return;
    };
    if !obj.get("data").is_some_and(Value::is_object) {
        obj["data"] = json!({});
    }
    for (k, v) in entries {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or_default());
        obj["data"][k] = Value::String(encoded);
    }
}

fn default_type(obj: &mut Value) {
    if obj
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        obj["type"] = json!("Opaque");
    }
}

impl Strategy for SecretStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        merge_string_data(obj);
        default_type(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        merge_string_data(new);
        default_type(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        validate_data_maps(obj, &["data"], 1024 * 1024, &mut causes);
        if let Some(data) = obj.get("data").and_then(Value::as_object) {
            for (k, v) in data {
                let ok = v
                    .as_str()
                    .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok());
                if !ok {
                    causes.push(invalid(&format!("data[{k}]"), v, "illegal base64 data"));
                }
            }
        }
        match obj.get("type").and_then(Value::as_str).unwrap_or_default() {
            "kubernetes.io/service-account-token" => {
                let annotated = obj
                    .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty());
                if !annotated {
                    causes.push(required(
                        "metadata.annotations[kubernetes.io/service-account.name]",
                        "",
                    ));
                }
            }
            "kubernetes.io/dockerconfigjson"
                if obj.pointer("/data/.dockerconfigjson").is_none() =>
            {
                causes.push(required("data[.dockerconfigjson]", ""));
            }
            "kubernetes.io/tls" => {
                for key in ["tls.crt", "tls.key"] {
                    if obj.get("data").and_then(|d| d.get(key)).is_none() {
                        causes.push(required(&format!("data[{key}]"), ""));
                    }
                }
            }
            _ => {}
        }
        causes
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = self.validate(new);
        if new.get("type") != old.get("type") {
            causes.push(invalid(
                "type",
                new.get("type").unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
        validate_immutable(new, old, &["data"], &mut causes);
        causes
    }
    fn selectable_fields(&self) -> &'static [&'static str] {
        &["type"]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "type")
            .then(|| pointer_str(obj, "/type"))
            .flatten()
    }
}
