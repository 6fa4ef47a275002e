//! ResourceQuota accounting, shared like upstream's
//! `pkg/quota/v1/evaluator/core` by the quota controller (which sums
//! `status.used`) and the API server's quota admission (which charges a new
//! object before it is stored): which objects a quota resource name counts,
//! what one object uses of each name, which objects a quota's scopes cover,
//! and the text of a summed quantity. Objects are JSON as the API serves
//! them; amounts are in milli-units (see `quantity`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::quantity::milli_value;

/// What one object uses: quota resource name -> milli-units.
pub type Usage = BTreeMap<String, i64>;

const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";

/// Compute resource names a pod is charged for, besides extended
/// resources (`requests.<domain>/<name>`) and huge pages.
const POD_COMPUTE: [&str; 10] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
];

/// The resource (`(group, plural)`) whose objects the quota resource name
/// `name` counts, or None for a name no evaluator knows.
pub fn counted_resource(name: &str) -> Option<(String, String)> {
    let core = |plural: &str| Some((String::new(), plural.to_string()));
    if let Some(rest) = name.strip_prefix("count/") {
        return match rest.split_once('.') {
            Some((plural, group)) => Some((group.to_string(), plural.to_string())),
            None => core(rest),
        };
    }
    match name {
        "services" | "services.nodeports" | "services.loadbalancers" => core("services"),
        "secrets" | "configmaps" | "replicationcontrollers" | "resourcequotas" => core(name),
        "persistentvolumeclaims" | "requests.storage" => core("persistentvolumeclaims"),
        n if n.contains(STORAGE_CLASS_SUFFIX) => core("persistentvolumeclaims"),
        n if POD_COMPUTE.contains(&n) => core("pods"),
        n if n.starts_with("hugepages-") || n.starts_with("requests.hugepages-") => core("pods"),
        n if n
            .strip_prefix("requests.")
            .is_some_and(is_extended_resource) =>
        {
            core("pods")
        }
        _ => None,
    }
}

/// Whether `name` of an object of `(group, plural)` is charged for.
pub fn tracks(group: &str, plural: &str, name: &str) -> bool {
    counted_resource(name).is_some_and(|(g, p)| g == group && p == plural)
}

/// Upstream's `IsExtendedResourceName`: a domain-prefixed name outside
/// `kubernetes.io/`.
fn is_extended_resource(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.")
}

/// What the object `obj` of `(group, plural)` uses of every name it is
/// charged for (the names with no amount are absent).
pub fn usage(group: &str, plural: &str, obj: &Value) -> Usage {
    let mut used = Usage::new();
    let count_name = if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    };
    // Object counts track everything in storage, terminal pods included.
    used.insert(count_name, 1000);
    match (group, plural) {
        ("", "pods") => pod_usage(obj, &mut used),
        ("", "services") => service_usage(obj, &mut used),
        ("", "persistentvolumeclaims") => claim_usage(obj, &mut used),
        ("", "secrets" | "configmaps" | "replicationcontrollers" | "resourcequotas") => {
            used.insert(plural.to_string(), 1000);
        }
        _ => {}
    }
    used
}

