//! Sends pod statuses to the API server: a merge patch of `pods/status`
//! when the computed status differs from the last one sent, and the final
//! delete (grace period 0, UID precondition) once a terminating pod's
//! containers are stopped, as upstream's status manager does.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Api, Client};
use serde_json::json;

use crate::error::Result;

pub struct StatusManager {
    client: Client,
    sent: Mutex<HashMap<String, PodStatus>>,
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl StatusManager {
    pub fn new(client: Client) -> Self {
        StatusManager {
            client,
            sent: Mutex::new(HashMap::new()),
        }
    }

    fn api(&self, pod: &Pod) -> Api<Pod> {
        Api::namespaced(
            self.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        )
    }

    /// The status last sent for this pod, if any.
    pub fn last_sent(&self, pod: &Pod) -> Option<PodStatus> {
        self.sent.lock().ok()?.get(&uid(pod)).cloned()
    }

    /// Patches `pods/status` unless `status` is what was sent last (or what
    /// the object already shows). Returns whether a patch was sent.
    pub async fn set(&self, pod: &Pod, status: PodStatus) -> Result<bool> {
        let known = self.last_sent(pod).or_else(|| pod.status.clone());
        if known.as_ref() == Some(&status) {
            return Ok(false);
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let patch = json!({"status": status});
        match self
            .api(pod)
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        if let Ok(mut sent) = self.sent.lock() {
            sent.insert(uid(pod), status);
        }
        Ok(true)
    }

    /// Deletes the pod object for good (grace period 0, only this UID).
    /// A pod already gone counts as deleted.
    pub async fn delete_final(&self, pod: &Pod) -> Result<()> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.api(pod).delete(&name, &params).await {
            Ok(_) => Ok(()),
            // Gone, or replaced by a pod of the same name (UID conflict).
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Forgets a pod whose object is gone.
    pub fn forget(&self, pod_uid: &str) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.remove(pod_uid);
        }
    }
}
