//! The status a replicated set reports: replicas, fullyLabeledReplicas,
//! readyReplicas, availableReplicas, observedGeneration and the
//! `ReplicaFailure` condition (upstream's `calculateStatus`). ReplicaSets
//! and ReplicationControllers share this shape field for field.

use k8s_openapi::api::apps::v1::{ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff;
use kube::ResourceExt;

use super::ReplicatedSet;
use crate::error::{Error, api_message};
use crate::objects::{self, is_available, is_ready};

pub fn compute<K: ReplicatedSet>(
    set: &K,
    active: &[&Pod],
    manage_error: Option<&Error>,
) -> ReplicaSetStatus {
    let min_ready = set.min_ready_seconds();
    let template_labels = set
        .pod_template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let now = jiff::Timestamp::now();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            template_labels
                .iter()
                .all(|(k, v)| p.labels().get(k) == Some(v))
        })
        .count() as i32;
    let ready = active.iter().filter(|p| is_ready(p)).count() as i32;
    let available = active
        .iter()
        .filter(|p| is_available(p, min_ready, now))
        .count() as i32;
    let old = set.current_status().unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = old
        .conditions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != "ReplicaFailure")
        .collect();
    if let Some(e) = manage_error {
        let reason = if active.len() < set.replicas().max(0) as usize {
            "FailedCreate"
        } else {
            "FailedDelete"
        };
        let previous = old
            .conditions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|c| c.type_ == "ReplicaFailure")
            .cloned();
        conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some(failure_message(e)),
            last_transition_time: previous
                .and_then(|c| c.last_transition_time)
                .or_else(|| Some(objects::now())),
        });
    }
    ReplicaSetStatus {
        replicas: active.len() as i32,
        fully_labeled_replicas: Some(fully_labeled),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        terminating_replicas: old.terminating_replicas,
        observed_generation: set.meta().generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
    }
}

/// The condition's message: the API server's own words when it refused
/// (upstream puts the error of the failed create there, e.g.
/// `pods "x" is forbidden: exceeded quota: ...`).
fn failure_message(e: &Error) -> String {
    match e {
        Error::Kube(k) => api_message(k),
        other => other.to_string(),
    }
}
