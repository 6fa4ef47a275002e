//! flowcontrol.apiserver.k8s.io/v1 FlowSchema and PriorityLevelConfiguration:
//! upstream's v1 defaults (`SetDefaults_FlowSchemaSpec`,
//! `SetDefaults_LimitedPriorityLevelConfiguration`, queuing defaults) and
//! validation (`pkg/apis/flowcontrol/validation`) with its messages.

use serde_json::{Value, json};

use super::Strategy;
use super::common::{default_if_missing, str_at};
use crate::error::Cause;
use crate::validation::{forbidden, invalid, not_supported, required};

pub struct FlowSchemaStrategy;
pub struct PriorityLevelStrategy;

/// Highest `matchingPrecedence` a FlowSchema may have.
const MAX_MATCHING_PRECEDENCE: i64 = 10000;

// --------------------------------------------------------------- FlowSchema

fn default_flow_schema(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object())
        && spec
            .get("matchingPrecedence")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
    {
        spec["matchingPrecedence"] = json!(1000);
    }
}

fn validate_flow_schema(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let precedence = obj
        .pointer("/spec/matchingPrecedence")
        .and_then(Value::as_i64);
    match precedence {
        Some(p) if p <= 0 => causes.push(invalid(
            "spec.matchingPrecedence",
            &json!(p),
            "must be a positive value",
        )),
        Some(p) if p > MAX_MATCHING_PRECEDENCE => causes.push(invalid(
            "spec.matchingPrecedence",
            &json!(p),
            &format!("must not be greater than {MAX_MATCHING_PRECEDENCE}"),
        )),
        _ => {}
    }
    if let Some(method) = obj
        .pointer("/spec/distinguisherMethod/type")
        .filter(|t| !t.is_null())
        && !matches!(method.as_str(), Some("ByNamespace" | "ByUser"))
    {
        causes.push(not_supported(
            "spec.distinguisherMethod.type",
            method,
            &["ByNamespace", "ByUser"],
        ));
    }
    if str_at(obj, "/spec/priorityLevelConfiguration/name").is_empty() {
        causes.push(required(
            "spec.priorityLevelConfiguration.name",
            "must reference a priority level",
        ));
    }
    let rules = obj
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, rule) in rules.iter().enumerate() {
        let path = format!("spec.rules[{i}]");
        let subjects = rule.get("subjects").and_then(Value::as_array);
        if subjects.is_none_or(|s| s.is_empty()) {
            causes.push(required(
                &format!("{path}.subjects"),
                "subjects must contain at least one value",
            ));
        }
        for (j, subject) in subjects.into_iter().flatten().enumerate() {
            validate_subject(subject, &format!("{path}.subjects[{j}]"), &mut causes);
        }
        let has = |key: &str| {
            rule.get(key)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        };
        if !has("resourceRules") && !has("nonResourceRules") {
            causes.push(required(
                &path,
                "at least one of resourceRules and nonResourceRules has to be non-empty",
            ));
        }
    }
    causes
}

fn validate_subject(subject: &Value, path: &str, causes: &mut Vec<Cause>) {
    let kind = subject.get("kind").cloned().unwrap_or(Value::Null);
    let (member, name_path) = match kind.as_str() {
        Some("User") => ("user", "user.name"),
        Some("Group") => ("group", "group.name"),
        Some("ServiceAccount") => ("serviceAccount", "serviceAccount.name"),
        Some("") | None => {
            causes.push(required(&format!("{path}.kind"), ""));
            return;
        }
        Some(_) => {
            causes.push(not_supported(
                &format!("{path}.kind"),
                &kind,
                &["Group", "ServiceAccount", "User"],
            ));
            return;
        }
    };
    match subject.get(member).filter(|m| !m.is_null()) {
        None => causes.push(required(
            &format!("{path}.{member}"),
            &format!(
                "{member} is required when subject kind is '{}'",
                str_at(&kind, "")
            ),
        )),
        Some(m) if str_at(m, "/name").is_empty() => causes.push(required(
            &format!("{path}.{name_path}"),
            &format!("{member} name is required"),
        )),
        Some(_) => {}
    }
}

impl Strategy for FlowSchemaStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_flow_schema(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_flow_schema(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_flow_schema(obj)
    }
}

// ------------------------------------------------ PriorityLevelConfiguration

fn default_priority_level(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    if let Some(limited) = spec.get_mut("limited").filter(|l| l.is_object()) {
        default_if_missing(limited, "nominalConcurrencyShares", json!(30));
        default_if_missing(limited, "lendablePercent", json!(0));
        if let Some(response) = limited.get_mut("limitResponse").filter(|r| r.is_object())
            && response.get("type").and_then(Value::as_str) == Some("Queue")
        {
            if !response.get("queuing").is_some_and(Value::is_object) {
                response["queuing"] = json!({});
            }
            let queuing = &mut response["queuing"];
            default_if_missing(queuing, "queues", json!(64));
            default_if_missing(queuing, "handSize", json!(8));
            default_if_missing(queuing, "queueLengthLimit", json!(50));
        }
    }
    if let Some(exempt) = spec.get_mut("exempt").filter(|e| e.is_object()) {
        default_if_missing(exempt, "nominalConcurrencyShares", json!(0));
        default_if_missing(exempt, "lendablePercent", json!(0));
    }
}

