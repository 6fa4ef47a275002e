//! Pod subresources served by the pod's kubelet, like upstream's
//! `pkg/registry/core/pod/rest/log.go`: `pods/log` checks the container
//! name, finds the node's address (InternalIP, else the first address) and
//! kubelet port (`status.daemonEndpoints.kubeletEndpoint.Port`), and
//! streams `GET https://<node>:<port>/containerLogs/<ns>/<pod>/<container>`
//! back (follow included). The kubelet's certificate is not verified, as
//! upstream does without `--kubelet-certificate-authority`. exec, attach
//! and portforward are not proxied yet.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Ctx;
use crate::error::{ApiError, ApiResult};

/// The log options the kubelet understands, forwarded as given.
const LOG_PARAMS: &[&str] = &[
    "follow",
    "previous",
    "timestamps",
    "tailLines",
    "sinceSeconds",
    "sinceTime",
    "limitBytes",
];

/// GET `pods/log`.
pub async fn pod_log(ctx: &Ctx) -> ApiResult<Response> {
    let table = ctx.state.table();
    let pods = table
        .get("", "v1", "pods")
        .ok_or_else(ApiError::path_not_found)?;
    let pod = ctx.state.store.get(&pods, ctx.ns(), ctx.name()).await?;
    let name = ctx.name();
    let names = |key: &str| -> Vec<String> {
        pod["spec"][key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("containers");
    let init = names("initContainers");
    let container = match ctx.param("container").filter(|c| !c.is_empty()) {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => c.to_string(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            return Err(ApiError::bad_request(message));
        }
    };
    let node_name = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    if node_name.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let nodes = table
        .get("", "v1", "nodes")
        .ok_or_else(ApiError::path_not_found)?;
    let node = ctx.state.store.get(&nodes, None, node_name).await?;
    let (host, port) = kubelet_address(&node).ok_or_else(|| {
        ApiError::internal(format!(
            "node {node_name} has no address to reach its kubelet"
        ))
    })?;
    let mut query: Vec<(String, String)> = LOG_PARAMS
        .iter()
        .filter_map(|k| ctx.param(k).map(|v| (k.to_string(), v.to_string())))
        .collect();
    query.sort();
    let query = serde_urlencoded::to_string(&query).unwrap_or_default();
    let path = format!(
        "/containerLogs/{}/{name}/{container}{}{query}",
        ctx.ns().unwrap_or_default(),
        if query.is_empty() { "" } else { "?" }
    );
    proxy_get(&host, port, &path).await
}

/// The node's InternalIP (else its first address) and kubelet port.
fn kubelet_address(node: &Value) -> Option<(String, u16)> {
    let addresses = node["status"]["addresses"].as_array()?;
    let address = addresses
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .or_else(|| addresses.first())?["address"]
        .as_str()?
        .to_string();
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(10250);
    Some((address, port))
}

/// Accepts any kubelet serving certificate (no kubelet CA configured).
#[derive(Debug)]
struct AnyKubeletCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyKubeletCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn unreachable_kubelet(host: &str, port: u16, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!(
        "Get \"https://{host}:{port}\": error dialing the kubelet: {e}"
    ))
}

/// GET over TLS to the kubelet (HTTP/1.0, so the body ends at close) and
/// the response streamed back; a kubelet error becomes a Status with its
/// code and message.
async fn proxy_get(host: &str, port: u16, path: &str) -> ApiResult<Response> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::internal(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyKubeletCert(provider)))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| unreachable_kubelet(host, port, e))?;
    let server_name =
        ServerName::try_from(host.to_string()).map_err(|e| unreachable_kubelet(host, port, e))?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| unreachable_kubelet(host, port, e))?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: oxkube-apiserver\r\n\r\n"
    );
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| unreachable_kubelet(host, port, e))?;
    // Read up to the end of the response head.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let body_start = loop {
        let n = tls
            .read(&mut buf)
            .await
            .map_err(|e| unreachable_kubelet(host, port, e))?;
        if n == 0 {
            return Err(unreachable_kubelet(host, port, "connection closed"));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(pos) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if head.len() > 64 * 1024 {
            return Err(unreachable_kubelet(host, port, "response head too large"));
        }
    };
    let rest = head.split_off(body_start);
    let status = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .unwrap_or(502);
    if status != 200 {
        let mut body = rest;
        let _ = tls.read_to_end(&mut body).await;
        let message = String::from_utf8_lossy(&body).trim().to_string();
        let reason = match status {
            400 => "BadRequest",
            404 => "NotFound",
            _ => "InternalError",
        };
        return Err(ApiError::new(status, reason, message));
    }
    let first = futures::stream::iter(
        (!rest.is_empty()).then(|| Ok::<_, std::io::Error>(Bytes::from(rest))),
    );
    let more = futures::stream::unfold(tls, |mut tls| async move {
        let mut buf = vec![0u8; 8192];
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), tls))
            }
        }
    });
    use futures::StreamExt;
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(first.chain(more)))
        .map_err(|e| ApiError::internal(e.to_string()))
}
