//! Kinds whose only update rule is that some fields never change
//! (RuntimeClass, StorageClass, IngressClass), with
//! upstream's message for each field.

use serde_json::Value;

use super::Strategy;
use crate::error::Cause;
use crate::validation::{forbidden, invalid};

/// How a changed field is reported.
#[derive(Clone, Copy)]
pub enum Refusal {
    /// `<field>: Invalid value: <new>: field is immutable`
    Immutable,
    /// `<field>: Forbidden: <message>`
    Forbidden(&'static str),
}

/// A strategy that refuses changes to `fields` (JSON pointers).
pub struct ImmutableFields {
    pub fields: &'static [(&'static str, Refusal)],
}

impl Strategy for ImmutableFields {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = self.validate(new);
        for (pointer, refusal) in self.fields {
            let (n, o) = (new.pointer(pointer), old.pointer(pointer));
            if n == o {
                continue;
            }
            let field = pointer.trim_start_matches('/').replace('/', ".");
            causes.push(match refusal {
                Refusal::Immutable => {
                    invalid(&field, n.unwrap_or(&Value::Null), "field is immutable")
                }
                Refusal::Forbidden(msg) => forbidden(&field, msg),
            });
        }
        causes
    }
}

pub static RUNTIME_CLASS: ImmutableFields = ImmutableFields {
    fields: &[("/handler", Refusal::Immutable)],
};

pub static STORAGE_CLASS: ImmutableFields = ImmutableFields {
    fields: &[
        (
            "/parameters",
            Refusal::Forbidden("updates to parameters are forbidden."),
        ),
        (
            "/provisioner",
            Refusal::Forbidden("updates to provisioner are forbidden."),
        ),
        (
            "/reclaimPolicy",
            Refusal::Forbidden("updates to reclaimPolicy are forbidden."),
        ),
        (
            "/volumeBindingMode",
            Refusal::Forbidden("field is immutable"),
        ),
    ],
};

pub static INGRESS_CLASS: ImmutableFields = ImmutableFields {
    fields: &[("/spec/controller", Refusal::Immutable)],
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_are_refused_with_upstream_messages() {
        let c = RUNTIME_CLASS.validate_update(&json!({"handler": "b"}), &json!({"handler": "a"}));
        assert_eq!(c[0].field, "handler");
        assert_eq!(c[0].message, "Invalid value: \"b\": field is immutable");
        assert!(
            STORAGE_CLASS
                .validate_update(&json!({"provisioner": "x"}), &json!({"provisioner": "x"}))
                .is_empty()
        );
    }
}
