//! The kubelet's settings. Names follow upstream's KubeletConfiguration
//! (`nodeStatusUpdateFrequency`, `nodeLeaseDurationSeconds`, `podCIDR`...);
//! the command line (`oxkube kubelet`) maps its flags onto this struct.

use std::path::PathBuf;
use std::time::Duration;

/// Which container runtime runs the pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// containerd through its gRPC API (the default).
    Containerd,
    /// No containers: pods go Running and Ready at once. A test mode for
    /// scale tests of the scheduler and controllers, never the default.
    Simulated,
}

impl std::str::FromStr for RuntimeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "containerd" => Ok(RuntimeKind::Containerd),
            "simulated" => Ok(RuntimeKind::Simulated),
            other => Err(format!(
                "unknown runtime {other:?}: expected containerd or simulated"
            )),
        }
    }
}

/// Settings of one node agent.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// `--node-name`: the Node object's name.
    pub node_name: String,
    /// `--root-dir`: pod directories, logs and runtime state.
    pub root_dir: PathBuf,
    /// `--port`: the kubelet API port, published in
    /// `status.daemonEndpoints.kubeletEndpoint.Port`.
    pub port: u16,
    /// `--pod-cidr`: where pod IPs come from.
    pub pod_cidr: String,
    /// `--node-ip`: the InternalIP address (detected when None).
    pub node_ip: Option<String>,
    /// `--max-pods` (upstream default 110).
    pub max_pods: u32,
    /// How often node conditions are recomputed (upstream
    /// nodeStatusUpdateFrequency, 10 s).
    pub node_status_update_frequency: Duration,
    /// How often an unchanged node status is still posted (upstream
    /// nodeStatusReportFrequency, 5 min).
    pub node_status_report_frequency: Duration,
    /// `nodeLeaseDurationSeconds` (40 s); the lease is renewed every quarter
    /// of it (10 s), as upstream does.
    pub node_lease_duration_seconds: i32,
    /// How often a pod worker re-syncs a pod that did not change.
    pub pod_resync_period: Duration,
    /// Labels added to the Node at registration (`--node-labels`).
    pub node_labels: Vec<(String, String)>,
    /// `--tls-cert-file`/`--tls-private-key-file` of the kubelet API
    /// (None: a self-signed certificate is made at start).
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl KubeletConfig {
    /// Upstream's defaults for a node called `node_name`.
    pub fn new(node_name: impl Into<String>) -> Self {
        KubeletConfig {
            node_name: node_name.into(),
            root_dir: PathBuf::from("/var/lib/kubelet"),
            port: 10250,
            pod_cidr: "10.88.0.0/16".into(),
            node_ip: None,
            max_pods: 110,
            node_status_update_frequency: Duration::from_secs(10),
            node_status_report_frequency: Duration::from_secs(300),
            node_lease_duration_seconds: 40,
            pod_resync_period: Duration::from_secs(10),
            node_labels: Vec::new(),
            tls: None,
        }
    }

    /// How often the lease is renewed: a quarter of its duration.
    pub fn lease_renew_interval(&self) -> Duration {
        Duration::from_millis(self.node_lease_duration_seconds.max(4) as u64 * 250)
    }
}
