//! rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding and
//! ClusterRoleBinding: path-segment names, v1 defaults of subject and
//! roleRef API groups, policy rule and subject validation, and the
//! immutable roleRef.

use serde_json::{Value, json};

use super::common::{go_quote, go_string_slice, invalid_go, object_at, str_at};
use super::{NameRule, Strategy};
use crate::error::Cause;
use crate::validation::{dns1123_subdomain, invalid, not_supported, required};

const GROUP: &str = "rbac.authorization.k8s.io";

pub struct RoleStrategy {
    pub namespaced: bool,
}

pub struct BindingStrategy {
    pub namespaced: bool,
}

fn list_len(v: &Value, key: &str) -> usize {
    v.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

fn validate_rules(obj: &Value, namespaced: bool, causes: &mut Vec<Cause>) {
    for (i, rule) in obj
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("rules[{i}]");
        if list_len(rule, "verbs") == 0 {
            causes.push(required(
                &format!("{path}.verbs"),
                "verbs must contain at least one value",
            ));
        }
        let non_resource = list_len(rule, "nonResourceURLs");
        if non_resource > 0 {
            let urls = go_string_slice(rule.get("nonResourceURLs"));
            if namespaced {
                causes.push(invalid_go(
                    &format!("{path}.nonResourceURLs"),
                    urls,
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            } else if list_len(rule, "apiGroups") > 0
                || list_len(rule, "resources") > 0
                || list_len(rule, "resourceNames") > 0
            {
                causes.push(invalid_go(
                    &format!("{path}.nonResourceURLs"),
                    urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if list_len(rule, "apiGroups") == 0 {
            causes.push(required(
                &format!("{path}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if list_len(rule, "resources") == 0 {
            causes.push(required(
                &format!("{path}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
}

impl Strategy for RoleStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        validate_rules(obj, self.namespaced, &mut causes);
        causes
    }
}

/// SetDefaults_Subject and the roleRef group default.
fn default_binding(obj: &mut Value) {
    let role_ref = object_at(obj, "roleRef");
    if str_at(role_ref, "/apiGroup").is_empty() {
        role_ref["apiGroup"] = json!(GROUP);
    }
    if let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) {
        for s in subjects.iter_mut().filter(|s| s.is_object()) {
            if str_at(s, "/apiGroup").is_empty() && matches!(str_at(s, "/kind"), "User" | "Group") {
                s["apiGroup"] = json!(GROUP);
            }
        }
    }
}

/// Upstream's ValidateServiceAccountName (a DNS subdomain).
fn validate_subject(s: &Value, namespaced: bool, path: &str, causes: &mut Vec<Cause>) {
    let name = str_at(s, "/name");
    if name.is_empty() {
        causes.push(required(&format!("{path}.name"), ""));
    }
    let group = s.get("apiGroup").cloned().unwrap_or(json!(""));
    match str_at(s, "/kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                for e in dns1123_subdomain(name) {
                    causes.push(invalid(&format!("{path}.name"), &json!(name), &e));
                }
            }
            if group != "" {
                causes.push(not_supported(&format!("{path}.apiGroup"), &group, &[""]));
            }
            if !namespaced && str_at(s, "/namespace").is_empty() {
                causes.push(required(&format!("{path}.namespace"), ""));
            }
        }
        "User" | "Group" => {
            if group != GROUP {
                causes.push(not_supported(&format!("{path}.apiGroup"), &group, &[GROUP]));
            }
        }
        k => causes.push(not_supported(
            &format!("{path}.kind"),
            &json!(k),
            &["ServiceAccount", "User", "Group"],
        )),
    }
}

fn go_role_ref(r: Option<&Value>) -> String {
    let r = r.unwrap_or(&Value::Null);
    format!(
        "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
        go_quote(str_at(r, "/apiGroup")),
        go_quote(str_at(r, "/kind")),
        go_quote(str_at(r, "/name"))
    )
}

impl BindingStrategy {
    fn validate_binding(&self, obj: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        let r = obj.get("roleRef").unwrap_or(&Value::Null);
        let group = r.get("apiGroup").cloned().unwrap_or(json!(""));
        if group != GROUP {
            causes.push(not_supported("roleRef.apiGroup", &group, &[GROUP]));
        }
        let kind = r.get("kind").cloned().unwrap_or(json!(""));
        let kinds: &[&str] = if self.namespaced {
            &["Role", "ClusterRole"]
        } else {
            &["ClusterRole"]
        };
        if !kind.as_str().is_some_and(|k| kinds.contains(&k)) {
            causes.push(not_supported("roleRef.kind", &kind, kinds));
        }
        let name = str_at(r, "/name");
        if name.is_empty() {
            causes.push(required("roleRef.name", ""));
        } else {
            for e in super::path_segment_errors(name) {
                causes.push(invalid("roleRef.name", &json!(name), &e));
            }
        }
        for (i, s) in obj
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            validate_subject(s, self.namespaced, &format!("subjects[{i}]"), &mut causes);
        }
        causes
    }
}

impl Strategy for BindingStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        default_binding(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_binding(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        self.validate_binding(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = self.validate_binding(new);
        if new.get("roleRef") != old.get("roleRef") {
            causes.push(invalid_go(
                "roleRef",
                go_role_ref(new.get("roleRef")),
                "cannot change roleRef",
            ));
        }
        causes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_rules() {
        let rb = BindingStrategy { namespaced: true };
        let mut b = json!({"roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Robot", "name": "x"}]});
        rb.prepare_for_create(&mut b);
        assert_eq!(b["roleRef"]["apiGroup"], GROUP);
        assert_eq!(b["subjects"][0]["apiGroup"], GROUP);
        let causes = rb.validate(&b);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "subjects[1].kind");
        let mut new = b.clone();
        new["roleRef"]["name"] = json!("other");
        let causes = rb.validate_update(&new, &b);
        assert_eq!(
            causes.last().map(|c| c.message.as_str()),
            Some(
                "Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"Role\", Name:\"other\"}: cannot change roleRef"
            )
        );
    }
}
