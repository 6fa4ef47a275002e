//! `oxkube scheduler`: the scheduler of `scheduler/` against any API server
//! (upstream flag names: `--kubeconfig`, `--leader-elect`,
//! `--scheduler-name`). Leader election uses the `kube-system/kube-scheduler`
//! Lease through `controllers::leader_election` (wired here so the two
//! crates stay independent). `oxkube server` starts it in-process.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct SchedulerArgs {
    /// Kubeconfig with the scheduler's credentials.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Take the `kube-system/kube-scheduler` Lease before scheduling.
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Schedule the pods whose `spec.schedulerName` is this.
    #[arg(long, default_value = "default-scheduler")]
    pub scheduler_name: String,
}

pub async fn start(args: SchedulerArgs) -> anyhow::Result<()> {
    let (client, _) = super::controller_manager::client_from_kubeconfig(&args.kubeconfig).await?;
    let config = scheduler::SchedulerConfig {
        scheduler_name: args.scheduler_name.clone(),
    };
    let work = scheduler::run(client.clone(), config);
    super::run_elected(client, "kube-scheduler", args.leader_elect, work).await
}

pub async fn run(args: SchedulerArgs) -> anyhow::Result<()> {
    tokio::select! {
        r = start(args) => r,
        r = super::wait_for_signal() => r,
    }
}

/// Inside `oxkube server`: a client certificate (CN `system:kube-scheduler`)
/// and kubeconfig in the data dir, and the scheduler as a task.
pub fn spawn_in_server(
    data_dir: &Path,
    server_url: &str,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let kubeconfig = apiserver::pki::ensure_component_kubeconfig(
        data_dir,
        server_url,
        "scheduler",
        "system:kube-scheduler",
    )
    .context("creating the scheduler's certificate")?;
    let args = SchedulerArgs {
        kubeconfig,
        leader_elect: true,
        scheduler_name: "default-scheduler".into(),
    };
    Ok(tokio::spawn(async move {
        if let Err(e) = start(args).await {
            tracing::error!(error = %e, "scheduler stopped");
        }
    }))
}
