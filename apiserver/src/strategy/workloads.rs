//! apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and core/v1
//! ReplicationController: upstream's v1 defaults, `ValidateXxxSpec` checks
//! with their field paths and messages, selector immutability, the status
//! reset on create and the `status.replicas` field selector.

use serde_json::{Value, json};

use super::common::{
    Selector, default_if_missing, go_int_or_string, go_label_selector, go_string_map, i64_at,
    int_field, int_or_percent_value, invalid_go, nonnegative, not_more_than_100, not_supported_go,
    object_at, selector_is_empty, str_at, validate_int_or_percent, validate_label_selector,
    validate_labels,
};
use super::pod::{default_pod_spec, validate_pod_spec};
use super::{NameRule, Strategy};
use crate::error::Cause;
use crate::validation::{forbidden, invalid, not_supported, required};

pub struct DeploymentStrategy;
pub struct ReplicaSetStrategy;
pub struct StatefulSetStrategy;
pub struct DaemonSetStrategy;
pub struct ReplicationControllerStrategy;

const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// Defaults of a pod template at `obj[spec][template]` (creating it).
pub(crate) fn default_template(spec: &mut Value) {
    let template = object_at(spec, "template");
    let meta = object_at(template, "metadata");
    if meta.get("creationTimestamp").is_none() {
        meta["creationTimestamp"] = Value::Null;
    }
    default_pod_spec(object_at(template, "spec"));
}

fn spec_mut(obj: &mut Value) -> &mut Value {
    object_at(obj, "spec")
}

/// Upstream's ValidatePodTemplateSpec: template labels/annotations, then
/// the pod spec.
pub(crate) fn validate_pod_template(template: &Value, path: &str, causes: &mut Vec<Cause>) {
    validate_template_meta(template, path, causes);
    validate_pod_spec(
        template.get("spec").unwrap_or(&Value::Null),
        &format!("{path}.spec"),
        causes,
    );
}

fn validate_template_meta(template: &Value, path: &str, causes: &mut Vec<Cause>) {
    let meta = template.get("metadata").unwrap_or(&Value::Null);
    validate_labels(meta.get("labels"), &format!("{path}.labels"), causes);
    if let Some(ann) = meta.get("annotations").and_then(Value::as_object) {
        for k in ann.keys() {
            for e in crate::validation::qualified_name(&k.to_ascii_lowercase()) {
                causes.push(invalid(&format!("{path}.annotations"), &json!(k), &e));
            }
        }
    }
}

fn template_labels(spec: &Value) -> Option<&Value> {
    spec.pointer("/template/metadata/labels")
}

fn labels_mismatch(spec: &Value) -> Cause {
    invalid_go(
        "spec.template.metadata.labels",
        go_string_map(template_labels(spec)),
        "`selector` does not match template `labels`",
    )
}

