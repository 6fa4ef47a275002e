//! The joining side: fetch the CA unverified, check it against the token,
//! then talk to the server over TLS verified with that CA, with basic auth
//! `server:<secret>` (HTTP/1.1 on hyper's client connection).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::endpoint::{BootstrapResponse, MemberAddRequest, MemberAddResponse};
use super::token::{Token, TokenError, ca_hash};
use super::{BOOTSTRAP_PATH, CACERTS_PATH, MEMBERS_PATH, SERVER_USER};
use crate::pki::{CLUSTER_SHARED_FILES, PkiError, install_shared_file};

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("--server {0:?} is not https://host:port")]
    BadUrl(String),
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("no answer from {0} in time")]
    TimedOut(String),
    #[error(
        "the server's CA (sha256 {actual}) is not the one the token names ({expected}): wrong server or wrong token"
    )]
    CaMismatch { expected: String, actual: String },
    #[error(
        "the server answers {0} for /cacerts: it is not an HA server (started with --cluster-init or --server)"
    )]
    NotJoinable(StatusCode),
    #[error("the server refused the token (401)")]
    Unauthorized,
    #[error("{path}: HTTP {code}: {body}")]
    Status {
        path: &'static str,
        code: StatusCode,
        body: String,
    },
    #[error("{path}: unexpected answer: {reason}")]
    BadAnswer { path: &'static str, reason: String },
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// A connection recipe to one running server, its CA checked.
pub struct JoinClient {
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    authorization: String,
    ca_pem: Vec<u8>,
}

impl JoinClient {
    /// Fetches the server's CA and checks it against `token` (a short
    /// token cannot: the CA is then taken on trust, as k3s does, with a
    /// warning).
    pub async fn connect(server_url: &str, token: &Token) -> Result<JoinClient, JoinError> {
        let (host, port) = parse_url(server_url)?;
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| JoinError::BadUrl(server_url.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let unverified = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::tls::AnyServerCert(provider.clone())))
            .with_no_client_auth();
        let mut client = JoinClient {
            host,
            port,
            server_name,
            tls: Arc::new(unverified),
            authorization: String::new(),
            ca_pem: Vec::new(),
        };
        let (code, ca_pem) = client.request(Method::GET, CACERTS_PATH, None).await?;
        if code != StatusCode::OK {
            // A server without HA serves no join routes: its API answers.
            return Err(JoinError::NotJoinable(code));
        }
        let actual = ca_hash(&ca_pem);
        match &token.ca_hash {
            Some(expected) if *expected != actual => {
                return Err(JoinError::CaMismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
            Some(_) => {}
            None => tracing::warn!(
                ca_hash = %actual,
                "a short token cannot pin the cluster CA: trusting the CA the server presents"
            ),
        }
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &ca_pem[..]) {
            let cert = cert.map_err(|e| JoinError::BadAnswer {
                path: CACERTS_PATH,
                reason: e.to_string(),
            })?;
            roots.add(cert)?;
        }
        if roots.is_empty() {
            return Err(JoinError::BadAnswer {
                path: CACERTS_PATH,
                reason: "no certificate".to_string(),
            });
        }
        client.tls = Arc::new(
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let credentials = format!("{SERVER_USER}:{}", token.secret);
        client.authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        client.ca_pem = ca_pem.to_vec();
        Ok(client)
    }

    /// The cluster CA certificate (PEM) the server presented.
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }

    /// Fetches `CLUSTER_SHARED_FILES` and writes them under `data_dir`.
    pub async fn install_shared_files(&self, data_dir: &Path) -> Result<(), JoinError> {
        let (code, body) = self.request(Method::GET, BOOTSTRAP_PATH, None).await?;
        if code != StatusCode::OK {
            return Err(status_error(BOOTSTRAP_PATH, code, &body));
        }
        let bad = |reason: String| JoinError::BadAnswer {
            path: BOOTSTRAP_PATH,
            reason,
        };
        let answer: BootstrapResponse =
            serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
        let mut decoded = Vec::new();
        for relative in CLUSTER_SHARED_FILES {
            let encoded = answer
                .files
                .get(*relative)
                .ok_or_else(|| bad(format!("{relative} is missing")))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| bad(format!("{relative}: {e}")))?;
            decoded.push((*relative, bytes));
        }
        if let Some((_, ca)) = decoded.iter().find(|(r, _)| *r == "pki/ca.crt")
            && *ca != self.ca_pem
        {
            return Err(bad("pki/ca.crt differs from /cacerts".to_string()));
        }
        for (relative, bytes) in decoded {
            install_shared_file(data_dir, relative, &bytes)?;
        }
        Ok(())
    }

    /// Has the store add a learner with `peer_urls`; returns its id.
    pub async fn add_member(&self, peer_urls: &[String]) -> Result<u64, JoinError> {
        let body = serde_json::to_vec(&MemberAddRequest {
            peer_urls: peer_urls.to_vec(),
        })
        .map_err(|e| JoinError::BadAnswer {
            path: MEMBERS_PATH,
            reason: e.to_string(),
        })?;
        let (code, answer) = self.request(Method::POST, MEMBERS_PATH, Some(body)).await?;
        if code != StatusCode::OK {
            return Err(status_error(MEMBERS_PATH, code, &answer));
        }
        let answer: MemberAddResponse =
            serde_json::from_slice(&answer).map_err(|e| JoinError::BadAnswer {
                path: MEMBERS_PATH,
                reason: e.to_string(),
            })?;
        Ok(answer.id)
    }

    async fn request(
        &self,
        method: Method,
        path: &'static str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), JoinError> {
        let addr = format!("{}:{}", self.host, self.port);
        tokio::time::timeout(TIMEOUT, self.request_once(&addr, method, path, body))
            .await
            .map_err(|_| JoinError::TimedOut(addr.clone()))?
    }

    async fn request_once(
        &self,
        addr: &str,
        method: Method,
        path: &'static str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), JoinError> {
        let connect_error = |source| JoinError::Connect {
            addr: addr.to_string(),
            source,
        };
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(connect_error)?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(connect_error)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        let driver = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, addr);
        if !self.authorization.is_empty() {
            request = request.header(hyper::header::AUTHORIZATION, &self.authorization);
        }
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| JoinError::BadAnswer {
                path,
                reason: e.to_string(),
            })?;
        let response = sender.send_request(request).await?;
        let code = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        driver.abort();
        Ok((code, bytes))
    }
}

fn status_error(path: &'static str, code: StatusCode, body: &[u8]) -> JoinError {
    if code == StatusCode::UNAUTHORIZED {
        return JoinError::Unauthorized;
    }
    let body = String::from_utf8_lossy(body);
    JoinError::Status {
        path,
        code,
        body: body.trim().chars().take(300).collect(),
    }
}

/// `https://host:port` (a trailing `/` allowed; `[v6]` brackets removed).
fn parse_url(url: &str) -> Result<(String, u16), JoinError> {
    let bad = || JoinError::BadUrl(url.to_string());
    let rest = url.trim().strip_prefix("https://").ok_or_else(bad)?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert_eq!(
            parse_url("https://10.0.0.1:6443/").unwrap(),
            ("10.0.0.1".to_string(), 6443)
        );
        assert_eq!(
            parse_url("https://[::1]:6443").unwrap(),
            ("::1".to_string(), 6443)
        );
        assert!(parse_url("http://10.0.0.1:6443").is_err());
        assert!(parse_url("https://10.0.0.1").is_err());
        assert!(parse_url("https://:6443").is_err());
    }
}
