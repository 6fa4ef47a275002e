//! admissionregistration.k8s.io/v1: ValidatingAdmissionPolicy and its
//! binding, Validating/MutatingWebhookConfiguration. Upstream's v1 defaults
//! (`SetDefaults_MatchResources`, `SetDefaults_Rule`, the webhook defaults)
//! and the binding's validation with its messages. Evaluating policies and
//! calling webhooks is admission's job, not the registry's.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::Strategy;
use super::common::{default_if_missing, duplicate, go_quote, str_at};
use crate::error::Cause;
use crate::validation::{invalid, not_supported, required};

pub struct PolicyStrategy;
pub struct PolicyBindingStrategy;
/// Validating (`mutating: false`) and mutating webhook configurations.
pub struct WebhookConfigurationStrategy {
    pub mutating: bool,
}

/// `SetDefaults_Rule` on every rule of `rules` (scope `*`).
fn default_rules(rules: Option<&mut Value>) {
    for rule in rules.and_then(Value::as_array_mut).into_iter().flatten() {
        default_if_missing(rule, "scope", json!("*"));
    }
}

/// `SetDefaults_MatchResources`.
fn default_match_resources(matches: &mut Value) {
    if !matches.is_object() {
        return;
    }
    default_if_missing(matches, "matchPolicy", json!("Equivalent"));
    default_if_missing(matches, "namespaceSelector", json!({}));
    default_if_missing(matches, "objectSelector", json!({}));
    default_rules(matches.get_mut("resourceRules"));
    default_rules(matches.get_mut("excludeResourceRules"));
}

fn default_policy(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    default_if_missing(spec, "failurePolicy", json!("Fail"));
    if let Some(matches) = spec.get_mut("matchConstraints") {
        default_match_resources(matches);
    }
}

fn default_binding(obj: &mut Value) {
    if let Some(matches) = obj.pointer_mut("/spec/matchResources") {
        default_match_resources(matches);
    }
}

/// The v1 webhook defaults: failurePolicy Fail, matchPolicy Equivalent,
/// empty selectors, timeout 10 s, rule scope `*`, and for mutating
/// webhooks reinvocationPolicy Never.
fn default_webhooks(obj: &mut Value, mutating: bool) {
    for webhook in obj
        .get_mut("webhooks")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        default_if_missing(webhook, "failurePolicy", json!("Fail"));
        default_if_missing(webhook, "matchPolicy", json!("Equivalent"));
        default_if_missing(webhook, "namespaceSelector", json!({}));
        default_if_missing(webhook, "objectSelector", json!({}));
        default_if_missing(webhook, "timeoutSeconds", json!(10));
        if mutating {
            default_if_missing(webhook, "reinvocationPolicy", json!("Never"));
        }
        default_rules(webhook.get_mut("rules"));
        if let Some(service) = webhook.pointer_mut("/clientConfig/service")
            && service.is_object()
        {
            default_if_missing(service, "port", json!(443));
        }
    }
}

fn validate_binding(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    if str_at(obj, "/spec/policyName").is_empty() {
        causes.push(required("spec.policyName", ""));
    }
    let actions = obj
        .pointer("/spec/validationActions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if actions.is_empty() {
        causes.push(required(
            "spec.validationActions",
            "at least one validation action is required",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, action) in actions.iter().enumerate() {
        let field = format!("spec.validationActions[{i}]");
        let name = action.as_str().unwrap_or_default();
        if !seen.insert(name) {
            causes.push(duplicate(&field, go_quote(name)));
        }
        if !matches!(name, "Audit" | "Deny" | "Warn") {
            causes.push(not_supported(&field, action, &["Audit", "Deny", "Warn"]));
        }
    }
    if seen.contains("Deny") && seen.contains("Warn") {
        causes.push(invalid(
            "spec.validationActions",
            &json!(actions.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
            "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
        ));
    }
    causes
}

impl Strategy for PolicyStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_policy(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_policy(new);
    }
}

impl Strategy for PolicyBindingStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_binding(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_binding(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_binding(obj)
    }
}

impl Strategy for WebhookConfigurationStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_webhooks(obj, self.mutating);
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_webhooks(new, self.mutating);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_match_constraints_are_defaulted() {
        let mut vap = json!({"spec": {"matchConstraints": {"resourceRules": [{
            "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"]
        }]}, "validations": [{"expression": "true"}]}});
        default_policy(&mut vap);
        let spec = &vap["spec"];
        assert_eq!(spec["failurePolicy"], "Fail");
        assert_eq!(spec["matchConstraints"]["matchPolicy"], "Equivalent");
        assert_eq!(spec["matchConstraints"]["namespaceSelector"], json!({}));
        assert_eq!(spec["matchConstraints"]["objectSelector"], json!({}));
        assert_eq!(spec["matchConstraints"]["resourceRules"][0]["scope"], "*");
    }

    #[test]
    fn binding_needs_validation_actions() {
        let ok = json!({"spec": {"policyName": "p", "validationActions": ["Deny"]}});
        assert!(validate_binding(&ok).is_empty());
        let causes =
            validate_binding(&json!({"spec": {"policyName": "p", "validationActions": []}}));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.validationActions");
        assert_eq!(
            causes[0].message,
            "Required value: at least one validation action is required"
        );
        let causes = validate_binding(
            &json!({"spec": {"policyName": "p", "validationActions": ["Deny", "Deny", "Warn"]}}),
        );
        let fields: Vec<_> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["spec.validationActions[1]", "spec.validationActions"]
        );
    }

    #[test]
    fn webhooks_are_defaulted() {
        let mut config = json!({"webhooks": [{"name": "w.example.com",
            "clientConfig": {"service": {"namespace": "ns", "name": "svc"}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "sideEffects": "None", "admissionReviewVersions": ["v1"]}]});
        default_webhooks(&mut config, true);
        let webhook = &config["webhooks"][0];
        assert_eq!(webhook["failurePolicy"], "Fail");
        assert_eq!(webhook["timeoutSeconds"], 10);
        assert_eq!(webhook["reinvocationPolicy"], "Never");
        assert_eq!(webhook["rules"][0]["scope"], "*");
        assert_eq!(webhook["clientConfig"]["service"]["port"], 443);
    }
}
