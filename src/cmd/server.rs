//! `oxkube server`: the all-in-one control plane on one machine (like k3s):
//! the embedded store and the API server, with a PKI and an admin
//! kubeconfig made on first start.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::apiserver::ApiFlags;

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Where the store, certificates and admin.kubeconfig live.
    #[arg(long, default_value = "/var/lib/oxkube")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub api: ApiFlags,
    /// Do not run the controller manager next to the API server (tests).
    #[arg(long)]
    pub disable_controller_manager: bool,
    /// Do not run the scheduler next to the API server (tests).
    #[arg(long)]
    pub disable_scheduler: bool,
    /// Also run a kubelet on this machine (needs root and containerd).
    #[arg(long)]
    pub with_node: bool,
    /// With --with-node: the Node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    #[command(flatten)]
    pub node: super::kubelet::NodeFlags,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let engine = store::Engine::open(
        &args.data_dir.join("store"),
        store::EngineOptions::default(),
    )
    .context("opening the embedded store")?;
    let kv: Arc<dyn store::Kv> = engine;

    let bind = SocketAddr::new(args.api.bind_address, args.api.secure_port);
    let host = match args.api.bind_address {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        ip => ip.to_string(),
    };
    let url = format!("https://{host}:{}", args.api.secure_port);
    let pki = apiserver::pki::ensure(&args.data_dir, &url, std::slice::from_ref(&host))
        .context("creating certificates")?;
    let serve = apiserver::ServeConfig {
        bind,
        tls_cert_file: args.api.tls_cert_file.clone().unwrap_or(pki.serving_cert),
        tls_private_key_file: args
            .api
            .tls_private_key_file
            .clone()
            .unwrap_or(pki.serving_key),
        client_ca_file: Some(args.api.client_ca_file.clone().unwrap_or(pki.ca_cert)),
    };
    let server = apiserver::start(kv, serve, args.api.settings()).await?;
    // Control-plane components talk to the API server over HTTPS with their
    // own client certificates, like upstream's.
    let local_url = format!("https://{host}:{}", server.local_addr.port());
    let _controller_manager = if args.disable_controller_manager {
        None
    } else {
        Some(super::controller_manager::spawn_in_server(
            &args.data_dir,
            &local_url,
        )?)
    };
    let _scheduler = if args.disable_scheduler {
        None
    } else {
        Some(super::scheduler::spawn_in_server(
            &args.data_dir,
            &local_url,
        )?)
    };
    let _node = if args.with_node {
        Some(
            super::kubelet::spawn_in_server(
                &args.data_dir,
                &local_url,
                args.node_name.clone(),
                &args.node,
            )
            .await?,
        )
    } else {
        None
    };
    tracing::info!(
        addr = %server.local_addr,
        took_ms = started.elapsed().as_millis() as u64,
        "oxkube server is ready"
    );
    println!(
        "oxkube server is serving on https://{}\nUse it with:\n  export KUBECONFIG={}\n  kubectl get namespaces",
        server.local_addr,
        pki.admin_kubeconfig.display()
    );
    super::until_signal(server).await
}
