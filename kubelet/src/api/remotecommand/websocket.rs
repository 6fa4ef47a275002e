//! Remote command over WebSocket (`v5.channel.k8s.io`/`v4.channel.k8s.io`):
//! every binary message starts with its channel byte (0 stdin, 1 stdout,
//! 2 stderr, 3 error/status, 4 terminal resize; v5 adds 255 "close
//! stdin" followed by the channel). When the process ends and its output
//! is sent, the status goes to channel 3 and the socket closes.

use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{Kind, exit_status, internal_error};
use crate::api::streaming::ProcessStreams;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// Receives from an output that may be absent or finished (then never).
pub async fn next_output(out: &mut Option<mpsc::Receiver<bytes::Bytes>>) -> Option<bytes::Bytes> {
    match out {
        Some(rx) => match rx.recv().await {
            Some(b) => Some(b),
            None => {
                *out = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// Parses a terminal size message (`{"Width":80,"Height":24}`).
pub fn parse_size(data: &[u8]) -> Option<(u32, u32)> {
    let size: serde_json::Value = serde_json::from_slice(data).ok()?;
    let w = u32::try_from(size["Width"].as_u64()?).ok()?;
    let h = u32::try_from(size["Height"].as_u64()?).ok()?;
    Some((w, h))
}

pub async fn serve<S>(
    ws: WebSocketStream<S>,
    session: Result<ProcessStreams, String>,
    kind: Kind,
    v5: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut tx, mut rx) = ws.split();
    let status = match session {
        Ok(mut s) => {
            let mut stdin = s.stdin.take();
            let (mut stdout, mut stderr) = (s.stdout.take(), s.stderr.take());
            // Output until both streams ended (the process exited and its
            // output was read), input on the way; then the exit code.
            let code = loop {
                tokio::select! {
                    // None (the end) also ends this round, so that the
                    // exit branch is looked at again.
                    b = next_output(&mut stdout) => if let Some(b) = b
                        && tx.send(frame(STDOUT, &b)).await.is_err() {
                        return;
                    },
                    b = next_output(&mut stderr) => if let Some(b) = b
                        && tx.send(frame(STDERR, &b)).await.is_err() {
                        return;
                    },
                    code = &mut s.exit, if stdout.is_none() && stderr.is_none() => {
                        break code.unwrap_or(137);
                    }
                    msg = rx.next() => match msg {
                        Some(Ok(Message::Binary(data))) if !data.is_empty() => match data[0] {
                            STDIN => if let Some(p) = stdin.as_ref()
                                && p.send(bytes::Bytes::copy_from_slice(&data[1..])).await.is_err() {
                                stdin = None;
                            },
                            RESIZE => if let Some(size) = parse_size(&data[1..]) {
                                let _ = s.resize.send(size).await;
                            },
                            CLOSE if v5 && data.get(1) == Some(&STDIN) => stdin = None,
                            _ => {}
                        },
                        // The client went away: stop streaming (an exec'd
                        // process goes on, as upstream's does).
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                        _ => {}
                    },
                }
            };
            exit_status(&kind, code)
        }
        Err(message) => internal_error(&message),
    };
    let _ = tx.send(frame(ERROR, status.to_string().as_bytes())).await;
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
    fn sizes() {
        assert_eq!(parse_size(br#"{"Width":120,"Height":40}"#), Some((120, 40)));
        assert_eq!(parse_size(b"nonsense"), None);
        assert_eq!(parse_size(br#"{"Width":-1,"Height":40}"#), None);
    }
}
