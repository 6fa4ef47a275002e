//! Core-group printers: Node, Namespace, ConfigMap, Secret, ServiceAccount,
//! ResourceQuota, PodTemplate. (Pods are in pod.rs, Services in network.rs,
//! volumes in storage.rs, ReplicationControllers in apps.rs, Events in misc.rs.)

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::util::{
    age, arr_at, at, bool_at, container_cells, format_labels, int_or_string, map_len, name, str_at,
};
use super::{AGE, CONTAINERS_DESC, Column, IMAGES_DESC, NAME, Printer};

static NODE: [Column; 10] = [
    NAME,
    Column::new("Status", "string", "The status of the node."),
    Column::new("Roles", "string", "The roles of the node."),
    AGE,
    Column::new("Version", "string", "Kubelet version reported by the node."),
    Column::wide(
        "Internal-IP",
        "string",
        "The node's first InternalIP address.",
    ),
    Column::wide(
        "External-IP",
        "string",
        "The node's first ExternalIP address.",
    ),
    Column::wide("OS-Image", "string", "OS image reported by the node."),
    Column::wide(
        "Kernel-Version",
        "string",
        "Kernel version reported by the node.",
    ),
    Column::wide(
        "Container-Runtime",
        "string",
        "Container runtime and version reported by the node.",
    ),
];
static NAMESPACE: [Column; 3] = [
    NAME,
    Column::new("Status", "string", "The phase of the namespace."),
    AGE,
];
static CONFIGMAP: [Column; 3] = [
    NAME,
    Column::new("Data", "string", "Number of data and binaryData keys."),
    AGE,
];
static SECRET: [Column; 4] = [
    NAME,
    Column::new("Type", "string", "The secret type."),
    Column::new("Data", "string", "Number of data keys."),
    AGE,
];
static SERVICEACCOUNT: [Column; 3] = [
    NAME,
    Column::new(
        "Secrets",
        "string",
        "Number of secrets referenced by the service account.",
    ),
    AGE,
];
static RESOURCEQUOTA: [Column; 4] = [
    NAME,
    Column::new(
        "Request",
        "string",
        "Used/hard for each non-limit resource in the quota.",
    ),
    Column::new(
        "Limit",
        "string",
        "Used/hard for each limits.* resource in the quota.",
    ),
    AGE,
];
static PODTEMPLATE: [Column; 4] = [
    NAME,
    Column::new("Containers", "string", CONTAINERS_DESC),
    Column::new("Images", "string", IMAGES_DESC),
    Column::new("Pod Labels", "string", "Labels of the pod template."),
];

pub(super) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    if !group.is_empty() {
        return None;
    }
    match kind {
        "Node" => Some((&NODE, node)),
        "Namespace" => Some((&NAMESPACE, namespace)),
        "ConfigMap" => Some((&CONFIGMAP, configmap)),
        "Secret" => Some((&SECRET, secret)),
        "ServiceAccount" => Some((&SERVICEACCOUNT, serviceaccount)),
        "ResourceQuota" => Some((&RESOURCEQUOTA, resourcequota)),
        "PodTemplate" => Some((&PODTEMPLATE, podtemplate)),
        _ => None,
    }
}

const ROLE_LABEL_PREFIX: &str = "node-role.kubernetes.io/";
const ROLE_LABEL: &str = "kubernetes.io/role";

/// Roles from `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role` value, sorted.
fn node_roles(obj: &Value) -> String {
    let mut roles = BTreeSet::new();
    if let Some(labels) = at(obj, &["metadata", "labels"]).and_then(Value::as_object) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix(ROLE_LABEL_PREFIX) {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if let Some(v) = v.as_str().filter(|v| k == ROLE_LABEL && !v.is_empty()) {
                roles.insert(v.to_string());
            }
        }
    }
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn node_address(obj: &Value, type_: &str) -> String {
    arr_at(obj, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == type_)
        .map_or_else(
            || "<none>".to_string(),
            |a| str_at(a, &["address"]).to_string(),
        )
}

fn node(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Only the Ready condition is shown; a later duplicate wins, as in upstream's map.
    let ready = arr_at(obj, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(obj, &["spec", "unschedulable"]) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let info = |field: &str| {
        let v = str_at(obj, &["status", "nodeInfo", field]);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        json!(name(obj)),
        json!(status.join(",")),
        json!(node_roles(obj)),
        json!(age(obj, now)),
        json!(str_at(obj, &["status", "nodeInfo", "kubeletVersion"])),
        json!(node_address(obj, "InternalIP")),
        json!(node_address(obj, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

fn namespace(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["status", "phase"])),
        json!(age(obj, now)),
    ]
}

fn configmap(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let n = map_len(obj, &["data"]) + map_len(obj, &["binaryData"]);
    vec![json!(name(obj)), json!(n), json!(age(obj, now))]
}

fn secret(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["type"])),
        json!(map_len(obj, &["data"])),
        json!(age(obj, now)),
    ]
}

