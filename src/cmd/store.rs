//! `oxkube store`: the embedded engine served over etcd's v3 gRPC API, with
//! etcd's flag names, until SIGTERM or SIGINT. With `--initial-cluster` (or
//! `--listen-peer-urls`) it is one member of a Raft-replicated store: peers
//! talk over `--listen-peer-urls` (TLS with the `--peer-*` files), and the
//! client API serves the replicated view. Without them it is the
//! single-member engine with no Raft at all.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{ArgAction, Args};
use std::sync::Arc;
use std::time::Duration;

use store::grpc::{EtcdServer, TlsFiles};
use store::raft::{MemberConfig, RaftMember, parse_initial_cluster};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Human-readable name for this member.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Path to the data directory.
    #[arg(long, default_value = "default.etcd")]
    pub data_dir: PathBuf,
    /// URLs to listen on for client traffic (comma separated, http:// or https://).
    #[arg(long, value_delimiter = ',', default_value = "http://localhost:2379")]
    pub listen_client_urls: Vec<String>,
    /// Client URLs of this member as advertised to the cluster (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "http://localhost:2379")]
    pub advertise_client_urls: Vec<String>,
    /// Path to the client server TLS cert file.
    #[arg(long)]
    pub cert_file: Option<PathBuf>,
    /// Path to the client server TLS key file.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Path to the client server TLS trusted CA cert file.
    #[arg(long)]
    pub trusted_ca_file: Option<PathBuf>,
    /// Enable client cert authentication.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = false,
          default_missing_value = "true")]
    pub client_cert_auth: bool,
    /// Initial cluster configuration for bootstrapping (name=peer-url,...).
    /// Setting it makes this a replicated member.
    #[arg(long)]
    pub initial_cluster: Option<String>,
    /// This member's peer URLs to advertise to the rest of the cluster.
    #[arg(long, value_delimiter = ',', default_value = "http://localhost:2380")]
    pub initial_advertise_peer_urls: Vec<String>,
    /// URLs to listen on for peer traffic (setting it makes this a
    /// replicated member).
    #[arg(long, value_delimiter = ',')]
    pub listen_peer_urls: Option<Vec<String>>,
    /// Initial cluster state ('new' or 'existing').
    #[arg(long, default_value = "new")]
    pub initial_cluster_state: String,
    /// Initial cluster token for the cluster during bootstrap.
    #[arg(long, default_value = "etcd-cluster")]
    pub initial_cluster_token: String,
    /// Path to the peer server TLS cert file.
    #[arg(long)]
    pub peer_cert_file: Option<PathBuf>,
    /// Path to the peer server TLS key file.
    #[arg(long)]
    pub peer_key_file: Option<PathBuf>,
    /// Path to the peer server TLS trusted CA file.
    #[arg(long)]
    pub peer_trusted_ca_file: Option<PathBuf>,
    /// Enable peer client cert authentication.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = false,
          default_missing_value = "true")]
    pub peer_client_cert_auth: bool,
    /// Time (in milliseconds) of a heartbeat interval.
    #[arg(long, default_value_t = 100)]
    pub heartbeat_interval: u64,
    /// Time (in milliseconds) for an election to timeout.
    #[arg(long, default_value_t = 1000)]
    pub election_timeout: u64,
    /// Number of committed entries to trigger a snapshot (and purge the log
    /// before it).
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_count: u64,
    /// Size of a journal segment of the single-member store (not an etcd
    /// flag; tests make it small to roll segments over often).
    #[arg(long, hide = true, default_value_t = store::journal::JournalOptions::default().segment_bytes)]
    pub journal_segment_bytes: u64,
}

/// One `--listen-client-urls` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListenUrl {
    tls: bool,
    host_port: String,
}

fn parse_listen_url(url: &str) -> anyhow::Result<ListenUrl> {
    let url = url.trim();
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        bail!("listen URL {url:?} must start with http:// or https://");
    };
    let host_port = rest.trim_end_matches('/');
    if host_port.is_empty() || !host_port.contains(':') || host_port.contains('/') {
        bail!("listen URL {url:?} must be scheme://host:port");
    }
    Ok(ListenUrl {
        tls,
        host_port: host_port.to_string(),
    })
}

async fn resolve(host_port: &str) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(host_port)
        .await
        .with_context(|| format!("cannot resolve {host_port}"))?
        .collect();
    // Like etcd (Go), prefer the IPv4 address of a name such as localhost.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .with_context(|| format!("{host_port} resolves to no address"))
}

fn tls_files(args: &StoreArgs) -> anyhow::Result<Option<TlsFiles>> {
    match (&args.cert_file, &args.key_file) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert_file: cert.clone(),
            key_file: key.clone(),
            trusted_ca_file: args.trusted_ca_file.clone(),
            client_cert_auth: args.client_cert_auth,
        })),
        (None, None) => Ok(None),
        _ => bail!("--cert-file and --key-file must be given together"),
    }
}

async fn shutdown_signal() -> anyhow::Result<&'static str> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => Ok("SIGTERM"),
        r = tokio::signal::ctrl_c() => r.map(|_| "SIGINT").map_err(Into::into),
    }
}

pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    let urls = args
        .listen_client_urls
        .iter()
        .map(|u| parse_listen_url(u))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tls = tls_files(&args)?;
    if urls.iter().any(|u| u.tls) && tls.is_none() {
        bail!("https listen URLs need --cert-file and --key-file");
    }
    if let Some(t) = &tls {
        // Fail at start-up rather than on the first connection.
        t.server_config().context("TLS configuration")?;
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let replicated = args.initial_cluster.is_some() || args.listen_peer_urls.is_some();
    let (server, member) = if replicated {
        let member = start_member(&args).await?;
        let peer_tls = peer_tls_files(&args)?;
        let listen = args
            .listen_peer_urls
            .clone()
            .unwrap_or_else(|| vec!["http://localhost:2380".to_string()]);
        for url in listen {
            let url = parse_listen_url(&url)?;
            let tls = match (&peer_tls, url.tls) {
                (Some(files), true) => Some(files.server_config().context("peer TLS")?),
                (None, true) => bail!("https peer URLs need --peer-cert-file and --peer-key-file"),
                (_, false) => None,
            };
            let addr = resolve(&url.host_port).await?;
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for peers"))?;
            tracing::info!(address = %addr, "listening for peers");
            let member = member.clone();
            let mut stop = stop_rx.clone();
            tasks.spawn(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                store::raft::serve_peers(member, listener, tls, shutdown)
                    .await
                    .map_err(store::grpc::ServeError::from)
            });
        }
        let engine = member.engine();
        (
            EtcdServer::new(member.clone()).with_maintenance(engine),
            Some(member),
        )
    } else {
        let journal = store::journal::JournalOptions {
            segment_bytes: args.journal_segment_bytes,
            first_segment_bytes: args
                .journal_segment_bytes
                .min(store::journal::JournalOptions::default().first_segment_bytes),
            ..Default::default()
        };
        let options = store::mvcc::EngineOptions {
            name: args.name.clone(),
            client_urls: args.advertise_client_urls.clone(),
            journal,
            ..Default::default()
        };
        let engine = store::mvcc::Engine::open(&args.data_dir, options)
            .with_context(|| format!("opening data dir {}", args.data_dir.display()))?;
        (
            EtcdServer::new(engine.clone()).with_maintenance(engine),
            None,
        )
    };
    for url in urls {
        let addr = resolve(&url.host_port).await?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let scheme = if url.tls { "https" } else { "http" };
        tracing::info!(name = %args.name, address = %addr, scheme, "ready to serve client requests");
        let tls = if url.tls { tls.clone() } else { None };
        let server = server.clone();
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            server.serve(listener, tls.as_ref(), shutdown).await
        });
    }

    let outcome = tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(signal = signal?, "shutting down");
            Ok(())
        }
        Some(done) = tasks.join_next() => match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow::Error::new(e).context("gRPC server failed")),
            Err(e) => Err(anyhow::Error::new(e).context("gRPC server task failed")),
        },
    };
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    if let Some(member) = member {
        member.shutdown().await;
    }
    outcome
}

fn peer_tls_files(args: &StoreArgs) -> anyhow::Result<Option<TlsFiles>> {
    match (&args.peer_cert_file, &args.peer_key_file) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert_file: cert.clone(),
            key_file: key.clone(),
            trusted_ca_file: args.peer_trusted_ca_file.clone(),
            client_cert_auth: args.peer_client_cert_auth,
        })),
        (None, None) => Ok(None),
        _ => bail!("--peer-cert-file and --peer-key-file must be given together"),
    }
}

async fn start_member(args: &StoreArgs) -> anyhow::Result<Arc<RaftMember>> {
    let initial = args.initial_cluster.clone().unwrap_or_else(|| {
        format!(
            "{}={}",
            args.name,
            args.initial_advertise_peer_urls
                .join(&format!(",{}=", args.name))
        )
    });
    let mut config = MemberConfig::new(&args.name, args.data_dir.clone());
    config.initial_cluster = parse_initial_cluster(&initial)?;
    config.cluster_state = args.initial_cluster_state.parse()?;
    config.token = args.initial_cluster_token.clone();
    config.advertise_peer_urls = args.initial_advertise_peer_urls.clone();
    config.client_urls = args.advertise_client_urls.clone();
    config.peer_client_tls = peer_tls_files(args)?
        .map(|files| files.client_config())
        .transpose()
        .context("peer TLS")?;
    config.heartbeat = Duration::from_millis(args.heartbeat_interval);
    config.election_timeout = Duration::from_millis(args.election_timeout);
    config.snapshot_count = args.snapshot_count.max(1);
    config.snapshot_catchup = (args.snapshot_count / 2).max(1);
    RaftMember::start(config).await.with_context(|| {
        format!(
            "starting member {} in {}",
            args.name,
            args.data_dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_urls_take_etcds_forms() {
        assert_eq!(
            parse_listen_url("https://127.0.0.1:2379").ok(),
            Some(ListenUrl {
                tls: true,
                host_port: "127.0.0.1:2379".to_string()
            })
        );
        assert!(parse_listen_url("http://localhost:2379/").is_ok_and(|u| !u.tls));
        assert!(parse_listen_url("unix://x").is_err());
        assert!(parse_listen_url("http://nohost").is_err());
    }
}
