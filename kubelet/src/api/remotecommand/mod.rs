//! `/exec/{ns}/{pod}/{container}` and `/attach/{ns}/{pod}/{container}`,
//! upstream's remote command protocol over either transport:
//! - WebSocket (`websocket.rs`), subprotocols `v5.channel.k8s.io` and
//!   `v4.channel.k8s.io`: one socket, a channel byte before every message;
//! - SPDY/3.1 (`spdy.rs`), `X-Stream-Protocol-Version` `v4.channel.k8s.io`,
//!   `v3.channel.k8s.io`, `v2.channel.k8s.io`, `channel.k8s.io`: one
//!   stream per channel, opened by the client with a `streamType` header.
//!
//! Both end the same way: the output is sent, then the error channel
//! carries the outcome (v4/v5: a `metav1.Status`, `Success` or `Failure`
//! with reason `NonZeroExitCode` and an `ExitCode` cause, which kubectl
//! turns into its exit code; v1–v3: an error text, nothing on success).
//! An attach always ends in `Success` when the container ends, as with
//! upstream's kubelet: `kubectl run -i` reads the exit code from the pod.

pub mod spdy;
pub mod websocket;

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiConfig;
use super::http::{flag, query_pairs, text, websocket_key, websocket_switching};
use super::spdy::upgrade;
use super::streaming::{AttachOptions, ProcessStreams, StreamingError};

/// WebSocket subprotocols served, preferred first.
pub const WEBSOCKET_PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// SPDY stream protocols served, preferred first (the client's order wins).
pub const SPDY_PROTOCOLS: &[&str] = &[
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

/// Exec or attach.
#[derive(Debug, Clone)]
pub enum Kind {
    Exec(Vec<String>),
    Attach,
}

/// The streams a request asks for (upstream's `NewOptions`: stderr is
/// dropped with a TTY).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl Options {
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, String> {
        let tty = flag(pairs, "tty");
        let opts = Options {
            stdin: flag(pairs, "stdin") || flag(pairs, "input"),
            stdout: flag(pairs, "stdout") || flag(pairs, "output"),
            stderr: flag(pairs, "stderr") && !tty,
            tty,
        };
        if !opts.stdin && !opts.stdout && !flag(pairs, "stderr") {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        Ok(opts)
    }
}

/// The status for how a remote command ended (v4/v5 error channel).
pub fn exit_status(kind: &Kind, code: i32) -> serde_json::Value {
    match kind {
        Kind::Exec(command) if code != 0 => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
        }),
        _ => json!({"metadata": {}, "status": "Success"}),
    }
}

/// The status for a process that could not start.
pub fn internal_error(message: &str) -> serde_json::Value {
    json!({
        "metadata": {}, "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError", "code": 500,
        "details": {"causes": [{"message": message}]}
    })
}

pub async fn exec(
    State(cfg): State<Arc<ApiConfig>>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    let pairs = query_pairs(req.uri().query().unwrap_or_default());
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
    serve(cfg, ns, pod, container, Kind::Exec(command), pairs, req).await
}

pub async fn attach(
    State(cfg): State<Arc<ApiConfig>>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    let pairs = query_pairs(req.uri().query().unwrap_or_default());
    serve(cfg, ns, pod, container, Kind::Attach, pairs, req).await
}

/// How the client wants to talk.
enum Transport {
    WebSocket { key: String, protocol: &'static str },
    Spdy { protocol: &'static str },
}

async fn serve(
    cfg: Arc<ApiConfig>,
    ns: String,
    pod: String,
    container: String,
    kind: Kind,
    pairs: Vec<(String, String)>,
    mut req: Request,
) -> Response {
    let Some(runtime) = cfg.streaming.clone() else {
        return text(
            StatusCode::NOT_IMPLEMENTED,
            "this runtime does not run processes".into(),
        );
    };
    let opts = match Options::from_pairs(&pairs) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let headers = req.headers();
    let transport = if let Some(key) = websocket_key(headers) {
        let offered = upgrade::header_values(headers, "sec-websocket-protocol");
        match WEBSOCKET_PROTOCOLS
            .iter()
            .find(|p| offered.iter().any(|o| o == *p))
        {
            Some(protocol) => Transport::WebSocket { key, protocol },
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unsupported streaming protocol {offered:?}; supported: {WEBSOCKET_PROTOCOLS:?}"
                    ),
                );
            }
        }
    } else if upgrade::is_spdy_upgrade(headers) {
        match upgrade::negotiate(headers, SPDY_PROTOCOLS) {
            Ok(protocol) => Transport::Spdy { protocol },
            Err(refusal) => return refusal.into_response(),
        }
    } else {
        return text(
            StatusCode::BAD_REQUEST,
            "unable to upgrade: missing upgrade headers in request (WebSocket or SPDY/3.1)".into(),
        );
    };
    let started = match &kind {
        Kind::Exec(command) => {
            runtime
                .exec(&ns, &pod, &container, command.clone(), opts.tty, opts.stdin)
                .await
        }
        Kind::Attach => {
            runtime
                .attach(
                    &ns,
                    &pod,
                    &container,
                    AttachOptions {
                        stdin: opts.stdin,
                        stdout: opts.stdout,
                        stderr: opts.stderr,
                        tty: opts.tty,
                    },
                )
                .await
        }
    };
    let session: Result<ProcessStreams, String> = match started {
        Ok(s) => Ok(s),
        Err(StreamingError::Start(message)) => Err(message),
        Err(e) => {
            return text(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                e.to_string(),
            );
        }
    };
    tracing::debug!(%ns, %pod, %container, ?kind, "remote command");
    let on_upgrade = hyper::upgrade::on(&mut req);
    match transport {
        Transport::WebSocket { key, protocol } => {
            let v5 = protocol == "v5.channel.k8s.io";
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let ws = upgrade::websocket(hyper_util::rt::TokioIo::new(upgraded)).await;
                websocket::serve(ws, session, kind, v5).await;
            });
            websocket_switching(&key, protocol)
        }
        Transport::Spdy { protocol } => {
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let spdy = super::spdy::Session::server(hyper_util::rt::TokioIo::new(upgraded));
                spdy::serve(spdy, protocol, opts, session, kind).await;
            });
            upgrade::switching_protocols(protocol)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_status() {
        let p = query_pairs("stdout=1&stderr=1&tty=1");
        let o = Options::from_pairs(&p).unwrap();
        assert!(o.stdout && o.tty && !o.stderr && !o.stdin);
        assert!(Options::from_pairs(&query_pairs("tty=1")).is_err());
        let s = exit_status(&Kind::Exec(vec!["false".into()]), 1);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "1");
        assert_eq!(exit_status(&Kind::Exec(vec![]), 0)["status"], "Success");
        assert_eq!(exit_status(&Kind::Attach, 3)["status"], "Success");
    }
}
