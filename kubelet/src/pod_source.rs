//! The node's pod source: a resilient watch (kube-runtime's watcher, with
//! back-off) on pods with `spec.nodeName=<node>`, feeding the pod workers.
//! After every (re)list, workers of pods no longer listed are told their
//! pod is gone.

use std::collections::HashSet;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use crate::pod_workers::PodWorkers;

/// Feeds `workers` until the task is aborted.
pub async fn run(client: Client, node_name: String, mut workers: PodWorkers) {
    let api: Api<Pod> = Api::all(client);
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node_name}"));
    let stream = watcher::watcher(api, config).default_backoff();
    futures::pin_mut!(stream);
    let mut listed: HashSet<String> = HashSet::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => listed.clear(),
            Ok(Event::InitApply(pod)) => {
                listed.insert(pod.metadata.uid.clone().unwrap_or_default());
                workers.update(pod);
            }
            Ok(Event::InitDone) => {
                for uid in workers.pod_uids() {
                    if !listed.contains(&uid) {
                        workers.remove(&uid);
                    }
                }
            }
            Ok(Event::Apply(pod)) => workers.update(pod),
            Ok(Event::Delete(pod)) => {
                workers.remove(pod.metadata.uid.as_deref().unwrap_or_default());
            }
            Err(e) => tracing::warn!(node = %node_name, error = %e, "pod watch"),
        }
    }
    workers.abort_all();
}
