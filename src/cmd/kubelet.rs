//! `oxkube kubelet`: the node agent alone (upstream flag names), or many
//! simulated nodes in one process (`--runtime=simulated
//! --simulated-nodes N`, a test mode for scale tests).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use kubelet::{KubeletConfig, RuntimeKind};

#[derive(Args, Debug, Clone)]
pub struct KubeletArgs {
    /// Kubeconfig with the node's credentials and the API server's address.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// The Node's name (default: the host name). With --simulated-nodes, the
    /// prefix of the simulated nodes' names (PREFIX-0, PREFIX-1, ...).
    #[arg(long)]
    pub node_name: Option<String>,
    /// containerd's socket.
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    pub container_runtime_endpoint: String,
    /// Pod directories, logs and runtime state.
    #[arg(long, default_value = "/var/lib/kubelet")]
    pub root_dir: PathBuf,
    /// Port of the kubelet API (published in the Node's daemonEndpoints).
    #[arg(long, default_value_t = 10250)]
    pub port: u16,
    /// containerd, or simulated (test mode: no containers are run).
    #[arg(long, default_value = "containerd")]
    pub runtime: RuntimeKind,
    /// With --runtime=simulated: how many simulated nodes to run.
    #[arg(long, default_value_t = 1)]
    pub simulated_nodes: u32,
    /// Range pod IPs come from.
    #[arg(long, default_value = "10.88.0.0/16")]
    pub pod_cidr: String,
    /// The node's InternalIP (default: the address of the default route).
    #[arg(long)]
    pub node_ip: Option<String>,
    /// Most pods this node runs.
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// Labels added to the Node at registration: key=value,key=value.
    #[arg(long, value_delimiter = ',')]
    pub node_labels: Vec<String>,
}

impl KubeletArgs {
    pub fn config(&self) -> anyhow::Result<KubeletConfig> {
        let name = self
            .node_name
            .clone()
            .unwrap_or_else(kubelet::host::hostname);
        let mut config = KubeletConfig::new(name);
        config.root_dir = self.root_dir.clone();
        config.port = self.port;
        config.pod_cidr = self.pod_cidr.clone();
        config.node_ip = self.node_ip.clone();
        config.max_pods = self.max_pods;
        for label in &self.node_labels {
            let (k, v) = label
                .split_once('=')
                .with_context(|| format!("--node-labels: {label:?} is not key=value"))?;
            config.node_labels.push((k.to_string(), v.to_string()));
        }
        Ok(config)
    }
}

/// Starts the node agent(s) and returns them running.
pub async fn start(args: &KubeletArgs) -> anyhow::Result<Vec<kubelet::RunningKubelet>> {
    let config = args.config()?;
    let client = kubelet::client::from_kubeconfig(&args.kubeconfig).await?;
    match args.runtime {
        RuntimeKind::Simulated => {
            let nodes = kubelet::simulated_nodes::start_many(client, &config, args.simulated_nodes)
                .await
                .context("starting simulated nodes")?;
            tracing::info!(count = nodes.len(), "simulated nodes running");
            Ok(nodes)
        }
        RuntimeKind::Containerd => anyhow::bail!(
            "the containerd runtime is not available in this build yet; use --runtime=simulated"
        ),
    }
}

pub async fn run(args: KubeletArgs) -> anyhow::Result<()> {
    let nodes = start(&args).await?;
    super::wait_for_signal().await?;
    nodes.iter().for_each(kubelet::RunningKubelet::abort);
    Ok(())
}