/// restartPolicy Always and no activeDeadlineSeconds (`kind` names the
/// controller in the message).
fn validate_always_restart(spec: &Value, kind: &str, causes: &mut Vec<Cause>) {
    let policy = spec
        .pointer("/template/spec/restartPolicy")
        .cloned()
        .unwrap_or(json!(""));
    if policy != "Always" {
        causes.push(not_supported(
            "spec.template.spec.restartPolicy",
            &policy,
            &["Always"],
        ));
    }
    if spec
        .pointer("/template/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        causes.push(forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            &format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
}

/// Selector checks shared by Deployment and ReplicaSet
/// (`ValidateReplicaSetSpec`/`ValidateDeploymentSpec` selector part).
fn validate_required_selector(spec: &Value, kind: &str, causes: &mut Vec<Cause>) {
    let sel = spec.get("selector").filter(|s| !s.is_null());
    match sel {
        None => causes.push(required("spec.selector", "")),
        Some(s) => {
            validate_label_selector(s, "spec.selector", causes);
            if selector_is_empty(s) {
                causes.push(invalid_go(
                    "spec.selector",
                    go_label_selector(Some(s)),
                    &format!("empty selector is invalid for {kind}"),
                ));
            }
        }
    }
}

/// `ValidatePodTemplateSpecForReplicaSet` after the selector parse.
fn validate_replicaset_template(spec: &Value, causes: &mut Vec<Cause>) {
    match Selector::parse(spec.get("selector")) {
        Err(()) => causes.push(invalid_go(
            "spec.selector",
            go_label_selector(spec.get("selector")),
            "invalid label selector",
        )),
        Ok(sel) => {
            if !sel.is_empty() && !sel.matches(template_labels(spec)) {
                causes.push(labels_mismatch(spec));
            }
            let template = spec.get("template").unwrap_or(&Value::Null);
            validate_pod_template(template, "spec.template", causes);
            validate_always_restart(spec, "ReplicaSet", causes);
        }
    }
}

/// Semantic selector equality (nil and empty maps/lists are equal).
fn normalized_selector(sel: Option<&Value>) -> Value {
    let Some(mut s) = sel.filter(|s| !s.is_null()).cloned() else {
        return Value::Null;
    };
    if let Some(m) = s.as_object_mut() {
        m.retain(|_, v| match v {
            Value::Object(o) => !o.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Null => false,
            _ => true,
        });
    }
    s
}

/// `spec.selector: Invalid value: v1.LabelSelector{...}: field is immutable`.
fn selector_immutable(new: &Value, old: &Value, causes: &mut Vec<Cause>) {
    let n = new.pointer("/spec/selector");
    let o = old.pointer("/spec/selector");
    if normalized_selector(n) != normalized_selector(o) {
        causes.push(invalid_go(
            "spec.selector",
            go_label_selector(n),
            "field is immutable",
        ));
    }
}

fn annotations(obj: &Value) -> Value {
    obj.pointer("/metadata/annotations")
        .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))
        .cloned()
        .unwrap_or(Value::Null)
}

// ---------------------------------------------------------------- Deployment

fn default_deployment(obj: &mut Value) {
    let spec = spec_mut(obj);
    default_if_missing(spec, "replicas", json!(1));
    let strategy = object_at(spec, "strategy");
    if str_at(strategy, "/type").is_empty() {
        strategy["type"] = json!("RollingUpdate");
    }
    if str_at(strategy, "/type") == "RollingUpdate" {
        let ru = object_at(strategy, "rollingUpdate");
        default_if_missing(ru, "maxUnavailable", json!("25%"));
        default_if_missing(ru, "maxSurge", json!("25%"));
    }
    default_if_missing(spec, "revisionHistoryLimit", json!(10));
    default_if_missing(spec, "progressDeadlineSeconds", json!(600));
    default_template(spec);
}

