//! [`RaftMember`]: one member of a replicated store. It opens the engine
//! (the state machine) and the Raft log, starts openraft with etcd's
//! timings, forms or joins the cluster, and routes requests: writes and
//! lease calls go to the leader (directly or over the peer service), reads
//! wait for a read index unless serializable.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{ChangeMembers, Config, ServerState, SnapshotPolicy};
use tokio::task::JoinHandle;
use tonic::Status;
use tonic::transport::ClientTlsConfig;

use crate::error::StoreError;
use crate::kv::{Kv, Member};
use crate::mvcc::{Engine, EngineOptions, WriteOp};

use super::cluster::{self, ClusterState, InitialMember};
use super::forward::{ForwardError, ForwardRequest, ForwardResponse};
use super::log_store::LogStore;
use super::network::Network;
use super::peer_rpc::{Method, PeerClient, PeerHandler};
use super::proposer::Proposer;
use super::state_machine::StateMachine;
use super::types::{Applied, NodeId, PeerNode, Raft, decode, encode};

/// Everything a member needs to start.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    pub name: String,
    pub data_dir: PathBuf,
    pub initial_cluster: Vec<InitialMember>,
    pub cluster_state: ClusterState,
    pub token: String,
    pub advertise_peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    /// TLS for calls to peers (`--peer-*` flags); `None` for `http://`.
    pub peer_client_tls: Option<ClientTlsConfig>,
    /// etcd `--heartbeat-interval` (100 ms) and `--election-timeout` (1 s).
    pub heartbeat: Duration,
    pub election_timeout: Duration,
    /// Applied entries between snapshots (etcd `--snapshot-count`); the
    /// log is purged up to a snapshot, keeping `snapshot_catchup` entries.
    pub snapshot_count: u64,
    pub snapshot_catchup: u64,
    /// How long a request waits for a leader and its answer before
    /// `etcdserver: request timed out`.
    pub request_timeout: Duration,
    pub engine: EngineOptions,
}

