//! Event recording for controllers: a thin layer over kube-runtime's
//! `Recorder` (events.k8s.io/v1, which the API server also serves as core/v1
//! Events, so `kubectl describe` and `kubectl get events` show them).
//! Failures to record are logged, never returned: an event is best effort.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

impl Events {
    /// `component` is the upstream reporting controller name, e.g.
    /// `replicaset-controller`.
    pub fn new(client: Client, component: &str) -> Self {
        let reporter = Reporter {
            controller: component.to_string(),
            instance: std::env::var("HOSTNAME").ok(),
        };
        Events {
            recorder: Recorder::new(client, reporter),
        }
    }

    pub async fn normal(&self, on: &ObjectReference, reason: &str, note: String) {
        self.publish(on, EventType::Normal, reason, note).await
    }

    pub async fn warning(&self, on: &ObjectReference, reason: &str, note: String) {
        self.publish(on, EventType::Warning, reason, note).await
    }

    async fn publish(&self, on: &ObjectReference, type_: EventType, reason: &str, note: String) {
        let ev = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action: reason.to_string(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, on).await {
            tracing::warn!(reason, error = %e, "recording an event failed");
        }
    }
}