fn serviceaccount(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(arr_at(obj, &["secrets"]).len()),
        json!(age(obj, now)),
    ]
}

fn resourcequota(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut request = Vec::new();
    let mut limit = Vec::new();
    if let Some(hard) = at(obj, &["status", "hard"]).and_then(Value::as_object) {
        let mut names: Vec<&String> = hard.keys().collect();
        names.sort();
        for res in names {
            let used = at(obj, &["status", "used", res.as_str()])
                .map_or_else(|| "0".to_string(), int_or_string);
            let hard_q = hard
                .get(res.as_str())
                .map(int_or_string)
                .unwrap_or_default();
            let text = format!("{res}: {used}/{hard_q}");
            let is_limit = res.split('.').count() > 1 && res.split('.').next() == Some("limits");
            if is_limit {
                limit.push(text);
            } else {
                request.push(text);
            }
        }
    }
    vec![
        json!(name(obj)),
        json!(request.join(", ")),
        json!(limit.join(", ")),
        json!(age(obj, now)),
    ]
}

fn podtemplate(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(obj, &["template", "spec", "containers"]));
    vec![
        json!(name(obj)),
        json!(names),
        json!(images),
        json!(format_labels(at(obj, &["template", "metadata", "labels"]))),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_shape;
    use serde_json::{Value, json};

    #[test]
    fn node_roles_and_status() {
        let node = json!({
            "metadata": {"name": "cp-1", "creationTimestamp": "2025-05-01T12:00:00Z",
                "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true",
                           "kubernetes.io/role": "master", "node-role.kubernetes.io/": "x", "kubernetes.io/os": "linux"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "cp-1"}, {"type": "InternalIP", "address": "192.168.1.10"}],
                "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Ubuntu 24.04 LTS", "kernelVersion": "6.8.0",
                             "containerRuntimeVersion": "containerd://2.0.5"}}
        });
        assert_eq!(
            assert_shape("", "Node", &node),
            vec![
                json!("cp-1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,etcd,master"),
                json!("31d"),
                json!("v1.33.1"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Ubuntu 24.04 LTS"),
                json!("6.8.0"),
                json!("containerd://2.0.5")
            ]
        );
        let bare = json!({"metadata": {"name": "w"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        let c = assert_shape("", "Node", &bare);
        assert_eq!(
            c[1..5],
            [
                json!("NotReady"),
                json!("<none>"),
                json!("<unknown>"),
                json!("")
            ]
        );
        assert_eq!(c[7], "<unknown>");
        let none = json!({"metadata": {"name": "n"}});
        assert_eq!(assert_shape("", "Node", &none)[1], "Unknown");
    }

    #[test]
    fn namespace_configmap_secret_sa() {
        let ns = json!({"metadata": {"name": "dev", "creationTimestamp": "2025-06-01T11:59:50Z"}, "status": {"phase": "Active"}});
        assert_eq!(
            assert_shape("", "Namespace", &ns),
            vec![json!("dev"), json!("Active"), json!("10s")]
        );
        let cm = json!({"metadata": {"name": "cfg", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(
            assert_shape("", "ConfigMap", &cm),
            vec![json!("cfg"), json!(3), json!("60m")]
        );
        let s = json!({"metadata": {"name": "tls", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            assert_shape("", "Secret", &s),
            vec![
                json!("tls"),
                json!("kubernetes.io/tls"),
                json!(2),
                json!("60m")
            ]
        );
        let sa =
            json!({"metadata": {"name": "default", "creationTimestamp": "2025-06-01T11:00:00Z"}});
        assert_eq!(
            assert_shape("", "ServiceAccount", &sa),
            vec![json!("default"), json!(0), json!("60m")]
        );
    }

    #[test]
    fn resource_quota_columns() {
        let rq = json!({"metadata": {"name": "q", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "status": {"hard": {"pods": "10", "requests.cpu": "4", "limits.memory": "8Gi", "limits.cpu": "8"},
                       "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "1"}}});
        let c: Vec<Value> = assert_shape("", "ResourceQuota", &rq);
        assert_eq!(c[1], "pods: 3/10, requests.cpu: 500m/4");
        assert_eq!(c[2], "limits.cpu: 1/8, limits.memory: 0/8Gi");
        assert_eq!(c[3], "60m");
    }

    #[test]
    fn pod_template() {
        let pt = json!({"metadata": {"name": "t"}, "template": {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "a", "image": "i1"}, {"name": "b", "image": "i2"}]}}});
        assert_eq!(
            assert_shape("", "PodTemplate", &pt),
            vec![json!("t"), json!("a,b"), json!("i1,i2"), json!("app=x")]
        );
    }
}
