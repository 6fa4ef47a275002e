//! Small core/v1 and coordination kinds: Node (podCIDR(s), providerID and
//! `spec.unschedulable` selector; status as sent), Endpoints (port
//! defaults and checks), PersistentVolumeClaim (access modes, storage
//! request, immutable spec), ServiceAccount and Lease.

use serde_json::{Value, json};

use super::Strategy;
use super::common::{bool_field, default_if_missing, i64_at, object_at, str_at};
use crate::error::Cause;
use crate::validation::{forbidden, invalid, not_supported, required};

pub struct NodeStrategy;
pub struct EndpointsStrategy;
pub struct PvcStrategy;
pub struct PvStrategy;
pub struct ServiceAccountStrategy;
pub struct LeaseStrategy;

fn valid_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.parse::<u32>().is_ok_and(|p| p <= max)
}

const CIDR_MSG: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

// ---------------------------------------------------------------------- Node

/// podCIDR and podCIDRs[0] agree (the v1 conversion keeps them in step).
fn sync_pod_cidrs(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    let cidr = str_at(spec, "/podCIDR").to_string();
    let has_list = spec
        .get("podCIDRs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if !cidr.is_empty() && !has_list {
        spec["podCIDRs"] = json!([cidr]);
    } else if cidr.is_empty()
        && has_list
        && let Some(first) = spec.pointer("/podCIDRs/0").cloned()
    {
        spec["podCIDR"] = first;
    }
}

fn pod_cidrs(obj: &Value) -> Vec<String> {
    obj.pointer("/spec/podCIDRs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

fn validate_node(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let cidrs = pod_cidrs(obj);
    for (i, c) in cidrs.iter().enumerate() {
        if !valid_cidr(c) {
            causes.push(invalid(&format!("spec.podCIDRs[{i}]"), &json!(c), CIDR_MSG));
        }
    }
    if cidrs.len() > 1 {
        let v4 = cidrs.iter().filter(|c| !c.contains(':')).count();
        if cidrs.len() > 2 || v4 != 1 {
            causes.push(Cause {
                reason: "FieldValueInvalid",
                message: format!(
                    "Invalid value: {}: may specify no more than one CIDR for each IP family",
                    super::common::go_string_slice(obj.pointer("/spec/podCIDRs"))
                ),
                field: "spec.podCIDRs".to_string(),
            });
        }
    }
    if let Some(taints) = obj.pointer("/spec/taints").and_then(Value::as_array) {
        for (i, t) in taints.iter().enumerate() {
            let effect = t.get("effect").cloned().unwrap_or(json!(""));
            if effect == "" {
                causes.push(required(&format!("metadata.taints[{i}].effect"), ""));
            } else if !matches!(
                effect.as_str(),
                Some("NoSchedule" | "PreferNoSchedule" | "NoExecute")
            ) {
                causes.push(not_supported(
                    &format!("metadata.taints[{i}].effect"),
                    &effect,
                    &["NoExecute", "NoSchedule", "PreferNoSchedule"],
                ));
            }
        }
    }
    causes
}

impl Strategy for NodeStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        sync_pod_cidrs(obj);
        // SetDefaults_NodeStatus: allocatable defaults to capacity.
        if let Some(status) = obj.get_mut("status").filter(|s| s.is_object())
            && let Some(capacity) = status.get("capacity").cloned()
        {
            default_if_missing(status, "allocatable", capacity);
        }
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        sync_pod_cidrs(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_node(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = validate_node(new);
        let old_cidrs = pod_cidrs(old);
        if !old_cidrs.is_empty() {
            let new_cidrs = pod_cidrs(new);
            let msg = "node updates may not change podCIDR except from \"\" to valid";
            if old_cidrs.len() != new_cidrs.len() {
                causes.push(forbidden("spec.podCIDRs", msg));
            } else {
                for (o, n) in old_cidrs.iter().zip(&new_cidrs) {
                    if o != n {
                        causes.push(forbidden("spec.podCIDRs", msg));
                    }
                }
            }
        }
        let old_provider = str_at(old, "/spec/providerID");
        if !old_provider.is_empty() && old_provider != str_at(new, "/spec/providerID") {
            causes.push(forbidden(
                "spec.providerID",
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        if str_at(old, "/spec/externalID") != str_at(new, "/spec/externalID") {
            causes.push(forbidden("spec.externalID", "may not be updated"));
        }
        causes
    }
    fn selectable_fields(&self) -> &'static [&'static str] {
        &["spec.unschedulable"]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "spec.unschedulable")
            .then(|| bool_field(obj, "/spec/unschedulable"))
            .flatten()
    }
}

// ----------------------------------------------------------------- Endpoints

fn default_endpoints(obj: &mut Value) {
    if let Some(subsets) = obj.get_mut("subsets").and_then(Value::as_array_mut) {
        for ss in subsets.iter_mut() {
            if let Some(ports) = ss.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter(|p| p.is_object()) {
                    if str_at(p, "/protocol").is_empty() {
                        p["protocol"] = json!("TCP");
                    }
                }
            }
        }
    }
}

fn validate_endpoints(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (i, ss) in obj
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("subsets[{i}]");
        for list in ["addresses", "notReadyAddresses"] {
            for (j, a) in ss
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let ip = str_at(a, "/ip");
                if ip.parse::<std::net::IpAddr>().is_err() {
                    causes.push(invalid(
                        &format!("{path}.{list}[{j}].ip"),
                        &json!(ip),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ));
                }
            }
        }
        let ports = ss.get("ports").and_then(Value::as_array);
        let multiple = ports.is_some_and(|p| p.len() > 1);
        for (j, p) in ports.into_iter().flatten().enumerate() {
            let pp = format!("{path}.ports[{j}]");
            if multiple && str_at(p, "/name").is_empty() {
                causes.push(required(&format!("{pp}.name"), ""));
            }
            let port = i64_at(p, "/port").unwrap_or(0);
            if !(1..=65535).contains(&port) {
                causes.push(invalid(
                    &format!("{pp}.port"),
                    &json!(port),
                    "must be between 1 and 65535, inclusive",
                ));
            }
            let proto = p.get("protocol").cloned().unwrap_or(json!(""));
            if proto == "" {
                causes.push(required(&format!("{pp}.protocol"), ""));
            } else if !matches!(proto.as_str(), Some("TCP" | "UDP" | "SCTP")) {
                causes.push(not_supported(
                    &format!("{pp}.protocol"),
                    &proto,
                    &["SCTP", "TCP", "UDP"],
                ));
            }
        }
    }
    causes
}