/// Terminal pods use no compute and no `pods` (upstream's `QuotaV1Pod`).
fn pod_is_live(pod: &Value) -> bool {
    !matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

fn containers<'a>(pod: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Amounts of one container's `requests` (defaulted from `limits`, as the
/// API server defaults them) or `limits`.
fn container_amounts(c: &Value, limits: bool) -> BTreeMap<String, i64> {
    let read = |field: &str| -> BTreeMap<String, i64> {
        c.pointer(&format!("/resources/{field}"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), milli_value(v.as_str()?)?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    if limits {
        return read("limits");
    }
    let mut amounts = read("limits");
    amounts.extend(read("requests"));
    amounts
}

/// A pod's effective requests or limits (upstream's `PodRequests` /
/// `PodLimits`): the sum over containers and restartable init containers,
/// at least each one-off init container's amount, plus the overhead.
fn pod_amounts(pod: &Value, limits: bool) -> BTreeMap<String, i64> {
    let mut sum: BTreeMap<String, i64> = BTreeMap::new();
    let add = |to: &mut BTreeMap<String, i64>, from: BTreeMap<String, i64>| {
        for (k, v) in from {
            *to.entry(k).or_default() += v;
        }
    };
    for c in containers(pod, "containers") {
        add(&mut sum, container_amounts(c, limits));
    }
    let mut sidecars: BTreeMap<String, i64> = BTreeMap::new();
    for c in containers(pod, "initContainers") {
        let amounts = container_amounts(c, limits);
        if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            add(&mut sidecars, amounts.clone());
            add(&mut sum, amounts);
        } else {
            // A one-off init container runs beside the sidecars started before it.
            for (k, v) in amounts {
                let with_sidecars = v + sidecars.get(&k).copied().unwrap_or(0);
                let e = sum.entry(k).or_default();
                *e = (*e).max(with_sidecars);
            }
        }
    }
    if let Some(overhead) = pod.pointer("/spec/overhead").and_then(Value::as_object) {
        for (k, v) in overhead {
            if let Some(m) = v.as_str().and_then(milli_value) {
                *sum.entry(k.clone()).or_default() += m;
            }
        }
    }
    sum
}

fn pod_usage(pod: &Value, used: &mut Usage) {
    if !pod_is_live(pod) {
        return;
    }
    used.insert("pods".into(), 1000);
    for (resource, amount) in pod_amounts(pod, false) {
        match resource.as_str() {
            "cpu" | "memory" | "ephemeral-storage" => {
                used.insert(resource.clone(), amount);
                used.insert(format!("requests.{resource}"), amount);
            }
            r if r.starts_with("hugepages-") => {
                used.insert(format!("requests.{r}"), amount);
            }
            r if is_extended_resource(r) => {
                used.insert(format!("requests.{r}"), amount);
            }
            _ => {}
        }
    }
    for (resource, amount) in pod_amounts(pod, true) {
        if matches!(resource.as_str(), "cpu" | "memory" | "ephemeral-storage") {
            used.insert(format!("limits.{resource}"), amount);
        }
    }
}

fn service_usage(svc: &Value, used: &mut Usage) {
    used.insert("services".into(), 1000);
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    match svc.pointer("/spec/type").and_then(Value::as_str) {
        Some("NodePort") => {
            used.insert("services.nodeports".into(), ports.len() as i64 * 1000);
        }
        Some("LoadBalancer") => {
            used.insert("services.loadbalancers".into(), 1000);
            // Without node port allocation only explicit node ports count.
            let allocate = svc
                .pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let n = if allocate {
                ports.len()
            } else {
                ports.iter().filter(|p| p.get("nodePort").is_some()).count()
            };
            used.insert("services.nodeports".into(), n as i64 * 1000);
        }
        _ => {}
    }
}

fn claim_usage(claim: &Value, used: &mut Usage) {
    used.insert("persistentvolumeclaims".into(), 1000);
    let storage = claim
        .pointer("/spec/resources/requests/storage")
        .and_then(Value::as_str)
        .and_then(milli_value);
    if let Some(s) = storage {
        used.insert("requests.storage".into(), s);
    }
    if let Some(class) = claim
        .pointer("/spec/storageClassName")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    {
        used.insert(
            format!("{class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
            1000,
        );
        if let Some(s) = storage {
            used.insert(format!("{class}{STORAGE_CLASS_SUFFIX}requests.storage"), s);
        }
    }
}

/// One scope requirement of a quota (`spec.scopes` entries are `Exists`).
struct Scope<'a> {
    name: &'a str,
    operator: &'a str,
    values: Vec<&'a str>,
}

fn scopes(spec: &Value) -> Vec<Scope<'_>> {
    let mut out: Vec<Scope<'_>> = spec
        .get("scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|name| Scope {
            name,
            operator: "Exists",
            values: Vec::new(),
        })
        .collect();
    let expressions = spec
        .pointer("/scopeSelector/matchExpressions")
        .and_then(Value::as_array);
    for e in expressions.into_iter().flatten() {
        out.push(Scope {
            name: e.get("scopeName").and_then(Value::as_str).unwrap_or(""),
            operator: e.get("operator").and_then(Value::as_str).unwrap_or(""),
            values: e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect(),
        });
    }
    out
}

/// Whether a quota with `spec` covers the object: every scope must match,
/// and only pods match scopes (upstream's `Matches` with the pod
/// evaluator's scope function; the other evaluators match no scope).
pub fn scopes_match(spec: &Value, group: &str, plural: &str, obj: &Value) -> bool {
    let scopes = scopes(spec);
    if scopes.is_empty() {
        return true;
    }
    if (group, plural) != ("", "pods") {
        return false;
    }
    scopes.iter().all(|s| pod_matches_scope(obj, s))
}

fn pod_matches_scope(pod: &Value, scope: &Scope<'_>) -> bool {
    let terminating = pod
        .pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|s| s >= 0);
    let matched = match scope.name {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => is_best_effort(pod),
        "NotBestEffort" => !is_best_effort(pod),
        "PriorityClass" => {
            let class = pod
                .pointer("/spec/priorityClassName")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty());
            return match (scope.operator, class) {
                ("Exists", c) => c.is_some(),
                ("DoesNotExist", c) => c.is_none(),
                ("In", Some(c)) => scope.values.contains(&c),
                ("NotIn", Some(c)) => !scope.values.contains(&c),
                ("NotIn", None) => true,
                _ => false,
            };
        }
        _ => return false,
    };
    match scope.operator {
        "Exists" | "" => matched,
        "DoesNotExist" => !matched,
        _ => false,
    }
}

