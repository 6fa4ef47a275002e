//! Deployment status and conditions (upstream's `sync.go`
//! `calculateStatus`/`syncRolloutStatus` and `progress.go`), with upstream's
//! reasons and messages, which `kubectl rollout status` reads.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::jiff;
use kube::ResourceExt;

use crate::objects;

pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `progressDeadlineSeconds` (default 600); None when it is MaxInt32
/// (upstream: no deadline, no Progressing condition).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    match d.spec.as_ref().and_then(|s| s.progress_deadline_seconds) {
        Some(i32::MAX) => None,
        Some(s) => Some(s),
        None => Some(600),
    }
}

pub fn condition(status: &DeploymentStatus, type_: &str) -> Option<DeploymentCondition> {
    status
        .conditions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
) -> DeploymentCondition {
    let now = objects::now();
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// Upstream's `SetDeploymentCondition`: no change when status and reason
/// are the same; keeps the transition time when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    let conds = status.conditions.get_or_insert_with(Vec::new);
    if let Some(current) = conds.iter().find(|c| c.type_ == cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time.clone();
        }
    }
    conds.retain(|c| c.type_ != cond.type_);
    conds.push(cond);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conds) = status.conditions.as_mut() {
        conds.retain(|c| c.type_ != type_);
    }
}

fn sum(sets: &[&ReplicaSet], f: impl Fn(&ReplicaSet) -> i32) -> i32 {
    sets.iter().map(|rs| f(rs)).sum()
}

/// Counts and the Available condition (upstream's `calculateStatus`).
pub fn calculate(
    d: &Deployment,
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    max_unavailable: i32,
) -> DeploymentStatus {
    let st = |rs: &ReplicaSet| rs.status.clone().unwrap_or_default();
    let available = sum(all, |rs| st(rs).available_replicas.unwrap_or(0));
    let total = sum(all, |rs| st(rs).replicas);
    let wanted = replicas(d);
    let mut status = d.status.clone().unwrap_or_default();
    status.observed_generation = d.metadata.generation;
    status.replicas = Some(total);
    status.updated_replicas = Some(new_rs.map(|rs| st(rs).replicas).unwrap_or(0));
    status.ready_replicas = Some(sum(all, |rs| st(rs).ready_replicas.unwrap_or(0)));
    status.available_replicas = Some(available);
    status.unavailable_replicas = Some((wanted - available).max(0));
    if available >= wanted - max_unavailable {
        set_condition(
            &mut status,
            new_condition(
                AVAILABLE,
                "True",
                MIN_AVAILABLE,
                "Deployment has minimum availability.".into(),
            ),
        );
    } else {
        set_condition(
            &mut status,
            new_condition(
                AVAILABLE,
                "False",
                MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
            ),
        );
    }
    status
}

/// Every replica updated and available, and no old ones left.
pub fn complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let wanted = replicas(d);
    status.updated_replicas == Some(wanted)
        && status.replicas == Some(wanted)
        && status.available_replicas == Some(wanted)
        && status.observed_generation >= d.metadata.generation
}

/// The rollout moved since the last status (upstream's
/// `DeploymentProgressing`).
fn progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let g = |v: Option<i32>| v.unwrap_or(0);
    let old_olds = g(old.replicas) - g(old.updated_replicas);
    let new_olds = g(new.replicas) - g(new.updated_replicas);
    g(new.updated_replicas) > g(old.updated_replicas)
        || new_olds < old_olds
        || g(new.ready_replicas) > g(old.ready_replicas)
        || g(new.available_replicas) > g(old.available_replicas)
}

fn timed_out(d: &Deployment, status: &DeploymentStatus, now: jiff::Timestamp) -> bool {
    let (Some(deadline), Some(cond)) = (progress_deadline(d), condition(status, PROGRESSING))
    else {
        return false;
    };
    match cond.reason.as_deref() {
        Some(TIMED_OUT) => return true,
        Some(NEW_RS_AVAILABLE) => return false,
        _ => {}
    }
    cond.last_update_time
        .is_some_and(|t| t.0 + jiff::SignedDuration::from_secs(i64::from(deadline)) < now)
}

/// The Progressing condition after a sync (upstream's `syncRolloutStatus`).
pub fn update_progress(d: &Deployment, new_rs: Option<&ReplicaSet>, status: &mut DeploymentStatus) {
    if progress_deadline(d).is_none() {
        remove_condition(status, PROGRESSING);
        return;
    }
    let old = d.status.clone().unwrap_or_default();
    let current = condition(status, PROGRESSING);
    let done_before = status.replicas == status.updated_replicas
        && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
    if done_before {
        return;
    }
    let rs_name = new_rs.map(|rs| rs.name_any());
    if complete(d, status) {
        let msg = match &rs_name {
            Some(n) => format!("ReplicaSet \"{n}\" has successfully progressed."),
            None => format!(
                "Deployment \"{}\" has successfully progressed.",
                d.name_any()
            ),
        };
        set_condition(
            status,
            new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, msg),
        );
    } else if progressing(&old, status) {
        let msg = match &rs_name {
            Some(n) => format!("ReplicaSet \"{n}\" is progressing."),
            None => format!("Deployment \"{}\" is progressing.", d.name_any()),
        };
        let mut cond = new_condition(PROGRESSING, "True", RS_UPDATED, msg);
        if let Some(c) = &current
            && c.status == "True"
        {
            cond.last_transition_time = c.last_transition_time.clone();
        }
        remove_condition(status, PROGRESSING);
        set_condition(status, cond);
    } else if timed_out(d, status, jiff::Timestamp::now()) {
        let msg = match &rs_name {
            Some(n) => format!("ReplicaSet \"{n}\" has timed out progressing."),
            None => format!("Deployment \"{}\" has timed out progressing.", d.name_any()),
        };
        set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT, msg));
    }
}

/// Carries a ReplicaFailure condition of the new ReplicaSet over.
pub fn copy_replica_failure(new_rs: Option<&ReplicaSet>, status: &mut DeploymentStatus) {
    let failure = new_rs
        .and_then(|rs| rs.status.as_ref())
        .and_then(|s| s.conditions.as_deref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == REPLICA_FAILURE));
    match failure {
        Some(f) => set_condition(
            status,
            DeploymentCondition {
                type_: REPLICA_FAILURE.into(),
                status: f.status.clone(),
                reason: f.reason.clone(),
                message: f.message.clone(),
                last_update_time: Some(objects::now()),
                last_transition_time: f.last_transition_time.clone(),
            },
        ),
        None => remove_condition(status, REPLICA_FAILURE),
    }
}

/// Seconds until the progress deadline of a rollout in progress, so the
/// controller looks again when it may have timed out.
pub fn recheck_after(d: &Deployment, status: &DeploymentStatus) -> Option<std::time::Duration> {
    let deadline = progress_deadline(d)?;
    let cond = condition(status, PROGRESSING)?;
    if cond.status != "True"
        || cond.reason.as_deref() == Some(NEW_RS_AVAILABLE)
        || complete(d, status)
    {
        return None;
    }
    let due = cond.last_update_time?.0 + jiff::SignedDuration::from_secs(i64::from(deadline));
    let left = due.duration_since(jiff::Timestamp::now());
    Some(std::time::Duration::from_secs(
        left.as_secs().max(0) as u64 + 1,
    ))
}