impl MemberConfig {
    pub fn new(name: &str, data_dir: PathBuf) -> Self {
        MemberConfig {
            name: name.to_string(),
            data_dir,
            initial_cluster: Vec::new(),
            cluster_state: ClusterState::New,
            token: "etcd-cluster".to_string(),
            advertise_peer_urls: Vec::new(),
            client_urls: Vec::new(),
            peer_client_tls: None,
            heartbeat: Duration::from_millis(100),
            election_timeout: Duration::from_millis(1000),
            snapshot_count: 10_000,
            snapshot_catchup: 5_000,
            request_timeout: Duration::from_secs(5),
            engine: EngineOptions::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    #[error("opening the raft log: {0}")]
    Log(String),
    #[error("raft: {0}")]
    Raft(String),
}

/// One member of the replicated store; implements [`Kv`].
pub struct RaftMember {
    pub(super) id: NodeId,
    pub(super) raft: Raft,
    pub(super) engine: Arc<Engine>,
    network: Network,
    leader_client: Mutex<Option<(NodeId, PeerClient)>>,
    pub(super) token: String,
    pub(super) request_timeout: Duration,
    lease_seq: AtomicU64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    node: PeerNode,
    reads: ReadRounds,
    proposer: Proposer,
}

/// Coalesces read-index requests on the leader: one confirmation round (a
/// heartbeat to a quorum) answers every request that arrived before the
/// round started; requests arriving during a round wait for the next one.
#[derive(Default)]
struct ReadRounds {
    /// Requests so far (each takes a ticket).
    requested: AtomicU64,
    /// One round at a time.
    round: tokio::sync::Mutex<()>,
    /// The last finished round: the highest ticket it covers, its index.
    done: Mutex<(u64, u64)>,
}

impl RaftMember {
    /// Opens the member's data and starts Raft. With `ClusterState::New` on
    /// a pristine member, the initial cluster is formed (every initial
    /// member proposes the same configuration; Raft keeps one).
    pub async fn start(config: MemberConfig) -> Result<Arc<RaftMember>, StartError> {
        let members = cluster::initial_members(
            &config.initial_cluster,
            &config.name,
            &config.advertise_peer_urls,
            &config.token,
        )?;
        let id = cluster::member_id(&config.advertise_peer_urls, &config.token);
        let ids: Vec<u64> = members.keys().copied().collect();
        let cluster_id = cluster::cluster_id(&ids, &config.token);
        let node = PeerNode {
            name: config.name.clone(),
            peer_urls: config.advertise_peer_urls.clone(),
            client_urls: config.client_urls.clone(),
        };

        let mut engine_options = config.engine.clone();
        engine_options.name = config.name.clone();
        engine_options.peer_urls = config.advertise_peer_urls.clone();
        engine_options.client_urls = config.client_urls.clone();
        engine_options.member_id = Some(id);
        engine_options.cluster_id = Some(cluster_id);
        engine_options.expire_leases = false;
        engine_options.durability = crate::mvcc::Durability::RocksWal;
        let engine = Engine::open(&config.data_dir, engine_options)?;
        let log_store =
            LogStore::open(&config.data_dir.join("raft-log")).map_err(StartError::Log)?;

        let heartbeat = config.heartbeat.as_millis() as u64;
        let election = config.election_timeout.as_millis() as u64;
        let raft_config = Config {
            cluster_name: config.token.clone(),
            heartbeat_interval: heartbeat,
            // openraft waits out the leader's lease (the max timeout) and
            // then a random timeout before electing: 0.9-1.2 x etcd's
            // --election-timeout after the last heartbeat (etcd: a random
            // 1-2 x); the wide random range makes split votes rare.
            election_timeout_min: election * 3 / 10,
            election_timeout_max: election * 6 / 10,
            install_snapshot_timeout: 2_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_count),
            max_in_snapshot_log_to_keep: config.snapshot_catchup,
            purge_batch_size: 256,
            // Entries carry up to proposer::MAX_BATCH_BYTES of ops: keep
            // one AppendEntries well under the peer message limit.
            max_payload_entries: 64,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let network = Network::new(config.peer_client_tls.clone());
        let raft = Raft::new(
            id,
            Arc::new(raft_config),
            network.clone(),
            log_store,
            StateMachine::new(engine.clone()),
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;

        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        let mut bootstrap = None;
        if !initialized && config.cluster_state == ClusterState::New {
            let nodes: BTreeMap<NodeId, PeerNode> = members
                .iter()
                .map(|(id, m)| {
                    // Every initial member must propose the same entry:
                    // client URLs are published later by each member.
                    let node = PeerNode {
                        name: m.name.clone(),
                        peer_urls: m.peer_urls.clone(),
                        client_urls: Vec::new(),
                    };
                    (*id, node)
                })
                .collect();
            // One member (the lowest id) starts the first election at once
            // and the others vote for it. If every member started one, the
            // losers would keep openraft 0.9's "saw a greater log" flag
            // (cleared only by their own next election), which adds twice
            // the election timeout to their first election after the
            // leader dies: a failover of ~2.4 s instead of ~1.1 s. The
            // others still bootstrap themselves if no leader reached them
            // (the lowest member is down on the first start).
            let first = members.keys().min() == Some(&id);
            if first {
                initialize(&raft, nodes).await;
            } else {
                let raft = raft.clone();
                let wait = config.election_timeout * 3;
                bootstrap = Some(tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let no_leader = raft.server_metrics().borrow().current_leader.is_none();
                    if no_leader && !raft.is_initialized().await.unwrap_or(true) {
                        tracing::info!("no leader after {wait:?}: starting an election");
                        initialize(&raft, nodes).await;
                    }
                }));
            }
        }
        tracing::info!(
            name = %config.name,
            member = %format!("{id:x}"),
            cluster = %format!("{cluster_id:x}"),
            "raft member started"
        );

        let (proposer, proposing) = Proposer::start(raft.clone());
        let member = Arc::new(RaftMember {
            id,
            raft,
            engine,
            network,
            leader_client: Mutex::new(None),
            token: config.token.clone(),
            request_timeout: config.request_timeout,
            lease_seq: AtomicU64::new(0),
            tasks: Mutex::new(Vec::new()),
            node,
            reads: ReadRounds::default(),
            proposer,
        });
        let mut tasks = vec![
            proposing,
            tokio::spawn(follow_metrics(Arc::downgrade(&member))),
            tokio::spawn(expire_leases(Arc::downgrade(&member))),
            tokio::spawn(publish(Arc::downgrade(&member))),
        ];
        tasks.extend(bootstrap);
        *member.tasks.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
        Ok(member)
    }

    /// This member's id (etcd shows it in hex).
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The engine under this member (for HashKV and Defragment).
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.clone()
    }

