//! Assembles the etcd services (KV, Watch, Lease, Maintenance, Cluster and
//! gRPC health) over one [`Kv`] and serves them on a listener, plain or TLS,
//! until a shutdown signal. Message size limits follow etcd: requests up to
//! 1.5 MiB plus 512 KiB of gRPC overhead are decoded, larger ones are
//! refused by tonic with `ResourceExhausted` as grpc-go does.

use std::future::Future;
use std::sync::Arc;

use etcd_client::proto::{
    PbClusterServer, PbKvServer, PbLeaseServer, PbMaintenanceServer, PbWatchServer,
};
use tokio::net::TcpListener;
use tonic::transport::Server;

use crate::grpc::cluster_service::ClusterService;
use crate::grpc::kv_service::KvService;
use crate::grpc::lease_service::LeaseService;
use crate::grpc::maintenance_service::{MaintenanceOps, MaintenanceService};
use crate::grpc::tls::{TlsError, TlsFiles};
use crate::grpc::validate::{GRPC_OVERHEAD_BYTES, MAX_REQUEST_BYTES};
use crate::grpc::watch_service::WatchService;
use crate::kv::Kv;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The largest gRPC message the server decodes.
pub const MAX_RECV_BYTES: usize = MAX_REQUEST_BYTES + GRPC_OVERHEAD_BYTES;

/// etcd's v3 API over a [`Kv`].
#[derive(Clone)]
pub struct EtcdServer {
    kv: Arc<dyn Kv>,
    ops: Option<Arc<dyn MaintenanceOps>>,
}

impl EtcdServer {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        EtcdServer { kv, ops: None }
    }

    /// Enables Maintenance.HashKV and Defragment.
    pub fn with_maintenance(mut self, ops: Arc<dyn MaintenanceOps>) -> Self {
        self.ops = Some(ops);
        self
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        tls: Option<&TlsFiles>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let mut builder = Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls_config(tls.server_config()?)?;
        }
        let (_health_reporter, health) = tonic_health::server::health_reporter();
        let kv = self.kv;
        builder
            .add_service(health)
            .add_service(
                PbKvServer::new(KvService::new(kv.clone()))
                    .max_decoding_message_size(MAX_RECV_BYTES),
            )
            .add_service(
                PbWatchServer::new(WatchService::new(kv.clone()))
                    .max_decoding_message_size(MAX_RECV_BYTES),
            )
            .add_service(
                PbLeaseServer::new(LeaseService::new(kv.clone()))
                    .max_decoding_message_size(MAX_RECV_BYTES),
            )
            .add_service(
                PbMaintenanceServer::new(MaintenanceService::new(kv.clone(), self.ops))
                    .max_decoding_message_size(MAX_RECV_BYTES),
            )
            .add_service(
                PbClusterServer::new(ClusterService::new(kv))
                    .max_decoding_message_size(MAX_RECV_BYTES),
            )
            // Go's net package (and so etcd) sets TCP_NODELAY on every
            // socket; without it a reply's trailers wait ~40 ms on Nagle.
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await?;
        Ok(())
    }
}
