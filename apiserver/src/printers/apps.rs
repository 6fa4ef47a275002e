//! Workload printers: Deployment, ReplicaSet, StatefulSet, DaemonSet,
//! ControllerRevision (apps) and ReplicationController (core).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::util::{
    age, arr_at, at, container_cells, format_label_selector, format_labels, int_at, name,
    selector_string, str_at,
};
use super::{AGE, CONTAINERS_DESC, Column, IMAGES_DESC, NAME, Printer};

const CONTAINERS: Column = Column::wide("Containers", "string", CONTAINERS_DESC);
const IMAGES: Column = Column::wide("Images", "string", IMAGES_DESC);
const SELECTOR: Column = Column::wide("Selector", "string", "Label selector of the pods.");

static DEPLOYMENT: [Column; 8] = [
    NAME,
    Column::new("Ready", "string", "Ready pods out of desired replicas."),
    Column::new(
        "Up-to-date",
        "string",
        "Pods running the latest pod template.",
    ),
    Column::new("Available", "string", "Pods available to serve."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
/// ReplicaSet and ReplicationController share their columns.
static REPLICASET: [Column; 8] = [
    NAME,
    Column::new("Desired", "integer", "Desired number of replicas."),
    Column::new("Current", "integer", "Number of replicas created."),
    Column::new("Ready", "integer", "Number of ready replicas."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
static STATEFULSET: [Column; 5] = [
    NAME,
    Column::new("Ready", "string", "Ready pods out of desired replicas."),
    AGE,
    CONTAINERS,
    IMAGES,
];
static DAEMONSET: [Column; 11] = [
    NAME,
    Column::new(
        "Desired",
        "integer",
        "Nodes that should run the daemon pod.",
    ),
    Column::new(
        "Current",
        "integer",
        "Nodes running at least one daemon pod.",
    ),
    Column::new("Ready", "integer", "Nodes with a ready daemon pod."),
    Column::new(
        "Up-to-date",
        "integer",
        "Nodes running the updated daemon pod.",
    ),
    Column::new(
        "Available",
        "integer",
        "Nodes with an available daemon pod.",
    ),
    Column::new(
        "Node Selector",
        "string",
        "Node selector of the pod template.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
static CONTROLLERREVISION: [Column; 4] = [
    NAME,
    Column::new(
        "Controller",
        "string",
        "The controller owning this revision.",
    ),
    Column::new("Revision", "string", "The revision number."),
    AGE,
];

pub(super) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    match (group, kind) {
        ("apps", "Deployment") => Some((&DEPLOYMENT, deployment)),
        ("apps", "ReplicaSet") => Some((&REPLICASET, replicaset)),
        ("", "ReplicationController") => Some((&REPLICASET, replicationcontroller)),
        ("apps", "StatefulSet") => Some((&STATEFULSET, statefulset)),
        ("apps", "DaemonSet") => Some((&DAEMONSET, daemonset)),
        ("apps", "ControllerRevision") => Some((&CONTROLLERREVISION, controllerrevision)),
        _ => None,
    }
}

/// `spec.replicas`, defaulted to 1 as the API defaults it.
fn desired(obj: &Value) -> i64 {
    at(obj, &["spec", "replicas"])
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn template_containers(obj: &Value) -> (String, String) {
    container_cells(arr_at(obj, &["spec", "template", "spec", "containers"]))
}

fn deployment(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    let selector = selector_string(at(obj, &["spec", "selector"]))
        .unwrap_or_else(|()| "<invalid>".to_string());
    vec![
        json!(name(obj)),
        json!(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired(obj)
        )),
        json!(int_at(obj, &["status", "updatedReplicas"])),
        json!(int_at(obj, &["status", "availableReplicas"])),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

fn replica_counts(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(desired(obj)),
        json!(int_at(obj, &["status", "replicas"])),
        json!(int_at(obj, &["status", "readyReplicas"])),
        json!(age(obj, now)),
    ]
}

fn replicaset(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = replica_counts(obj, now);
    let (names, images) = template_containers(obj);
    cells.extend([
        json!(names),
        json!(images),
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]);
    cells
}

fn replicationcontroller(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut cells = replica_counts(obj, now);
    let (names, images) = template_containers(obj);
    cells.extend([
        json!(names),
        json!(images),
        json!(format_labels(at(obj, &["spec", "selector"]))),
    ]);
    cells
}

fn statefulset(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        json!(name(obj)),
        json!(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired(obj)
        )),
        json!(age(obj, now)),
        json!(names),
        json!(images),
    ]
}

fn daemonset(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    let st = |f: &str| json!(int_at(obj, &["status", f]));
    vec![
        json!(name(obj)),
        st("desiredNumberScheduled"),
        st("currentNumberScheduled"),
        st("numberReady"),
        st("updatedNumberScheduled"),
        st("numberAvailable"),
        json!(format_labels(at(
            obj,
            &["spec", "template", "spec", "nodeSelector"]
        ))),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

/// "kind.group/name" (lower-cased kind.group) of the controlling owner, or "<none>".
fn controller_of(obj: &Value) -> String {
    let owner = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true));
    let Some(owner) = owner else {
        return "<none>".to_string();
    };
    let api_version = str_at(owner, &["apiVersion"]);
    let group = match api_version.split_once('/') {
        Some((g, _)) => g,
        None => "",
    };
    let kind = str_at(owner, &["kind"]);
    let owner_name = str_at(owner, &["name"]);
    if kind.is_empty() && group.is_empty() {
        return owner_name.to_string();
    }
    let gk = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    format!("{}/{owner_name}", gk.to_lowercase())
}

fn controllerrevision(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(controller_of(obj)),
        json!(int_at(obj, &["revision"])),
        json!(age(obj, now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_shape;
    use serde_json::json;

    fn template() -> serde_json::Value {
        json!({"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}})
    }

    #[test]
    fn deployment_cells() {
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:57:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        assert_eq!(
            assert_shape("apps", "Deployment", &d),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("3m"),
                json!("nginx,log"),
                json!("nginx:1.27,busybox"),
                json!("app=web")
            ]
        );
        let fresh = json!({"metadata": {"name": "x"}, "spec": {"selector": {}}});
        let c = assert_shape("apps", "Deployment", &fresh);
        assert_eq!(
            (c[1].clone(), c[2].clone(), c[7].clone()),
            (json!("0/1"), json!(0), json!(""))
        );
    }

    #[test]
    fn replicaset_rc_statefulset_daemonset() {
        let rs = json!({"metadata": {"name": "web-5d8"}, "spec": {"replicas": 2,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d8"}}, "template": template()},
            "status": {"replicas": 2, "readyReplicas": 1}});
        let c = assert_shape("apps", "ReplicaSet", &rs);
        assert_eq!(c[1..4], [json!(2), json!(2), json!(1)]);
        assert_eq!(c[7], "app=web,pod-template-hash=5d8");

        let rc = json!({"metadata": {"name": "rc"}, "spec": {"replicas": 0, "selector": {"app": "old"}, "template": template()}});
        let c = assert_shape("", "ReplicationController", &rc);
        assert_eq!((c[1].clone(), c[7].clone()), (json!(0), json!("app=old")));

        let ss = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3, "template": template()}, "status": {"readyReplicas": 3}});
        assert_eq!(assert_shape("apps", "StatefulSet", &ss)[1], "3/3");

        let ds = json!({"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template()},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                       "updatedNumberScheduled": 3, "numberAvailable": 2}});
        let c = assert_shape("apps", "DaemonSet", &ds);
        assert_eq!(
            c[1..7],
            [
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux")
            ]
        );
        assert_eq!(c[10], "app=agent");
    }

    #[test]
    fn controller_revision_owner() {
        let cr = json!({"metadata": {"name": "agent-7c9", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": true}]},
            "revision": 4});
        let c = assert_shape("apps", "ControllerRevision", &cr);
        assert_eq!(
            (c[1].clone(), c[2].clone()),
            (json!("daemonset.apps/agent"), json!(4))
        );
        let orphan = json!({"metadata": {"name": "o"}, "revision": 1});
        assert_eq!(
            assert_shape("apps", "ControllerRevision", &orphan)[1],
            "<none>"
        );
    }
}
