//! Raft replication of the store (openraft 0.9): three or five members,
//! each a full engine, kept identical by applying one log in order.
//!
//! - `types`: openraft's type configuration (entries carry
//!   [`crate::mvcc::WriteOp`]) and the bincode encoding.
//! - `log_store`: the Raft log and vote in their own RocksDB (`DIR/raft-log`).
//! - `state_machine`: the engine as state machine; log id stored with the
//!   changes in one batch; snapshots are engine dumps.
//! - `peer_rpc`, `network`: the peer gRPC service and openraft's client.
//! - `forward`: what members ask the leader.
//! - `proposer`: the leader's batching of writes into log entries.
//! - `member`: [`RaftMember`], start-up, routing to the leader, the
//!   leader's lease expiry.
//! - `kv_impl`: the [`crate::Kv`] contract on a member.
//! - `cluster`: `--initial-cluster` parsing and member ids.
#![allow(clippy::result_large_err)]

pub mod cluster;
pub mod forward;
mod kv_impl;
pub mod log_store;
pub mod member;
pub mod network;
pub mod peer_rpc;
pub mod proposer;
pub mod state_machine;
pub mod types;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::transport::{Server, ServerTlsConfig};

pub use cluster::{ClusterState, InitialMember, parse_initial_cluster};
pub use member::{MemberConfig, RaftMember, StartError};

/// Serves the peer service of `member` on `listener` until `shutdown`.
pub async fn serve_peers(
    member: Arc<RaftMember>,
    listener: TcpListener,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    builder
        .add_service(peer_rpc::PeerServer::new(member))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}
