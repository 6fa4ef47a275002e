//! openraft's network: one [`PeerClient`] per target member, Raft messages
//! bincode-encoded over the peer gRPC service. A call that cannot reach the
//! peer is `Unreachable` (openraft backs off); an error the peer's Raft
//! answered is a `RemoteError`.

use std::error::Error;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::ClientTlsConfig;

use super::peer_rpc::{Method, PeerClient};
use super::types::{NodeId, PeerNode, TypeConfig, decode, encode};

/// Makes peer clients (with the peer TLS client settings, if any).
#[derive(Clone)]
pub struct Network {
    tls: Option<ClientTlsConfig>,
}

impl Network {
    pub fn new(tls: Option<ClientTlsConfig>) -> Self {
        Network { tls }
    }

    /// A client for the first peer URL of `node`.
    pub fn client(&self, node: &PeerNode) -> Option<PeerClient> {
        let url = node.peer_urls.first()?;
        match PeerClient::new(url, self.tls.clone()) {
            Ok(client) => Some(client),
            Err(err) => {
                tracing::warn!(%url, %err, "bad peer URL");
                None
            }
        }
    }
}

/// The connection to one member.
pub struct Connection {
    target: NodeId,
    client: Option<PeerClient>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> Connection {
        Connection {
            target,
            client: self.client(node),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PeerError(String);

impl Connection {
    async fn call<Req, Resp, E>(
        &mut self,
        method: Method,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, PeerNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let client = self.client.as_mut().ok_or_else(|| {
            RPCError::Unreachable(Unreachable::new(&PeerError("no peer URL".to_string())))
        })?;
        let data = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let answer = client
            .call(method, data, option.hard_ttl())
            .await
            .map_err(|status| {
                RPCError::Unreachable(Unreachable::new(&PeerError(status.message().to_string())))
            })?;
        let decoded: Result<Resp, E> =
            decode(&answer).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        decoded.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        self.call(Method::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, PeerNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(Method::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        self.call(Method::Vote, &rpc, &option).await
    }
}
