//! The container runtime seen by the pod workers: make a pod's sandbox and
//! containers match its spec (`sync_pod`), report what runs, and stop a pod
//! (`kill_pod`, honouring the grace period). Implementations: `simulated`
//! (no containers; a test mode) and, later, containerd.

pub mod containerd;
pub mod simulated;

use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{ContainerState, Pod};

/// Errors a runtime reports for one pod.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("pod sandbox: {0}")]
    Sandbox(String),
    #[error("container {container}: {message}")]
    Container { container: String, message: String },
    #[error("runtime unavailable: {0}")]
    Unavailable(String),
}

/// What the runtime knows about one container of a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRuntimeStatus {
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub container_id: Option<String>,
    pub state: ContainerState,
    pub last_state: Option<ContainerState>,
    pub restart_count: i32,
    /// Whether the container passed its startup probe (true without one).
    pub started: bool,
    /// Whether it passes its readiness probe (running and no probe: true).
    pub ready: bool,
}

/// What the runtime knows about one pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodRuntimeStatus {
    /// The sandbox exists and its network is set up.
    pub sandbox_ready: bool,
    /// The pod's IP (None for host-network pods and before the sandbox).
    pub pod_ip: Option<String>,
    pub init_containers: Vec<ContainerRuntimeStatus>,
    pub containers: Vec<ContainerRuntimeStatus>,
}

/// A container runtime as the pod workers use it.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// `nodeInfo.containerRuntimeVersion`, e.g. `containerd://1.7.24`.
    fn version(&self) -> String;

    /// Ok when the runtime can run pods; Err(message for the Ready
    /// condition) otherwise.
    async fn health(&self) -> Result<(), String>;

    /// Brings the pod's sandbox and containers towards its spec (start what
    /// is missing, restart per restartPolicy) and reports their state.
    async fn sync_pod(&self, pod: &Pod) -> Result<PodRuntimeStatus, RuntimeError>;

    /// Stops every container of the pod (SIGTERM, then SIGKILL after
    /// `grace`) and removes its sandbox; returns the final state.
    async fn kill_pod(&self, pod: &Pod, grace: Duration) -> Result<PodRuntimeStatus, RuntimeError>;

    /// Forgets a pod whose object is gone (after `kill_pod`).
    async fn remove_pod(&self, uid: &str);
}