    /// Stops Raft and the member's tasks.
    pub async fn shutdown(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        if let Err(err) = self.raft.shutdown().await {
            tracing::warn!(%err, "raft shutdown");
        }
    }

    pub(super) fn leader(&self) -> Option<NodeId> {
        self.raft.server_metrics().borrow().current_leader
    }

    pub(super) fn is_leader(&self) -> bool {
        self.leader() == Some(self.id)
    }

    /// A fresh lease id (the leader picks it before the grant enters the
    /// log, so every member applies the same id).
    pub(super) fn new_lease_id(&self) -> i64 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let seq = self.lease_seq.fetch_add(1, Ordering::Relaxed);
        let mixed =
            (self.id.rotate_left(48) ^ nanos.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_add(seq);
        ((mixed & 0x7fff_ffff_ffff_ffff).max(1)) as i64
    }

    /// Sends `req` to the leader (or runs it here when this member leads)
    /// until it is answered, retrying while there is no leader or the
    /// leader moved, up to the request timeout.
    pub(super) async fn route(&self, req: ForwardRequest) -> Result<ForwardResponse, StoreError> {
        let deadline = Instant::now() + self.request_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(StoreError::Timeout);
            }
            let attempt = match self.leader() {
                Some(leader) if leader == self.id => {
                    match tokio::time::timeout(remaining, self.on_leader(req.clone())).await {
                        Ok(answer) => answer,
                        Err(_) => return Err(StoreError::Timeout),
                    }
                }
                Some(leader) => self.forward(leader, &req, remaining).await,
                None => Err(ForwardError::NotLeader(None)),
            };
            match attempt {
                Ok(answer) => return Ok(answer),
                Err(ForwardError::Store(err)) => return Err(err),
                Err(ForwardError::NotLeader(_)) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn leader_client(&self, leader: NodeId) -> Option<PeerClient> {
        let mut cached = self.leader_client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((id, client)) = &*cached
            && *id == leader
        {
            return Some(client.clone());
        }
        let node = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&leader)
            .cloned()?;
        let client = self.network.client(&node)?;
        *cached = Some((leader, client.clone()));
        Some(client)
    }

    async fn forward(
        &self,
        leader: NodeId,
        req: &ForwardRequest,
        timeout: Duration,
    ) -> Result<ForwardResponse, ForwardError> {
        let Some(mut client) = self.leader_client(leader) else {
            return Err(ForwardError::NotLeader(None));
        };
        let data = encode(req).map_err(|e| StoreError::Backend(e.to_string()))?;
        match client.call(Method::Forward, data, timeout).await {
            Ok(answer) => decode::<Result<ForwardResponse, ForwardError>>(&answer)
                .map_err(|e| StoreError::Backend(e.to_string()))?,
            // The leader could not be connected to: nothing was done there.
            // (A connection that broke mid-call leaves the outcome unknown.)
            Err(status)
                if status.code() == tonic::Code::Unavailable
                    && status.message().contains("connect") =>
            {
                tracing::debug!(leader = %format!("{leader:x}"), %status, "leader unreachable");
                Err(ForwardError::NotLeader(None))
            }
            // The outcome is unknown (it may have been applied).
            Err(status) => {
                tracing::debug!(%status, "forwarded request failed");
                Err(ForwardError::Store(StoreError::Timeout))
            }
        }
    }

    /// Runs a forwarded request; only the leader does.
    pub(super) async fn on_leader(
        &self,
        req: ForwardRequest,
    ) -> Result<ForwardResponse, ForwardError> {
        if !self.is_leader() {
            return Err(ForwardError::NotLeader(self.leader()));
        }
        match req {
            ForwardRequest::Write(op) => {
                self.proposer.propose(op).await.map(ForwardResponse::Write)
            }
            ForwardRequest::ReadIndex => self.read_index().await.map(ForwardResponse::ReadIndex),
            ForwardRequest::KeepAlive(id) => Ok(ForwardResponse::KeepAlive(
                self.engine.lease_keep_alive(id).await?,
            )),
            ForwardRequest::TimeToLive { id, keys } => Ok(ForwardResponse::TimeToLive(
                self.engine.lease_time_to_live(id, keys).await?,
            )),
            ForwardRequest::Leases => {
                Ok(ForwardResponse::Leases(self.engine.lease_leases().await?.1))
            }
            ForwardRequest::AddMember { id, node, learner } => {
                self.add_member(id, node, learner).await
            }
            ForwardRequest::RemoveMember(id) => self.remove_member(id).await,
            ForwardRequest::PromoteMember(id) => self.promote_member(id).await,
            ForwardRequest::Publish { id, node } => {
                let nodes = BTreeMap::from([(id, node)]);
                self.raft
                    .change_membership(ChangeMembers::SetNodes(nodes), true)
                    .await
                    .map_err(write_error)?;
                Ok(ForwardResponse::Changed)
            }
        }
    }

