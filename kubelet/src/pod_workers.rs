//! One task per pod (upstream's pod workers). A worker receives the latest
//! version of its pod on a watch channel and loops: sync the pod with the
//! runtime, compute its status, hand it to the status manager; re-sync on
//! every change and every `pod_resync_period`. A pod with a
//! deletionTimestamp is stopped (grace period from the deletion, else the
//! spec, else 30 s), its final status posted and its object deleted with
//! grace 0. A pod whose object vanished is stopped and forgotten.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::watch;

use crate::pod_status;
use crate::runtime::Runtime;
use crate::status_manager::StatusManager;

/// What the pod workers share.
pub struct WorkerContext {
    pub runtime: Arc<dyn Runtime>,
    pub status: StatusManager,
    pub host_ip: String,
    pub resync: Duration,
}

#[derive(Clone)]
struct PodUpdate {
    pod: Pod,
    /// The object is gone from the API server.
    removed: bool,
}

struct Worker {
    updates: watch::Sender<PodUpdate>,
    task: tokio::task::JoinHandle<()>,
}

/// The workers of one node, by pod UID.
pub struct PodWorkers {
    ctx: Arc<WorkerContext>,
    workers: HashMap<String, Worker>,
}

/// The grace period for stopping `pod`: the deletion's, else the spec's,
/// else upstream's default 30 s; at least `MINIMUM_GRACE_PERIOD`.
pub fn grace_period(pod: &Pod) -> Duration {
    let seconds = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30);
    Duration::from_secs(seconds.max(0) as u64).max(MINIMUM_GRACE_PERIOD)
}

/// upstream's kubelet never gives a container less than 2 s to stop.
pub const MINIMUM_GRACE_PERIOD: Duration = Duration::from_secs(2);

/// A pod whose object vanished without a graceful deletion was force
/// deleted: its deletion grace period if it carried one, else the minimum.
pub fn removal_grace_period(pod: &Pod) -> Duration {
    let seconds = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
    Duration::from_secs(seconds.max(0) as u64).max(MINIMUM_GRACE_PERIOD)
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

impl PodWorkers {
    pub fn new(ctx: Arc<WorkerContext>) -> Self {
        PodWorkers {
            ctx,
            workers: HashMap::new(),
        }
    }

    /// UIDs of the pods that have a worker.
    pub fn pod_uids(&self) -> Vec<String> {
        self.workers.keys().cloned().collect()
    }

    /// A new or changed pod: start its worker or pass the new version on.
    pub fn update(&mut self, pod: Pod) {
        let uid = uid_of(&pod);
        let update = PodUpdate {
            pod,
            removed: false,
        };
        if let Some(worker) = self.workers.get(&uid)
            && !worker.task.is_finished()
        {
            // The worker holds the receiver until it exits.
            let _ = worker.updates.send(update);
            return;
        }
        let (tx, rx) = watch::channel(update);
        let task = tokio::spawn(run_worker(self.ctx.clone(), rx));
        self.workers.insert(uid, Worker { updates: tx, task });
    }

    /// The pod object is gone: its worker stops the pod and exits.
    pub fn remove(&mut self, pod_uid: &str) {
        if let Some(worker) = self.workers.remove(pod_uid) {
            worker.updates.send_modify(|u| u.removed = true);
        }
        self.ctx.status.forget(pod_uid);
    }

    /// Stops every worker without touching the pods (process shutdown).
    pub fn abort_all(&mut self) {
        for (_, w) in self.workers.drain() {
            w.task.abort();
        }
    }
}

async fn run_worker(ctx: Arc<WorkerContext>, mut updates: watch::Receiver<PodUpdate>) {
    loop {
        let update = updates.borrow_and_update().clone();
        let pod = update.pod;
        let name = format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            pod.metadata.name.as_deref().unwrap_or_default()
        );
        if update.removed {
            if let Err(e) = ctx.runtime.kill_pod(&pod, removal_grace_period(&pod)).await {
                tracing::warn!(pod = %name, error = %e, "stopping a removed pod");
            }
            ctx.runtime.remove_pod(&uid_of(&pod)).await;
            tracing::info!(pod = %name, "pod removed");
            return;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            terminate(&ctx, &pod, &name).await;
            // Wait for the object's removal (the watch reports it).
            if updates.changed().await.is_err() {
                return;
            }
            continue;
        }
        match ctx
            .runtime
            .sync_pod(&with_host_ip(&pod, &ctx.host_ip))
            .await
        {
            Ok(rt) => {
                let mut view = pod.clone();
                if let Some(sent) = ctx.status.last_sent(&pod) {
                    view.status = Some(sent);
                    pod_status::keep_foreign_conditions(&mut view, &pod);
                }
                let status = pod_status::compute(&view, &rt, &ctx.host_ip, Timestamp::now());
                if let Err(e) = ctx.status.set(&pod, status).await {
                    tracing::warn!(pod = %name, error = %e, "updating pod status");
                }
            }
            Err(e) => tracing::warn!(pod = %name, error = %e, "syncing pod"),
        }
        tokio::select! {
            changed = updates.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(ctx.resync) => {}
        }
    }
}

/// The pod as the runtime should see it: `status.hostIP(s)` known before
/// the kubelet first posted a status, so the downward API (`fieldRef:
/// status.hostIP` in env and volumes) resolves on the first start, as
/// upstream's kubelet does from the node's addresses.
fn with_host_ip(pod: &Pod, host_ip: &str) -> Pod {
    let mut pod = pod.clone();
    let status = pod.status.get_or_insert_with(Default::default);
    if status.host_ip.as_deref().is_none_or(str::is_empty) {
        status.host_ip = Some(host_ip.to_string());
        status.host_ips = Some(vec![k8s_openapi::api::core::v1::HostIP {
            ip: host_ip.to_string(),
        }]);
    }
    pod
}

/// Stops a pod being deleted, posts its final status and deletes the object.
async fn terminate(ctx: &WorkerContext, pod: &Pod, name: &str) {
    let grace = grace_period(pod);
    tracing::info!(pod = %name, grace_seconds = grace.as_secs(), "killing pod");
    match ctx.runtime.kill_pod(pod, grace).await {
        Ok(rt) => {
            let mut view = pod.clone();
            if let Some(sent) = ctx.status.last_sent(pod) {
                view.status = Some(sent);
                pod_status::keep_foreign_conditions(&mut view, pod);
            }
            let status = pod_status::compute(&view, &rt, &ctx.host_ip, Timestamp::now());
            if let Err(e) = ctx.status.set(pod, status).await {
                tracing::warn!(pod = %name, error = %e, "posting final pod status");
            }
        }
        Err(e) => tracing::warn!(pod = %name, error = %e, "killing pod"),
    }
    let mut retry = Duration::from_millis(200);
    loop {
        match ctx.status.delete_final(pod).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(pod = %name, error = %e, "deleting terminated pod");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(10));
            }
        }
    }
}
