//! The server side of a SPDY/3.1 session over any byte stream (the
//! upgraded HTTP connection, or a WebSocket tunnel): the peer opens
//! streams (SYN_STREAM, odd ids), the handler accepts (SYN_REPLY) or
//! refuses (RST_STREAM) each, then reads and writes DATA on it until both
//! sides sent FIN. PINGs from the peer are echoed; GOAWAY ends the session.
//!
//! Flow control (SPDY/3.1): every stream has a send window (64 KiB or the
//! peer's SETTINGS_INITIAL_WINDOW_SIZE) and the session one more (64 KiB,
//! stream 0 in WINDOW_UPDATE); data is only sent within both, and the
//! receiving side sends WINDOW_UPDATEs for what its handler consumed.
//! Windows are enforced once the peer shows that it takes part in flow
//! control (it sent a WINDOW_UPDATE or an initial window size): moby's
//! spdystream, which kubectl and upstream's kubelet use, never sends
//! either and ignores ours, so for it (as between kubectl and upstream's
//! kubelet) the windows are only counted. Back-pressure then comes from
//! the transport: a stream whose handler does not read stops the reader.
//!
//! A malformed frame ends the session with a GOAWAY(PROTOCOL_ERROR) and
//! an error from `Session::finished`, never a panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, watch};

use super::SpdyError;
use super::frame::{self, Decoder, Encoder, FLAG_FIN, FLAG_UNIDIRECTIONAL, Frame, Headers};

/// The initial stream and session windows of SPDY/3.1.
pub const DEFAULT_WINDOW: i64 = 64 * 1024;
const MAX_WINDOW: i64 = 0x7fff_ffff;
/// The largest DATA frame sent.
pub const MAX_DATA_FRAME: usize = 16 * 1024;
/// Chunks queued for a stream's handler before the reader waits.
const STREAM_QUEUE: usize = 16;
/// Streams open at once before new ones are refused.
const MAX_STREAMS: usize = 1024;

struct StreamEntry {
    /// Where received data goes; None once the peer finished (FIN/RST).
    data: Option<mpsc::Sender<Bytes>>,
    send_window: i64,
    recv_window: i64,
    /// Consumed by the handler, not yet given back by WINDOW_UPDATE.
    recv_unacked: i64,
    local_closed: bool,
    remote_closed: bool,
    reset: Option<u32>,
}

struct State {
    streams: HashMap<u32, StreamEntry>,
    last_peer_stream: u32,
    initial_send_window: i64,
    session_send_window: i64,
    session_recv_unacked: i64,
    /// The peer takes part in flow control: windows are enforced.
    flow_control: bool,
    goaway_sent: bool,
    closed: bool,
}

enum Command {
    Frame(Frame),
    /// Flush and close the write side.
    Shutdown,
}

struct Inner {
    state: Mutex<State>,
    changed: Notify,
    out: mpsc::Sender<Command>,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a panic elsewhere; the state is still
        // consistent enough to shut down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn send(&self, frame: Frame) -> Result<(), SpdyError> {
        self.out
            .send(Command::Frame(frame))
            .await
            .map_err(|_| SpdyError::Closed)
    }

    /// Removes a stream once both sides are done with it.
    fn reap(state: &mut State, id: u32) {
        if let Some(s) = state.streams.get(&id)
            && ((s.local_closed && s.remote_closed) || s.reset.is_some())
        {
            state.streams.remove(&id);
        }
    }
}

/// A stream the peer opened, waiting for `accept` or `refuse`.
pub struct IncomingStream {
    pub id: u32,
    pub headers: Headers,
    inner: Arc<Inner>,
    data: mpsc::Receiver<Bytes>,
}

impl IncomingStream {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        frame::header(&self.headers, name)
    }

    /// Replies (SYN_REPLY) and returns the two halves of the stream.
    pub async fn accept(self) -> Result<(RecvStream, SendStream), SpdyError> {
        self.inner
            .send(Frame::SynReply {
                stream_id: self.id,
                flags: 0,
                headers: Vec::new(),
            })
            .await?;
        Ok((
            RecvStream {
                id: self.id,
                inner: self.inner.clone(),
                data: self.data,
            },
            SendStream {
                id: self.id,
                inner: self.inner,
                finished: false,
            },
        ))
    }

    /// Refuses the stream with RST_STREAM `status`.
    pub async fn refuse(self, status: u32) {
        reset(&self.inner, self.id, status).await;
    }
}

