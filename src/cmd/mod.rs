//! One module per subcommand: flags (upstream names) and wiring.

pub mod apiserver;
pub mod conformance;
pub mod controller_manager;
pub mod kubelet;
pub mod scheduler;
pub mod server;
pub mod store;

/// Process-wide set-up done once before anything else: logging, and the
/// rustls crypto provider (ring, which kube also uses).
pub fn init_process() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs until SIGINT or SIGTERM, then stops the server.
pub async fn until_signal(server: ::apiserver::RunningServer) -> anyhow::Result<()> {
    wait_for_signal().await?;
    server.abort();
    Ok(())
}

/// Returns at SIGINT or SIGTERM.
pub async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    Ok(())
}

/// Runs `work` after taking the `kube-system/<lease>` Lease when
/// `leader_elect` (upstream's `--leader-elect`), else at once: the shared
/// tail of `oxkube controller-manager` and `oxkube scheduler`.
pub async fn run_elected(
    client: kube::Client,
    lease: &str,
    leader_elect: bool,
    work: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if leader_elect {
        let le = controllers::leader_election::LeaderElectionConfig::new(lease);
        controllers::leader_election::run_as_leader(client, le, work).await?;
    } else {
        work.await;
    }
    Ok(())
}