/// QoS class BestEffort: no container asks for or limits cpu or memory.
fn is_best_effort(pod: &Value) -> bool {
    containers(pod, "containers")
        .chain(containers(pod, "initContainers"))
        .all(|c| {
            ["requests", "limits"].iter().all(|field| {
                c.pointer(&format!("/resources/{field}"))
                    .and_then(Value::as_object)
                    .is_none_or(|m| {
                        ["cpu", "memory"].iter().all(|r| {
                            m.get(*r)
                                .and_then(Value::as_str)
                                .and_then(milli_value)
                                .is_none_or(|v| v == 0)
                        })
                    })
            })
        })
}

/// The text of an amount of `resource`: millicores or cores for cpu,
/// binary suffixes for whole multiples of Ki/Mi/Gi/Ti, plain numbers
/// otherwise ("1500m", "2", "252Mi", "5").
pub fn format(resource: &str, milli: i64) -> String {
    let cpu = resource == "cpu" || resource.ends_with(".cpu");
    if milli == 0 {
        return "0".into();
    }
    if cpu || milli % 1000 != 0 {
        return if milli % 1000 == 0 {
            (milli / 1000).to_string()
        } else {
            format!("{milli}m")
        };
    }
    let units = milli / 1000;
    for (suffix, size) in [
        ("Ti", 1i64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if units % size == 0 {
            return format!("{}{suffix}", units / size);
        }
    }
    units.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(resources: Value) -> Value {
        json!({"spec": {"containers": [{"name": "c", "resources": resources}]}})
    }

    #[test]
    fn names_map_to_resources() {
        let core = |p: &str| Some((String::new(), p.to_string()));
        assert_eq!(counted_resource("pods"), core("pods"));
        assert_eq!(
            counted_resource("requests.example.com/dongle"),
            core("pods")
        );
        assert_eq!(
            counted_resource("requests.storage"),
            core("persistentvolumeclaims")
        );
        assert_eq!(
            counted_resource("gold.storageclass.storage.k8s.io/requests.storage"),
            core("persistentvolumeclaims")
        );
        assert_eq!(
            counted_resource("count/replicasets.apps"),
            Some(("apps".into(), "replicasets".into()))
        );
        assert_eq!(counted_resource("services.nodeports"), core("services"));
        assert_eq!(counted_resource("requests.nonsense"), None);
        assert!(tracks("", "pods", "limits.memory"));
        assert!(!tracks("", "services", "pods"));
    }

    #[test]
    fn pod_usage_counts_requests_limits_and_extended_resources() {
        let p = pod(json!({
            "requests": {"cpu": "500m", "memory": "252Mi", "example.com/dongle": "2"},
            "limits": {"example.com/dongle": "2", "cpu": "1"}
        }));
        let u = usage("", "pods", &p);
        assert_eq!(u["pods"], 1000);
        assert_eq!(u["count/pods"], 1000);
        assert_eq!(u["cpu"], 500);
        assert_eq!(u["requests.memory"], (252i64 << 20) * 1000);
        assert_eq!(u["requests.example.com/dongle"], 2000);
        assert_eq!(u["limits.cpu"], 1000);
        assert!(!u.contains_key("limits.memory"));
        let mut done = p.clone();
        done["status"] = json!({"phase": "Succeeded"});
        let u = usage("", "pods", &done);
        assert_eq!(u.get("pods"), None);
        assert_eq!(u["count/pods"], 1000);
    }

    #[test]
    fn init_containers_count_at_their_peak() {
        let p = json!({"spec": {
            "containers": [{"resources": {"requests": {"cpu": "100m"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "1"}}}]
        }});
        assert_eq!(usage("", "pods", &p)["cpu"], 1000);
    }

    #[test]
    fn service_node_ports() {
        let np = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        assert_eq!(usage("", "services", &np)["services.nodeports"], 1000);
        let lb = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
            "allocateLoadBalancerNodePorts": false}});
        let u = usage("", "services", &lb);
        assert_eq!(u["services.loadbalancers"], 1000);
        assert_eq!(u["services.nodeports"], 0);
    }

    #[test]
    fn scopes_select_pods() {
        let best_effort = pod(json!({}));
        let burstable = pod(json!({"requests": {"cpu": "1"}}));
        let mut terminating = burstable.clone();
        terminating["spec"]["activeDeadlineSeconds"] = json!(3600);
        let spec = |scope: &str| json!({"scopes": [scope]});
        assert!(scopes_match(&spec("BestEffort"), "", "pods", &best_effort));
        assert!(!scopes_match(&spec("BestEffort"), "", "pods", &burstable));
        assert!(scopes_match(&spec("NotBestEffort"), "", "pods", &burstable));
        assert!(scopes_match(&spec("Terminating"), "", "pods", &terminating));
        assert!(!scopes_match(&spec("Terminating"), "", "pods", &burstable));
        assert!(scopes_match(
            &spec("NotTerminating"),
            "",
            "pods",
            &burstable
        ));
        assert!(!scopes_match(
            &spec("NotTerminating"),
            "",
            "services",
            &json!({})
        ));
        assert!(scopes_match(&json!({}), "", "services", &json!({})));
        let by_class = json!({"scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
        ]}});
        let mut high = burstable.clone();
        high["spec"]["priorityClassName"] = json!("high");
        assert!(scopes_match(&by_class, "", "pods", &high));
        assert!(!scopes_match(&by_class, "", "pods", &burstable));
    }

    #[test]
    fn formats_like_quantities() {
        assert_eq!(format("cpu", 1500), "1500m");
        assert_eq!(format("requests.cpu", 2000), "2");
        assert_eq!(format("memory", (512 << 20) * 2000), "1Gi");
        assert_eq!(format("pods", 3000), "3");
        assert_eq!(format("pods", 0), "0");
    }
}