async fn reset(inner: &Inner, id: u32, status: u32) {
    {
        let mut st = inner.lock();
        if let Some(s) = st.streams.get_mut(&id) {
            s.reset = Some(status);
            s.data = None;
        }
        Inner::reap(&mut st, id);
    }
    inner.changed.notify_waiters();
    let _ = inner
        .send(Frame::RstStream {
            stream_id: id,
            status,
        })
        .await;
}

/// The receiving half of a stream.
pub struct RecvStream {
    pub id: u32,
    inner: Arc<Inner>,
    data: mpsc::Receiver<Bytes>,
}

impl RecvStream {
    /// The next chunk; None once the peer finished (FIN), reset the
    /// stream or the session ended.
    pub async fn read(&mut self) -> Option<Bytes> {
        let chunk = self.data.recv().await?;
        self.consumed(chunk.len() as i64).await;
        Some(chunk)
    }

    /// Gives consumed bytes back to the peer's windows (WINDOW_UPDATE at
    /// half a window, per stream and per session).
    async fn consumed(&self, n: i64) {
        let mut updates = Vec::new();
        {
            let mut st = self.inner.lock();
            st.session_recv_unacked += n;
            if st.session_recv_unacked >= DEFAULT_WINDOW / 2 {
                updates.push((0, st.session_recv_unacked));
                st.session_recv_unacked = 0;
            }
            if let Some(s) = st.streams.get_mut(&self.id)
                && !s.remote_closed
            {
                s.recv_unacked += n;
                if s.recv_unacked >= DEFAULT_WINDOW / 2 {
                    updates.push((self.id, s.recv_unacked));
                    s.recv_window += s.recv_unacked;
                    s.recv_unacked = 0;
                }
            }
        }
        for (stream_id, delta) in updates {
            let _ = self
                .inner
                .send(Frame::WindowUpdate {
                    stream_id,
                    delta: delta as u32,
                })
                .await;
        }
    }
}

/// The sending half of a stream; dropping it without `finish` sends FIN.
pub struct SendStream {
    pub id: u32,
    inner: Arc<Inner>,
    finished: bool,
}

impl SendStream {
    /// Sends `data` in DATA frames within the flow-control windows.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<(), SpdyError> {
        while !data.is_empty() {
            let n = self.reserve(data.len().min(MAX_DATA_FRAME)).await?;
            self.inner
                .send(Frame::Data {
                    stream_id: self.id,
                    flags: 0,
                    data: Bytes::copy_from_slice(&data[..n]),
                })
                .await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Waits until up to `want` bytes may be sent and takes them from the
    /// stream's and the session's windows.
    async fn reserve(&self, want: usize) -> Result<usize, SpdyError> {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut st = self.inner.lock();
                if st.closed {
                    return Err(SpdyError::Closed);
                }
                let enforce = st.flow_control;
                let session_window = st.session_send_window;
                let Some(s) = st.streams.get_mut(&self.id) else {
                    return Err(SpdyError::Closed);
                };
                if let Some(status) = s.reset {
                    return Err(SpdyError::Reset(self.id, status));
                }
                let allowed = if enforce {
                    s.send_window.min(session_window).max(0) as usize
                } else {
                    want
                };
                let n = want.min(allowed);
                if n > 0 {
                    s.send_window -= n as i64;
                    st.session_send_window -= n as i64;
                    return Ok(n);
                }
            }
            changed.await;
        }
    }

    /// Sends FIN: nothing more will be written.
    pub async fn finish(&mut self) -> Result<(), SpdyError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let open = {
            let mut st = self.inner.lock();
            let open = st.streams.get_mut(&self.id).map(|s| {
                s.local_closed = true;
                s.reset.is_none()
            });
            Inner::reap(&mut st, self.id);
            open.unwrap_or(false)
        };
        if open {
            self.inner
                .send(Frame::Data {
                    stream_id: self.id,
                    flags: FLAG_FIN,
                    data: Bytes::new(),
                })
                .await?;
        }
        Ok(())
    }

    /// Resets the stream (RST_STREAM `status`).
    pub async fn reset(mut self, status: u32) {
        self.finished = true;
        reset(&self.inner, self.id, status).await;
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let open = {
            let mut st = self.inner.lock();
            let open = st.streams.get_mut(&self.id).map(|s| {
                s.local_closed = true;
                s.reset.is_none()
            });
            Inner::reap(&mut st, self.id);
            open.unwrap_or(false)
        };
        if open {
            let fin = Command::Frame(Frame::Data {
                stream_id: self.id,
                flags: FLAG_FIN,
                data: Bytes::new(),
            });
            if let Err(mpsc::error::TrySendError::Full(fin)) = self.inner.out.try_send(fin)
                && let Ok(rt) = tokio::runtime::Handle::try_current()
            {
                let out = self.inner.out.clone();
                rt.spawn(async move {
                    let _ = out.send(fin).await;
                });
            }
        }
    }
}

