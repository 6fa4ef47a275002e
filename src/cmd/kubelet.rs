//! `oxkube kubelet`: the node agent alone (upstream flag names), or many
//! simulated nodes in one process (`--runtime=simulated
//! --simulated-nodes N`, a test mode for scale tests). `oxkube server
//! --with-node` runs the same agent next to the API server
//! (`spawn_in_server`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kubelet::{KubeletConfig, RuntimeKind};

/// The node's settings shared by `oxkube kubelet` and `oxkube server
/// --with-node`.
#[derive(Args, Debug, Clone)]
pub struct NodeFlags {
    /// containerd's socket.
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    pub container_runtime_endpoint: String,
    /// Pod directories, volumes and runtime state.
    #[arg(long, default_value = "/var/lib/kubelet")]
    pub root_dir: PathBuf,
    /// Port of the kubelet API (published in the Node's daemonEndpoints).
    #[arg(long, default_value_t = 10250)]
    pub port: u16,
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
    /// Where container logs are written (CRI format).
    #[arg(long, default_value = "/var/log/pods")]
    pub pod_logs_dir: PathBuf,
    /// Image of the pod sandbox ("pause") container; must be present in
    /// containerd (no registry is used).
    #[arg(long, default_value = "docker.io/library/busybox:local")]
    pub pod_infra_container_image: String,
    /// Directory of the CNI plugins.
    #[arg(long, default_value = "/usr/lib/cni")]
    pub cni_bin_dir: PathBuf,
    /// Where the kubelet writes its CNI conflist (default: ROOT_DIR/cni).
    #[arg(long)]
    pub cni_conf_dir: Option<PathBuf>,
    /// The Linux bridge pods are attached to.
    #[arg(long, default_value = "oxkube0")]
    pub cni_bridge: String,
}

#[derive(Args, Debug, Clone)]
pub struct KubeletArgs {
    /// Kubeconfig with the node's credentials and the API server's address.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// The Node's name (default: the host name). With --simulated-nodes, the
    /// prefix of the simulated nodes' names (PREFIX-0, PREFIX-1, ...).
    #[arg(long)]
    pub node_name: Option<String>,
    /// containerd, or simulated (test mode: no containers are run).
    #[arg(long, default_value = "containerd")]
    pub runtime: RuntimeKind,
    /// With --runtime=simulated: how many simulated nodes to run.
    #[arg(long, default_value_t = 1)]
    pub simulated_nodes: u32,
    /// Serving certificate of the kubelet API (default: self-signed).
    #[arg(long, requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    #[arg(long, requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub node: NodeFlags,
}

impl NodeFlags {
    pub fn config(&self, name: String, runtime: RuntimeKind) -> anyhow::Result<KubeletConfig> {
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
        if runtime == RuntimeKind::Containerd {
            // Container exits are noticed by polling the task state.
            config.pod_resync_period = std::time::Duration::from_secs(1);
        }
        Ok(config)
    }

    pub fn containerd_config(&self) -> kubelet::runtime::containerd::ContainerdConfig {
        let conf_dir = self
            .cni_conf_dir
            .clone()
            .unwrap_or_else(|| self.root_dir.join("cni"));
        kubelet::runtime::containerd::ContainerdConfig {
            endpoint: self.container_runtime_endpoint.clone(),
            root_dir: self.root_dir.clone(),
            pod_logs_dir: self.pod_logs_dir.clone(),
            sandbox_image: self.pod_infra_container_image.clone(),
            cni: kubelet::cni::CniConfig {
                bin_dir: self.cni_bin_dir.clone(),
                data_dir: conf_dir.join("networks"),
                conf_dir,
                bridge: self.cni_bridge.clone(),
                subnet: self.pod_cidr.clone(),
            },
        }
    }

    /// Why a containerd node cannot run here (not root, no containerd
    /// socket), if it cannot.
    pub fn containerd_unavailable(&self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() != 0) {
            return Some("the node agent must run as root".into());
        }
        let socket = self
            .container_runtime_endpoint
            .strip_prefix("unix://")
            .unwrap_or(&self.container_runtime_endpoint);
        if !Path::new(socket).exists() {
            return Some(format!(
                "containerd is not running: no socket at {socket} (start it, or pass --container-runtime-endpoint; scripts/start-containerd.sh starts a private one)"
            ));
        }
        None
    }
}

/// Starts the node agent(s) and returns them running.
pub async fn start(args: &KubeletArgs) -> anyhow::Result<Vec<kubelet::RunningKubelet>> {
    let name = args
        .node_name
        .clone()
        .unwrap_or_else(kubelet::host::hostname);
    let mut config = args.node.config(name, args.runtime)?;
    config.tls = args
        .tls_cert_file
        .clone()
        .zip(args.tls_private_key_file.clone());
    let client = kubelet::client::from_kubeconfig(&args.kubeconfig).await?;
    match args.runtime {
        RuntimeKind::Simulated => {
            let nodes = kubelet::simulated_nodes::start_many(client, &config, args.simulated_nodes)
                .await
                .context("starting simulated nodes")?;
            tracing::info!(count = nodes.len(), "simulated nodes running");
            Ok(nodes)
        }
        RuntimeKind::Containerd => {
            if let Some(why) = args.node.containerd_unavailable() {
                anyhow::bail!("cannot run the node agent: {why}");
            }
            let node = kubelet::start_containerd(client, config, args.node.containerd_config())
                .await
                .context("starting the node agent on containerd")?;
            Ok(vec![node])
        }
    }
}

pub async fn run(args: KubeletArgs) -> anyhow::Result<()> {
    let nodes = start(&args).await?;
    super::wait_for_signal().await?;
    nodes.iter().for_each(kubelet::RunningKubelet::abort);
    Ok(())
}

/// `oxkube server --with-node`: a kubelet on this machine with its own
/// client certificate (CN `system:node:<name>`, O `system:nodes`). Refuses
/// clearly when not root or containerd is absent.
pub async fn spawn_in_server(
    data_dir: &Path,
    server_url: &str,
    node_name: Option<String>,
    flags: &NodeFlags,
) -> anyhow::Result<kubelet::RunningKubelet> {
    if let Some(why) = flags.containerd_unavailable() {
        anyhow::bail!("--with-node: {why}");
    }
    let name = node_name.unwrap_or_else(kubelet::host::hostname);
    let kubeconfig = apiserver::pki::ensure_node_kubeconfig(data_dir, server_url, &name)
        .context("creating the node's certificate")?;
    let args = KubeletArgs {
        kubeconfig,
        node_name: Some(name),
        runtime: RuntimeKind::Containerd,
        simulated_nodes: 1,
        tls_cert_file: None,
        tls_private_key_file: None,
        node: flags.clone(),
    };
    let mut nodes = start(&args).await?;
    nodes.pop().context("no node agent started")
}
