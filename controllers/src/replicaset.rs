//! The ReplicaSet controller (upstream's `pkg/controller/replicaset`): the
//! shared core in `replicas/` over apps/v1 ReplicaSets, whose selector is a
//! full LabelSelector.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Client;
use kube::core::Selector;

use crate::objects;
use crate::replicas::{self, ReplicatedSet};

impl ReplicatedSet for ReplicaSet {
    const CONTROLLER: &'static str = "replicaset-controller";

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    fn pod_selector(&self) -> Option<Selector> {
        objects::selector(self.spec.as_ref().map(|s| &s.selector))
    }

    fn pod_template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().and_then(|s| s.template.as_ref())
    }

    fn current_status(&self) -> Option<ReplicaSetStatus> {
        self.status.clone()
    }
}

/// Runs the controller until the process stops.
pub async fn run(client: Client) {
    replicas::run::<ReplicaSet>(client).await
}
