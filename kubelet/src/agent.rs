//! One node agent put together: register the Node, then run the node
//! status loop, the lease loop and the pod source with its workers as
//! tasks. `start` returns once the Node is registered.

use std::sync::Arc;

use kube::Client;

use crate::error::Result;
use crate::lease::NodeLease;
use crate::node::{NodeIdentity, NodeStatusReporter};
use crate::pod_workers::{PodWorkers, WorkerContext};
use crate::runtime::Runtime;
use crate::status_manager::StatusManager;
use crate::{KubeletConfig, pod_source};

/// A running node agent; dropping it leaves it running, `abort` stops it.
pub struct RunningKubelet {
    pub node_name: String,
    pub node_uid: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningKubelet {
    /// Stops every loop of this node agent (pods are left as they are).
    pub fn abort(&self) {
        self.tasks.iter().for_each(|t| t.abort());
    }

    /// Waits until the agent stops (only when aborted).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Registers the node described by `identity` and starts its loops.
pub async fn start(
    client: Client,
    config: KubeletConfig,
    identity: NodeIdentity,
    runtime: Arc<dyn Runtime>,
) -> Result<RunningKubelet> {
    let identity = Arc::new(identity);
    let mut reporter = NodeStatusReporter::new(
        client.clone(),
        identity.clone(),
        runtime.clone(),
        config.clone(),
    );
    let node_uid = reporter.register().await?;
    let lease = NodeLease::new(
        client.clone(),
        &identity.name,
        &node_uid,
        config.node_lease_duration_seconds,
        config.lease_renew_interval(),
    );
    let workers = PodWorkers::new(Arc::new(WorkerContext {
        runtime,
        status: StatusManager::new(client.clone()),
        host_ip: identity.internal_ip.clone(),
        resync: config.pod_resync_period,
    }));
    let tasks = vec![
        tokio::spawn(reporter.run()),
        tokio::spawn(lease.run()),
        tokio::spawn(pod_source::run(client, identity.name.clone(), workers)),
    ];
    Ok(RunningKubelet {
        node_name: identity.name.clone(),
        node_uid,
        tasks,
    })
}

/// A node on this machine running its pods through containerd: connects to
/// containerd (with `client` to read ConfigMaps/Secrets for volumes and
/// env), describes the host and starts the agent.
pub async fn start_containerd(
    client: Client,
    config: KubeletConfig,
    containerd: crate::runtime::containerd::ContainerdConfig,
) -> Result<RunningKubelet> {
    let logs_dir = containerd.pod_logs_dir.clone();
    let runtime = crate::runtime::containerd::ContainerdRuntime::connect(
        containerd,
        Some(client.clone()),
        &config.node_name,
    )
    .await?;
    let identity = NodeIdentity::of_host(&config, &runtime.version())?;
    let runtime = Arc::new(runtime);
    let api = crate::api::ApiConfig {
        streaming: Some(runtime.clone()),
        bind: std::net::SocketAddr::from(([0, 0, 0, 0], config.port)),
        pod_logs_dir: logs_dir,
        tls: config.tls.clone(),
        node_name: identity.name.clone(),
        node_ip: identity.internal_ip.clone(),
    };
    let (addr, api_task) = crate::api::serve(api).await?;
    tracing::info!(%addr, "kubelet API serving");
    let mut running = start(client, config, identity, runtime).await?;
    running.tasks.push(api_task);
    Ok(running)
}
