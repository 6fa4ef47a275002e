//! Remote command over SPDY/3.1 (upstream's `remotecommand` server): the
//! client opens one stream per channel, each with a `streamType` header
//! (`error`, `stdin`, `stdout`, `stderr`, and `resize` from v3 on with a
//! TTY); the server waits up to 30 s for the ones the request asked for,
//! then copies stdin and resize messages (a stream of JSON
//! `{"Width":..,"Height":..}` objects) to the process and its output back.
//! When the process ended: FIN on stdout/stderr, the outcome on the error
//! stream (v4: a `metav1.Status`; v1–v3: the error text, nothing on
//! success), FIN, GOAWAY.

use std::time::Duration;

use bytes::Bytes;

use super::websocket::next_output;
use super::{Kind, Options, exit_status, internal_error};
use crate::api::spdy::{RecvStream, SendStream, Session};
use crate::api::streaming::ProcessStreams;

/// How long the client has to open its streams (upstream's
/// streamCreationTimeout).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Unparsed resize bytes tolerated (a size message is ~30 bytes).
const MAX_RESIZE_BACKLOG: usize = 4096;
/// How long to wait for the client to hang up after GOAWAY.
const LINGER: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Streams {
    error: Option<SendStream>,
    stdin: Option<RecvStream>,
    stdout: Option<SendStream>,
    stderr: Option<SendStream>,
    resize: Option<RecvStream>,
    /// Our halves of the client's input streams (stdin, resize): closed
    /// only at the end. client-go closes its stdin stream as soon as ours
    /// ends, so an early FIN would race with its sending of stdin.
    inputs: Vec<SendStream>,
}

impl Streams {
    fn complete(&self, opts: &Options, resize: bool) -> bool {
        self.error.is_some()
            && (!opts.stdin || self.stdin.is_some())
            && (!opts.stdout || self.stdout.is_some())
            && (!opts.stderr || self.stderr.is_some())
            && (!(resize && opts.tty) || self.resize.is_some())
    }
}

/// Accepts the client's streams until those `opts` asks for are there.
async fn collect(session: &mut Session, opts: &Options, protocol: &str) -> Option<Streams> {
    let resize = matches!(protocol, "v4.channel.k8s.io" | "v3.channel.k8s.io");
    let mut streams = Streams::default();
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    while !streams.complete(opts, resize) {
        let incoming = tokio::time::timeout_at(deadline, session.next_stream()).await;
        let Ok(Some(incoming)) = incoming else {
            tracing::warn!("timed out waiting for client to create streams");
            return None;
        };
        let kind = incoming
            .header("streamtype")
            .unwrap_or_default()
            .to_string();
        let Ok((recv, send)) = incoming.accept().await else {
            return None;
        };
        match kind.as_str() {
            "error" => streams.error = Some(send),
            "stdin" => {
                streams.stdin = Some(recv);
                streams.inputs.push(send);
            }
            "stdout" => streams.stdout = Some(send),
            "stderr" => streams.stderr = Some(send),
            "resize" => {
                streams.resize = Some(recv);
                streams.inputs.push(send);
            }
            other => tracing::warn!(stream_type = other, "unexpected stream type"),
        }
    }
    Some(streams)
}

/// Splits buffered resize messages into sizes, keeping a partial one.
pub fn take_sizes(buf: &mut Vec<u8>) -> Vec<(u32, u32)> {
    let mut sizes = Vec::new();
    let mut iter = serde_json::Deserializer::from_slice(buf).into_iter::<serde_json::Value>();
    let mut used = 0;
    while let Some(Ok(v)) = iter.next() {
        used = iter.byte_offset();
        if let (Some(w), Some(h)) = (v["Width"].as_u64(), v["Height"].as_u64())
            && let (Ok(w), Ok(h)) = (u32::try_from(w), u32::try_from(h))
        {
            sizes.push((w, h));
        }
    }
    buf.drain(..used);
    sizes
}

async fn write_or_drop(stream: &mut Option<SendStream>, data: &Bytes) {
    if let Some(s) = stream
        && s.write(data).await.is_err()
    {
        *stream = None;
    }
}

pub async fn serve(
    mut session: Session,
    protocol: &'static str,
    opts: Options,
    process: Result<ProcessStreams, String>,
    kind: Kind,
) {
    let Some(mut streams) = collect(&mut session, &opts, protocol).await else {
        return;
    };
    let v4 = protocol == "v4.channel.k8s.io";
    let failure: Option<String>;
    let status = match process {
        Err(message) => {
            failure = Some(format!("Internal error occurred: {message}"));
            internal_error(&message)
        }
        Ok(mut p) => {
            // stdin and resize in their own tasks: they must not wait for
            // output, nor output for them.
            if let (Some(mut from), Some(to)) = (streams.stdin.take(), p.stdin.take()) {
                tokio::spawn(async move {
                    while let Some(chunk) = from.read().await {
                        if to.send(chunk).await.is_err() {
                            break;
                        }
                    }
                    // Dropping `to` is the end of input.
                });
            }
            if let Some(mut from) = streams.resize.take() {
                let to = p.resize.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    while let Some(chunk) = from.read().await {
                        buf.extend_from_slice(&chunk);
                        for size in take_sizes(&mut buf) {
                            let _ = to.send(size).await;
                        }
                        if buf.len() > MAX_RESIZE_BACKLOG {
                            tracing::warn!("dropping a resize stream that is not JSON");
                            break;
                        }
                    }
                });
            }
            let (mut stdout, mut stderr) = (p.stdout.take(), p.stderr.take());
            let code = loop {
                tokio::select! {
                    // None (the end) also ends this round, so that the
                    // exit branch is looked at again.
                    b = next_output(&mut stdout) => if let Some(b) = b {
                        write_or_drop(&mut streams.stdout, &b).await;
                    },
                    b = next_output(&mut stderr) => if let Some(b) = b {
                        write_or_drop(&mut streams.stderr, &b).await;
                    },
                    code = &mut p.exit, if stdout.is_none() && stderr.is_none() => break code.unwrap_or(137),
                    _ = session.finished() => return,
                }
            };
            let status = exit_status(&kind, code);
            failure = status["message"].as_str().map(str::to_string);
            status
        }
    };
    for s in [streams.stdout.as_mut(), streams.stderr.as_mut()]
        .into_iter()
        .flatten()
    {
        let _ = s.finish().await;
    }
    if let Some(mut error) = streams.error.take() {
        let message = if v4 {
            Some(status.to_string())
        } else {
            failure
        };
        if let Some(m) = message {
            let _ = error.write(m.as_bytes()).await;
        }
        let _ = error.finish().await;
    }
    for mut s in streams.inputs {
        let _ = s.finish().await;
    }
    session.close(LINGER).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_messages_split_anywhere() {
        let mut buf = br#"{"Width":80,"Height":24}{"Width":100,"#.to_vec();
        assert_eq!(take_sizes(&mut buf), vec![(80, 24)]);
        buf.extend_from_slice(br#""Height":30}"#);
        assert_eq!(take_sizes(&mut buf), vec![(100, 30)]);
        assert!(buf.is_empty());
    }
}
