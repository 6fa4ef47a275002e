//! The kubelet's HTTPS API (port `--port`, 10250 upstream): `/healthz` and
//! `/containerLogs/{ns}/{pod}/{container}`, which the API server's
//! `pods/log` proxies to. The serving certificate is the one given
//! (`--tls-cert-file`/`--tls-private-key-file`) or a self-signed one made
//! at start (the API server does not verify kubelet certificates unless
//! told to, like upstream without `--kubelet-certificate-authority`).
//! `/exec` and `/attach` stream over WebSocket or SPDY
//! (`remotecommand/`), `/portForward` over SPDY (direct or tunnelled in a
//! WebSocket) or WebSocket channels (`portforward/`); `spdy/` is the
//! SPDY/3.1 protocol itself, `streaming.rs` what a runtime provides.

pub mod http;
pub mod logs;
pub mod portforward;
pub mod remotecommand;
pub mod spdy;
pub mod streaming;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tower::ServiceExt;

use self::logs::LogOptions;
use crate::error::{KubeletError, Result};

/// What the API serves from.
#[derive(Clone)]
pub struct ApiConfig {
    pub bind: SocketAddr,
    pub pod_logs_dir: PathBuf,
    /// PEM files; None: a self-signed certificate for `node_name`/`node_ip`.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub node_name: String,
    pub node_ip: String,
    /// The runtime behind `/exec`, `/attach`, `/portForward` (None: not
    /// served).
    pub streaming: Option<Arc<dyn streaming::StreamingRuntime>>,
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

async fn container_logs(
    State(cfg): State<Arc<ApiConfig>>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let opts = LogOptions::from_query(&query);
    let files = logs::runs(&cfg.pod_logs_dir, &ns, &pod, &container);
    let file = match logs::select(&files, &opts, &pod, &container) {
        Ok(f) => f,
        Err(e) => {
            return text(
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                e.message,
            );
        }
    };
    let content = match tokio::fs::read(&file).await {
        Ok(c) => c,
        Err(e) => return text(StatusCode::NOT_FOUND, format!("{}: {e}", file.display())),
    };
    let first = logs::limit(
        logs::render(&logs::parse(&String::from_utf8_lossy(&content)), &opts),
        &opts,
    );
    if !opts.follow || opts.previous {
        return text(StatusCode::OK, first);
    }
    // Follow: send what is there, then appended lines until a newer run
    // starts, the file goes away or the client disconnects.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(16);
    let logs_dir = cfg.pod_logs_dir.clone();
    tokio::spawn(async move {
        let mut sent = first.len();
        if tx.send(Ok(first.into())).await.is_err() {
            return;
        }
        let mut offset = content.len() as u64;
        let mut carry = String::new();
        loop {
            tokio::time::sleep(logs::FOLLOW_POLL).await;
            let Ok(mut f) = tokio::fs::File::open(&file).await else {
                return;
            };
            if f.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
                return;
            }
            let mut more = Vec::new();
            if f.read_to_end(&mut more).await.is_err() {
                return;
            }
            offset += more.len() as u64;
            carry.push_str(&String::from_utf8_lossy(&more));
            if let Some(end) = carry.rfind('\n') {
                let complete: String = carry.drain(..=end).collect();
                let mut chunk = logs::render(
                    &logs::parse(&complete),
                    &LogOptions {
                        tail_lines: None,
                        since: None,
                        ..opts.clone()
                    },
                );
                if let Some(limit) = opts.limit_bytes {
                    chunk = logs::limit(
                        chunk,
                        &LogOptions {
                            limit_bytes: Some(limit.saturating_sub(sent)),
                            ..Default::default()
                        },
                    );
                }
                sent += chunk.len();
                if !chunk.is_empty() && tx.send(Ok(chunk.into())).await.is_err() {
                    return;
                }
                if opts.limit_bytes.is_some_and(|l| sent >= l) {
                    return;
                }
            }
            let runs = logs::runs(&logs_dir, &ns, &pod, &container);
            if runs.last() != Some(&file) && more.is_empty() {
                return;
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The kubelet API's routes.
pub fn router(cfg: Arc<ApiConfig>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/containerLogs/{ns}/{pod}/{container}", get(container_logs))
        .route(
            "/exec/{ns}/{pod}/{container}",
            get(remotecommand::exec).post(remotecommand::exec),
        )
        .route(
            "/attach/{ns}/{pod}/{container}",
            get(remotecommand::attach).post(remotecommand::attach),
        )
        .route(
            "/portForward/{ns}/{pod}",
            get(portforward::handle).post(portforward::handle),
        )
        .with_state(cfg)
}

fn tls_config(cfg: &ApiConfig) -> Result<rustls::ServerConfig> {
    let bad = |e: String| KubeletError::Config(format!("kubelet serving certificate: {e}"));
    let (cert_pem, key_pem) = match &cfg.tls {
        Some((cert, key)) => (
            std::fs::read_to_string(cert)?,
            std::fs::read_to_string(key)?,
        ),
        None => {
            let key = rcgen::KeyPair::generate().map_err(|e| bad(e.to_string()))?;
            let params = rcgen::CertificateParams::new(vec![
                cfg.node_name.clone(),
                cfg.node_ip.clone(),
                "localhost".into(),
                "127.0.0.1".into(),
            ])
            .map_err(|e| bad(e.to_string()))?;
            let cert = params.self_signed(&key).map_err(|e| bad(e.to_string()))?;
            (cert.pem(), key.serialize_pem())
        }
    };
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(e.to_string()))
}

/// Binds and serves the API; returns the bound address and the task.
pub async fn serve(cfg: ApiConfig) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let tls = Arc::new(tls_config(&cfg)?);
    let listener = tokio::net::TcpListener::bind(cfg.bind).await?;
    let addr = listener.local_addr()?;
    let app = router(Arc::new(cfg));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        app.clone().oneshot(req.map(Body::new))
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    });
    Ok((addr, task))
}
