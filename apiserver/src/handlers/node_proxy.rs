//! Pod subresources served by the pod's kubelet, like upstream's
//! `pkg/registry/core/pod/rest/log.go`: `pods/log` checks the container
//! name, finds the node's address (InternalIP, else the first address) and
//! kubelet port (`status.daemonEndpoints.kubeletEndpoint.Port`), and
//! streams `GET https://<node>:<port>/containerLogs/<ns>/<pod>/<container>`
//! back (follow included). The kubelet's certificate is not verified, as
//! upstream does without `--kubelet-certificate-authority`. exec, attach
//! and portforward are upgrade requests (WebSocket, or SPDY/3.1 from older
//! kubectl): `stream` passes the upgrade to the kubelet with its method,
//! `Upgrade` and protocol headers, answers with the kubelet's 101 and its
//! negotiated protocol, then copies bytes both ways (upgrade-aware, like
//! upstream's proxy; the kubelet speaks every streaming protocol).

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use rustls::pki_types::ServerName;
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
    let ephemeral = names("ephemeralContainers");
    let container = match ctx.param("container").filter(|c| !c.is_empty()) {
        Some(c)
            if containers
                .iter()
                .chain(&init)
                .chain(&ephemeral)
                .any(|n| n == c) =>
        {
            c.to_string()
        }
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

fn unreachable_kubelet(host: &str, port: u16, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!(
        "Get \"https://{host}:{port}\": error dialing the kubelet: {e}"
    ))
}

/// GET over TLS to the kubelet (HTTP/1.0, so the body ends at close) and
/// the response streamed back; a kubelet error becomes a Status with its
/// code and message.
async fn proxy_get(host: &str, port: u16, path: &str) -> ApiResult<Response> {
    let mut tls = connect_kubelet(host, port).await?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: oxkube-apiserver\r\n\r\n"
    );
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| unreachable_kubelet(host, port, e))?;
    // Read up to the end of the response head.
    let (status, _, rest) = read_head(&mut tls, host, port).await?;
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

/// The upgrade protocols passed through to the kubelet.
const UPGRADES: &[&str] = &["websocket", "SPDY/3.1"];

/// The request headers that carry protocol negotiation, passed through.
const UPGRADE_REQUEST_HEADERS: &[&str] = &[
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "x-stream-protocol-version",
];

/// The `Upgrade` protocol a request asks for, if passed through.
fn upgrade_protocol(headers: &http::HeaderMap) -> Option<&'static str> {
    let asked = headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())?;
    UPGRADES
        .iter()
        .find(|p| asked.split(',').any(|a| a.trim().eq_ignore_ascii_case(p)))
        .copied()
}

/// Whether `req` is a streaming pod subresource (exec, attach,
/// portforward) asking for a WebSocket or SPDY/3.1 upgrade, which
/// `stream` proxies.
pub fn is_streaming(req: &axum::extract::Request) -> bool {
    let path = req.uri().path();
    upgrade_protocol(req.headers()).is_some()
        && path.starts_with("/api/v1/namespaces/")
        && ["/exec", "/attach", "/portforward"]
            .iter()
            .any(|s| path.ends_with(s))
}

