//! Events the kubelet reports about pods (core/v1 Event, source
//! `kubelet` on this node), with upstream's reasons: Pulled, Created,
//! Started, Killing, Unhealthy, BackOff, Failed. Recording is best effort:
//! a failure is logged, never returned.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

#[derive(Clone)]
pub struct EventRecorder {
    client: Option<Client>,
    node: String,
}

impl EventRecorder {
    pub fn new(client: Option<Client>, node: &str) -> Self {
        EventRecorder {
            client,
            node: node.into(),
        }
    }

    /// Records `reason`/`message` on the pod (on its container when given).
    pub async fn pod_event(
        &self,
        pod: &Pod,
        container: Option<&str>,
        warning: bool,
        reason: &str,
        message: &str,
    ) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let now = Timestamp::now();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                uid: pod.metadata.uid.clone(),
                field_path: container.map(|c| format!("spec.containers{{{c}}}")),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(if warning { "Warning" } else { "Normal" }.into()),
            source: Some(EventSource {
                component: Some("kubelet".into()),
                host: Some(self.node.clone()),
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None,
            count: Some(1),
            reporting_component: Some("kubelet".into()),
            reporting_instance: Some(self.node.clone()),
            action: None,
            related: None,
            series: None,
        };
        let api: Api<Event> = Api::namespaced(client, &ns);
        if let Err(e) = api.create(&PostParams::default(), &event).await {
            tracing::debug!(pod = %name, reason, error = %e, "recording event");
        }
    }
}
