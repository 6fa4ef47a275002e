//! oxkube's Kubernetes API server.
//!
//! A request flows: TLS (`tls`, `server`) -> authentication (`authn`) ->
//! path parsing (`request_info`) -> content negotiation (`negotiate`) ->
//! verb handler (`handlers`) -> built-in admission (`admission`) -> per-kind
//! strategy (`strategy`) -> generic registry (`registry`) -> the `Kv` store.
//! Discovery (`discovery`) and OpenAPI (`openapi`) are generated from the
//! resource table (`resources`); `printers` renders Tables for kubectl.
//!
//! What it does not own: the store engine (crate `store`), controllers,
//! scheduling and nodes (their own crates, talking to this server over HTTPS).

pub mod admission;
pub mod apply;
pub mod authn;
pub mod bootstrap;
pub mod compactor;
pub mod compress;
pub mod conversion;
pub mod crd;
pub mod discovery;
pub mod endpoint_reconciler;
pub mod error;
pub mod field_validation;
pub mod handlers;
pub mod health;
pub mod join;
pub mod meta;
pub mod metrics;
pub mod namespace_cleanup;
pub mod negotiate;
pub mod openapi;
pub mod patch;
pub mod pki;
pub mod printers;
pub mod protobuf;
pub mod registry;
pub mod request_info;
pub mod resources;
pub mod selectors;
pub mod server;
pub mod serviceaccount;
pub mod state;
pub mod strategy;
pub mod testing;
pub mod tls;
pub mod validation;
pub mod watch_cache;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use store::Kv;
use tokio::net::TcpListener;

pub use state::{ApiSettings, ApiState};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("creating system objects: {0}")]
    Bootstrap(#[from] error::ApiError),
}

/// Transport settings of one API server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub bind: SocketAddr,
    pub tls_cert_file: PathBuf,
    pub tls_private_key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
}

/// A running API server.
pub struct RunningServer {
    pub local_addr: SocketAddr,
    pub state: Arc<ApiState>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Waits until the server stops (it stops only when its task is aborted).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }

    pub fn abort(&self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

/// Binds, creates the system namespaces and starts serving.
pub async fn start(
    kv: Arc<dyn Kv>,
    serve: ServeConfig,
    settings: ApiSettings,
) -> Result<RunningServer, StartError> {
    start_with_routes(kv, serve, settings, axum::Router::new()).await
}

/// `start`, also serving `extra` routes beside the API, outside its
/// authentication (they authenticate themselves): the HA join routes of
/// `join::router`.
pub async fn start_with_routes(
    kv: Arc<dyn Kv>,
    serve: ServeConfig,
    mut settings: ApiSettings,
    extra: axum::Router,
) -> Result<RunningServer, StartError> {
    let tls = tls::server_config(
        &serve.tls_cert_file,
        &serve.tls_private_key_file,
        serve.client_ca_file.as_deref(),
    )?;
    let listener = TcpListener::bind(serve.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: serve.bind,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: serve.bind,
        source,
    })?;
    settings.advertise_address = local_addr.to_string();
    let compaction = settings.compaction_interval.map(|i| (kv.clone(), i));
    let state = ApiState::new(kv, settings);
    // The schemas behind field validation take a moment to build: start now.
    tokio::task::spawn_blocking(field_validation::warm_up);
    tokio::task::spawn_blocking(apply::models::warm_up);
    bootstrap::ensure_system_namespaces(&state).await?;
    bootstrap::ensure_system_priority_classes(&state).await?;
    bootstrap::ensure_kubernetes_service(&state, local_addr).await?;
    state.load_services().await?;
    state.set_bootstrapped();
    let app = server::router(state.clone()).merge(extra);
    let mut tasks = vec![
        tokio::spawn(server::serve(listener, tls, app)),
        tokio::spawn(namespace_cleanup::run(
            state.clone(),
            state.namespace_deleted.clone(),
        )),
        tokio::spawn(crd::controller::run(state.clone())),
    ];
    if let Some((kv, interval)) = compaction {
        tasks.push(tokio::spawn(compactor::run(kv, interval)));
    }
    Ok(RunningServer {
        local_addr,
        state,
        tasks,
    })
}
