//! Pod: upstream's defaults (restart policy, DNS policy, scheduler, grace
//! period, image pull policy, termination message), status Pending on
//! create, the basic validation of containers, and pod field selectors.

use serde_json::{Value, json};

use super::{Strategy, pointer_str};
use crate::error::Cause;
use crate::validation::{dns1123_label, invalid, not_supported, required};

pub struct PodStrategy;

/// Sets a default when the field is missing, null or "" (Go's zero value).
fn default_if_missing(obj: &mut Value, key: &str, value: Value) {
    if obj
        .get(key)
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
    {
        obj[key] = value;
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise.
fn default_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    let tagged = last.contains(':') || image.contains('@');
    if !tagged || last.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

fn default_container(c: &mut Value) {
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    default_if_missing(c, "terminationMessagePath", json!("/dev/termination-log"));
    default_if_missing(c, "terminationMessagePolicy", json!("File"));
    default_if_missing(c, "imagePullPolicy", json!(default_pull_policy(&image)));
    default_if_missing(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            default_if_missing(p, "protocol", json!("TCP"));
        }
    }
}

/// PodSpec defaults (upstream SetDefaults_PodSpec and the container
/// defaults): shared by pods and pod templates.
pub(crate) fn default_pod_spec(spec: &mut Value) {
    default_if_missing(spec, "restartPolicy", json!("Always"));
    default_if_missing(spec, "terminationGracePeriodSeconds", json!(30));
    default_if_missing(spec, "dnsPolicy", json!("ClusterFirst"));
    default_if_missing(spec, "securityContext", json!({}));
    default_if_missing(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(default_container);
        }
    }
}

pub(crate) fn validate_pod_spec(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => causes.push(required(&format!("{path}.containers"), "")),
        Some(cs) if cs.is_empty() => causes.push(required(&format!("{path}.containers"), "")),
        Some(_) => {}
    }
    let mut names = std::collections::HashSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = format!("{path}.{list}[{i}]");
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() {
                causes.push(required(&format!("{field}.name"), ""));
            } else {
                for e in dns1123_label(name) {
                    causes.push(invalid(&format!("{field}.name"), &json!(name), &e));
                }
                if !names.insert(name.to_string()) {
                    causes.push(Cause {
                        reason: "FieldValueDuplicate",
                        message: format!("Duplicate value: {name:?}"),
                        field: format!("{field}.name"),
                    });
                }
            }
            if c.get("image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .is_empty()
            {
                causes.push(required(&format!("{field}.image"), ""));
            }
            if let Some(p) = c.get("imagePullPolicy")
                && !matches!(p.as_str(), Some("Always" | "IfNotPresent" | "Never"))
            {
                causes.push(not_supported(
                    &format!("{field}.imagePullPolicy"),
                    p,
                    &["Always", "IfNotPresent", "Never"],
                ));
            }
        }
    }
    if let Some(p) = spec.get("restartPolicy")
        && !matches!(p.as_str(), Some("Always" | "OnFailure" | "Never"))
    {
        causes.push(not_supported(
            &format!("{path}.restartPolicy"),
            p,
            &["Always", "OnFailure", "Never"],
        ));
    }
}

/// Upstream's DefaultTolerationSeconds admission (on by default): a pod
/// that does not tolerate the not-ready and unreachable NoExecute taints
/// gets 300 s tolerations for them, so a node going silent evicts its pods
/// after five minutes, not at once.
fn default_toleration_seconds(spec: &mut Value) {
    const TAINTS: [&str; 2] = [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ];
    let existing = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut added = Vec::new();
    for key in TAINTS {
        let tolerated = existing.iter().any(|t| {
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or_default();
            let toleration_key = t.get("key").and_then(Value::as_str).unwrap_or_default();
            (effect.is_empty() || effect == "NoExecute")
                && (toleration_key == key || toleration_key.is_empty())
        });
        if !tolerated {
            added.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                "tolerationSeconds": 300}),
            );
        }
    }
    if !added.is_empty() {
        let mut all = existing;
        all.extend(added);
        spec["tolerations"] = Value::Array(all);
    }
}

