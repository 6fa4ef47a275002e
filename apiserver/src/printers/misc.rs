//! Smaller printers: Lease, PodDisruptionBudget, PriorityClass, RuntimeClass,
//! CertificateSigningRequest, APIService (kube-aggregator) and the admission
//! webhook configurations. Also chains to Events and HPAs.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::util::{age, arr_at, at, bool_at, human_duration, int_at, int_or_string, name, str_at};
use super::{AGE, Column, NAME, Printer, events, hpa};

static LEASE: [Column; 3] = [
    NAME,
    Column::new("Holder", "string", "Identity of the lease holder."),
    AGE,
];
static PDB: [Column; 5] = [
    NAME,
    Column::new("Min Available", "string", "Pods that must stay available."),
    Column::new("Max Unavailable", "string", "Pods that may be unavailable."),
    Column::new(
        "Allowed Disruptions",
        "integer",
        "Pod disruptions currently allowed.",
    ),
    AGE,
];
static PRIORITYCLASS: [Column; 5] = [
    NAME,
    Column::new("Value", "integer", "The priority value."),
    Column::new(
        "Global-Default",
        "boolean",
        "Whether this is the default priority class.",
    ),
    AGE,
    Column::new(
        "PreemptionPolicy",
        "string",
        "Whether pods of this class preempt others.",
    ),
];
static RUNTIMECLASS: [Column; 3] = [
    NAME,
    Column::new("Handler", "string", "The CRI handler."),
    AGE,
];
static CSR: [Column; 6] = [
    NAME,
    AGE,
    Column::new("SignerName", "string", "The requested signer."),
    Column::new("Requestor", "string", "The user who created the request."),
    Column::new(
        "RequestedDuration",
        "string",
        "Requested validity of the certificate.",
    ),
    Column::new("Condition", "string", "Approval and issuance state."),
];
static APISERVICE: [Column; 4] = [
    NAME,
    Column::new(
        "Service",
        "string",
        "The service serving this API, or Local.",
    ),
    Column::new("Available", "string", "Whether the API is available."),
    AGE,
];
static WEBHOOKS: [Column; 3] = [
    NAME,
    Column::new(
        "Webhooks",
        "integer",
        "Number of webhooks in the configuration.",
    ),
    AGE,
];

pub(super) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    match (group, kind) {
        ("coordination.k8s.io", "Lease") => Some((&LEASE, lease)),
        ("policy", "PodDisruptionBudget") => Some((&PDB, pdb)),
        ("scheduling.k8s.io", "PriorityClass") => Some((&PRIORITYCLASS, priorityclass)),
        ("node.k8s.io", "RuntimeClass") => Some((&RUNTIMECLASS, runtimeclass)),
        ("certificates.k8s.io", "CertificateSigningRequest") => Some((&CSR, csr)),
        ("apiregistration.k8s.io", "APIService") => Some((&APISERVICE, apiservice)),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => Some((&WEBHOOKS, webhooks)),
        _ => events::lookup(group, kind).or_else(|| hpa::lookup(group, kind)),
    }
}

fn lease(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "holderIdentity"])),
        json!(age(obj, now)),
    ]
}

fn pdb(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let or_na = |v: Option<&Value>| v.map_or_else(|| "N/A".to_string(), int_or_string);
    vec![
        json!(name(obj)),
        json!(or_na(at(obj, &["spec", "minAvailable"]))),
        json!(or_na(at(obj, &["spec", "maxUnavailable"]))),
        json!(int_at(obj, &["status", "disruptionsAllowed"])),
        json!(age(obj, now)),
    ]
}

fn priorityclass(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(int_at(obj, &["value"])),
        json!(bool_at(obj, &["globalDefault"]).unwrap_or(false)),
        json!(age(obj, now)),
        json!(str_at(obj, &["preemptionPolicy"])),
    ]
}

fn runtimeclass(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["handler"])),
        json!(age(obj, now)),
    ]
}

fn csr_condition(obj: &Value) -> String {
    let conds = arr_at(obj, &["status", "conditions"]);
    let has = |t: &str| conds.iter().any(|c| str_at(c, &["type"]) == t);
    let mut status = if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    }
    .to_string();
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(obj, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}

fn csr(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let signer = str_at(obj, &["spec", "signerName"]);
    let duration = match at(obj, &["spec", "expirationSeconds"]).and_then(Value::as_i64) {
        Some(s) => human_duration(Duration::seconds(s)),
        None => "<none>".to_string(),
    };
    vec![
        json!(name(obj)),
        json!(age(obj, now)),
        json!(if signer.is_empty() { "<none>" } else { signer }),
        json!(str_at(obj, &["spec", "username"])),
        json!(duration),
        json!(csr_condition(obj)),
    ]
}

