//! Port-forward over SPDY (upstream's `portforward/httpstream.go`): for
//! every forwarded connection the client opens two streams, `streamType:
//! error` and `streamType: data`, with the same `requestID` header and
//! the `port` header. A stream without a valid port or type is refused
//! (RST_STREAM); a pair that is not complete within 30 s is dropped with
//! "timed out waiting for streams" on its error stream. A complete pair
//! gets a TCP connection to the port (`super::dial`); the data stream is
//! copied both ways, a failure is written to the error stream, and both
//! streams end (FIN) once one direction ended and the other followed or
//! one second passed (as containerd's CRI does).

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::dial;
use crate::api::spdy::frame::rst;
use crate::api::spdy::{IncomingStream, RecvStream, SendStream, Session};
use crate::api::streaming::ForwardTarget;

pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the second direction gets once the first one ended.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The stream's request id: its `requestID` header, or for clients that
/// send none (before 1.6) the id derived from the stream id, as upstream
/// does (error: its id; data: its id - 2).
pub fn request_id(stream_id: u32, stream_type: &str, header: Option<&str>) -> String {
    match header {
        Some(id) if !id.is_empty() => id.to_string(),
        _ if stream_type == "data" => stream_id.saturating_sub(2).to_string(),
        _ => stream_id.to_string(),
    }
}

/// Checks the `port` and `streamType` headers of a new stream.
pub fn validate(port: Option<&str>, stream_type: Option<&str>) -> Result<(u16, String), String> {
    let port = match port {
        None | Some("") => return Err("\"port\" header is required".into()),
        Some(p) => p,
    };
    let n = port
        .parse::<u16>()
        .map_err(|e| format!("unable to parse {port:?} as a port: {e}"))?;
    if n < 1 {
        return Err(format!("port {port:?} must be > 0"));
    }
    match stream_type {
        None | Some("") => Err("\"streamType\" header is required".into()),
        Some(t @ ("error" | "data")) => Ok((n, t.to_string())),
        Some(t) => Err(format!("invalid stream type {t:?}")),
    }
}

#[derive(Default)]
struct Pair {
    port: u16,
    data: Option<(RecvStream, SendStream)>,
    error: Option<SendStream>,
}

pub async fn serve(mut session: Session, target: ForwardTarget) {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let (expired_tx, mut expired) = mpsc::channel::<String>(16);
    loop {
        tokio::select! {
            incoming = session.next_stream() => {
                let Some(incoming) = incoming else { break };
                add(incoming, &mut pairs, &expired_tx, &target).await;
            }
            Some(id) = expired.recv() => {
                if let Some(mut p) = pairs.remove(&id)
                    && let Some(mut error) = p.error.take()
                {
                    tracing::warn!(request = %id, "port-forward: timed out waiting for streams");
                    let _ = error
                        .write(format!("(request={id}) timed out waiting for streams").as_bytes())
                        .await;
                    let _ = error.finish().await;
                }
            }
        }
    }
}

async fn add(
    incoming: IncomingStream,
    pairs: &mut HashMap<String, Pair>,
    expired: &mpsc::Sender<String>,
    target: &ForwardTarget,
) {
    let (port, stream_type) = match validate(incoming.header("port"), incoming.header("streamtype"))
    {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(stream = incoming.id, error = %e, "port-forward stream refused");
            incoming.refuse(rst::REFUSED_STREAM).await;
            return;
        }
    };
    let id = request_id(incoming.id, &stream_type, incoming.header("requestid"));
    let Ok((recv, send)) = incoming.accept().await else {
        return;
    };
    let pair = pairs.entry(id.clone()).or_insert_with(|| {
        let expired = expired.clone();
        let id = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(STREAM_CREATION_TIMEOUT).await;
            let _ = expired.send(id).await;
        });
        Pair {
            port,
            ..Default::default()
        }
    });
    let duplicate = match stream_type.as_str() {
        "error" if pair.error.is_none() => {
            pair.error = Some(send);
            None
        }
        "data" if pair.data.is_none() => {
            pair.data = Some((recv, send));
            None
        }
        other => Some((format!("{other} stream already assigned"), send)),
    };
    if let Some((e, mut send)) = duplicate {
        let message = format!("error processing stream for request {id}: {e}");
        tracing::warn!("{message}");
        if let Some(error) = pair.error.as_mut() {
            let _ = error.write(message.as_bytes()).await;
        }
        let _ = send.finish().await;
        return;
    }
    if pair.data.is_some() && pair.error.is_some() {
        let Some(Pair {
            port,
            data: Some(data),
            error: Some(error),
        }) = pairs.remove(&id)
        else {
            return;
        };
        let target = target.clone();
        tokio::spawn(forward(data, error, target, port));
    }
}

/// Copies one forwarded connection until it ends.
async fn forward(
    (mut from_client, mut to_client): (RecvStream, SendStream),
    mut error: SendStream,
    target: ForwardTarget,
    port: u16,
) {
    match dial(&target, port).await {
        Err(message) => {
            tracing::warn!(port, error = %message, "port-forward");
            let _ = error.write(message.as_bytes()).await;
        }
        Ok(conn) => {
            let (mut read, mut write) = conn.into_split();
            let to_pod = async {
                while let Some(chunk) = from_client.read().await {
                    if write.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                let _ = write.shutdown().await;
            };
            let from_pod = async {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match read.read(&mut buf).await {
                        Ok(n) if n > 0 => {
                            if to_client.write(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
                let _ = to_client.finish().await;
            };
            tokio::pin!(to_pod, from_pod);
            tokio::select! {
                _ = &mut to_pod => { let _ = tokio::time::timeout(CLOSE_GRACE, from_pod).await; }
                _ = &mut from_pod => { let _ = tokio::time::timeout(CLOSE_GRACE, to_pod).await; }
            }
        }
    }
    let _ = to_client.finish().await;
    let _ = error.finish().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_like_upstream() {
        assert_eq!(validate(Some("80"), Some("data")).unwrap().0, 80);
        assert_eq!(
            validate(None, Some("data")).unwrap_err(),
            "\"port\" header is required"
        );
        assert!(validate(Some("0"), Some("data")).is_err());
        assert!(validate(Some("99999"), Some("data")).is_err());
        assert_eq!(
            validate(Some("80"), Some("stdin")).unwrap_err(),
            "invalid stream type \"stdin\""
        );
        assert_eq!(request_id(7, "data", Some("3")), "3");
        assert_eq!(request_id(7, "data", None), "5");
        assert_eq!(request_id(5, "error", None), "5");
    }
}
