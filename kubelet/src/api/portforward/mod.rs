//! `/portForward/{ns}/{pod}`: TCP connections into a pod, over
//! - SPDY/3.1 (`spdy.rs`, protocol `portforward.k8s.io`), what kubectl
//!   speaks: directly after `Upgrade: SPDY/3.1` (kubectl up to 1.30, and
//!   later ones as a fallback), or tunnelled in a WebSocket with
//!   subprotocol `SPDY/3.1+portforward.k8s.io` (kubectl 1.31+);
//! - WebSocket with the `v4.channel.k8s.io` channel framing
//!   (`websocket.rs`, ports in the query), what kube-rs speaks.
//!
//! Connections are made like containerd's CRI does: to localhost:<port>
//! inside the pod's network namespace (`dial`), so a server listening on
//! 127.0.0.1 in the pod is reachable too.

pub mod spdy;
pub mod websocket;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ApiConfig;
use super::http::{query_pairs, text, websocket_key, websocket_switching};
use super::spdy::upgrade;
use super::streaming::ForwardTarget;

/// The SPDY stream protocol of port-forward.
pub const PORT_FORWARD_PROTOCOL: &str = "portforward.k8s.io";
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The ports of a WebSocket request: `ports=80,8080` or repeated `ports=`.
pub fn ports(query: &str) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for (k, v) in query_pairs(query) {
        if k == "ports" || k == "port" {
            for p in v.split(',').filter(|p| !p.is_empty()) {
                out.push(
                    p.trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("invalid port {p:?}"))?,
                );
            }
        }
    }
    if out.is_empty() {
        return Err("at least 1 port is required".into());
    }
    Ok(out)
}

fn connect_in_netns(netns: &Path, port: u16) -> std::io::Result<std::net::TcpStream> {
    let ns = std::fs::File::open(netns)?;
    // SAFETY: setns(2) with a valid namespace fd; it changes only this
    // thread, which is a fresh one that ends after the connect (the
    // socket keeps the namespace it was made in).
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    connect_localhost(port)
}

fn connect_localhost(port: u16) -> std::io::Result<std::net::TcpStream> {
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    std::net::TcpStream::connect_timeout(&v4, DIAL_TIMEOUT).or_else(|e4| {
        std::net::TcpStream::connect_timeout(
            &SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
            DIAL_TIMEOUT,
        )
        .map_err(|_| e4)
    })
}

/// A TCP connection to localhost:`port` in the pod's network namespace;
/// Err is the message for the client's error stream.
pub async fn dial(target: &ForwardTarget, port: u16) -> Result<tokio::net::TcpStream, String> {
    let netns = target.netns.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let r = match &netns {
            Some(ns) => connect_in_netns(ns, port),
            None => connect_localhost(port),
        };
        let _ = tx.send(r);
    });
    let place = target
        .netns
        .as_ref()
        .map_or("the host network".to_string(), |n| {
            format!("network namespace {:?}", n.display().to_string())
        });
    let conn = rx
        .await
        .map_err(|_| "the dialing thread ended".to_string())
        .and_then(|r| {
            r.map_err(|e| {
                format!(
                    "failed to execute portforward in {place}: failed to connect to localhost:{port} inside namespace {:?}, IP: {}: dial tcp 127.0.0.1:{port}: {e}",
                    target.sandbox_id,
                    target.ip.as_deref().unwrap_or("")
                )
            })
        })
        .map_err(|e| {
            format!(
                "error forwarding port {port} to pod {}, uid {}: {e}",
                target.sandbox_id, target.uid
            )
        })?;
    conn.set_nonblocking(true)
        .map_err(|e| format!("error forwarding port {port}: {e}"))?;
    tokio::net::TcpStream::from_std(conn).map_err(|e| format!("error forwarding port {port}: {e}"))
}

