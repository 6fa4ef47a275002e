//! Pod printer: READY, STATUS (the reason logic of `kubectl get pods`), RESTARTS, AGE;
//! wide: IP, NODE, NOMINATED NODE, READINESS GATES.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::util::{age, arr_at, at, bool_at, deleting, int_at, name, since, str_at, time_at};
use super::{AGE, Column, NAME, Printer};

static POD: [Column; 9] = [
    NAME,
    Column::new("Ready", "string", "Ready containers out of all containers."),
    Column::new(
        "Status",
        "string",
        "Aggregate status of the pod and its containers.",
    ),
    Column::new(
        "Restarts",
        "string",
        "Container restarts, and how long ago the last one happened.",
    ),
    AGE,
    Column::wide("IP", "string", "The pod's primary IP address."),
    Column::wide("Node", "string", "The node the pod is bound to."),
    Column::wide(
        "Nominated Node",
        "string",
        "The node nominated for the pod by preemption.",
    ),
    Column::wide(
        "Readiness Gates",
        "string",
        "Readiness gates whose condition is True, out of all.",
    ),
];

pub(super) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    match (group, kind) {
        ("", "Pod") => Some((&POD, pod)),
        _ => None,
    }
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Whether the first pod condition of `type_` has status True.
fn condition_true(obj: &Value, type_: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// "Signal:N" / "ExitCode:N" for a terminated state without a reason.
fn exit_text(term: &Value) -> String {
    let signal = int_at(term, &["signal"]);
    if signal != 0 {
        format!("Signal:{signal}")
    } else {
        format!("ExitCode:{}", int_at(term, &["exitCode"]))
    }
}

fn pod(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let containers = arr_at(obj, &["spec", "containers"]);
    let init_containers = arr_at(obj, &["spec", "initContainers"]);
    let restartable = |cname: &str| {
        init_containers
            .iter()
            .any(|c| str_at(c, &["name"]) == cname && str_at(c, &["restartPolicy"]) == "Always")
    };
    let total = containers.len()
        + init_containers
            .iter()
            .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
            .count();
    let mut ready = 0usize;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;

    let phase = str_at(obj, &["status", "phase"]);
    let status_reason = str_at(obj, &["status", "reason"]);
    let mut reason = if status_reason.is_empty() {
        phase.to_string()
    } else {
        status_reason.to_string()
    };
    for c in arr_at(obj, &["status", "conditions"]) {
        if str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let mut initializing = false;
    let init_statuses = arr_at(obj, &["status", "initContainerStatuses"]);
    for (i, cs) in init_statuses.iter().enumerate() {
        let finished = time_at(cs, &["lastState", "terminated", "finishedAt"]);
        restarts += int_at(cs, &["restartCount"]);
        last_restart = later(last_restart, finished);
        let is_sidecar = restartable(str_at(cs, &["name"]));
        if is_sidecar {
            sidecar_restarts += int_at(cs, &["restartCount"]);
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = at(cs, &["state", "terminated"]);
        let waiting_reason = str_at(cs, &["state", "waiting", "reason"]);
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if is_sidecar && bool_at(cs, &["started"]) == Some(true) {
            if bool_at(cs, &["ready"]) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            let r = str_at(t, &["reason"]);
            reason = if r.is_empty() {
                format!("Init:{}", exit_text(t))
            } else {
                format!("Init:{r}")
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_containers.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(obj, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for cs in arr_at(obj, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(cs, &["restartCount"]);
            last_restart = later(
                last_restart,
                time_at(cs, &["lastState", "terminated", "finishedAt"]),
            );
            let waiting_reason = str_at(cs, &["state", "waiting", "reason"]);
            let terminated = at(cs, &["state", "terminated"]);
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                let r = str_at(t, &["reason"]);
                reason = if r.is_empty() {
                    exit_text(t)
                } else {
                    r.to_string()
                };
            } else if bool_at(cs, &["ready"]) == Some(true)
                && at(cs, &["state", "running"]).is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(obj, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_string();
        }
    }

    if deleting(obj) && status_reason == "NodeLost" {
        reason = "Unknown".to_string();
    } else if deleting(obj) && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    // Like the v1 conversion: podIPs wins, a lone podIP stands in for it.
    let ip = match arr_at(obj, &["status", "podIPs"]).first() {
        Some(p) => str_at(p, &["ip"]),
        None => str_at(obj, &["status", "podIP"]),
    };
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    let gates = arr_at(obj, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| {
                let t = str_at(g, &["conditionType"]);
                arr_at(obj, &["status", "conditions"])
                    .iter()
                    .find(|c| str_at(c, &["type"]) == t)
                    .is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        json!(name(obj)),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_text),
        json!(age(obj, now)),
        json!(or_none(ip)),
        json!(or_none(str_at(obj, &["spec", "nodeName"]))),
        json!(or_none(str_at(obj, &["status", "nominatedNodeName"]))),
        json!(readiness_gates),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_shape;
    use serde_json::{Value, json};

    fn cells(pod: &Value) -> Vec<Value> {
        assert_shape("", "Pod", pod)
    }

    #[test]
    fn running_two_of_two_with_restarts() {
        let pod = json!({
            "metadata": {"name": "web-1", "creationTimestamp": "2025-05-30T09:00:00Z"},
            "spec": {"nodeName": "node-a", "containers": [{"name": "app"}, {"name": "proxy"}]},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": "app", "ready": true, "restartCount": 3, "state": {"running": {}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-06-01T11:55:00Z"}}},
                    {"name": "proxy", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
        });
        assert_eq!(
            cells(&pod),
            vec![
                json!("web-1"),
                json!("2/2"),
                json!("Running"),
                json!("3 (5m ago)"),
                json!("2d3h"),
                json!("10.0.0.7"),
                json!("node-a"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn crash_loop_back_off() {
        let pod = json!({
            "metadata": {"name": "bad", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 12,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 2, "reason": "Error", "finishedAt": "2025-06-01T11:58:20Z"}}}]}
        });
        let c = cells(&pod);
        assert_eq!(c[1], "0/1");
        assert_eq!(c[2], "CrashLoopBackOff");
        assert_eq!(c[3], "12 (100s ago)");
        assert_eq!(c[4], "60m");
    }

    #[test]
    fn terminating_and_node_lost() {
        let mut pod = json!({
            "metadata": {"name": "t", "creationTimestamp": "2025-06-01T11:59:55Z",
                         "deletionTimestamp": "2025-06-01T12:00:30Z"},
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
                "restartCount": 0, "state": {"running": {}}}]}
        });
        let c = cells(&pod);
        assert_eq!(
            (c[1].clone(), c[2].clone(), c[3].clone(), c[4].clone()),
            (json!("1/1"), json!("Terminating"), json!("0"), json!("5s"))
        );
        pod["status"]["reason"] = json!("NodeLost");
        assert_eq!(cells(&pod)[2], "Unknown");
        pod["status"]["reason"] = json!(null);
        pod["status"]["phase"] = json!("Succeeded");
        pod["status"]["containerStatuses"][0]["state"] =
            json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
        assert_eq!(cells(&pod)[2], "Completed");
    }

    #[test]
    fn init_containers() {
        let base = json!({
            "metadata": {"name": "i", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "app"}]},
            "status": {"phase": "Pending",
                "initContainerStatuses": [
                    {"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "b", "restartCount": 1, "state": {"running": {}}}],
                "containerStatuses": [{"name": "app", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}
        });
        let c = cells(&base);
        assert_eq!(
            (c[1].clone(), c[2].clone(), c[3].clone()),
            (json!("0/1"), json!("Init:1/2"), json!("1"))
        );

        let mut failed = base.clone();
        failed["status"]["initContainerStatuses"][1]["state"] =
            json!({"terminated": {"exitCode": 3}});
        assert_eq!(cells(&failed)[2], "Init:ExitCode:3");
        failed["status"]["initContainerStatuses"][1]["state"] =
            json!({"terminated": {"exitCode": 137, "signal": 9}});
        assert_eq!(cells(&failed)[2], "Init:Signal:9");
        failed["status"]["initContainerStatuses"][1]["state"] =
            json!({"waiting": {"reason": "CrashLoopBackOff"}});
        assert_eq!(cells(&failed)[2], "Init:CrashLoopBackOff");
    }

    #[test]
    fn sidecar_counts_and_container_creating() {
        let pod = json!({
            "metadata": {"name": "s", "creationTimestamp": "2025-06-01T11:59:00Z"},
            "spec": {"initContainers": [{"name": "side", "restartPolicy": "Always"}],
                     "containers": [{"name": "app"}],
                     "readinessGates": [{"conditionType": "example.com/ready"}]},
            "status": {"phase": "Pending", "nominatedNodeName": "node-b", "podIP": "10.0.0.9",
                "conditions": [{"type": "Initialized", "status": "True"},
                               {"type": "example.com/ready", "status": "False"}],
                "initContainerStatuses": [{"name": "side", "restartCount": 2, "started": true, "ready": true,
                    "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-06-01T11:59:30Z"}}}],
                "containerStatuses": [{"name": "app", "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}
        });
        let c = cells(&pod);
        assert_eq!(c[1], "1/2");
        assert_eq!(c[2], "ContainerCreating");
        assert_eq!(c[3], "2 (30s ago)");
        assert_eq!(c[5], "10.0.0.9");
        assert_eq!(c[7], "node-b");
        assert_eq!(c[8], "0/1");
    }

    #[test]
    fn completed_with_running_sidecar_and_gated() {
        let pod = json!({
            "metadata": {"name": "g", "creationTimestamp": "2025-06-01T11:59:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "a", "ready": true, "state": {"running": {}}},
                    {"name": "b", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
        });
        // Containers are walked last to first: b sets Completed, a is running and ready.
        assert_eq!(cells(&pod)[2], "NotReady");
        let gated = json!({
            "metadata": {"name": "g2", "creationTimestamp": "2025-06-01T11:59:00Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}
        });
        assert_eq!(cells(&gated)[2], "SchedulingGated");
        let evicted = json!({
            "metadata": {"name": "e", "creationTimestamp": "2025-06-01T11:59:00Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "reason": "Evicted"}
        });
        assert_eq!(cells(&evicted)[2], "Evicted");
    }
}
