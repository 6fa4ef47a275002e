//! PriorityClass (scheduling.k8s.io/v1), as upstream's registry and
//! validation: `preemptionPolicy` defaults to `PreemptLowerPriority`; user
//! classes may not exceed 1 000 000 000; names starting `system-` are the
//! built-in classes only; `value` and `preemptionPolicy` are immutable.

use serde_json::{Value, json};

use super::Strategy;
use crate::error::Cause;
use crate::meta;
use crate::validation::{forbidden, not_supported};

/// Upstream's HighestUserDefinablePriority.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;
/// Upstream's SystemCriticalPriority (system-cluster-critical).
pub const SYSTEM_CRITICAL_PRIORITY: i64 = 2 * HIGHEST_USER_DEFINABLE_PRIORITY;
pub const SYSTEM_PRIORITY_CLASS_PREFIX: &str = "system-";
pub const DEFAULT_PREEMPTION_POLICY: &str = "PreemptLowerPriority";

/// The built-in classes the API server creates at start: name, value,
/// description.
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        SYSTEM_CRITICAL_PRIORITY + 1000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        SYSTEM_CRITICAL_PRIORITY,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// Why a `system-` class is not one of the built-in ones, if it is not.
fn known_system_class(name: &str, value: i64, global_default: bool) -> Result<(), String> {
    let Some((_, want, _)) = SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _, _)| *n == name) else {
        return Err(format!("{name:?} is not a known system priority class"));
    };
    if *want != value {
        return Err(format!("value of {name} PriorityClass must be {want}"));
    }
    if global_default {
        return Err(format!(
            "globalDefault of {name} PriorityClass must be false"
        ));
    }
    Ok(())
}

pub struct PriorityClassStrategy;

impl Strategy for PriorityClassStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if obj.get("preemptionPolicy").is_none_or(Value::is_null) {
            obj["preemptionPolicy"] = json!(DEFAULT_PREEMPTION_POLICY);
        }
    }

    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        self.prepare_for_create(new);
    }

    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        let name = meta::name(obj);
        let value = obj.get("value").and_then(Value::as_i64).unwrap_or(0);
        let global_default = obj
            .get("globalDefault")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if name.starts_with(SYSTEM_PRIORITY_CLASS_PREFIX) {
            if let Err(why) = known_system_class(name, value, global_default) {
                causes.push(forbidden(
                    "metadata.name",
                    &format!(
                        "priority class names with '{SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are reserved for system use only. error: {why}"
                    ),
                ));
            }
        } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
            causes.push(forbidden(
                "value",
                &format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
                ),
            ));
        }
        if let Some(policy) = obj.get("preemptionPolicy").filter(|p| !p.is_null())
            && !matches!(policy.as_str(), Some("PreemptLowerPriority" | "Never"))
        {
            causes.push(not_supported(
                "preemptionPolicy",
                policy,
                &["Never", "PreemptLowerPriority"],
            ));
        }
        causes
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = self.validate(new);
        if new.get("value") != old.get("value") {
            causes.push(forbidden("value", "may not be changed in an update."));
        }
        if new.get("preemptionPolicy") != old.get("preemptionPolicy") {
            causes.push(crate::validation::invalid(
                "preemptionPolicy",
                new.get("preemptionPolicy").unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
        causes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, value: i64) -> Value {
        let mut pc = json!({"metadata": {"name": name}, "value": value});
        PriorityClassStrategy.prepare_for_create(&mut pc);
        pc
    }

    #[test]
    fn defaults_and_limits() {
        let pc = class("high", 1000);
        assert_eq!(pc["preemptionPolicy"], DEFAULT_PREEMPTION_POLICY);
        assert!(PriorityClassStrategy.validate(&pc).is_empty());
        let too_high = PriorityClassStrategy.validate(&class("huge", 1_000_000_001));
        assert_eq!(
            too_high[0].message,
            "Forbidden: maximum allowed value of a user defined priority is 1000000000"
        );
        let fake = PriorityClassStrategy.validate(&class("system-mine", 5));
        assert_eq!(fake[0].field, "metadata.name");
        assert!(
            PriorityClassStrategy
                .validate(&class("system-cluster-critical", SYSTEM_CRITICAL_PRIORITY))
                .is_empty()
        );
    }

    #[test]
    fn value_is_immutable() {
        let causes = PriorityClassStrategy.validate_update(&class("a", 2), &class("a", 1));
        assert_eq!(
            causes[0].message,
            "Forbidden: may not be changed in an update."
        );
    }
}