fn validate_deployment(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    nonnegative(spec, "/replicas", "spec.replicas", &mut causes);
    validate_required_selector(spec, "deployment", &mut causes);
    validate_replicaset_template(spec, &mut causes);
    // Strategy.
    let strategy = spec.get("strategy").unwrap_or(&Value::Null);
    let ru = strategy.get("rollingUpdate").filter(|v| !v.is_null());
    match str_at(strategy, "/type") {
        "Recreate" => {
            if ru.is_some() {
                causes.push(forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match ru {
            None => causes.push(required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let zero = json!(0);
                let mu = ru.get("maxUnavailable").unwrap_or(&zero);
                let ms = ru.get("maxSurge").unwrap_or(&zero);
                validate_int_or_percent(mu, "spec.strategy.rollingUpdate.maxUnavailable", &mut causes);
                validate_int_or_percent(ms, "spec.strategy.rollingUpdate.maxSurge", &mut causes);
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    causes.push(invalid_go(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        go_int_or_string(mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                not_more_than_100(mu, "spec.strategy.rollingUpdate.maxUnavailable", &mut causes);
            }
        },
        t => causes.push(not_supported_go(
            "spec.strategy",
            format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}",
                super::common::go_quote(t)
            ),
            &["Recreate", "RollingUpdate"],
        )),
    }
    nonnegative(
        spec,
        "/minReadySeconds",
        "spec.minReadySeconds",
        &mut causes,
    );
    nonnegative(
        spec,
        "/revisionHistoryLimit",
        "spec.revisionHistoryLimit",
        &mut causes,
    );
    if let Some(pd) = i64_at(spec, "/progressDeadlineSeconds") {
        nonnegative(
            spec,
            "/progressDeadlineSeconds",
            "spec.progressDeadlineSeconds",
            &mut causes,
        );
        if pd <= i64_at(spec, "/minReadySeconds").unwrap_or(0) {
            causes.push(invalid(
                "spec.progressDeadlineSeconds",
                &json!(pd),
                "must be greater than minReadySeconds",
            ));
        }
    }
    causes
}

impl Strategy for DeploymentStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_deployment(obj);
        obj["status"] = json!({});
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        default_deployment(new);
        // Annotation changes bump the generation too (they are copied to
        // the ReplicaSets); spec changes are bumped by the server.
        if annotations(new) != annotations(old) {
            let generation = i64_at(old, "/metadata/generation").unwrap_or(0);
            crate::meta::meta_mut(new).insert("generation".into(), json!(generation + 1));
        }
    }
    /// Upstream's `deploymentStatusStrategy`: labels stay as they were.
    fn prepare_for_subresource_update(&self, subresource: &str, new: &mut Value, old: &Value) {
        if subresource == "status" {
            let meta = crate::meta::meta_mut(new);
            match crate::meta::meta(old).get("labels") {
                Some(labels) => {
                    meta.insert("labels".into(), labels.clone());
                }
                None => {
                    meta.remove("labels");
                }
            }
        }
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_deployment(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = validate_deployment(new);
        selector_immutable(new, old, &mut causes);
        causes
    }
}

// ---------------------------------------------------------------- ReplicaSet

fn default_replicaset(obj: &mut Value) {
    let spec = spec_mut(obj);
    default_if_missing(spec, "replicas", json!(1));
    default_template(spec);
}

fn validate_replicaset(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    nonnegative(spec, "/replicas", "spec.replicas", &mut causes);
    nonnegative(
        spec,
        "/minReadySeconds",
        "spec.minReadySeconds",
        &mut causes,
    );
    // Upstream says "deployment" here too.
    validate_required_selector(spec, "deployment", &mut causes);
    validate_replicaset_template(spec, &mut causes);
    causes
}

impl Strategy for ReplicaSetStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_replicaset(obj);
        obj["status"] = json!({"replicas": 0});
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_replicaset(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_replicaset(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = validate_replicaset(new);
        selector_immutable(new, old, &mut causes);
        causes
    }
    fn selectable_fields(&self) -> &'static [&'static str] {
        &["status.replicas"]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "status.replicas")
            .then(|| int_field(obj, "/status/replicas"))
            .flatten()
    }
}

// --------------------------------------------------------------- StatefulSet

fn default_statefulset(obj: &mut Value) {
    let spec = spec_mut(obj);
    if str_at(spec, "/podManagementPolicy").is_empty() {
        spec["podManagementPolicy"] = json!("OrderedReady");
    }
    let us = object_at(spec, "updateStrategy");
    if str_at(us, "/type").is_empty() {
        us["type"] = json!("RollingUpdate");
        default_if_missing(us, "rollingUpdate", json!({}));
    }
    if str_at(us, "/type") == "RollingUpdate"
        && let Some(ru) = us.get_mut("rollingUpdate").filter(|r| r.is_object())
    {
        default_if_missing(ru, "partition", json!(0));
    }
    let policy = object_at(spec, "persistentVolumeClaimRetentionPolicy");
    for k in ["whenDeleted", "whenScaled"] {
        if str_at(policy, &format!("/{k}")).is_empty() {
            policy[k] = json!("Retain");
        }
    }
    default_if_missing(spec, "replicas", json!(1));
    default_if_missing(spec, "revisionHistoryLimit", json!(10));
    if let Some(claims) = spec
        .get_mut("volumeClaimTemplates")
        .and_then(Value::as_array_mut)
    {
        for claim in claims.iter_mut().filter(|c| c.is_object()) {
            default_if_missing(object_at(claim, "spec"), "volumeMode", json!("Filesystem"));
            let status = object_at(claim, "status");
            default_if_missing(status, "phase", json!("Pending"));
        }
    }
    default_template(spec);
}

fn validate_statefulset_spec(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    match str_at(spec, "/podManagementPolicy") {
        "" => causes.push(required("spec.podManagementPolicy", "")),
        "OrderedReady" | "Parallel" => {}
        p => causes.push(invalid(
            "spec.podManagementPolicy",
            &json!(p),
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let us = spec.get("updateStrategy").unwrap_or(&Value::Null);
    let ru = us.get("rollingUpdate").filter(|v| !v.is_null());
    match str_at(us, "/type") {
        "" => causes.push(required("spec.updateStrategy", "")),
        "OnDelete" => {
            if let Some(ru) = ru {
                causes.push(invalid_go(
                    "spec.updateStrategy.rollingUpdate",
                    go_rolling_update_sts(ru),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = ru {
                nonnegative(
                    ru,
                    "/partition",
                    "spec.updateStrategy.rollingUpdate.partition",
                    &mut causes,
                );
                if let Some(mu) = ru.get("maxUnavailable").filter(|v| !v.is_null()) {
                    let f = "spec.updateStrategy.rollingUpdate.maxUnavailable";
                    validate_int_or_percent(mu, f, &mut causes);
                    if int_or_percent_value(mu) == 0 {
                        causes.push(invalid_go(f, go_int_or_string(mu), "cannot be 0"));
                    }
                    not_more_than_100(mu, f, &mut causes);
                }
            }
        }
        t => causes.push(invalid_go(
            "spec.updateStrategy",
            format!(
                "apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}}",
                super::common::go_quote(t)
            ),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = spec
        .get("persistentVolumeClaimRetentionPolicy")
        .filter(|p| p.is_object())
    {
        for k in ["whenDeleted", "whenScaled"] {
            let v = policy.get(k).cloned().unwrap_or(json!(""));
            if !matches!(v.as_str(), Some("Retain" | "Delete")) {
                causes.push(not_supported(
                    &format!("spec.persistentVolumeClaimRetentionPolicy.{k}"),
                    &v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    nonnegative(spec, "/replicas", "spec.replicas", &mut causes);
    nonnegative(
        spec,
        "/minReadySeconds",
        "spec.minReadySeconds",
        &mut causes,
    );
    nonnegative(spec, "/ordinals/start", "spec.ordinals.start", &mut causes);
    validate_required_selector(spec, "statefulset", &mut causes);
    match Selector::parse(spec.get("selector")) {
        Err(()) => causes.push(Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {}", go_label_selector(spec.get("selector"))),
            field: "spec.selector".to_string(),
        }),
        Ok(sel) => {
            if !sel.is_empty() && !sel.matches(template_labels(spec)) {
                causes.push(labels_mismatch(spec));
            }
            validate_template_meta(
                spec.get("template").unwrap_or(&Value::Null),
                "spec.template",
                &mut causes,
            );
        }
    }
    validate_always_restart(spec, "StatefulSet", &mut causes);
    causes
}

fn go_rolling_update_sts(ru: &Value) -> String {
    let mu = match ru.get("maxUnavailable").filter(|v| !v.is_null()) {
        None => "(*intstr.IntOrString)(nil)".to_string(),
        Some(v) => format!("&{}", go_int_or_string(v)),
    };
    format!(
        "apps.RollingUpdateStatefulSetStrategy{{Partition:{}, MaxUnavailable:{mu}}}",
        i64_at(ru, "/partition").unwrap_or(0)
    )
}

/// The spec fields a StatefulSet update may change.
const STS_MUTABLE: [&str; 6] = [
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

impl Strategy for StatefulSetStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        default_statefulset(obj);
        obj["status"] = json!({"replicas": 0, "availableReplicas": 0});
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_statefulset(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_statefulset_spec(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = validate_statefulset_spec(new);
        let strip = |v: &Value| {
            let mut s = v.get("spec").cloned().unwrap_or(json!({}));
            if let Some(m) = s.as_object_mut() {
                for k in STS_MUTABLE {
                    m.remove(k);
                }
                m.retain(|_, v| !v.is_null());
            }
            s
        };
        if strip(new) != strip(old) {
            causes.push(forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
        causes
    }
}

// ----------------------------------------------------------------- DaemonSet

fn default_daemonset(obj: &mut Value) {
    let spec = spec_mut(obj);
    let us = object_at(spec, "updateStrategy");
    if str_at(us, "/type").is_empty() {
        us["type"] = json!("RollingUpdate");
    }
    if str_at(us, "/type") == "RollingUpdate" {
        let ru = object_at(us, "rollingUpdate");
        default_if_missing(ru, "maxUnavailable", json!(1));
        default_if_missing(ru, "maxSurge", json!(0));
    }
    default_if_missing(spec, "revisionHistoryLimit", json!(10));
    default_template(spec);
}

fn validate_daemonset(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let sel = spec.get("selector").filter(|s| !s.is_null());
    if let Some(s) = sel {
        validate_label_selector(s, "spec.selector", &mut causes);
    }
    if let Ok(parsed) = Selector::parse(sel)
        && !parsed.matches(template_labels(spec))
    {
        causes.push(labels_mismatch(spec));
    }
    if let Some(s) = sel
        && selector_is_empty(s)
    {
        causes.push(invalid_go(
            "spec.selector",
            go_label_selector(Some(s)),
            "empty selector is invalid for daemonset",
        ));
    }
    validate_pod_template(
        spec.get("template").unwrap_or(&Value::Null),
        "spec.template",
        &mut causes,
    );
    validate_always_restart(spec, "DaemonSet", &mut causes);
    nonnegative(
        spec,
        "/minReadySeconds",
        "spec.minReadySeconds",
        &mut causes,
    );
    let us = spec.get("updateStrategy").unwrap_or(&Value::Null);
    match str_at(us, "/type") {
        "OnDelete" => {}
        "RollingUpdate" => match us.get("rollingUpdate").filter(|v| !v.is_null()) {
            None => causes.push(required("spec.updateStrategy.rollingUpdate", "")),
            Some(ru) => {
                let zero = json!(0);
                let mu = ru.get("maxUnavailable").unwrap_or(&zero);
                let ms = ru.get("maxSurge").unwrap_or(&zero);
                let fu = "spec.updateStrategy.rollingUpdate.maxUnavailable";
                let fs = "spec.updateStrategy.rollingUpdate.maxSurge";
                validate_int_or_percent(mu, fu, &mut causes);
                validate_int_or_percent(ms, fs, &mut causes);
                not_more_than_100(mu, fu, &mut causes);
                not_more_than_100(ms, fs, &mut causes);
                let has_u = int_or_percent_value(mu) != 0;
                let has_s = int_or_percent_value(ms) != 0;
                if has_u && has_s {
                    causes.push(invalid_go(
                        fs,
                        go_int_or_string(ms),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !has_u && !has_s {
                    causes.push(required(fu, "cannot be 0 when maxSurge is 0"));
                }
            }
        },
        t => causes.push(not_supported_go(
            "spec.updateStrategy",
            format!(
                "apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}}",
                super::common::go_quote(t)
            ),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    nonnegative(
        spec,
        "/revisionHistoryLimit",
        "spec.revisionHistoryLimit",
        &mut causes,
    );
    causes
}

fn template_generation(obj: &Value) -> i64 {
    str_at(
        obj,
        "/metadata/annotations/deprecated.daemonset.template.generation",
    )
    .parse()
    .unwrap_or(0)
}

fn set_template_generation(obj: &mut Value, generation: i64) {
    let meta = crate::meta::meta_mut(obj);
    let ann = meta.entry("annotations").or_insert_with(|| json!({}));
    if !ann.is_object() {
        *ann = json!({});
    }
    ann[TEMPLATE_GENERATION] = json!(generation.to_string());
}

impl Strategy for DaemonSetStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_daemonset(obj);
        set_template_generation(obj, 1);
        obj["status"] = json!({
            "currentNumberScheduled": 0,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 0,
            "numberReady": 0,
        });
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        default_daemonset(new);
        let mut generation = template_generation(old);
        if new.pointer("/spec/template") != old.pointer("/spec/template") {
            generation += 1;
        }
        if generation > 0 {
            set_template_generation(new, generation);
        }
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_daemonset(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = validate_daemonset(new);
        selector_immutable(new, old, &mut causes);
        causes
    }
}

// ----------------------------------------------------- ReplicationController

fn default_rc(obj: &mut Value) {
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.is_object())
        .cloned();
    if let Some(labels) = labels {
        let spec = spec_mut(obj);
        if spec
            .get("selector")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
        {
            spec["selector"] = labels.clone();
        }
        let meta = crate::meta::meta_mut(obj);
        if meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
        {
            meta.insert("labels".into(), labels);
        }
    }
    let spec = spec_mut(obj);
    default_if_missing(spec, "replicas", json!(1));
    if spec.get("template").is_some_and(Value::is_object) {
        default_template(spec);
    }
}

fn validate_rc(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    nonnegative(
        spec,
        "/minReadySeconds",
        "spec.minReadySeconds",
        &mut causes,
    );
    let selector = spec.get("selector").and_then(Value::as_object);
    if selector.is_none_or(|m| m.is_empty()) {
        causes.push(required("spec.selector", ""));
    }
    nonnegative(spec, "/replicas", "spec.replicas", &mut causes);
    match spec.get("template").filter(|t| t.is_object()) {
        None => causes.push(required("spec.template", "")),
        Some(template) => {
            if let Some(sel) = selector.filter(|m| !m.is_empty()) {
                let labels = template.pointer("/metadata/labels");
                let matches = sel.iter().all(|(k, v)| {
                    labels.and_then(|l| l.get(k)).and_then(Value::as_str) == v.as_str()
                });
                if !matches {
                    causes.push(invalid_go(
                        "spec.template.metadata.labels",
                        go_string_map(labels),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
            validate_pod_template(template, "spec.template", &mut causes);
            validate_always_restart(spec, "ReplicationController", &mut causes);
        }
    }
    causes
}

impl Strategy for ReplicationControllerStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        default_rc(obj);
        obj["status"] = json!({"replicas": 0});
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_rc(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_rc(obj)
    }
    fn selectable_fields(&self) -> &'static [&'static str] {
        &["status.replicas"]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "status.replicas")
            .then(|| int_field(obj, "/status/replicas"))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "web", "generation": 1},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}
                }
            }
        })
    }

    #[test]
    fn deployment_status_update_keeps_labels() {
        let mut old = deployment();
        old["metadata"]["labels"] = json!({"app": "web"});
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"app": "changed"});
        new["status"] = json!({"readyReplicas": 0});
        DeploymentStrategy.prepare_for_subresource_update("status", &mut new, &old);
        assert_eq!(new["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(new["status"]["readyReplicas"], 0);
    }

    #[test]
    fn deployment_defaults_and_status() {
        let mut d = deployment();
        d["status"] = json!({"replicas": 5});
        DeploymentStrategy.prepare_for_create(&mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(
            d["spec"]["template"]["spec"]
                .get("enableServiceLinks")
                .is_none()
        );
        assert_eq!(d["status"], json!({}));
        assert!(DeploymentStrategy.validate(&d).is_empty());
    }

    #[test]
    fn rolling_update_zero_zero() {
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}});
        DeploymentStrategy.prepare_for_create(&mut d);
        let causes = DeploymentStrategy.validate(&d);
        assert_eq!(
            causes[0].field,
            "spec.strategy.rollingUpdate.maxUnavailable"
        );
        assert_eq!(
            causes[0].message,
            "Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0"
        );
    }

    #[test]
    fn daemonset_template_generation() {
        let mut ds = deployment();
        DaemonSetStrategy.prepare_for_create(&mut ds);
        assert_eq!(ds["metadata"]["annotations"][TEMPLATE_GENERATION], "1");
        assert_eq!(
            ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"],
            1
        );
        let mut new = ds.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        DaemonSetStrategy.prepare_for_update(&mut new, &ds);
        assert_eq!(new["metadata"]["annotations"][TEMPLATE_GENERATION], "2");
        assert_eq!(ds["status"]["numberReady"], 0);
    }

    #[test]
    fn rc_selector_from_template() {
        let mut rc = json!({"metadata": {"name": "r"}, "spec": {"template": {
            "metadata": {"labels": {"app": "r"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        ReplicationControllerStrategy.prepare_for_create(&mut rc);
        assert_eq!(rc["spec"]["selector"], json!({"app": "r"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "r"}));
        assert!(ReplicationControllerStrategy.validate(&rc).is_empty());
        let causes = ReplicationControllerStrategy.validate(&json!({"spec": {}}));
        assert_eq!(causes[0].field, "spec.selector");
        assert_eq!(causes[1].field, "spec.template");
    }
}
