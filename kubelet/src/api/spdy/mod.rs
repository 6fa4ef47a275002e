//! SPDY/3.1, the multiplexed stream protocol of kubectl's exec, attach and
//! port-forward (client-go's `httpstream/spdy` over moby's spdystream):
//! `frame.rs` (the frames and their wire layout), `compression.rs` (header
//! blocks: zlib with the SPDY/3 dictionary, one context per direction),
//! `session.rs` (the server side of a session: streams, flow-control
//! windows, PING, GOAWAY), `upgrade.rs` (the HTTP upgrade: `Upgrade:
//! SPDY/3.1` with `X-Stream-Protocol-Version` negotiation, and the same
//! session tunnelled in binary WebSocket messages, subprotocol
//! `SPDY/3.1+<protocol>`, which kubectl 1.31+ uses for port-forward).
//! The users of a session (port-forward, exec, attach) live beside this
//! module; nothing here knows about pods.

pub mod compression;
pub mod frame;
pub mod session;
pub mod upgrade;

pub use session::{IncomingStream, RecvStream, SendStream, Session};

/// Why a SPDY session or stream failed.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("SPDY protocol error: {0}")]
    Protocol(String),
    #[error("SPDY header compression: {0}")]
    Compression(String),
    #[error("SPDY stream {0} was reset (status {1})")]
    Reset(u32, u32),
    #[error("the SPDY session is closed")]
    Closed,
    #[error("SPDY connection: {0}")]
    Io(#[from] std::io::Error),
}
