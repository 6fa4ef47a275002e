//! `oxkube server`: the all-in-one control plane on one machine (like k3s):
//! the embedded store and the API server, with a PKI and an admin
//! kubeconfig made on first start, the controller manager and the scheduler.
//!
//! With `--cluster-init` (first server) or `--server URL --token T`
//! (further servers) it is one server of an HA control plane, k3s's
//! embedded-etcd pattern: the embedded store is a member of a Raft store
//! shared by the servers (`server/ha.rs` decides the role, `server/member.rs`
//! runs the member), every API server serves the join routes
//! (`apiserver::join`), and the controller manager and scheduler run with
//! leader election, so one of each acts at a time. See docs/ha.md.

pub mod ha;
mod member;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// HA control plane flags (boxed: they are rarely set).
    #[command(flatten)]
    pub ha: Box<ha::HaArgs>,
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let role = ha::role(&args.data_dir, &args.ha)?;
    // A joining server takes the cluster's CA before making its own
    // certificates with it.
    let join_client = match &role {
        Some(ha::Role::Join { server, token }) => {
            Some(ha::fetch_cluster_files(&args.data_dir, server, token).await?)
        }
        _ => None,
    };
    let advertise = match role {
        Some(_) => Some(ha::advertise_address(
            args.api.bind_address,
            args.ha.advertise_address,
        )?),
        None => None,
    };

    let bind = SocketAddr::new(args.api.bind_address, args.api.secure_port);
    let host = match args.api.bind_address {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        ip => ip.to_string(),
    };
    let url = format!("https://{host}:{}", args.api.secure_port);
    let mut sans = vec![host.clone()];
    sans.extend(advertise.map(|ip| ip.to_string()));
    let pki =
        apiserver::pki::ensure(&args.data_dir, &url, &sans).context("creating certificates")?;
    let serve = apiserver::ServeConfig {
        bind,
        tls_cert_file: args
            .api
            .tls_cert_file
            .clone()
            .unwrap_or(pki.serving_cert.clone()),
        tls_private_key_file: args
            .api
            .tls_private_key_file
            .clone()
            .unwrap_or(pki.serving_key.clone()),
        client_ca_file: Some(
            args.api
                .client_ca_file
                .clone()
                .unwrap_or(pki.ca_cert.clone()),
        ),
    };

    let settings = args.api.settings(Some(&pki.service_account_key))?;
    let (server, store_member) = match (&role, advertise) {
        (Some(role), Some(advertise)) => {
            let secret =
                ha::settle_token(&args.data_dir, role, args.ha.token.as_deref(), &pki.ca_cert)?;
            let name = ha::member_name(&args.data_dir, args.node_name.as_deref())?;
            let store = member::start(member::MemberPlan {
                data_dir: &args.data_dir,
                name,
                bind: args.api.bind_address,
                advertise,
                peer_port: args.ha.peer_port,
                join: join_client.as_ref(),
                init: matches!(role, ha::Role::Init),
            })
            .await?;
            member::wait_ready(&store.member).await?;
            let kv: Arc<dyn store::Kv> = store.member.clone();
            let routes = apiserver::join::router(apiserver::join::JoinConfig {
                data_dir: args.data_dir.clone(),
                secret,
                kv: kv.clone(),
            });
            let server = apiserver::start_with_routes(kv, serve, settings, routes).await?;
            (server, Some(store))
        }
        _ => {
            let engine = store::Engine::open(
                &ha::store_dir(&args.data_dir),
                store::EngineOptions::default(),
            )
            .context("opening the embedded store")?;
            let server = apiserver::start(engine, serve, settings).await?;
            (server, None)
        }
    };
    // Control-plane components talk to the API server over HTTPS with their
    // own client certificates, like upstream's. They always take their
    // Leases (`run_elected`), so only one of each acts among HA servers.
    let local_url = format!("https://{host}:{}", server.local_addr.port());
    let _controller_manager = if args.disable_controller_manager {
        None
    } else {
        let (dir, url) = (args.data_dir.clone(), local_url.clone());
        Some(supervise("controller manager", move || {
            super::controller_manager::spawn_in_server(&dir, &url)
        })?)
    };
    let _scheduler = if args.disable_scheduler {
        None
    } else {
        let (dir, url) = (args.data_dir.clone(), local_url.clone());
        Some(supervise("scheduler", move || {
            super::scheduler::spawn_in_server(&dir, &url)
        })?)
    };
    // HA: every API server keeps itself in the `default/kubernetes`
    // Endpoints (upstream's lease endpoint reconciler).
    let reconciler = match (&store_member, advertise) {
        (Some(_), Some(ip)) => {
            let address = SocketAddr::new(ip, server.local_addr.port());
            let task = apiserver::endpoint_reconciler::spawn(server.state.clone(), address);
            Some((address, task))
        }
        _ => None,
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
    if let (Some(store), Some(advertise)) = (&store_member, advertise) {
        let join_url = SocketAddr::new(advertise, server.local_addr.port());
        println!(
            "Store member {:x} (peers at {}).\nJoin another server with:\n  oxkube server --server https://{join_url} --token \"$(cat {})\"",
            store.member.id(),
            store.peer_url,
            ha::token_path(&args.data_dir).display()
        );
    }
    super::wait_for_signal().await?;
    if let Some((address, task)) = reconciler {
        task.abort();
        let removal = apiserver::endpoint_reconciler::remove(&server.state, address);
        match tokio::time::timeout(Duration::from_secs(3), removal).await {
            Ok(Ok(())) => tracing::info!("removed this server from the kubernetes endpoints"),
            Ok(Err(err)) => {
                tracing::warn!(%err, "removing this server from the kubernetes endpoints")
            }
            Err(_) => {
                tracing::warn!("removing this server from the kubernetes endpoints timed out")
            }
        }
    }
    server.abort();
    if let Some(store) = store_member {
        store.shutdown().await;
    }
    Ok(())
}

/// Starts a component and starts it again whenever it stops, which it does
/// when it loses its Lease (upstream's components exit then, to be
/// restarted): the server stays a candidate for the Lease. A failure of the
/// first start fails the server's start.
fn supervise(
    component: &'static str,
    spawn: impl Fn() -> anyhow::Result<tokio::task::JoinHandle<()>> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let first = spawn()?;
    Ok(tokio::spawn(async move {
        let mut running = Some(first);
        loop {
            if let Some(task) = running.take() {
                let _ = task.await;
                tracing::warn!(component, "stopped; starting it again");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            match spawn() {
                Ok(task) => running = Some(task),
                Err(err) => tracing::error!(component, error = %err, "starting again failed"),
            }
        }
    }))
}