impl Strategy for EndpointsStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        default_endpoints(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_endpoints(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_endpoints(obj)
    }
}

// ---------------------------------------------------------- PersistentVolume

/// `spec.accessModes` of a PV or PVC: at least one (`missing` is the
/// Required message, which differs between the two), each a known mode.
fn validate_access_modes(spec: &Value, missing: &str, causes: &mut Vec<Cause>) {
    let modes = spec.get("accessModes").and_then(Value::as_array);
    if modes.is_none_or(|m| m.is_empty()) {
        causes.push(required("spec.accessModes", missing));
    }
    for m in modes.into_iter().flatten() {
        if !m.as_str().is_some_and(|s| ACCESS_MODES.contains(&s)) {
            causes.push(not_supported("spec.accessModes", m, &ACCESS_MODES));
        }
    }
}

/// `spec.volumeMode` of a PV or PVC, when set.
fn validate_volume_mode(spec: &Value, causes: &mut Vec<Cause>) {
    if let Some(mode) = spec.get("volumeMode").filter(|v| !v.is_null())
        && !matches!(mode.as_str(), Some("Block" | "Filesystem"))
    {
        causes.push(not_supported(
            "spec.volumeMode",
            mode,
            &["Block", "Filesystem"],
        ));
    }
}

/// The volume sources a PersistentVolume may name (exactly one).
const PV_SOURCES: &[&str] = &[
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "hostPath",
    "iscsi",
    "local",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
];

