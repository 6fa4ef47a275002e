//! The simulated runtime (`--runtime=simulated`): no containers run. A pod's
//! sandbox "starts" at its first sync with an IP from the node's pod CIDR,
//! init containers report Completed and app containers Running (started
//! and ready) from then on. A test mode for scale tests of the scheduler
//! and controllers (many simulated nodes in one process), never the
//! default.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, Pod,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::{ContainerRuntimeStatus, PodRuntimeStatus, Runtime, RuntimeError};
use crate::ipam::{IpamError, Ipv4Pool};

/// The simulated runtime's version string.
pub const SIMULATED_RUNTIME_VERSION: &str = "simulated://0.1.0";

struct SimulatedPod {
    started: Timestamp,
    ip: Option<Ipv4Addr>,
    killed: Option<Timestamp>,
}

/// Pods "running" on one simulated node.
pub struct SimulatedRuntime {
    pool: Mutex<Ipv4Pool>,
    pods: Mutex<HashMap<String, SimulatedPod>>,
}

impl SimulatedRuntime {
    pub fn new(pod_cidr: &str) -> Result<Self, IpamError> {
        Ok(SimulatedRuntime {
            pool: Mutex::new(Ipv4Pool::new(pod_cidr)?),
            pods: Mutex::new(HashMap::new()),
        })
    }

    /// How many pods this node runs now.
    pub fn running_pods(&self) -> usize {
        self.pods
            .lock()
            .map(|p| p.values().filter(|p| p.killed.is_none()).count())
            .unwrap_or(0)
    }
}

fn terminated(at: Timestamp, started: Timestamp) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: 0,
            reason: Some("Completed".into()),
            started_at: Some(Time(started)),
            finished_at: Some(Time(at)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_status(
    uid: &str,
    c: &Container,
    state: ContainerState,
    running: bool,
) -> ContainerRuntimeStatus {
    let image = c.image.clone().unwrap_or_default();
    ContainerRuntimeStatus {
        name: c.name.clone(),
        image_id: image.clone(),
        image,
        container_id: Some(format!("simulated://{uid}/{}", c.name)),
        state,
        last_state: None,
        restart_count: 0,
        started: running,
        ready: running,
    }
}

fn report(pod: &Pod, sim: &SimulatedPod) -> PodRuntimeStatus {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let Some(spec) = pod.spec.as_ref() else {
        return PodRuntimeStatus::default();
    };
    let init_containers = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| container_status(uid, c, terminated(sim.started, sim.started), false))
        .collect();
    let containers = spec
        .containers
        .iter()
        .map(|c| match sim.killed {
            Some(at) => container_status(uid, c, terminated(at, sim.started), false),
            None => {
                let state = ContainerState {
                    running: Some(ContainerStateRunning {
                        started_at: Some(Time(sim.started)),
                    }),
                    ..Default::default()
                };
                container_status(uid, c, state, true)
            }
        })
        .collect();
    PodRuntimeStatus {
        sandbox_ready: sim.killed.is_none(),
        pod_ip: sim.ip.map(|ip| ip.to_string()),
        init_containers,
        containers,
    }
}

#[async_trait]
impl Runtime for SimulatedRuntime {
    fn version(&self) -> String {
        SIMULATED_RUNTIME_VERSION.into()
    }

    async fn health(&self) -> Result<(), String> {
        Ok(())
    }

    async fn sync_pod(&self, pod: &Pod) -> Result<PodRuntimeStatus, RuntimeError> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let mut pods = self
            .pods
            .lock()
            .map_err(|_| RuntimeError::Unavailable("state lock poisoned".into()))?;
        if !pods.contains_key(&uid) {
            let ip = if host_network {
                None
            } else {
                let mut pool = self
                    .pool
                    .lock()
                    .map_err(|_| RuntimeError::Unavailable("ipam lock poisoned".into()))?;
                Some(
                    pool.allocate()
                        .map_err(|e| RuntimeError::Sandbox(e.to_string()))?,
                )
            };
            pods.insert(
                uid.clone(),
                SimulatedPod {
                    started: Timestamp::now(),
                    ip,
                    killed: None,
                },
            );
        }
        Ok(pods
            .get(&uid)
            .map(|sim| report(pod, sim))
            .unwrap_or_default())
    }

    async fn kill_pod(
        &self,
        pod: &Pod,
        _grace: Duration,
    ) -> Result<PodRuntimeStatus, RuntimeError> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let mut pods = self
            .pods
            .lock()
            .map_err(|_| RuntimeError::Unavailable("state lock poisoned".into()))?;
        let Some(sim) = pods.get_mut(&uid) else {
            return Ok(PodRuntimeStatus::default());
        };
        if sim.killed.is_none() {
            sim.killed = Some(Timestamp::now());
            if let (Some(ip), Ok(mut pool)) = (sim.ip, self.pool.lock()) {
                pool.release(ip);
            }
        }
        Ok(report(pod, sim))
    }

    async fn remove_pod(&self, uid: &str) {
        if let Ok(mut pods) = self.pods.lock()
            && let Some(sim) = pods.remove(uid)
            && sim.killed.is_none()
            && let (Some(ip), Ok(mut pool)) = (sim.ip, self.pool.lock())
        {
            pool.release(ip);
        }
    }
}