fn percent_between_0_and_100(v: Option<i64>, field: &str, causes: &mut Vec<Cause>) {
    if let Some(p) = v
        && !(0..=100).contains(&p)
    {
        causes.push(invalid(
            field,
            &json!(p),
            "must be between 0 and 100, inclusive",
        ));
    }
}

fn validate_limited(limited: &Value, causes: &mut Vec<Cause>) {
    if let Some(shares) = limited
        .get("nominalConcurrencyShares")
        .and_then(Value::as_i64)
        && shares < 0
    {
        causes.push(invalid(
            "spec.limited.nominalConcurrencyShares",
            &json!(shares),
            "must be a non-negative integer",
        ));
    }
    percent_between_0_and_100(
        limited.get("lendablePercent").and_then(Value::as_i64),
        "spec.limited.lendablePercent",
        causes,
    );
    percent_between_0_and_100(
        limited.get("borrowingLimitPercent").and_then(Value::as_i64),
        "spec.limited.borrowingLimitPercent",
        causes,
    );
    let response_type = limited
        .pointer("/limitResponse/type")
        .cloned()
        .unwrap_or(Value::Null);
    match response_type.as_str() {
        Some("Reject") => {
            if limited
                .pointer("/limitResponse/queuing")
                .is_some_and(|q| !q.is_null())
            {
                causes.push(forbidden(
                    "spec.limited.limitResponse.queuing",
                    "must be nil if limited.limitResponse.type is not Limited",
                ));
            }
        }
        Some("Queue") => {
            let queuing = limited.pointer("/limitResponse/queuing");
            if queuing.is_none_or(Value::is_null) {
                causes.push(required(
                    "spec.limited.limitResponse.queuing",
                    "must not be empty if limited.limitResponse.type is Limited",
                ));
            }
            for key in ["queues", "handSize", "queueLengthLimit"] {
                if let Some(n) = queuing.and_then(|q| q.get(key)).and_then(Value::as_i64)
                    && n <= 0
                {
                    causes.push(invalid(
                        &format!("spec.limited.limitResponse.queuing.{key}"),
                        &json!(n),
                        "must be positive",
                    ));
                }
            }
        }
        Some("") | None => causes.push(required("spec.limited.limitResponse.type", "")),
        Some(_) => causes.push(not_supported(
            "spec.limited.limitResponse.type",
            &response_type,
            &["Queue", "Reject"],
        )),
    }
}

fn validate_priority_level(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let kind = obj.pointer("/spec/type").cloned().unwrap_or(Value::Null);
    let limited = obj.pointer("/spec/limited").filter(|l| !l.is_null());
    let exempt = obj.pointer("/spec/exempt").filter(|e| !e.is_null());
    match kind.as_str() {
        Some("Limited") => {
            if exempt.is_some() {
                causes.push(forbidden(
                    "spec.exempt",
                    "must be nil if the type is Limited",
                ));
            }
            match limited {
                None => causes.push(required(
                    "spec.limited",
                    "must not be empty when type is Limited",
                )),
                Some(limited) => validate_limited(limited, &mut causes),
            }
        }
        Some("Exempt") => {
            if limited.is_some() {
                causes.push(forbidden(
                    "spec.limited",
                    "must be nil if the type is not Limited",
                ));
            }
        }
        Some("") | None => causes.push(required("spec.type", "")),
        Some(_) => causes.push(not_supported("spec.type", &kind, &["Exempt", "Limited"])),
    }
    causes
}

impl Strategy for PriorityLevelStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_priority_level(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_priority_level(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_priority_level(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow_schema(precedence: i64) -> Value {
        json!({"spec": {
            "matchingPrecedence": precedence,
            "priorityLevelConfiguration": {"name": "global-default"},
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [{
                "subjects": [{"kind": "User", "user": {"name": "someone"}}],
                "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]
            }]
        }})
    }

    #[test]
    fn matching_precedence_range() {
        assert!(validate_flow_schema(&flow_schema(10000)).is_empty());
        let causes = validate_flow_schema(&flow_schema(100000));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.matchingPrecedence");
        assert_eq!(
            causes[0].message,
            "Invalid value: 100000: must not be greater than 10000"
        );
        let mut defaulted = flow_schema(0);
        default_flow_schema(&mut defaulted);
        assert_eq!(defaulted["spec"]["matchingPrecedence"], 1000);
    }

    #[test]
    fn rules_need_subjects_and_rules() {
        let obj = json!({"spec": {
            "matchingPrecedence": 10,
            "priorityLevelConfiguration": {"name": "p"},
            "rules": [{"subjects": []}]
        }});
        let fields: Vec<_> = validate_flow_schema(&obj)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(fields, ["spec.rules[0].subjects", "spec.rules[0]"]);
    }

    #[test]
    fn priority_level_defaults_and_limited_required() {
        let mut plc = json!({"spec": {"type": "Limited", "limited": {
            "nominalConcurrencyShares": 2, "limitResponse": {"type": "Queue"}
        }}});
        default_priority_level(&mut plc);
        assert_eq!(plc["spec"]["limited"]["lendablePercent"], 0);
        assert_eq!(plc["spec"]["limited"]["nominalConcurrencyShares"], 2);
        assert_eq!(
            plc["spec"]["limited"]["limitResponse"]["queuing"]["queues"],
            64
        );
        assert!(validate_priority_level(&plc).is_empty());

        let causes = validate_priority_level(&json!({"spec": {"type": "Limited"}}));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.limited");
        assert_eq!(
            causes[0].message,
            "Required value: must not be empty when type is Limited"
        );
    }
}