pub async fn handle(
    State(cfg): State<Arc<ApiConfig>>,
    UrlPath((ns, pod)): UrlPath<(String, String)>,
    mut req: Request,
) -> Response {
    let Some(runtime) = cfg.streaming.clone() else {
        return text(
            StatusCode::NOT_IMPLEMENTED,
            "this runtime does not run processes".into(),
        );
    };
    let headers = req.headers();
    enum Mode {
        Spdy,
        Tunnel(String),
        Channels(String, &'static str, Vec<u16>),
    }
    let mode = if let Some(key) = websocket_key(headers) {
        if upgrade::tunnel_protocol(headers, &[PORT_FORWARD_PROTOCOL]).is_some() {
            Mode::Tunnel(key)
        } else {
            let offered = upgrade::header_values(headers, "sec-websocket-protocol");
            let Some(protocol) = ["v4.channel.k8s.io", PORT_FORWARD_PROTOCOL]
                .into_iter()
                .find(|p| offered.iter().any(|o| o == p))
            else {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unsupported port-forward protocol {offered:?}; supported: SPDY/3.1+portforward.k8s.io, v4.channel.k8s.io"
                    ),
                );
            };
            match ports(req.uri().query().unwrap_or_default()) {
                Ok(p) => Mode::Channels(key, protocol, p),
                Err(e) => return text(StatusCode::BAD_REQUEST, e),
            }
        }
    } else if upgrade::is_spdy_upgrade(headers) {
        if let Err(refusal) = upgrade::negotiate(headers, &[PORT_FORWARD_PROTOCOL]) {
            return refusal.into_response();
        }
        Mode::Spdy
    } else {
        return text(
            StatusCode::BAD_REQUEST,
            "unable to upgrade: missing upgrade headers in request (WebSocket or SPDY/3.1)".into(),
        );
    };
    let Some(target) = runtime.port_forward_target(&ns, &pod).await else {
        return text(
            StatusCode::NOT_FOUND,
            format!("pod {ns}/{pod} is not running on this node"),
        );
    };
    tracing::debug!(%ns, %pod, "port-forward");
    let on_upgrade = hyper::upgrade::on(&mut req);
    let upgraded = async move { on_upgrade.await.ok().map(hyper_util::rt::TokioIo::new) };
    match mode {
        Mode::Spdy => {
            tokio::spawn(async move {
                if let Some(io) = upgraded.await {
                    spdy::serve(super::spdy::Session::server(io), target).await;
                }
            });
            upgrade::switching_protocols(PORT_FORWARD_PROTOCOL)
        }
        Mode::Tunnel(key) => {
            tokio::spawn(async move {
                if let Some(io) = upgraded.await {
                    let ws = upgrade::websocket(io).await;
                    spdy::serve(upgrade::tunnel(ws), target).await;
                }
            });
            websocket_switching(
                &key,
                &format!("{}{PORT_FORWARD_PROTOCOL}", upgrade::TUNNEL_PREFIX),
            )
        }
        Mode::Channels(key, protocol, ports) => {
            tokio::spawn(async move {
                if let Some(io) = upgraded.await {
                    let ws = upgrade::websocket(io).await;
                    websocket::forward(ws, target, ports).await;
                }
            });
            websocket_switching(&key, protocol)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ports() {
        assert_eq!(ports("ports=80,8080").unwrap(), vec![80, 8080]);
        assert_eq!(ports("ports=80&ports=81").unwrap(), vec![80, 81]);
        assert!(ports("ports=0").is_err());
        assert!(ports("").is_err());
    }

    #[tokio::test]
    async fn dials_localhost_on_the_host_network() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = ForwardTarget {
            uid: "u".into(),
            sandbox_id: "u-sandbox".into(),
            netns: None,
            ip: None,
        };
        assert!(dial(&target, port).await.is_ok());
        drop(listener);
        let err = dial(&target, port).await.unwrap_err();
        assert!(
            err.starts_with(&format!(
                "error forwarding port {port} to pod u-sandbox, uid u: "
            )),
            "{err}"
        );
    }
}
