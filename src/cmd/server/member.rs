//! The store member inside an HA `oxkube server`: peer certificates from
//! the peer CA, the member (`store::raft::RaftMember`, as `oxkube store
//! --initial-cluster` runs it) on `<data-dir>/store`, its peer listener
//! (mutual TLS), the member add through a running server when joining, and
//! waiting until the store answers linearizable reads and this member
//! votes (a learner is promoted once it has caught up, as `etcdctl member
//! promote` after `member add --learner`).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use apiserver::join::{JoinClient, JoinError};
use store::Kv;
use store::grpc::TlsFiles;
use store::raft::{ClusterState, InitialMember, MemberConfig, RaftMember};
use tokio::sync::watch;

/// Every HA server computes member ids from its peer URLs and this token
/// (etcd's `--initial-cluster-token`).
pub const CLUSTER_TOKEN: &str = "oxkube-server";

/// Where and how the member runs.
pub struct MemberPlan<'a> {
    pub data_dir: &'a Path,
    pub name: String,
    pub bind: IpAddr,
    pub advertise: IpAddr,
    pub peer_port: u16,
    /// `Some` when the member is new and joins through this server.
    pub join: Option<&'a JoinClient>,
    /// `true` for the first server's first start.
    pub init: bool,
}

/// A running member and its peer listener.
pub struct StoreMember {
    pub member: Arc<RaftMember>,
    pub peer_url: String,
    stop: watch::Sender<bool>,
    listener: tokio::task::JoinHandle<()>,
}

impl StoreMember {
    /// Stops the peer listener and Raft.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.listener.await;
        self.member.shutdown().await;
    }
}

fn peer_url(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V6(v6) => format!("https://[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("https://{v4}:{port}"),
    }
}

/// Starts the member; when joining, has it added as a learner first.
pub async fn start(plan: MemberPlan<'_>) -> anyhow::Result<StoreMember> {
    let peer_pki = apiserver::pki::ensure_peer_pki(plan.data_dir, &[plan.advertise.to_string()])
        .context("making the peer certificate")?;
    let tls = TlsFiles {
        cert_file: peer_pki.cert,
        key_file: peer_pki.key,
        trusted_ca_file: Some(peer_pki.ca_cert),
        client_cert_auth: true,
    };
    let peer_url = peer_url(plan.advertise, plan.peer_port);
    if let Some(client) = plan.join {
        let id = add_learner(client, &peer_url).await?;
        tracing::info!(member = %format!("{id:x}"), %peer_url, "added to the store as a learner");
    }
    // Listen before the member starts: the leader replicates at once.
    let addr = SocketAddr::new(plan.bind, plan.peer_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for store peers"))?;
    let mut config = MemberConfig::new(&plan.name, super::ha::store_dir(plan.data_dir));
    config.initial_cluster = vec![InitialMember {
        name: plan.name.clone(),
        peer_urls: vec![peer_url.clone()],
    }];
    config.cluster_state = if plan.init {
        ClusterState::New
    } else {
        ClusterState::Existing
    };
    config.token = CLUSTER_TOKEN.to_string();
    config.advertise_peer_urls = vec![peer_url.clone()];
    config.peer_client_tls = Some(tls.client_config().context("peer TLS")?);
    let member = RaftMember::start(config)
        .await
        .with_context(|| format!("starting store member {}", plan.name))?;
    let server_tls = tls.server_config().context("peer TLS")?;
    let (stop, mut stopped) = watch::channel(false);
    let serving = member.clone();
    let listener = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(err) =
            store::raft::serve_peers(serving, listener, Some(server_tls), shutdown).await
        {
            tracing::error!(%err, "store peer listener failed");
        }
    });
    tracing::info!(address = %addr, %peer_url, name = %plan.name, "store member listening for peers");
    Ok(StoreMember {
        member,
        peer_url,
        stop,
        listener,
    })
}

/// The member add, retried while the cluster has no leader to take it.
async fn add_learner(client: &JoinClient, peer_url: &str) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.add_member(&[peer_url.to_string()]).await {
            Ok(id) => return Ok(id),
            Err(err @ (JoinError::Unauthorized | JoinError::BadAnswer { .. })) => {
                return Err(err).context("adding this server to the store");
            }
            Err(err) if Instant::now() < deadline => {
                tracing::warn!(%err, "adding this server to the store; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(err) => return Err(err).context("adding this server to the store"),
        }
    }
}

/// Waits until the store answers a linearizable read through this member
/// (a quorum is up and this member has applied what it committed), then
/// promotes this member if it is still a learner.
pub async fn wait_ready(member: &RaftMember) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut warned = Instant::now();
    loop {
        let read = member
            .range(store::RangeRequest::key(b"/registry/health".to_vec()))
            .await;
        match read {
            Ok(_) => break,
            Err(err) => {
                if warned.elapsed() > Duration::from_secs(10) {
                    tracing::warn!(%err, waited_s = started.elapsed().as_secs(), "waiting for a store quorum");
                    warned = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let mut promoting = false;
    loop {
        let (_, members) = member.members().await.context("listing store members")?;
        let me = members.iter().find(|m| m.id == member.id());
        match me {
            // A promotion whose answer was lost (e.g. a timeout) may still
            // have committed: the configuration is what counts.
            Some(m) if !m.is_learner => {
                if promoting {
                    tracing::info!("promoted to a voting store member");
                }
                break;
            }
            Some(_) => match member.member_promote(member.id()).await {
                Ok(_) => promoting = true,
                Err(err) => {
                    promoting = true;
                    tracing::warn!(%err, "promoting this store member; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            // Not in the configuration this member has applied yet.
            None => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    tracing::info!(
        took_ms = started.elapsed().as_millis() as u64,
        "store member ready"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_urls_bracket_v6() {
        assert_eq!(
            peer_url("10.0.0.1".parse().unwrap(), 2380),
            "https://10.0.0.1:2380"
        );
        assert_eq!(peer_url("::1".parse().unwrap(), 2380), "https://[::1]:2380");
    }
}
