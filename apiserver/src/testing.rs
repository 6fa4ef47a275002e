//! An API server on an embedded store, in-process, for tests: what
//! `oxkube server` runs, minus the signal handling. Integration tests of
//! this crate and of every component (controllers, scheduler, kubelet,
//! conformance) start one with [`TestServer::start`] and talk to it over
//! HTTPS with the kubeconfig it writes, exactly like a real client.

use std::net::SocketAddr;
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
        // The port is the one the server binds (port 0: no window in which
        // a concurrent test could take a port picked beforehand); the
        // kubeconfig is written again once it is known.
        let sans = ["127.0.0.1".to_string()];
        let files = pki::ensure(data_dir, "https://127.0.0.1:0", &sans)?;
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
        let serve = ServeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_cert_file: files.serving_cert.clone(),
            tls_private_key_file: files.serving_key.clone(),
            client_ca_file: Some(files.ca_cert.clone()),
        };
        let server = crate::start(kv.clone(), serve, settings).await?;
        let url = format!("https://127.0.0.1:{}", server.local_addr.port());
        let files = pki::ensure(data_dir, &url, &sans)?;
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
