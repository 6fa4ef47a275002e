//! A pod's API status from what the runtime reports: phase (upstream's
//! getPhase rules), the conditions PodScheduled, PodReadyToStartContainers,
//! Initialized, ContainersReady and Ready with upstream's reasons and
//! messages, container statuses, pod/host IPs and startTime. Pure functions:
//! the status manager decides when to send the result.

use k8s_openapi::api::core::v1::{ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::runtime::{ContainerRuntimeStatus, PodRuntimeStatus};

/// upstream's getPhase: the pod phase from its containers' states.
pub fn phase(pod: &Pod, rt: &PodRuntimeStatus) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "Pending";
    };
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("Always");
    // Init containers run in order and must all succeed first.
    let init_count = spec.init_containers.as_ref().map_or(0, |c| c.len());
    let init_done = rt
        .init_containers
        .iter()
        .filter(|c| exit_code(c) == Some(0))
        .count()
        == init_count;
    let init_failed = rt
        .init_containers
        .iter()
        .any(|c| exit_code(c).is_some_and(|code| code != 0));
    if init_failed && restart_policy == "Never" {
        return "Failed";
    }
    if !init_done {
        return "Pending";
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for container in &spec.containers {
        match rt.containers.iter().find(|c| c.name == container.name) {
            None => waiting += 1,
            Some(c) if c.state.running.is_some() => running += 1,
            Some(c) if c.state.terminated.is_some() => {
                stopped += 1;
                if exit_code(c) == Some(0) {
                    succeeded += 1;
                }
            }
            // Waiting after a previous run (crash loop) counts as stopped.
            Some(c)
                if c.last_state
                    .as_ref()
                    .is_some_and(|s| s.terminated.is_some()) =>
            {
                stopped += 1
            }
            Some(_) => waiting += 1,
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        return match restart_policy {
            "Always" => "Running",
            _ if stopped == succeeded => "Succeeded",
            "Never" => "Failed",
            _ => "Running",
        };
    }
    "Pending"
}

/// The pod conditions the kubelet computes (upstream's
/// `PodConditionsByKubelet`).
const KUBELET_CONDITIONS: [&str; 5] = [
    "PodScheduled",
    "PodReadyToStartContainers",
    "Initialized",
    "ContainersReady",
    "Ready",
];

fn exit_code(c: &ContainerRuntimeStatus) -> Option<i32> {
    c.state.terminated.as_ref().map(|t| t.exit_code)
}

fn api_container_status(c: &ContainerRuntimeStatus) -> ContainerStatus {
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: c.image_id.clone(),
        container_id: c.container_id.clone(),
        state: Some(c.state.clone()),
        last_state: Some(c.last_state.clone().unwrap_or_default()),
        ready: c.ready,
        restart_count: c.restart_count,
        started: Some(c.started),
        ..Default::default()
    }
}

/// A container the runtime has not created yet: Waiting/ContainerCreating
/// (PodInitializing for app containers while init containers run).
fn not_created(name: &str, image: &str, reason: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        image: image.into(),
        state: Some(k8s_openapi::api::core::v1::ContainerState {
            waiting: Some(k8s_openapi::api::core::v1::ContainerStateWaiting {
                reason: Some(reason.into()),
                message: None,
            }),
            ..Default::default()
        }),
        last_state: Some(Default::default()),
        started: Some(false),
        ..Default::default()
    }
}

fn condition(
    type_: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    previous: &[PodCondition],
    now: Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let transition = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.map(str::to_string),
        message,
        last_transition_time: Some(transition),
        last_probe_time: None,
        observed_generation: None,
    }
}

/// Puts the conditions others set on the API object `api` (e.g. the
/// scheduler's DisruptionTarget) into `view`, whose status is what this
/// kubelet last sent, so that `compute` keeps them.
pub fn keep_foreign_conditions(view: &mut Pod, api: &Pod) {
    let foreign: Vec<PodCondition> = api
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    if foreign.is_empty() {
        return;
    }
    let status = view.status.get_or_insert_with(Default::default);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    conditions.retain(|c| !foreign.iter().any(|f| f.type_ == c.type_));
    conditions.extend(foreign);
}

/// The status to report for `pod` on a node at `host_ip`.
/// Upstream's reason and message for a pod stopped at its active deadline.
pub const DEADLINE_REASON: &str = "DeadlineExceeded";
pub const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

/// Whether `pod` has run longer than `spec.activeDeadlineSeconds` at `now`,
/// counted from `status.startTime` (upstream's activeDeadlineHandler).
pub fn past_active_deadline(pod: &Pod, now: Timestamp) -> bool {
    let Some(deadline) = pod.spec.as_ref().and_then(|s| s.active_deadline_seconds) else {
        return false;
    };
    let Some(start) = pod.status.as_ref().and_then(|s| s.start_time.as_ref()) else {
        return false;
    };
    now.as_second() - start.0.as_second() >= deadline
}

