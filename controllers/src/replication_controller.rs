//! The ReplicationController controller: upstream runs the ReplicaSet logic
//! for core/v1 ReplicationControllers (`pkg/controller/replication`), and so
//! do we (the shared core in `replicas/`). What differs is the selector, an
//! equality-based label map, and the status type (same fields as a
//! ReplicaSet's, converted through JSON).

use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use kube::Client;
use kube::core::Selector;

use crate::replicas::{self, ReplicatedSet};

impl ReplicatedSet for ReplicationController {
    const CONTROLLER: &'static str = "replication-controller";

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    /// Every key must equal its value; an empty (or missing) map selects
    /// nothing, as upstream treats an RC without a selector.
    fn pod_selector(&self) -> Option<Selector> {
        let map = self.spec.as_ref()?.selector.as_ref()?;
        if map.is_empty() {
            return None;
        }
        Some(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn pod_template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().and_then(|s| s.template.as_ref())
    }

    fn current_status(&self) -> Option<ReplicaSetStatus> {
        let status = self.status.as_ref()?;
        match serde_json::to_value(status).and_then(serde_json::from_value) {
            Ok(s) => Some(s),
            Err(err) => {
                tracing::warn!(%err, "replicationcontroller status not in the ReplicaSet shape");
                None
            }
        }
    }
}

/// Runs the controller until the process stops.
pub async fn run(client: Client) {
    replicas::run::<ReplicationController>(client).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use kube::core::SelectorExt;

    fn rc(selector: serde_json::Value) -> ReplicationController {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "rc"},
            "spec": {"selector": selector, "template": {"metadata": {"labels": {"a": "1"}}}},
            "status": {"replicas": 2, "readyReplicas": 1, "conditions": [
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate"}
            ]}
        }))
        .expect("rc")
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_selector() {
        let sel = rc(serde_json::json!({"a": "1", "b": "2"}))
            .pod_selector()
            .expect("selector");
        assert!(sel.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "3")])));
        assert!(!sel.matches(&labels(&[("a", "1")])));
        assert!(!sel.matches(&labels(&[("a", "1"), ("b", "3")])));
        assert!(rc(serde_json::json!({})).pod_selector().is_none());
    }

    #[test]
    fn status_in_replicaset_shape() {
        let s = rc(serde_json::json!({"a": "1"}))
            .current_status()
            .expect("status");
        assert_eq!(s.replicas, 2);
        assert_eq!(s.ready_replicas, Some(1));
        let cond = &s.conditions.expect("conditions")[0];
        assert_eq!(
            (cond.type_.as_str(), cond.reason.as_deref()),
            ("ReplicaFailure", Some("FailedCreate"))
        );
    }
}