    /// The leader's read index: the commit index once a quorum confirmed
    /// this member still leads (openraft's `ensure_linearizable`), shared by
    /// the requests that arrived before the confirmation started.
    async fn read_index(&self) -> Result<u64, ForwardError> {
        let ticket = self.reads.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let _round = self.reads.round.lock().await;
        let (covered, index) = *self.reads.done.lock().unwrap_or_else(|e| e.into_inner());
        if covered >= ticket {
            return Ok(index);
        }
        let covering = self.reads.requested.load(Ordering::SeqCst);
        let index = match self.raft.ensure_linearizable().await {
            Ok(log_id) => log_id.map_or(0, |l| l.index),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                return Err(ForwardError::NotLeader(f.leader_id));
            }
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
                return Err(ForwardError::NotLeader(None));
            }
            Err(RaftError::Fatal(f)) => return Err(StoreError::Backend(f.to_string()).into()),
        };
        *self.reads.done.lock().unwrap_or_else(|e| e.into_inner()) = (covering, index);
        Ok(index)
    }

    async fn add_member(
        &self,
        id: NodeId,
        node: PeerNode,
        learner: bool,
    ) -> Result<ForwardResponse, ForwardError> {
        let members = self.members_now();
        if members
            .iter()
            .any(|m| m.peer_urls.iter().any(|u| node.peer_urls.contains(u)))
        {
            return Err(StoreError::PeerUrlExists.into());
        }
        if members.iter().any(|m| m.id == id) {
            return Err(StoreError::MemberExists.into());
        }
        self.raft
            .add_learner(id, node, false)
            .await
            .map_err(write_error)?;
        if !learner {
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), true)
                .await
                .map_err(write_error)?;
        }
        Ok(ForwardResponse::Changed)
    }

    async fn remove_member(&self, id: NodeId) -> Result<ForwardResponse, ForwardError> {
        let members = self.members_now();
        let member = members
            .iter()
            .find(|m| m.id == id)
            .ok_or(StoreError::MemberNotFound)?;
        let change = if member.is_learner {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        };
        self.raft
            .change_membership(change, false)
            .await
            .map_err(write_error)?;
        Ok(ForwardResponse::Changed)
    }

    async fn promote_member(&self, id: NodeId) -> Result<ForwardResponse, ForwardError> {
        let members = self.members_now();
        let member = members
            .iter()
            .find(|m| m.id == id)
            .ok_or(StoreError::MemberNotFound)?;
        if !member.is_learner {
            return Err(StoreError::MemberNotLearner.into());
        }
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), true)
            .await
            .map_err(write_error)?;
        Ok(ForwardResponse::Changed)
    }

    /// The members as the last applied configuration has them.
    pub(super) fn members_now(&self) -> Vec<Member> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| Member {
                id: *id,
                name: node.name.clone(),
                peer_urls: node.peer_urls.clone(),
                client_urls: node.client_urls.clone(),
                is_learner: !voters.contains(id),
            })
            .collect()
    }

    /// Proposes `op` through the leader and answers its applied result.
    pub(super) async fn propose(
        &self,
        op: WriteOp,
    ) -> Result<crate::mvcc::WriteResult, StoreError> {
        match self.route(ForwardRequest::Write(op)).await? {
            ForwardResponse::Write(Applied(result)) => result,
            other => Err(unexpected(other)),
        }
    }

    /// Waits until this member has applied everything the leader had
    /// committed when asked (etcd's ReadIndex).
    pub(super) async fn read_barrier(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        let index = match self.route(ForwardRequest::ReadIndex).await? {
            ForwardResponse::ReadIndex(index) => index,
            other => return Err(unexpected(other)),
        };
        let remaining = self
            .request_timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(1));
        self.raft
            .wait(Some(remaining))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map(|_| ())
            .map_err(|_| StoreError::Timeout)
    }
}

