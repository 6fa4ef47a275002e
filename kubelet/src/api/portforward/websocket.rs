//! Port-forward over WebSocket with the `v4.channel.k8s.io` framing
//! (what kube-rs and client-go's WebSocket port-forwarder speak): port i
//! uses data channel 2i and error channel 2i+1; each starts with the port
//! number (u16, little endian); then bytes on a data channel go to a TCP
//! connection to that port in the pod (`super::dial`) and back.

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::dial;
use crate::api::streaming::ForwardTarget;

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

pub async fn forward<S>(ws: WebSocketStream<S>, target: ForwardTarget, ports: Vec<u16>)
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
        match dial(&target, *port).await {
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
            Err(message) => {
                writers.push(None);
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