impl Strategy for PodStrategy {
    /// Scheduled pods that have not finished get their
    /// terminationGracePeriodSeconds (or the requested period) for the
    /// kubelet to stop them; the others go at once.
    fn deletion_grace_period(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        let mut period = requested
            .or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(0);
        let scheduled = !super::common::str_at(obj, "/spec/nodeName").is_empty();
        let finished = matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        if !scheduled || finished {
            period = 0;
        }
        Some(if period < 0 { 1 } else { period })
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        if !obj.get("spec").is_some_and(Value::is_object) {
            obj["spec"] = json!({});
        }
        if let Some(spec) = obj.get_mut("spec") {
            default_pod_spec(spec);
            // SetDefaults_Pod, not PodSpec: templates do not get it.
            default_if_missing(spec, "enableServiceLinks", json!(true));
            default_requests_to_limits(spec);
            default_toleration_seconds(spec);
        }
        obj["status"] = json!({"phase": "Pending", "qosClass": qos_class(obj)});
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        validate_pod_spec(obj.get("spec").unwrap_or(&Value::Null), "spec", &mut causes);
        causes
    }
    /// `pods/ephemeralcontainers` (upstream's podEphemeralContainersStrategy):
    /// only `spec.ephemeralContainers` changes, everything else stays as it was.
    fn prepare_for_subresource_update(&self, subresource: &str, new: &mut Value, old: &Value) {
        if subresource != "ephemeralcontainers" {
            return;
        }
        let mut ephemeral = new.pointer("/spec/ephemeralContainers").cloned();
        let metadata = new.get("metadata").cloned();
        *new = old.clone();
        if let Some(m) = metadata {
            new["metadata"] = m;
        }
        if let Some(list) = ephemeral.as_mut().and_then(Value::as_array_mut) {
            list.iter_mut().for_each(default_container);
        }
        match (
            ephemeral,
            new.get_mut("spec").and_then(Value::as_object_mut),
        ) {
            (Some(list), Some(spec)) => {
                spec.insert("ephemeralContainers".into(), list);
            }
            (None, Some(spec)) => {
                spec.remove("ephemeralContainers");
            }
            _ => {}
        }
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = self.validate(new);
        // Ephemeral containers may be added, never changed or removed.
        let ephemeral = |v: &Value| {
            v.pointer("/spec/ephemeralContainers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let (new_ephemeral, old_ephemeral) = (ephemeral(new), ephemeral(old));
        if !new_ephemeral.starts_with(&old_ephemeral) {
            causes.push(Cause {
                reason: "FieldValueForbidden",
                message: "Forbidden: existing ephemeral containers may not be changed".to_string(),
                field: "spec.ephemeralContainers".to_string(),
            });
        }
        // Only images, activeDeadlineSeconds, tolerations (additions) and
        // terminationGracePeriodSeconds may change; compare the rest.
        let strip = |v: &Value| {
            let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
            for list in ["containers", "initContainers"] {
                if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
                    for c in cs {
                        if let Some(m) = c.as_object_mut() {
                            m.remove("image");
                        }
                    }
                }
            }
            if let Some(m) = s.as_object_mut() {
                m.remove("ephemeralContainers");
                m.remove("activeDeadlineSeconds");
                m.remove("tolerations");
                m.remove("terminationGracePeriodSeconds");
            }
            s
        };
        if strip(new) != strip(old) {
            causes.push(Cause {
                reason: "FieldValueForbidden",
                message: "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".to_string(),
                field: "spec".to_string(),
            });
        }
        causes
    }
    fn selectable_fields(&self) -> &'static [&'static str] {
        &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "spec.hostNetwork" => Some(
                obj.pointer("/spec/hostNetwork")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string(),
            ),
            "status.podIPs" => pointer_str(obj, "/status/podIPs/0/ip"),
            f => pointer_str(obj, &format!("/{}", f.replace('.', "/"))),
        }
    }
    fn return_deleted_object(&self) -> bool {
        true
    }
}

/// A container's limit stands for its missing request of the same resource
/// (upstream's SetDefaults_Pod).
fn default_requests_to_limits(spec: &mut Value) {
    for list in ["containers", "initContainers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let Some(limits) = c
                .pointer("/resources/limits")
                .and_then(Value::as_object)
                .cloned()
            else {
                continue;
            };
            if !c["resources"].get("requests").is_some_and(Value::is_object) {
                c["resources"]["requests"] = json!({});
            }
            if let Some(requests) = c["resources"]["requests"].as_object_mut() {
                for (k, v) in limits {
                    requests.entry(k).or_insert(v);
                }
            }
        }
    }
}

/// Guaranteed, Burstable or BestEffort from the containers' resources.
pub(crate) fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|l| pod.pointer(&format!("/spec/{l}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let l = lim.and_then(|l| l.get(res));
            let r = req.and_then(|r| r.get(res)).or(l);
            if l.is_none() || r != l {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_like_upstream() {
        let mut pod = json!({"spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        PodStrategy.prepare_for_create(&mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
        assert_eq!(default_pull_policy("reg:5000/busybox:1.36"), "IfNotPresent");
        assert_eq!(default_pull_policy("reg:5000/busybox"), "Always");
    }

    #[test]
    fn missing_containers_and_image_are_invalid() {
        let causes = PodStrategy.validate(&json!({"spec": {}}));
        assert_eq!(causes[0].field, "spec.containers");
        let causes = PodStrategy.validate(&json!({"spec": {"containers": [{"name": "c"}]}}));
        assert_eq!(causes[0].field, "spec.containers[0].image");
        assert_eq!(causes[0].reason, "FieldValueRequired");
    }
}
