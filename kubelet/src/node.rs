//! The Node object: registration (create, or adopt an existing Node of the
//! same name), then a loop that recomputes the conditions every
//! `nodeStatusUpdateFrequency` and patches `nodes/status` when something
//! changed or `nodeStatusReportFrequency` passed, as upstream's
//! kubelet_node_status.go does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeCondition, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::KubeletConfig;
use crate::error::Result;
use crate::host::{self, NodeResources, Pressure};
use crate::node_conditions;
use crate::runtime::Runtime;

/// Everything the node reports about itself, fixed for its lifetime.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub name: String,
    pub internal_ip: String,
    pub hostname: String,
    pub resources: NodeResources,
    pub system_info: NodeSystemInfo,
    pub kubelet_port: u16,
    pub labels: BTreeMap<String, String>,
    /// Simulated nodes report no pressure (they share one machine).
    pub measure_pressure: bool,
}

impl NodeIdentity {
    /// The labels upstream's kubelet puts on its Node, plus `--node-labels`.
    pub fn default_labels(name: &str, extra: &[(String, String)]) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            ("kubernetes.io/hostname".to_string(), name.to_string()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            (
                "kubernetes.io/arch".to_string(),
                host::go_arch().to_string(),
            ),
            ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
            (
                "beta.kubernetes.io/arch".to_string(),
                host::go_arch().to_string(),
            ),
        ]);
        labels.extend(extra.iter().cloned());
        labels
    }

    /// This machine, for a node running `runtime_version`.
    pub fn of_host(config: &KubeletConfig, runtime_version: &str) -> Result<Self> {
        let internal_ip = config
            .node_ip
            .clone()
            .unwrap_or_else(|| host::detect_node_ip().to_string());
        Ok(NodeIdentity {
            name: config.node_name.clone(),
            internal_ip,
            hostname: host::hostname(),
            resources: NodeResources::detect(&config.root_dir, config.max_pods)?,
            system_info: host::system_info(runtime_version),
            kubelet_port: config.port,
            labels: Self::default_labels(&config.node_name, &config.node_labels),
            measure_pressure: true,
        })
    }

    fn status(&self, conditions: Vec<NodeCondition>) -> NodeStatus {
        NodeStatus {
            capacity: Some(self.resources.capacity()),
            allocatable: Some(self.resources.allocatable()),
            conditions: Some(conditions),
            addresses: Some(host::node_addresses(&self.internal_ip, &self.hostname)),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint {
                    port: self.kubelet_port as i32,
                }),
            }),
            node_info: Some(self.system_info.clone()),
            ..Default::default()
        }
    }
}

/// Registers the node and keeps its status current.
pub struct NodeStatusReporter {
    api: Api<Node>,
    identity: Arc<NodeIdentity>,
    runtime: Arc<dyn Runtime>,
    config: KubeletConfig,
    last_conditions: Vec<NodeCondition>,
    last_report: Option<Instant>,
}

impl NodeStatusReporter {
    pub fn new(
        client: Client,
        identity: Arc<NodeIdentity>,
        runtime: Arc<dyn Runtime>,
        config: KubeletConfig,
    ) -> Self {
        NodeStatusReporter {
            api: Api::all(client),
            identity,
            runtime,
            config,
            last_conditions: Vec::new(),
            last_report: None,
        }
    }

    async fn conditions(&self) -> Vec<NodeCondition> {
        let pressure = if self.identity.measure_pressure {
            Pressure::measure(&self.config.root_dir)
        } else {
            Pressure::default()
        };
        let health = self.runtime.health().await;
        node_conditions::compute(pressure, &health, &self.last_conditions, Timestamp::now())
    }

    /// Creates the Node, or takes over an existing one of the same name
    /// (its labels are merged in), then posts the full status. Returns the
    /// Node's UID (the Lease's owner).
    pub async fn register(&mut self) -> Result<String> {
        let conditions = self.conditions().await;
        let node = Node {
            metadata: kube::api::ObjectMeta {
                name: Some(self.identity.name.clone()),
                labels: Some(self.identity.labels.clone()),
                annotations: Some(BTreeMap::from([(
                    "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                    "true".to_string(),
                )])),
                ..Default::default()
            },
            spec: Some(Default::default()),
            status: Some(self.identity.status(conditions.clone())),
        };
        let uid = match self.api.create(&PostParams::default(), &node).await {
            Ok(created) => {
                tracing::info!(node = %self.identity.name, "registered node");
                created.metadata.uid
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let patch = json!({"metadata": {"labels": self.identity.labels}});
                let existing = self
                    .api
                    .patch(
                        &self.identity.name,
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await?;
                tracing::info!(node = %self.identity.name, "node already registered; adopted it");
                existing.metadata.uid
            }
            Err(e) => return Err(e.into()),
        };
        self.post(conditions).await?;
        Ok(uid.unwrap_or_default())
    }

    async fn post(&mut self, conditions: Vec<NodeCondition>) -> Result<()> {
        let patch = json!({"status": self.identity.status(conditions.clone())});
        self.api
            .patch_status(
                &self.identity.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        self.last_conditions = conditions;
        self.last_report = Some(Instant::now());
        Ok(())
    }

    /// One tick of the status loop: post when the conditions changed or the
    /// report frequency passed. Returns whether a status was posted.
    pub async fn tick(&mut self) -> Result<bool> {
        let conditions = self.conditions().await;
        let due = self
            .last_report
            .is_none_or(|t| t.elapsed() >= self.config.node_status_report_frequency);
        if due || node_conditions::changed(&self.last_conditions, &conditions) {
            self.post(conditions).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Ticks forever; errors are logged and retried at the next tick.
    pub async fn run(mut self) {
        let mut interval = tokio::time::interval(self.config.node_status_update_frequency);
        interval.tick().await;
        loop {
            interval.tick().await;
            if let Err(e) = self.tick().await {
                tracing::warn!(node = %self.identity.name, error = %e, "updating node status");
            }
        }
    }
}
