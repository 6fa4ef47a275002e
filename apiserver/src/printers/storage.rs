//! Storage printers: PersistentVolume, PersistentVolumeClaim (core) and StorageClass.
//!
//! Quantities are printed as stored; upstream re-renders them in canonical form
//! (e.g. "1024Mi" as "1Gi"), which matches whenever the stored value is canonical.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::util::{age, arr_at, at, bool_at, deleting, int_or_string, name, str_at};
use super::{AGE, Column, NAME, Printer};

static PV: [Column; 11] = [
    NAME,
    Column::new("Capacity", "string", "Storage capacity of the volume."),
    Column::new("Access Modes", "string", "Access modes of the volume."),
    Column::new(
        "Reclaim Policy",
        "string",
        "What happens to the volume when released.",
    ),
    Column::new("Status", "string", "Phase of the volume."),
    Column::new("Claim", "string", "The claim bound to the volume."),
    Column::new("StorageClass", "string", "StorageClass of the pv"),
    Column::new(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
    ),
    Column::new("Reason", "string", "Reason for a failed phase."),
    AGE,
    Column::wide("VolumeMode", "string", "Filesystem or Block."),
];
static PVC: [Column; 9] = [
    NAME,
    Column::new("Status", "string", "Phase of the claim."),
    Column::new("Volume", "string", "The volume bound to the claim."),
    Column::new("Capacity", "string", "Capacity of the bound volume."),
    Column::new(
        "Access Modes",
        "string",
        "Access modes of the bound volume.",
    ),
    Column::new("StorageClass", "string", "StorageClass of the pvc"),
    Column::new(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    Column::wide("VolumeMode", "string", "Filesystem or Block."),
];
static STORAGECLASS: [Column; 6] = [
    NAME,
    Column::new(
        "Provisioner",
        "string",
        "The volume plugin provisioning volumes.",
    ),
    Column::new(
        "ReclaimPolicy",
        "string",
        "Reclaim policy of provisioned volumes.",
    ),
    Column::new(
        "VolumeBindingMode",
        "string",
        "When volumes are bound and provisioned.",
    ),
    Column::new(
        "AllowVolumeExpansion",
        "string",
        "Whether volumes can be expanded.",
    ),
    AGE,
];

pub(super) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    match (group, kind) {
        ("", "PersistentVolume") => Some((&PV, pv)),
        ("", "PersistentVolumeClaim") => Some((&PVC, pvc)),
        ("storage.k8s.io", "StorageClass") => Some((&STORAGECLASS, storageclass)),
        _ => None,
    }
}

const BETA_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// "RWO,ROX,RWX,RWOP" in that fixed order, for the modes present.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(m, _)| has(m))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The class from the beta annotation, else `spec.storageClassName`.
fn class(obj: &Value) -> String {
    match at(obj, &["metadata", "annotations", BETA_CLASS_ANNOTATION]).and_then(Value::as_str) {
        Some(c) => c.to_string(),
        None => str_at(obj, &["spec", "storageClassName"]).to_string(),
    }
}

fn or_unset(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("<unset>").to_string()
}

fn storage_quantity(v: Option<&Value>) -> String {
    v.map_or_else(|| "0".to_string(), int_or_string)
}

fn phase(obj: &Value) -> String {
    if deleting(obj) {
        "Terminating".to_string()
    } else {
        str_at(obj, &["status", "phase"]).to_string()
    }
}

fn pv(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match at(obj, &["spec", "claimRef"]) {
        Some(c) => format!("{}/{}", str_at(c, &["namespace"]), str_at(c, &["name"])),
        None => String::new(),
    };
    vec![
        json!(name(obj)),
        json!(storage_quantity(at(obj, &["spec", "capacity", "storage"]))),
        json!(access_modes(arr_at(obj, &["spec", "accessModes"]))),
        json!(str_at(obj, &["spec", "persistentVolumeReclaimPolicy"])),
        json!(phase(obj)),
        json!(claim),
        json!(class(obj)),
        json!(or_unset(at(obj, &["spec", "volumeAttributesClassName"]))),
        json!(str_at(obj, &["status", "reason"])),
        json!(age(obj, now)),
        json!(or_unset(at(obj, &["spec", "volumeMode"]))),
    ]
}

fn pvc(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let volume = str_at(obj, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            storage_quantity(at(obj, &["status", "capacity", "storage"])),
            access_modes(arr_at(obj, &["status", "accessModes"])),
        )
    };
    vec![
        json!(name(obj)),
        json!(phase(obj)),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(class(obj)),
        json!(or_unset(at(obj, &["spec", "volumeAttributesClassName"]))),
        json!(age(obj, now)),
        json!(or_unset(at(obj, &["spec", "volumeMode"]))),
    ]
}

fn storageclass(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let is_default = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|a| at(obj, &["metadata", "annotations", a]).and_then(Value::as_str) == Some("true"));
    let mut shown = name(obj).to_string();
    if is_default {
        shown.push_str(" (default)");
    }
    vec![
        json!(shown),
        json!(str_at(obj, &["provisioner"])),
        json!(
            at(obj, &["reclaimPolicy"])
                .and_then(Value::as_str)
                .unwrap_or("Delete")
        ),
        json!(
            at(obj, &["volumeBindingMode"])
                .and_then(Value::as_str)
                .unwrap_or("Immediate")
        ),
        json!(bool_at(obj, &["allowVolumeExpansion"]).unwrap_or(false)),
        json!(age(obj, now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_shape;
    use serde_json::json;

    #[test]
    fn pv_and_pvc() {
        let pv = json!({"metadata": {"name": "pv-1", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast", "volumeMode": "Filesystem",
                "claimRef": {"namespace": "db", "name": "data-0"}},
            "status": {"phase": "Bound"}});
        assert_eq!(
            assert_shape("", "PersistentVolume", &pv),
            vec![
                json!("pv-1"),
                json!("10Gi"),
                json!("RWO,RWX"),
                json!("Retain"),
                json!("Bound"),
                json!("db/data-0"),
                json!("fast"),
                json!("<unset>"),
                json!(""),
                json!("60m"),
                json!("Filesystem")
            ]
        );
        let pending = json!({"metadata": {"name": "data-1", "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
            "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Pending"}});
        let c = assert_shape("", "PersistentVolumeClaim", &pending);
        assert_eq!(
            c[1..7],
            [
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!("old"),
                json!("<unset>")
            ]
        );
        let bound = json!({"metadata": {"name": "data-0", "deletionTimestamp": "2025-06-01T12:00:00Z"},
            "spec": {"volumeName": "pv-1", "storageClassName": "fast", "volumeMode": "Block"},
            "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOncePod"]}});
        let c = assert_shape("", "PersistentVolumeClaim", &bound);
        assert_eq!(
            c[1..6],
            [
                json!("Terminating"),
                json!("pv-1"),
                json!("10Gi"),
                json!("RWOP"),
                json!("fast")
            ]
        );
        assert_eq!(c[8], "Block");
    }

    #[test]
    fn storage_class_default_marker() {
        let sc = json!({"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
        let c = assert_shape("storage.k8s.io", "StorageClass", &sc);
        assert_eq!(
            c[..5],
            [
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false)
            ]
        );
    }
}
