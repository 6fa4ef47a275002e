//! policy/v1 PodDisruptionBudget: upstream's spec validation
//! (`ValidatePodDisruptionBudgetSpec`) with its messages. The status is the
//! disruption controller's.

use serde_json::{Value, json};

use super::Strategy;
use super::common::{not_more_than_100, validate_int_or_percent, validate_label_selector};
use crate::error::Cause;
use crate::validation::{invalid, not_supported};

pub struct PodDisruptionBudgetStrategy;

fn validate_pdb(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let min_available = spec.get("minAvailable").filter(|v| !v.is_null());
    let max_unavailable = spec.get("maxUnavailable").filter(|v| !v.is_null());
    if min_available.is_some() && max_unavailable.is_some() {
        causes.push(invalid(
            "spec",
            &json!(spec.to_string()),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for (value, field) in [
        (min_available, "spec.minAvailable"),
        (max_unavailable, "spec.maxUnavailable"),
    ] {
        if let Some(v) = value {
            validate_int_or_percent(v, field, &mut causes);
            not_more_than_100(v, field, &mut causes);
        }
    }
    if let Some(selector) = spec.get("selector").filter(|s| !s.is_null()) {
        validate_label_selector(selector, "spec.selector", &mut causes);
    }
    if let Some(policy) = spec
        .get("unhealthyPodEvictionPolicy")
        .filter(|p| !p.is_null())
        && !matches!(policy.as_str(), Some("AlwaysAllow" | "IfHealthyBudget"))
    {
        causes.push(not_supported(
            "spec.unhealthyPodEvictionPolicy",
            policy,
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
    }
    causes
}

impl Strategy for PodDisruptionBudgetStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_pdb(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_available_must_be_nonnegative() {
        let ok = json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"a": "b"}}}});
        assert!(validate_pdb(&ok).is_empty());
        let causes = validate_pdb(&json!({"spec": {"minAvailable": -1}}));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.minAvailable");
        assert_eq!(
            causes[0].message,
            "Invalid value: -1: must be greater than or equal to 0"
        );
    }

    #[test]
    fn percentages_and_exclusive_fields() {
        let causes = validate_pdb(&json!({"spec": {"maxUnavailable": "150%"}}));
        assert_eq!(causes.len(), 1);
        assert_eq!(
            causes[0].message,
            "Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"150%\"}: must not be greater than 100%"
        );
        let causes = validate_pdb(&json!({"spec": {"minAvailable": 1, "maxUnavailable": 1}}));
        assert_eq!(causes.len(), 1);
        assert!(
            causes[0]
                .message
                .ends_with("minAvailable and maxUnavailable cannot be both set")
        );
    }
}