/// One server session. Dropping it closes the connection.
pub struct Session {
    inner: Arc<Inner>,
    incoming: mpsc::Receiver<IncomingStream>,
    stop: watch::Sender<bool>,
    done: watch::Receiver<Option<Result<(), String>>>,
}

impl Session {
    /// Starts serving SPDY on `io` (the server side).
    pub fn server<T>(io: T) -> Session
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(io);
        let (out_tx, out_rx) = mpsc::channel(64);
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                streams: HashMap::new(),
                last_peer_stream: 0,
                initial_send_window: DEFAULT_WINDOW,
                session_send_window: DEFAULT_WINDOW,
                session_recv_unacked: 0,
                flow_control: false,
                goaway_sent: false,
                closed: false,
            }),
            changed: Notify::new(),
            out: out_tx,
        });
        let (incoming_tx, incoming) = mpsc::channel(64);
        let (stop, stopped) = watch::channel(false);
        let (done_tx, done) = watch::channel(None);
        tokio::spawn(write_loop(write, out_rx));
        let reader_inner = inner.clone();
        tokio::spawn(async move {
            let result = read_loop(read, &reader_inner, incoming_tx, stopped).await;
            if let Err(e) = &result {
                match e {
                    // The peer went away without closing cleanly: common.
                    SpdyError::Io(_) => tracing::debug!(error = %e, "SPDY session ended"),
                    _ => tracing::warn!(error = %e, "SPDY session ended"),
                }
                let status = match e {
                    SpdyError::Io(_) | SpdyError::Closed => None,
                    _ => Some(frame::goaway::PROTOCOL_ERROR),
                };
                if let Some(status) = status {
                    let last = reader_inner.lock().last_peer_stream;
                    let _ = reader_inner
                        .send(Frame::GoAway {
                            last_good_stream_id: last,
                            status,
                        })
                        .await;
                }
            }
            {
                let mut st = reader_inner.lock();
                st.closed = true;
                for s in st.streams.values_mut() {
                    s.data = None;
                }
            }
            reader_inner.changed.notify_waiters();
            let _ = reader_inner.out.send(Command::Shutdown).await;
            let _ = done_tx.send(Some(result.map_err(|e| e.to_string())));
        });
        Session {
            inner,
            incoming,
            stop,
            done,
        }
    }

    /// The next stream the peer opens; None once the session ended.
    pub async fn next_stream(&mut self) -> Option<IncomingStream> {
        self.incoming.recv().await
    }

    /// Sends GOAWAY (no new streams), waits up to `linger` for the peer to
    /// close the connection, then closes it.
    pub async fn close(mut self, linger: Duration) {
        let last = {
            let mut st = self.inner.lock();
            st.goaway_sent = true;
            st.last_peer_stream
        };
        let _ = self
            .inner
            .send(Frame::GoAway {
                last_good_stream_id: last,
                status: frame::goaway::OK,
            })
            .await;
        self.incoming.close();
        let _ = tokio::time::timeout(linger, self.finished()).await;
    }

    /// Waits until the peer closed the connection or the session failed.
    pub async fn finished(&mut self) -> Result<(), String> {
        loop {
            if let Some(r) = self.done.borrow().clone() {
                return r;
            }
            if self.done.changed().await.is_err() {
                return Err("session task ended".into());
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn write_loop<W: AsyncWrite>(write: W, mut rx: mpsc::Receiver<Command>) {
    tokio::pin!(write);
    let mut encoder = Encoder::new();
    let mut buf = BytesMut::new();
    while let Some(cmd) = rx.recv().await {
        let mut shutdown = false;
        let mut next = Some(cmd);
        // Encode what is queued, then write it in one go.
        while let Some(cmd) = next.take() {
            match cmd {
                Command::Frame(f) => {
                    if let Err(e) = encoder.encode(&f, &mut buf) {
                        tracing::warn!(error = %e, "SPDY frame not sent");
                    }
                }
                Command::Shutdown => shutdown = true,
            }
            if buf.len() < 64 * 1024 && !shutdown {
                next = rx.try_recv().ok();
            }
        }
        if write.write_all(&buf).await.is_err() || write.flush().await.is_err() {
            return;
        }
        buf.clear();
        if shutdown {
            let _ = write.shutdown().await;
            return;
        }
    }
}

async fn read_loop<R: AsyncRead>(
    read: R,
    inner: &Arc<Inner>,
    incoming: mpsc::Sender<IncomingStream>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), SpdyError> {
    tokio::pin!(read);
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(32 * 1024);
    loop {
        while let Some(f) = decoder.decode(&mut buf)? {
            handle(f, inner, &incoming).await?;
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(32 * 1024);
        }
        tokio::select! {
            n = read.read_buf(&mut buf) => {
                if n? == 0 {
                    return Ok(());
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

async fn handle(
    f: Frame,
    inner: &Arc<Inner>,
    incoming: &mpsc::Sender<IncomingStream>,
) -> Result<(), SpdyError> {
    match f {
        Frame::SynStream {
            stream_id,
            flags,
            headers,
            ..
        } => {
            let refusal = {
                let mut st = inner.lock();
                if stream_id == 0 || stream_id % 2 == 0 || stream_id <= st.last_peer_stream {
                    Some(frame::rst::PROTOCOL_ERROR)
                } else if st.goaway_sent || st.streams.len() >= MAX_STREAMS {
                    st.last_peer_stream = stream_id;
                    Some(frame::rst::REFUSED_STREAM)
                } else {
                    st.last_peer_stream = stream_id;
                    None
                }
            };
            if let Some(status) = refusal {
                tracing::debug!(stream_id, status, "SPDY stream refused");
                return inner.send(Frame::RstStream { stream_id, status }).await;
            }
            let (tx, rx) = mpsc::channel(STREAM_QUEUE);
            let remote_closed = flags & FLAG_FIN != 0;
            {
                let mut st = inner.lock();
                let window = st.initial_send_window;
                st.streams.insert(
                    stream_id,
                    StreamEntry {
                        data: (!remote_closed).then_some(tx),
                        send_window: window,
                        recv_window: DEFAULT_WINDOW,
                        recv_unacked: 0,
                        local_closed: flags & FLAG_UNIDIRECTIONAL != 0,
                        remote_closed,
                        reset: None,
                    },
                );
            }
            let stream = IncomingStream {
                id: stream_id,
                headers,
                inner: inner.clone(),
                data: rx,
            };
            if let Err(e) = incoming.send(stream).await {
                e.0.refuse(frame::rst::REFUSED_STREAM).await;
            }
        }
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            let (target, violation) = {
                let mut st = inner.lock();
                let enforce = st.flow_control;
                let last = st.last_peer_stream;
                match st.streams.get_mut(&stream_id) {
                    Some(s) => {
                        s.recv_window -= data.len() as i64;
                        let violation = enforce && s.recv_window < 0;
                        let target = s.data.clone();
                        if flags & FLAG_FIN != 0 {
                            s.data = None;
                            s.remote_closed = true;
                        }
                        Inner::reap(&mut st, stream_id);
                        (target, violation.then_some(frame::rst::FLOW_CONTROL_ERROR))
                    }
                    // Data for a stream that was never opened.
                    None if stream_id > last => (None, Some(frame::rst::INVALID_STREAM)),
                    // Late data for a stream closed here: dropped.
                    None => (None, None),
                }
            };
            if let Some(status) = violation {
                reset(inner, stream_id, status).await;
                return Ok(());
            }
            if let Some(tx) = target
                && !data.is_empty()
            {
                // Waits while the handler is behind (back-pressure).
                let _ = tx.send(data).await;
            }
        }
        Frame::WindowUpdate { stream_id, delta } => {
            let overflow = {
                let mut st = inner.lock();
                st.flow_control = true;
                if stream_id == 0 {
                    st.session_send_window =
                        (st.session_send_window + i64::from(delta)).min(MAX_WINDOW);
                    false
                } else if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.send_window += i64::from(delta);
                    delta == 0 || s.send_window > MAX_WINDOW
                } else {
                    false
                }
            };
            inner.changed.notify_waiters();
            if overflow {
                reset(inner, stream_id, frame::rst::FLOW_CONTROL_ERROR).await;
            }
        }
        Frame::Settings { entries, .. } => {
            {
                let mut st = inner.lock();
                for e in entries {
                    if e.id == frame::settings::INITIAL_WINDOW_SIZE {
                        let new = i64::from(e.value).min(MAX_WINDOW);
                        let diff = new - st.initial_send_window;
                        st.initial_send_window = new;
                        st.flow_control = true;
                        for s in st.streams.values_mut() {
                            s.send_window += diff;
                        }
                    }
                }
            }
            inner.changed.notify_waiters();
        }
        Frame::Ping { id } => {
            // Pings the client started have odd ids; ours would be even.
            if id % 2 == 1 {
                inner.send(Frame::Ping { id }).await?;
            }
        }
        Frame::RstStream { stream_id, status } => {
            {
                let mut st = inner.lock();
                if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.reset = Some(status);
                    s.data = None;
                }
                Inner::reap(&mut st, stream_id);
            }
            inner.changed.notify_waiters();
        }
        Frame::Headers {
            stream_id, flags, ..
        } => {
            if flags & FLAG_FIN != 0 {
                let mut st = inner.lock();
                if let Some(s) = st.streams.get_mut(&stream_id) {
                    s.data = None;
                    s.remote_closed = true;
                }
                Inner::reap(&mut st, stream_id);
            }
        }
        Frame::GoAway { .. } => {
            // The peer opens no more streams; those open go on until the
            // peer closes the connection.
            tracing::debug!("SPDY GOAWAY received");
        }
        Frame::SynReply { stream_id, .. } => {
            return Err(SpdyError::Protocol(format!(
                "SYN_REPLY for stream {stream_id}, which this server did not open"
            )));
        }
        Frame::Unknown { kind } => {
            tracing::debug!(kind, "ignoring SPDY control frame");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::spdy::frame::{Setting, goaway, rst, settings};

    /// The client end of an in-memory session.
    struct Client {
        io: tokio::io::DuplexStream,
        enc: Encoder,
        dec: Decoder,
        buf: BytesMut,
    }

    impl Client {
        fn new() -> (Client, Session) {
            let (a, b) = tokio::io::duplex(1 << 20);
            let client = Client {
                io: a,
                enc: Encoder::new(),
                dec: Decoder::new(),
                buf: BytesMut::new(),
            };
            (client, Session::server(b))
        }

        async fn send(&mut self, f: Frame) {
            let mut out = BytesMut::new();
            self.enc.encode(&f, &mut out).unwrap();
            self.io.write_all(&out).await.unwrap();
        }

        /// The next frame, or None when none comes within 300 ms.
        async fn recv(&mut self) -> Option<Frame> {
            loop {
                if let Some(f) = self.dec.decode(&mut self.buf).unwrap() {
                    return Some(f);
                }
                let n = tokio::time::timeout(
                    Duration::from_millis(300),
                    self.io.read_buf(&mut self.buf),
                )
                .await
                .ok()?
                .unwrap();
                if n == 0 {
                    return None;
                }
            }
        }

        /// The next frame that is not a WINDOW_UPDATE.
        async fn recv_skip_updates(&mut self) -> Option<Frame> {
            loop {
                match self.recv().await? {
                    Frame::WindowUpdate { .. } => continue,
                    f => return Some(f),
                }
            }
        }

        async fn open(&mut self, id: u32, headers: &[(&str, &str)]) {
            self.send(Frame::SynStream {
                stream_id: id,
                associated_to: 0,
                priority: 0,
                slot: 0,
                flags: 0,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
            .await;
        }
    }

    #[tokio::test]
    async fn streams_open_carry_data_and_finish() {
        let (mut c, mut s) = Client::new();
        c.open(1, &[("streamtype", "data"), ("port", "80")]).await;
        let incoming = s.next_stream().await.unwrap();
        assert_eq!(incoming.id, 1);
        assert_eq!(incoming.header("streamType"), Some("data"));
        let (mut rx, mut tx) = incoming.accept().await.unwrap();
        assert_eq!(
            c.recv().await,
            Some(Frame::SynReply {
                stream_id: 1,
                flags: 0,
                headers: Vec::new()
            })
        );
        c.send(Frame::Data {
            stream_id: 1,
            flags: FLAG_FIN,
            data: Bytes::from_static(b"ping"),
        })
        .await;
        assert_eq!(rx.read().await.as_deref(), Some(&b"ping"[..]));
        assert_eq!(rx.read().await, None, "FIN ends the receiving half");
        tx.write(b"pong").await.unwrap();
        tx.finish().await.unwrap();
        assert_eq!(
            c.recv().await,
            Some(Frame::Data {
                stream_id: 1,
                flags: 0,
                data: Bytes::from_static(b"pong")
            })
        );
        assert_eq!(
            c.recv().await,
            Some(Frame::Data {
                stream_id: 1,
                flags: FLAG_FIN,
                data: Bytes::new()
            })
        );
        // Client pings are echoed.
        c.send(Frame::Ping { id: 5 }).await;
        assert_eq!(c.recv().await, Some(Frame::Ping { id: 5 }));
        // A stream id that goes backwards is refused.
        c.open(1, &[]).await;
        assert_eq!(
            c.recv().await,
            Some(Frame::RstStream {
                stream_id: 1,
                status: rst::PROTOCOL_ERROR
            })
        );
        s.close(Duration::from_millis(10)).await;
        assert_eq!(
            c.recv().await,
            Some(Frame::GoAway {
                last_good_stream_id: 1,
                status: goaway::OK
            })
        );
    }

    #[tokio::test]
    async fn sending_respects_the_peers_windows() {
        let (mut c, mut s) = Client::new();
        c.send(Frame::Settings {
            flags: 0,
            entries: vec![Setting {
                flags: 0,
                id: settings::INITIAL_WINDOW_SIZE,
                value: 100,
            }],
        })
        .await;
        c.open(1, &[]).await;
        let (_rx, mut tx) = s.next_stream().await.unwrap().accept().await.unwrap();
        assert!(matches!(c.recv().await, Some(Frame::SynReply { .. })));
        let writer = tokio::spawn(async move {
            tx.write(&[7u8; 250]).await.unwrap();
            tx
        });
        let Some(Frame::Data { data, .. }) = c.recv().await else {
            panic!("no data")
        };
        assert_eq!(data.len(), 100, "only the stream window is sent");
        assert_eq!(c.recv().await, None, "nothing more before WINDOW_UPDATE");
        c.send(Frame::WindowUpdate {
            stream_id: 1,
            delta: 1000,
        })
        .await;
        let Some(Frame::Data { data, .. }) = c.recv().await else {
            panic!("no data after the update")
        };
        assert_eq!(data.len(), 150);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn peers_without_flow_control_are_not_stalled() {
        // spdystream (kubectl) never sends WINDOW_UPDATE.
        let (mut c, mut s) = Client::new();
        c.open(1, &[]).await;
        let (_rx, mut tx) = s.next_stream().await.unwrap().accept().await.unwrap();
        c.recv().await;
        tx.write(&vec![1u8; 200 * 1024]).await.unwrap();
        let mut got = 0;
        while let Some(Frame::Data { data, .. }) = c.recv().await {
            got += data.len();
        }
        assert_eq!(got, 200 * 1024);
    }

    #[tokio::test]
    async fn receiving_gives_window_back() {
        let (mut c, mut s) = Client::new();
        c.open(1, &[]).await;
        let (mut rx, _tx) = s.next_stream().await.unwrap().accept().await.unwrap();
        c.recv().await;
        for _ in 0..3 {
            c.send(Frame::Data {
                stream_id: 1,
                flags: 0,
                data: Bytes::from(vec![0u8; 16 * 1024]),
            })
            .await;
        }
        for _ in 0..3 {
            rx.read().await.unwrap();
        }
        // 48 KiB consumed: at least half a window given back, per stream
        // and per session.
        let mut updates = Vec::new();
        while let Some(Frame::WindowUpdate { stream_id, delta }) = c.recv().await {
            updates.push((stream_id, delta));
        }
        assert!(updates.contains(&(0, 32 * 1024)), "{updates:?}");
        assert!(updates.contains(&(1, 32 * 1024)), "{updates:?}");
    }

    #[tokio::test]
    async fn a_malformed_frame_ends_the_session_with_goaway() {
        let (mut c, mut s) = Client::new();
        // A SYN_STREAM whose header block is not zlib.
        c.io.write_all(&[
            0x80, 3, 0, 1, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4,
        ])
        .await
        .unwrap();
        assert_eq!(
            c.recv_skip_updates().await,
            Some(Frame::GoAway {
                last_good_stream_id: 0,
                status: goaway::PROTOCOL_ERROR
            })
        );
        let err = s.finished().await.unwrap_err();
        assert!(err.contains("compression"), "{err}");
        assert!(s.next_stream().await.is_none());
    }
}
