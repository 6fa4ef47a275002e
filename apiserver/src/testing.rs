//! An API server on an embedded store, in-process, for tests: what
//! `oxkube server` runs, minus the signal handling. Integration tests of
//! this crate and of every component (controllers, scheduler, kubelet,
//! conformance) start one with [`TestServer::start`] and talk to it over
//! HTTPS with the kubeconfig it writes, exactly like a real client.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{ApiSettings, RunningServer, ServeConfig, StartError, pki};

#[derive(Debug, thiserror::Error)]
pub enum TestServerError {
    #[error("opening the store: {0}")]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("finding a free port: {0}")]
    Port(std::io::Error),
}

/// A running in-process API server. Dropping it stops the server.
pub struct TestServer {
    pub server: RunningServer,
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// Admin kubeconfig (user `admin`, group `system:masters`).
    pub kubeconfig: PathBuf,
    /// The certificates `oxkube server` would make in the same data dir.
    pub pki: pki::PkiFiles,
    /// The store under the server (e.g. to compact it in a test).
    pub kv: Arc<dyn store::Kv>,
}

impl TestServer {
    /// Starts a server with its store and certificates under `data_dir`
    /// (which the caller owns, e.g. a `tempfile::TempDir`) on a free
    /// loopback port.
    pub async fn start(data_dir: &Path) -> Result<TestServer, TestServerError> {
        Self::start_with(data_dir, ApiSettings::default()).await
    }

    pub async fn start_with(
        data_dir: &Path,
        mut settings: ApiSettings,
    ) -> Result<TestServer, TestServerError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(TestServerError::Port)?
            .port();
        let url = format!("https://127.0.0.1:{port}");
        let files = pki::ensure(data_dir, &url, &["127.0.0.1".to_string()])?;
        // ServiceAccount tokens work as in `oxkube server` (the admission
        // plugin stays off unless the caller turns it on).
        if settings.service_accounts.is_none() {
            settings.service_accounts = Some(Arc::new(
                crate::serviceaccount::TokenSettings::from_files(
                    Vec::new(),
                    Some(&files.service_account_key),
                    &[],
                )
                .map_err(|e| pki::PkiError::ServiceAccountKey(e.to_string()))?,
            ));
        }
        let engine = store::Engine::open(&data_dir.join("store"), store::EngineOptions::default())?;
        let kv: Arc<dyn store::Kv> = engine;
        settings.advertise_address = format!("127.0.0.1:{port}");
        let serve = ServeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], port)),
            tls_cert_file: files.serving_cert.clone(),
            tls_private_key_file: files.serving_key.clone(),
            client_ca_file: Some(files.ca_cert.clone()),
        };
        let server = crate::start(kv.clone(), serve, settings).await?;
        Ok(TestServer {
            server,
            url,
            kubeconfig: files.admin_kubeconfig.clone(),
            pki: files,
            kv,
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}