/// Proxies an exec/attach/portforward upgrade to the pod's kubelet: the
/// upgrade request goes to the kubelet, its 101 comes back, then bytes
/// are copied both ways (the frames are not looked at).
pub async fn stream(state: Arc<crate::state::ApiState>, req: axum::extract::Request) -> Response {
    match stream_inner(state, req).await {
        Ok(r) => r,
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

async fn stream_inner(
    state: Arc<crate::state::ApiState>,
    mut req: axum::extract::Request,
) -> ApiResult<Response> {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // api v1 namespaces {ns} pods {name} {sub}
    let [_, _, _, ns, "pods", name, sub] = parts.as_slice() else {
        return Err(ApiError::path_not_found());
    };
    let (ns, name, sub) = (ns.to_string(), name.to_string(), sub.to_string());
    let table = state.table();
    let pods = table
        .get("", "v1", "pods")
        .ok_or_else(ApiError::path_not_found)?;
    let pod = state.store.get(&pods, Some(&ns), &name).await?;
    let query = req.uri().query().unwrap_or_default().to_string();
    let params = super::parse_query(Some(&query));
    let node_name = pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if node_name.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // Init and ephemeral containers may be named too (kubectl debug).
    let named: Vec<String> = ["initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|key| pod["spec"][*key].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let target = if sub == "portforward" {
        String::new()
    } else {
        let container = match params.get("container").filter(|c| !c.is_empty()) {
            Some(c) if containers.contains(c) || named.contains(c) => c.clone(),
            Some(c) => {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            None if containers.len() == 1 => containers[0].clone(),
            None => {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                )));
            }
        };
        format!("/{container}")
    };
    let kubelet_sub = match sub.as_str() {
        "exec" => "exec",
        "attach" => "attach",
        _ => "portForward",
    };
    let nodes = table
        .get("", "v1", "nodes")
        .ok_or_else(ApiError::path_not_found)?;
    let node = state.store.get(&nodes, None, &node_name).await?;
    let (host, port) = kubelet_address(&node).ok_or_else(|| {
        ApiError::internal(format!(
            "node {node_name} has no address to reach its kubelet"
        ))
    })?;
    let upgrade = upgrade_protocol(req.headers()).ok_or_else(|| {
        ApiError::bad_request("unable to upgrade: missing upgrade headers in request")
    })?;
    // SPDY clients POST, WebSocket clients GET: the kubelet gets the same.
    let method = if req.method() == http::Method::POST {
        "POST"
    } else {
        "GET"
    };
    let mut head = format!(
        "{method} /{kubelet_sub}/{ns}/{name}{target}{}{query} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: Upgrade\r\nUpgrade: {upgrade}\r\nContent-Length: 0\r\n",
        if query.is_empty() { "" } else { "?" }
    );
    for h in UPGRADE_REQUEST_HEADERS {
        for v in req.headers().get_all(*h) {
            if let Ok(v) = v.to_str() {
                head.push_str(&format!("{h}: {v}\r\n"));
            }
        }
    }
    head.push_str("\r\n");
    let mut tls = connect_kubelet(&host, port).await?;
    tls.write_all(head.as_bytes())
        .await
        .map_err(|e| unreachable_kubelet(&host, port, e))?;
    let (status, headers, rest) = read_head(&mut tls, &host, port).await?;
    if status != 101 {
        let mut body = rest;
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tls.read_to_end(&mut body),
        )
        .await;
        let message = String::from_utf8_lossy(&body).trim().to_string();
        let reason = match status {
            400 => "BadRequest",
            403 => "Forbidden",
            404 => "NotFound",
            _ => "InternalError",
        };
        return Err(ApiError::new(status, reason, message));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut client = hyper_util::rt::TokioIo::new(upgraded);
        if !rest.is_empty() && client.write_all(&rest).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut tls).await;
    });
    let mut resp = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::CONNECTION, "Upgrade");
    for (k, v) in headers {
        if k == "upgrade" || k.starts_with("sec-websocket-") || k == "x-stream-protocol-version" {
            resp = resp.header(k, v);
        }
    }
    resp.body(Body::empty())
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn connect_kubelet(
    host: &str,
    port: u16,
) -> ApiResult<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::internal(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(crate::tls::AnyServerCert(provider)))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| unreachable_kubelet(host, port, e))?;
    let server_name =
        ServerName::try_from(host.to_string()).map_err(|e| unreachable_kubelet(host, port, e))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| unreachable_kubelet(host, port, e))
}

/// Reads a response head: (status, lower-cased headers, bytes after it).
async fn read_head(
    tls: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    host: &str,
    port: u16,
) -> ApiResult<(u16, Vec<(String, String)>, Vec<u8>)> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
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
    let rest = head.split_off(end);
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(502);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> axum::extract::Request {
        let mut b = http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn websocket_and_spdy_upgrades_are_streamed() {
        let exec = "/api/v1/namespaces/default/pods/web/exec";
        let pf = "/api/v1/namespaces/default/pods/web/portforward";
        assert!(is_streaming(&request(
            "GET",
            exec,
            &[("Upgrade", "websocket")]
        )));
        // kubectl up to 1.30 (and the fallback of later ones).
        assert!(is_streaming(&request(
            "POST",
            pf,
            &[("Upgrade", "SPDY/3.1")]
        )));
        assert!(is_streaming(&request(
            "POST",
            "/api/v1/namespaces/default/pods/web/attach",
            &[("Upgrade", "spdy/3.1")]
        )));
        assert!(!is_streaming(&request("POST", pf, &[("Upgrade", "h2c")])));
        assert!(!is_streaming(&request("POST", exec, &[])));
        assert!(!is_streaming(&request(
            "GET",
            "/api/v1/namespaces/default/pods/web/log",
            &[("Upgrade", "websocket")]
        )));
        assert_eq!(
            upgrade_protocol(request("POST", pf, &[("Upgrade", "SPDY/3.1")]).headers()),
            Some("SPDY/3.1")
        );
    }
}
