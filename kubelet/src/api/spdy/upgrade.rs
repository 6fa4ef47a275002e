//! How a SPDY session starts over HTTP/1.1, as client-go's
//! `httpstream.Handshake` and `spdy.responseUpgrader` do it: the request
//! carries `Connection: Upgrade`, `Upgrade: SPDY/3.1` and one or more
//! `X-Stream-Protocol-Version` values (in the client's order of
//! preference); the first one the server supports is answered in a `101
//! Switching Protocols` with `Upgrade: SPDY/3.1`. Without a common
//! protocol the answer is 403 with `X-Accepted-Stream-Protocol-Versions`.
//! The tunnelled form is a WebSocket upgrade whose subprotocols are
//! `SPDY/3.1+<protocol>`; the session's bytes then travel in binary
//! messages (`tunnel`).

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::Session;

pub const SPDY_31: &str = "SPDY/3.1";
pub const HEADER_PROTOCOL_VERSION: &str = "X-Stream-Protocol-Version";
pub const HEADER_ACCEPTED_PROTOCOL_VERSIONS: &str = "X-Accepted-Stream-Protocol-Versions";
/// The prefix of WebSocket subprotocols that tunnel SPDY.
pub const TUNNEL_PREFIX: &str = "SPDY/3.1+";

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains(&token.to_ascii_lowercase()))
}

/// Whether the request asks for a direct SPDY/3.1 upgrade.
pub fn is_spdy_upgrade(headers: &HeaderMap) -> bool {
    has_token(headers, header::CONNECTION, "upgrade")
        && has_token(headers, header::UPGRADE, SPDY_31)
}

/// Every value of a comma-separated, repeatable header, trimmed.
pub fn header_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A refused upgrade: the HTTP answer to send instead.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    /// Sent as `X-Accepted-Stream-Protocol-Versions`.
    pub accepted: &'static [&'static str],
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut resp = text(self.status, self.message);
        for s in self.accepted {
            if let Ok(v) = s.parse() {
                resp.headers_mut()
                    .append(HEADER_ACCEPTED_PROTOCOL_VERSIONS, v);
            }
        }
        resp
    }
}

/// The protocol both sides speak: the client's first that `server`
/// supports.
pub fn negotiate(
    headers: &HeaderMap,
    server: &'static [&'static str],
) -> Result<&'static str, Refusal> {
    let client = header_values(headers, HEADER_PROTOCOL_VERSION);
    if client.is_empty() {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            message: format!("unable to upgrade: {HEADER_PROTOCOL_VERSION} is required"),
            accepted: &[],
        });
    }
    if let Some(p) = client
        .iter()
        .find_map(|c| server.iter().find(|s| **s == c.as_str()))
    {
        return Ok(p);
    }
    Err(Refusal {
        status: StatusCode::FORBIDDEN,
        message: format!(
            "unable to upgrade: unable to negotiate protocol: client supports {client:?}, server accepts {server:?}"
        ),
        accepted: server,
    })
}

/// The tunnelled protocol of a WebSocket request: the first offered
/// `SPDY/3.1+<p>` subprotocol with `<p>` in `server`.
pub fn tunnel_protocol(headers: &HeaderMap, server: &[&'static str]) -> Option<&'static str> {
    header_values(headers, "sec-websocket-protocol")
        .iter()
        .filter_map(|o| o.strip_prefix(TUNNEL_PREFIX))
        .find_map(|o| server.iter().find(|s| **s == o).copied())
}

pub fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

/// The 101 answer to a direct SPDY upgrade.
pub fn switching_protocols(protocol: &str) -> Response {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, SPDY_31)
        .header(HEADER_PROTOCOL_VERSION, protocol)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A SPDY session over a WebSocket whose binary messages carry the
/// session's bytes (client-go's tunneling connection).
pub fn tunnel<S>(ws: WebSocketStream<S>) -> Session
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mine, theirs) = tokio::io::duplex(256 * 1024);
    tokio::spawn(pump_tunnel(ws, mine));
    Session::server(theirs)
}

async fn pump_tunnel<S>(ws: WebSocketStream<S>, pipe: tokio::io::DuplexStream)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (mut pipe_rx, mut pipe_tx) = tokio::io::split(pipe);
    let inbound = async {
        while let Some(msg) = ws_rx.next().await {
            match msg {
                Ok(Message::Binary(b)) => {
                    if pipe_tx.write_all(&b).await.is_err() {
                        break;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(Message::Text(_)) => {
                    tracing::warn!("text message in a SPDY WebSocket tunnel; closing it");
                    break;
                }
                Ok(_) => {}
            }
        }
        let _ = pipe_tx.shutdown().await;
    };
    let outbound = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match pipe_rx.read(&mut buf).await {
                Ok(n) if n > 0 => {
                    if ws_tx
                        .send(Message::Binary(buf[..n].to_vec().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                _ => {
                    let _ = ws_tx.send(Message::Close(None)).await;
                    return;
                }
            }
        }
    };
    // The session closing its side ends the tunnel (Close sent); the
    // peer closing the WebSocket ends the session's input.
    tokio::join!(inbound, outbound);
}

/// Wraps an upgraded connection for `tunnel` (server role).
pub async fn websocket<S>(io: S) -> WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    WebSocketStream::from_raw_socket(io, Role::Server, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn negotiates_like_client_go() {
        let server = &["v4.channel.k8s.io", "v3.channel.k8s.io", "channel.k8s.io"];
        // The client's order decides.
        let h = headers(&[
            ("X-Stream-Protocol-Version", "v3.channel.k8s.io"),
            ("X-Stream-Protocol-Version", "v4.channel.k8s.io"),
        ]);
        assert_eq!(negotiate(&h, server).unwrap(), "v3.channel.k8s.io");
        let missing = negotiate(&HeaderMap::new(), server).unwrap_err();
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        let none = negotiate(
            &headers(&[("X-Stream-Protocol-Version", "v9.channel.k8s.io")]),
            server,
        )
        .unwrap_err()
        .into_response();
        assert_eq!(none.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            none.headers()
                .get_all(HEADER_ACCEPTED_PROTOCOL_VERSIONS)
                .iter()
                .count(),
            3
        );
        assert!(is_spdy_upgrade(&headers(&[
            ("Connection", "Upgrade"),
            ("Upgrade", "SPDY/3.1")
        ])));
        assert!(!is_spdy_upgrade(&headers(&[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket")
        ])));
        let ws = headers(&[(
            "Sec-WebSocket-Protocol",
            "SPDY/3.1+portforward.k8s.io, v4.channel.k8s.io",
        )]);
        assert_eq!(
            tunnel_protocol(&ws, &["portforward.k8s.io"]),
            Some("portforward.k8s.io")
        );
        assert_eq!(tunnel_protocol(&ws, &["other"]), None);
    }
}