pub fn compute(pod: &Pod, rt: &PodRuntimeStatus, host_ip: &str, now: Timestamp) -> PodStatus {
    let previous = pod.status.clone().unwrap_or_default();
    let old_conditions = previous.conditions.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let was_terminal = matches!(previous.phase.as_deref(), Some("Succeeded" | "Failed"));
    // Past its active deadline the pod fails (its containers are stopped
    // by the runtime); a pod that already finished keeps its phase.
    let deadline = if was_terminal {
        previous.reason.as_deref() == Some(DEADLINE_REASON)
    } else {
        past_active_deadline(pod, now)
    };
    let phase = if deadline { "Failed" } else { phase(pod, rt) };
    let terminal = phase == "Succeeded" || phase == "Failed";

    let init_statuses: Vec<ContainerStatus> = spec
        .init_containers
        .iter()
        .flatten()
        .map(
            |c| match rt.init_containers.iter().find(|s| s.name == c.name) {
                Some(s) => api_container_status(s),
                None => not_created(&c.name, c.image.as_deref().unwrap_or(""), "PodInitializing"),
            },
        )
        .collect();
    let init_pending: Vec<&str> = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| {
            !rt.init_containers
                .iter()
                .any(|s| s.name == c.name && exit_code(s) == Some(0))
        })
        .map(|c| c.name.as_str())
        .collect();
    let waiting_reason = if init_pending.is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| match rt.containers.iter().find(|s| s.name == c.name) {
            Some(s) => api_container_status(s),
            None => not_created(&c.name, c.image.as_deref().unwrap_or(""), waiting_reason),
        })
        .collect();
    // Ephemeral containers' statuses come with the regular ones.
    let ephemeral_statuses: Vec<ContainerStatus> = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| match rt.containers.iter().find(|s| s.name == c.name) {
            Some(s) => api_container_status(s),
            None => not_created(
                &c.name,
                c.image.as_deref().unwrap_or(""),
                "ContainerCreating",
            ),
        })
        .collect();
    let unready: Vec<&str> = statuses
        .iter()
        .filter(|s| !s.ready)
        .map(|s| s.name.as_str())
        .collect();

    let mut conditions = Vec::new();
    if let Some(scheduled) = old_conditions.iter().find(|c| c.type_ == "PodScheduled") {
        conditions.push(scheduled.clone());
    } else {
        conditions.push(condition(
            "PodScheduled",
            true,
            None,
            None,
            &old_conditions,
            now,
        ));
    }
    conditions.push(condition(
        "PodReadyToStartContainers",
        rt.sandbox_ready,
        None,
        None,
        &old_conditions,
        now,
    ));
    let initialized = init_pending.is_empty() || terminal && phase == "Succeeded";
    conditions.push(if initialized {
        condition("Initialized", true, None, None, &old_conditions, now)
    } else {
        condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: [{}]",
                init_pending.join(" ")
            )),
            &old_conditions,
            now,
        )
    });
    let (ready_ok, ready_reason, ready_message) = if terminal {
        (false, Some("PodCompleted"), None)
    } else if unready.is_empty() {
        (true, None, None)
    } else {
        (
            false,
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    conditions.push(condition(
        "ContainersReady",
        ready_ok,
        ready_reason,
        ready_message.clone(),
        &old_conditions,
        now,
    ));
    conditions.push(condition(
        "Ready",
        ready_ok,
        ready_reason,
        ready_message,
        &old_conditions,
        now,
    ));
    // Conditions others own (DisruptionTarget from the scheduler or an
    // eviction, readiness gates) are kept, as upstream's kubelet does.
    conditions.extend(
        old_conditions
            .iter()
            .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
            .cloned(),
    );

    let host_network = spec.host_network.unwrap_or(false);
    let pod_ip = if host_network {
        Some(host_ip.to_string())
    } else {
        rt.pod_ip.clone().or(previous.pod_ip.clone())
    };
    PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conditions),
        host_ip: Some(host_ip.into()),
        host_ips: Some(vec![HostIP { ip: host_ip.into() }]),
        pod_ips: pod_ip.clone().map(|ip| vec![PodIP { ip }]),
        pod_ip,
        start_time: previous.start_time.clone().or(Some(Time(now))),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        ephemeral_container_statuses: (!ephemeral_statuses.is_empty())
            .then_some(ephemeral_statuses),
        qos_class: previous.qos_class.clone(),
        reason: deadline.then(|| DEADLINE_REASON.to_string()),
        message: deadline.then(|| DEADLINE_MESSAGE.to_string()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, PodSpec,
    };

    fn pod(restart: &str, containers: &[&str]) -> Pod {
        Pod {
            spec: Some(PodSpec {
                restart_policy: Some(restart.into()),
                containers: containers
                    .iter()
                    .map(|n| Container {
                        name: n.to_string(),
                        image: Some("busybox".into()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn running(name: &str, ready: bool) -> ContainerRuntimeStatus {
        ContainerRuntimeStatus {
            name: name.into(),
            image: "busybox".into(),
            image_id: "sha256:1".into(),
            container_id: Some("containerd://1".into()),
            state: ContainerState {
                running: Some(ContainerStateRunning { started_at: None }),
                ..Default::default()
            },
            last_state: None,
            restart_count: 0,
            started: true,
            ready,
        }
    }

    fn exited(name: &str, code: i32) -> ContainerRuntimeStatus {
        ContainerRuntimeStatus {
            state: ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    ..Default::default()
                }),
                ..Default::default()
            },
            started: false,
            ready: false,
            ..running(name, false)
        }
    }

    fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
        s.conditions
            .as_ref()
            .and_then(|c| c.iter().find(|c| c.type_ == t))
            .unwrap()
    }

    #[test]
    fn running_and_ready() {
        let p = pod("Always", &["a", "b"]);
        let rt = PodRuntimeStatus {
            sandbox_ready: true,
            pod_ip: Some("10.88.0.5".into()),
            init_containers: vec![],
            containers: vec![running("a", true), running("b", true)],
        };
        let s = compute(&p, &rt, "192.168.1.2", Timestamp::now());
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&s, "Ready").status, "True");
        assert_eq!(cond(&s, "PodReadyToStartContainers").status, "True");
        assert_eq!(s.pod_ip.as_deref(), Some("10.88.0.5"));
        assert_eq!(s.host_ip.as_deref(), Some("192.168.1.2"));
        assert!(s.start_time.is_some());
    }

    #[test]
    fn unready_container_named_in_message() {
        let p = pod("Always", &["a", "b"]);
        let rt = PodRuntimeStatus {
            sandbox_ready: true,
            containers: vec![running("a", true), running("b", false)],
            ..Default::default()
        };
        let s = compute(&p, &rt, "10.0.0.1", Timestamp::now());
        let ready = cond(&s, "Ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [b]")
        );
    }

    #[test]
    fn phases_follow_restart_policy() {
        let done = PodRuntimeStatus {
            containers: vec![exited("a", 0)],
            ..Default::default()
        };
        let failed = PodRuntimeStatus {
            containers: vec![exited("a", 1)],
            ..Default::default()
        };
        assert_eq!(phase(&pod("Never", &["a"]), &done), "Succeeded");
        assert_eq!(phase(&pod("Never", &["a"]), &failed), "Failed");
        assert_eq!(phase(&pod("OnFailure", &["a"]), &failed), "Running");
        assert_eq!(phase(&pod("Always", &["a"]), &done), "Running");
        assert_eq!(
            phase(&pod("Always", &["a"]), &PodRuntimeStatus::default()),
            "Pending"
        );
        let s = compute(&pod("Never", &["a"]), &done, "10.0.0.1", Timestamp::now());
        assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodCompleted"));
    }

    #[test]
    fn pending_container_is_creating() {
        let s = compute(
            &pod("Always", &["a"]),
            &PodRuntimeStatus::default(),
            "10.0.0.1",
            Timestamp::now(),
        );
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let st = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(
            st.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("ContainerCreating")
        );
    }

    #[test]
    fn active_deadline_fails_the_pod() {
        let mut p = pod("Always", &["c"]);
        let start = Timestamp::from_second(1_000).unwrap();
        p.status = Some(PodStatus {
            phase: Some("Running".into()),
            start_time: Some(Time(start)),
            ..Default::default()
        });
        let rt = PodRuntimeStatus {
            sandbox_ready: true,
            pod_ip: None,
            init_containers: vec![],
            containers: vec![running("c", true)],
        };
        let at = |s| Timestamp::from_second(s).unwrap();
        assert_eq!(
            compute(&p, &rt, "10.0.0.1", at(1_100)).phase.as_deref(),
            Some("Running")
        );
        if let Some(spec) = p.spec.as_mut() {
            spec.active_deadline_seconds = Some(5);
        }
        assert!(!past_active_deadline(&p, at(1_004)));
        let status = compute(&p, &rt, "10.0.0.1", at(1_005));
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        assert_eq!(status.reason.as_deref(), Some(DEADLINE_REASON));
        assert_eq!(status.message.as_deref(), Some(DEADLINE_MESSAGE));
        // A pod that finished before its deadline is not marked.
        p.status.as_mut().unwrap().phase = Some("Succeeded".into());
        let status = compute(&p, &rt, "10.0.0.1", at(1_100));
        assert_eq!(status.reason, None);
        assert_ne!(status.phase.as_deref(), Some("Failed"));
    }
}