fn apiservice(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let service = match at(obj, &["spec", "service"]) {
        Some(s) => format!("{}/{}", str_at(s, &["namespace"]), str_at(s, &["name"])),
        None => "Local".to_string(),
    };
    let available = match arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Available")
    {
        None => "Unknown".to_string(),
        Some(c) => {
            let status = str_at(c, &["status"]);
            let reason = str_at(c, &["reason"]);
            if status != "True" && !reason.is_empty() {
                format!("{status} ({reason})")
            } else {
                status.to_string()
            }
        }
    };
    vec![
        json!(name(obj)),
        json!(service),
        json!(available),
        json!(age(obj, now)),
    ]
}

fn webhooks(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(arr_at(obj, &["webhooks"]).len()),
        json!(age(obj, now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_shape;
    use serde_json::json;

    #[test]
    fn lease_pdb_priorityclass() {
        let l = json!({"metadata": {"name": "kube-scheduler", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"holderIdentity": "cp-1_0b6e"}});
        assert_eq!(
            assert_shape("coordination.k8s.io", "Lease", &l),
            vec![json!("kube-scheduler"), json!("cp-1_0b6e"), json!("60m")]
        );
        let free = json!({"metadata": {"name": "free"}, "spec": {}});
        assert_eq!(assert_shape("coordination.k8s.io", "Lease", &free)[1], "");
        let p = json!({"metadata": {"name": "web"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            assert_shape("policy", "PodDisruptionBudget", &p)[1..4],
            [json!("50%"), json!("N/A"), json!(1)]
        );
        let p2 = json!({"metadata": {"name": "db"}, "spec": {"maxUnavailable": 1}});
        assert_eq!(
            assert_shape("policy", "PodDisruptionBudget", &p2)[1..4],
            [json!("N/A"), json!("1"), json!(0)]
        );
        let pc = json!({"metadata": {"name": "system-node-critical"}, "value": 2000001000,
            "preemptionPolicy": "PreemptLowerPriority"});
        let c = assert_shape("scheduling.k8s.io", "PriorityClass", &pc);
        assert_eq!(
            (c[1].clone(), c[2].clone(), c[4].clone()),
            (
                json!(2000001000),
                json!(false),
                json!("PreemptLowerPriority")
            )
        );
    }

    #[test]
    fn csr_and_apiservice() {
        let csr = json!({"metadata": {"name": "csr-abc", "creationTimestamp": "2025-06-01T11:59:00Z"},
            "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet", "username": "system:node:n1",
                     "expirationSeconds": 86400},
            "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}});
        assert_eq!(
            assert_shape("certificates.k8s.io", "CertificateSigningRequest", &csr),
            vec![
                json!("csr-abc"),
                json!("60s"),
                json!("kubernetes.io/kube-apiserver-client-kubelet"),
                json!("system:node:n1"),
                json!("24h"),
                json!("Approved,Issued")
            ]
        );
        let pending = json!({"metadata": {"name": "p"}, "spec": {}});
        let c = assert_shape("certificates.k8s.io", "CertificateSigningRequest", &pending);
        assert_eq!(
            c[2..6],
            [
                json!("<none>"),
                json!(""),
                json!("<none>"),
                json!("Pending")
            ]
        );

        let local = json!({"metadata": {"name": "v1.apps"}, "spec": {"group": "apps", "version": "v1"},
            "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}});
        assert_eq!(
            assert_shape("apiregistration.k8s.io", "APIService", &local)[1..3],
            [json!("Local"), json!("True")]
        );
        let remote = json!({"metadata": {"name": "v1beta1.metrics.k8s.io"},
            "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
            "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}});
        assert_eq!(
            assert_shape("apiregistration.k8s.io", "APIService", &remote)[1..3],
            [
                json!("kube-system/metrics-server"),
                json!("False (MissingEndpoints)")
            ]
        );
        let fresh = json!({"metadata": {"name": "x"}, "spec": {"service": {"namespace": "a", "name": "b"}}});
        assert_eq!(
            assert_shape("apiregistration.k8s.io", "APIService", &fresh)[2],
            "Unknown"
        );
    }

    #[test]
    fn webhooks_and_runtimeclass() {
        let w = json!({"metadata": {"name": "w"}, "webhooks": [{"name": "a.example.com"}, {"name": "b.example.com"}]});
        assert_eq!(
            assert_shape(
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
                &w
            )[1],
            2
        );
        let rc = json!({"metadata": {"name": "gvisor"}, "handler": "runsc"});
        assert_eq!(assert_shape("node.k8s.io", "RuntimeClass", &rc)[1], "runsc");
    }
}