/// Proposes the initial membership (a no-op if this member already has a
/// log, e.g. another member's configuration reached it first).
async fn initialize(raft: &Raft, nodes: BTreeMap<NodeId, PeerNode>) {
    if let Err(err) = raft.initialize(nodes).await {
        tracing::info!(%err, "cluster already initialized");
    }
}

pub(super) fn unexpected(answer: ForwardResponse) -> StoreError {
    StoreError::Backend(format!("unexpected answer from the leader: {answer:?}"))
}

pub(super) fn write_error(
    err: RaftError<NodeId, ClientWriteError<NodeId, PeerNode>>,
) -> ForwardError {
    match err {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            ForwardError::NotLeader(f.leader_id)
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            ForwardError::Store(StoreError::Unsupported(format!("etcdserver: {e}")))
        }
        RaftError::Fatal(f) => ForwardError::Store(StoreError::Backend(f.to_string())),
    }
}

impl PeerHandler for RaftMember {
    async fn handle(&self, method: Method, data: Vec<u8>) -> Result<Vec<u8>, Status> {
        let bad = |e: super::types::CodecError| Status::invalid_argument(e.to_string());
        let answer = match method {
            Method::AppendEntries => {
                let answer = self.raft.append_entries(decode(&data).map_err(bad)?).await;
                encode(&answer)
            }
            Method::Vote => {
                let answer = self.raft.vote(decode(&data).map_err(bad)?).await;
                encode(&answer)
            }
            Method::InstallSnapshot => {
                let answer = self
                    .raft
                    .install_snapshot(decode(&data).map_err(bad)?)
                    .await;
                encode(&answer)
            }
            Method::Forward => {
                let answer = self.on_leader(decode(&data).map_err(bad)?).await;
                encode(&answer)
            }
        };
        answer.map_err(|e| Status::internal(e.to_string()))
    }
}

/// Keeps the engine's header term in step with Raft and, when this member
/// becomes leader, gives every lease a full TTL (etcd's lessor promote).
async fn follow_metrics(member: Weak<RaftMember>) {
    // The server metrics change with the vote, state, leader and
    // membership only (the full metrics change with every entry).
    let Some(mut metrics) = member.upgrade().map(|m| m.raft.server_metrics()) else {
        return;
    };
    let mut leading_term = None;
    loop {
        let (term, leading) = {
            let m = metrics.borrow_and_update();
            (
                m.vote.leader_id().get_term(),
                m.state == ServerState::Leader,
            )
        };
        let Some(member) = member.upgrade() else {
            return;
        };
        member.engine.set_term(term);
        if leading && leading_term != Some(term) {
            member.engine.renew_all_leases();
            leading_term = Some(term);
            tracing::info!(term, "leading; lease deadlines restarted");
        } else if !leading {
            leading_term = None;
        }
        drop(member);
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// The leader revokes expired leases through the log.
async fn expire_leases(member: Weak<RaftMember>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let Some(member) = member.upgrade() else {
            return;
        };
        if !member.is_leader() {
            continue;
        }
        for id in member.engine.take_expired_leases() {
            match member.propose(WriteOp::LeaseRevoke { id }).await {
                Ok(_) | Err(StoreError::LeaseNotFound) => {
                    tracing::debug!(lease = id, "lease expired");
                }
                Err(err) => {
                    tracing::warn!(lease = id, %err, "revoking an expired lease failed");
                    member.engine.lease_revoke_failed(id);
                }
            }
        }
    }
}

/// Announces this member's name and client URLs once a leader is known
/// (a member added by `etcdctl member add` is known only by its peer URLs).
async fn publish(member: Weak<RaftMember>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(member) = member.upgrade() else {
            return;
        };
        let current = member
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&member.id)
            .cloned();
        match current {
            Some(node) if node == member.node => return,
            None => continue,
            Some(_) => {}
        }
        let req = ForwardRequest::Publish {
            id: member.id,
            node: member.node.clone(),
        };
        match member.route(req).await {
            Ok(_) => tracing::info!("published member attributes"),
            Err(err) => tracing::debug!(%err, "publishing member attributes"),
        }
    }
}