/// `SetDefaults_PersistentVolume`: static volumes are retained.
fn default_pv(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    default_if_missing(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
    default_if_missing(spec, "volumeMode", json!("Filesystem"));
}

fn validate_pv(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    validate_access_modes(spec, "", &mut causes);
    match spec.pointer("/capacity/storage") {
        None => causes.push(required("spec.capacity", "")),
        Some(q) if quantity_positive(q) != Some(true) => causes.push(invalid(
            "spec.capacity[storage]",
            q,
            "must be greater than zero",
        )),
        Some(_) => {}
    }
    let sources = PV_SOURCES
        .iter()
        .filter(|s| spec.get(**s).is_some_and(|v| !v.is_null()))
        .count();
    if sources == 0 {
        causes.push(required("spec", "must specify a volume type"));
    } else if sources > 1 {
        causes.push(forbidden("spec", "may not specify more than 1 volume type"));
    }
    if let Some(policy) = spec
        .get("persistentVolumeReclaimPolicy")
        .filter(|v| !v.is_null())
        && !matches!(policy.as_str(), Some("Delete" | "Recycle" | "Retain"))
    {
        causes.push(not_supported(
            "spec.persistentVolumeReclaimPolicy",
            policy,
            &["Delete", "Recycle", "Retain"],
        ));
    }
    validate_volume_mode(spec, &mut causes);
    causes
}

impl Strategy for PvStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        default_pv(obj);
        obj["status"] = json!({
            "phase": "Pending",
            "lastPhaseTransitionTime": crate::meta::now_rfc3339(),
        });
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_pv(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_pv(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = validate_pv(new);
        if new.pointer("/spec/volumeMode") != old.pointer("/spec/volumeMode") {
            causes.push(invalid(
                "spec.volumeMode",
                new.pointer("/spec/volumeMode").unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
        causes
    }
}

// ----------------------------------------------------- PersistentVolumeClaim

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

fn default_pvc(obj: &mut Value) {
    default_if_missing(object_at(obj, "spec"), "volumeMode", json!("Filesystem"));
}

/// A Kubernetes quantity's sign: `Some(true)` when > 0 (`None` if unparsable).
fn quantity_positive(q: &Value) -> Option<bool> {
    let s = match q {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let num: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-'))
        .collect();
    let v: f64 = num.parse().ok()?;
    Some(v > 0.0)
}

fn validate_pvc(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    validate_access_modes(spec, "at least 1 access mode is required", &mut causes);
    match spec.pointer("/resources/requests/storage") {
        None => causes.push(required("spec.resources[storage]", "")),
        Some(q) => {
            if quantity_positive(q) != Some(true) {
                let rendered = match q {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                causes.push(invalid(
                    "spec.resources[storage]",
                    &json!(rendered),
                    "must be greater than zero",
                ));
            }
        }
    }
    validate_volume_mode(spec, &mut causes);
    causes
}

impl Strategy for PvcStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        default_pvc(obj);
        obj["status"] = json!({"phase": "Pending"});
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_pvc(new);
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_pvc(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = validate_pvc(new);
        let strip = |v: &Value| {
            let mut s = v.get("spec").cloned().unwrap_or(json!({}));
            if let Some(m) = s.as_object_mut() {
                m.remove("volumeAttributesClassName");
                // Binding fills volumeName; expansion changes requests.
                if str_at(old, "/spec/volumeName").is_empty() {
                    m.remove("volumeName");
                }
                if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
                    r.remove("requests");
                }
            }
            s
        };
        if strip(new) != strip(old) {
            causes.push(forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
        }
        causes
    }
}

// -------------------------------------------------------- ServiceAccount, Lease

impl Strategy for ServiceAccountStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
}

impl Strategy for LeaseStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        if let Some(d) = i64_at(obj, "/spec/leaseDurationSeconds")
            && d <= 0
        {
            causes.push(invalid(
                "spec.leaseDurationSeconds",
                &json!(d),
                "must be greater than 0",
            ));
        }
        if let Some(t) = i64_at(obj, "/spec/leaseTransitions")
            && t < 0
        {
            causes.push(invalid(
                "spec.leaseTransitions",
                &json!(t),
                "must be greater than or equal to 0",
            ));
        }
        causes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvc_requirements() {
        let mut pvc = json!({"spec": {}});
        PvcStrategy.prepare_for_create(&mut pvc);
        assert_eq!(pvc["status"]["phase"], "Pending");
        let causes = PvcStrategy.validate(&pvc);
        assert_eq!(causes[0].field, "spec.accessModes");
        assert_eq!(
            causes[0].message,
            "Required value: at least 1 access mode is required"
        );
        assert_eq!(causes[1].field, "spec.resources[storage]");
    }

    #[test]
    fn node_pod_cidr_immutable_and_selector() {
        let mut old = json!({"spec": {"podCIDR": "10.244.0.0/24", "unschedulable": true}});
        NodeStrategy.prepare_for_create(&mut old);
        assert_eq!(old["spec"]["podCIDRs"], json!(["10.244.0.0/24"]));
        let new = json!({"spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}});
        assert_eq!(
            NodeStrategy.validate_update(&new, &old)[0].field,
            "spec.podCIDRs"
        );
        assert_eq!(
            NodeStrategy
                .field_value(&old, "spec.unschedulable")
                .as_deref(),
            Some("true")
        );
    }
}
