//! `/exec/{ns}/{pod}/{container}` over WebSocket with upstream's streaming
//! subprotocols `v5.channel.k8s.io` and `v4.channel.k8s.io`: every binary
//! message starts with its channel byte (0 stdin, 1 stdout, 2 stderr,
//! 3 error/status, 4 terminal resize; v5 adds 255 "close stdin"). When the
//! process ends the status goes to channel 3 (`Success`, or `Failure` with
//! reason `NonZeroExitCode` and an `ExitCode` cause, which kubectl turns
//! into its exit code) and the socket closes. SPDY is not served.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::ApiConfig;
use super::streaming::ExecSession;

/// The subprotocols served, preferred first.
pub const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// Percent-decoded query pairs, repeated keys kept (`command=a&command=b`).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && i + 2 < bytes.len()
                && let Ok(b) =
                    u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16)
            {
                out.push(b);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// The `Sec-WebSocket-Accept` value for a client key (RFC 6455).
pub fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// The status sent on the error channel for an exit code.
pub fn exit_status(command: &[String], code: i32) -> serde_json::Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    })
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

pub async fn handle(
    State(cfg): State<Arc<ApiConfig>>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    mut req: Request,
) -> Response {
    let Some(runtime) = cfg.streaming.clone() else {
        return text(
            StatusCode::NOT_IMPLEMENTED,
            "this runtime does not run processes".into(),
        );
    };
    let pairs = query_pairs(req.uri().query().unwrap_or_default());
    let flag = |k: &str| {
        pairs
            .iter()
            .any(|(key, v)| key == k && (v == "1" || v == "true"))
    };
    let command: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if command.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "you must specify at least 1 command".into(),
        );
    }
    let headers = req.headers();
    let is_ws = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let offered: Vec<String> = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .collect();
    let (true, Some(key)) = (is_ws, key) else {
        return text(
            StatusCode::BAD_REQUEST,
            "only WebSocket streaming (v5.channel.k8s.io, v4.channel.k8s.io) is supported".into(),
        );
    };
    let Some(protocol) = PROTOCOLS.iter().find(|p| offered.iter().any(|o| o == *p)) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("unsupported streaming protocol {offered:?}; supported: {PROTOCOLS:?}"),
        );
    };
    let tty = flag("tty");
    let session = match runtime
        .exec(&ns, &pod, &container, command.clone(), tty, flag("stdin"))
        .await
    {
        Ok(s) => Ok(s),
        // The process could not start (e.g. no such executable): like
        // upstream, the failure goes to the error channel after the upgrade.
        Err((500, message)) => Err(message),
        Err((code, message)) => {
            return text(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                message,
            );
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let v5 = *protocol == "v5.channel.k8s.io";
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
        match session {
            Ok(session) => pump(ws, session, command, v5).await,
            Err(message) => {
                let (mut tx, _) = ws.split();
                let status = json!({
                    "metadata": {}, "status": "Failure",
                    "message": format!("Internal error occurred: {message}"),
                    "reason": "InternalError", "code": 500,
                    "details": {"causes": [{"message": message}]}
                });
                let _ = tx.send(frame(ERROR, status.to_string().as_bytes())).await;
                let _ = tx
                    .send(Message::Close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    })))
                    .await;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header("Sec-WebSocket-Accept", accept_key(&key))
        .header("Sec-WebSocket-Protocol", *protocol)
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn read_opt(
    pipe: &mut Option<tokio::net::unix::pipe::Receiver>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match pipe {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// Moves bytes between the socket and the process until it exits.
async fn pump<S>(ws: WebSocketStream<S>, mut s: ExecSession, command: Vec<String>, v5: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut tx, mut rx) = ws.split();
    let (mut out_buf, mut err_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
    let mut stdin = s.stdin.take();
    let mut stderr = s.stderr.take();
    let code = loop {
        tokio::select! {
            n = s.stdout.read(&mut out_buf) => match n {
                Ok(n) if n > 0 && tx.send(frame(STDOUT, &out_buf[..n])).await.is_err() => return,
                _ => {}
            },
            n = read_opt(&mut stderr, &mut err_buf) => match n {
                Ok(n) if n > 0 && tx.send(frame(STDERR, &err_buf[..n])).await.is_err() => return,
                _ => {}
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(data))) if !data.is_empty() => match data[0] {
                    STDIN => if let Some(p) = stdin.as_mut() { let _ = p.write_all(&data[1..]).await; },
                    RESIZE => {
                        if let Ok(size) = serde_json::from_slice::<serde_json::Value>(&data[1..]) {
                            let w = size["Width"].as_u64().unwrap_or(80) as u32;
                            let h = size["Height"].as_u64().unwrap_or(24) as u32;
                            let _ = s.resize.send((w, h)).await;
                        }
                    }
                    CLOSE if v5 && data.get(1) == Some(&STDIN) => {
                        stdin = None;
                        if let Some(close) = s.close_stdin.take() { let _ = close.send(()); }
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
            code = &mut s.exit => break code.unwrap_or(137),
        }
    };
    // What is still in the pipes.
    loop {
        let more = tokio::time::timeout(std::time::Duration::from_millis(100), async {
            tokio::select! {
                n = s.stdout.read(&mut out_buf) => (STDOUT, n),
                n = read_opt(&mut stderr, &mut err_buf) => (STDERR, n),
            }
        })
        .await;
        match more {
            Ok((STDOUT, Ok(n))) if n > 0 => {
                let _ = tx.send(frame(STDOUT, &out_buf[..n])).await;
            }
            Ok((_, Ok(n))) if n > 0 => {
                let _ = tx.send(frame(STDERR, &err_buf[..n])).await;
            }
            _ => break,
        }
    }
    let status = exit_status(&command, code).to_string();
    let _ = tx.send(frame(ERROR, status.as_bytes())).await;
    let _ = tx
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_query_and_status() {
        // RFC 6455's example.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let q = query_pairs("command=sh&command=-c&command=echo%20hi+there&stdout=1");
        let cmd: Vec<_> = q
            .iter()
            .filter(|(k, _)| k == "command")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cmd, ["sh", "-c", "echo hi there"]);
        let s = exit_status(&["false".into()], 1);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "1");
        assert_eq!(exit_status(&[], 0)["status"], "Success");
    }
}
