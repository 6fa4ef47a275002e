//! `oxkube controller-manager`: the controllers of `controllers/` against
//! any API server (upstream flag names: `--kubeconfig`, `--controllers`,
//! `--leader-elect`, `--root-ca-file`). `oxkube server` starts the same
//! thing in-process through `start`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine as _;
use clap::Args;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(Args, Debug, Clone)]
pub struct ControllerManagerArgs {
    /// Kubeconfig with the controller manager's credentials.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Controllers to run: `*` (all), `name` to enable, `-name` to disable.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub controllers: Vec<String>,
    /// Take the `kube-system/kube-controller-manager` Lease before working.
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// CA bundle published as `kube-root-ca.crt` (default: the kubeconfig's CA).
    #[arg(long)]
    pub root_ca_file: Option<PathBuf>,
    /// How long a node may stay silent (no Lease renewal, no status) before
    /// its Ready condition becomes Unknown, in seconds.
    #[arg(long, default_value_t = 40)]
    pub node_monitor_grace_period: u64,
}

/// A client for the kubeconfig at `path`, and the PEM of its cluster CA.
pub async fn client_from_kubeconfig(path: &Path) -> anyhow::Result<(Client, Option<String>)> {
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let ca_pem = kubeconfig
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(
            |c| match (&c.certificate_authority_data, &c.certificate_authority) {
                (Some(data), _) => base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok()),
                (None, Some(file)) => std::fs::read_to_string(file).ok(),
                (None, None) => None,
            },
        );
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading {}", path.display()))?;
    Ok((Client::try_from(config)?, ca_pem))
}

/// Runs the controller manager until it fails or loses leadership.
pub async fn start(args: ControllerManagerArgs) -> anyhow::Result<()> {
    let (client, kubeconfig_ca) = client_from_kubeconfig(&args.kubeconfig).await?;
    let unknown = controllers::manager::unknown(&args.controllers);
    anyhow::ensure!(
        unknown.is_empty(),
        "--controllers: unknown controllers {unknown:?}"
    );
    let root_ca_pem = match &args.root_ca_file {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => kubeconfig_ca,
    };
    let cfg = controllers::ManagerConfig {
        controllers: args.controllers.clone(),
        root_ca_pem,
        node_monitor_grace_period: Some(std::time::Duration::from_secs(
            args.node_monitor_grace_period,
        )),
    };
    let work = controllers::run_manager(client.clone(), cfg);
    super::run_elected(client, "kube-controller-manager", args.leader_elect, work).await
}

pub async fn run(args: ControllerManagerArgs) -> anyhow::Result<()> {
    tokio::select! {
        r = start(args) => r,
        r = super::wait_for_signal() => r,
    }
}

/// Inside `oxkube server`: a client certificate (CN
/// `system:kube-controller-manager`) and kubeconfig in the data dir, and the
/// controller manager running as a task against `server_url`.
pub fn spawn_in_server(
    data_dir: &Path,
    server_url: &str,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let kubeconfig = apiserver::pki::ensure_component_kubeconfig(
        data_dir,
        server_url,
        "controller-manager",
        "system:kube-controller-manager",
    )
    .context("creating the controller manager's certificate")?;
    let args = ControllerManagerArgs {
        kubeconfig,
        controllers: vec!["*".into()],
        leader_elect: true,
        root_ca_file: None,
        node_monitor_grace_period: 40,
    };
    Ok(tokio::spawn(async move {
        if let Err(e) = start(args).await {
            tracing::error!(error = %e, "controller manager stopped");
        }
    }))
}
