//! Event recording for the components, like upstream's core/v1 event
//! recorder (`source.component` = the component's name): one Event per distinct
//! (object, type, reason, message); a repeat within the hour bumps its
//! `count` and `lastTimestamp` instead of creating another, which is what
//! `kubectl describe` shows as `(x2 over 4s)`. (kube-runtime's `Recorder`
//! aggregates by reason alone, which would hide every message after the
//! first: "Scaled up replica set web-1 from 3 to 5" under "from 0 to 3".)
//! Failures to record are logged, never returned: an event is best effort.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::Mutex;

/// How long a recorded event is updated rather than recreated.
const DEDUP_WINDOW: Duration = Duration::from_secs(3600);

/// An Event already written: (namespace, name, count, first seen).
type Recorded = (String, String, i32, Instant);

#[derive(Clone)]
pub struct Events {
    client: Client,
    component: String,
    /// key -> the Event recorded for it.
    seen: Arc<Mutex<HashMap<String, Recorded>>>,
}

impl Events {
    /// `component` is the upstream reporting component name, e.g.
    /// `replicaset-controller` or `default-scheduler`.
    pub fn new(client: Client, component: &str) -> Self {
        Events {
            client,
            component: component.to_string(),
            seen: Arc::default(),
        }
    }

    pub async fn normal(&self, on: &ObjectReference, reason: &str, message: String) {
        self.record(on, "Normal", reason, message).await
    }

    pub async fn warning(&self, on: &ObjectReference, reason: &str, message: String) {
        self.record(on, "Warning", reason, message).await
    }

    async fn record(&self, on: &ObjectReference, type_: &str, reason: &str, message: String) {
        let ns = on.namespace.clone().unwrap_or_else(|| "default".into());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let key = format!(
            "{}/{}/{}/{type_}/{reason}/{message}",
            on.uid.as_deref().unwrap_or_default(),
            on.kind.as_deref().unwrap_or_default(),
            on.name.as_deref().unwrap_or_default()
        );
        let now = Time(jiff::Timestamp::now());
        let mut seen = self.seen.lock().await;
        seen.retain(|_, v| v.3.elapsed() < DEDUP_WINDOW);
        if let Some((ns, name, count, _)) = seen.get_mut(&key) {
            *count += 1;
            let patch = json!({"count": *count, "lastTimestamp": now});
            let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return,
                Err(e) => {
                    tracing::debug!(reason, error = %e, "updating an event failed; recreating")
                }
            }
        }
        let name = format!(
            "{}.{:x}",
            on.name.as_deref().unwrap_or("object"),
            jiff::Timestamp::now().as_nanosecond()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: on.clone(),
            reason: Some(reason.into()),
            message: Some(message),
            type_: Some(type_.into()),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.component.clone()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                seen.insert(key, (ns, name, 1, Instant::now()));
            }
            Err(e) => tracing::warn!(reason, error = %e, "recording an event failed"),
        }
    }
}
