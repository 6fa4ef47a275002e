//! `/portForward/{ns}/{pod}?ports=P[,P...]` over WebSocket with the
//! `v4.channel.k8s.io` port-forward framing (what kube-rs and client-go's
//! WebSocket port-forwarder speak): port i uses data channel 2i and error
//! channel 2i+1; each starts with the port number (u16, little endian);
//! then bytes on a data channel go to a TCP connection to the pod's IP on
//! that port and back. kubectl's SPDY-based port-forward is not served.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::ApiConfig;
use super::exec::{accept_key, query_pairs};

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

/// The ports of a request: `ports=80,8080` or repeated `ports=`.
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

pub async fn handle(
    State(cfg): State<Arc<ApiConfig>>,
    Path((ns, pod)): Path<(String, String)>,
    mut req: Request,
) -> Response {
    let Some(runtime) = cfg.streaming.clone() else {
        return text(
            StatusCode::NOT_IMPLEMENTED,
            "this runtime does not run processes".into(),
        );
    };
    let ports = match ports(req.uri().query().unwrap_or_default()) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let headers = req.headers();
    let key = headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let offered = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .collect::<Vec<_>>();
    let Some(key) = key else {
        return text(
            StatusCode::BAD_REQUEST,
            "only WebSocket port forwarding is supported".into(),
        );
    };
    let Some(protocol) = ["v4.channel.k8s.io", "portforward.k8s.io"]
        .into_iter()
        .find(|p| offered.iter().any(|o| o == p))
    else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("unsupported port-forward protocol {offered:?}; supported: v4.channel.k8s.io"),
        );
    };
    let Some(ip) = runtime.pod_ip(&ns, &pod).await else {
        return text(
            StatusCode::NOT_FOUND,
            format!("pod {ns}/{pod} has no IP on this node"),
        );
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(
            hyper_util::rt::TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        forward(ws, ip, ports).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header("Sec-WebSocket-Accept", accept_key(&key))
        .header("Sec-WebSocket-Protocol", protocol)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

async fn forward<S>(ws: WebSocketStream<S>, ip: String, ports: Vec<u16>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut tx, mut rx) = ws.split();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Message>(64);
    let mut writers: Vec<Option<tokio::net::tcp::OwnedWriteHalf>> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let (data, error) = ((2 * i) as u8, (2 * i + 1) as u8);
        let _ = tx.send(frame(data, &port.to_le_bytes())).await;
        let _ = tx.send(frame(error, &port.to_le_bytes())).await;
        match tokio::net::TcpStream::connect((ip.as_str(), *port)).await {
            Ok(conn) => {
                let (mut read, write) = conn.into_split();
                writers.push(Some(write));
                let out = out_tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        match read.read(&mut buf).await {
                            Ok(n) if n > 0 => {
                                if out.send(frame(data, &buf[..n])).await.is_err() {
                                    return;
                                }
                            }
                            _ => return,
                        }
                    }
                });
            }
            Err(e) => {
                writers.push(None);
                let message = format!(
                    "an error occurred forwarding {port} -> {port}: error forwarding port {port} to pod: dial tcp {ip}:{port}: {e}"
                );
                let _ = tx.send(frame(error, message.as_bytes())).await;
            }
        }
    }
    drop(out_tx);
    loop {
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => {
                    let channel = b[0] as usize;
                    if channel.is_multiple_of(2)
                        && let Some(Some(w)) = writers.get_mut(channel / 2)
                        && w.write_all(&b[1..]).await.is_err()
                    {
                        writers[channel / 2] = None;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
            out = out_rx.recv() => match out {
                Some(m) => if tx.send(m).await.is_err() { return },
                None => {
                    let _ = tx.send(Message::Close(None)).await;
                    return;
                }
            },
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
}
