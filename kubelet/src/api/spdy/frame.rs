//! SPDY/3.1 frames and their wire layout (draft-mbelshe-httpbis-spdy-00
//! with the 3.1 session flow control). A control frame is
//! `1 | version(15) | type(16) | flags(8) | length(24) | payload`, a data
//! frame `0 | stream-id(31) | flags(8) | length(24) | data`. Header blocks
//! (`count(32)`, then per pair `len(32) name len(32) value`, names lower
//! case, several values joined by NUL) are zlib-compressed with one context
//! per direction (`compression.rs`), so the encoder and the decoder are
//! stateful and each belongs to one direction of one session.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::SpdyError;
use super::compression::{HeaderCompressor, HeaderDecompressor};

pub const VERSION: u16 = 3;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

pub const FLAG_FIN: u8 = 0x01;
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
pub const FLAG_SETTINGS_CLEAR: u8 = 0x01;

/// The largest frame payload a 24-bit length allows.
pub const MAX_PAYLOAD: usize = 0x00ff_ffff;

/// RST_STREAM status codes.
pub mod rst {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
    pub const FLOW_CONTROL_ERROR: u32 = 7;
    pub const STREAM_IN_USE: u32 = 8;
}

/// GOAWAY status codes.
pub mod goaway {
    pub const OK: u32 = 0;
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INTERNAL_ERROR: u32 = 2;
}

/// SETTINGS ids used here.
pub mod settings {
    pub const MAX_CONCURRENT_STREAMS: u32 = 4;
    pub const INITIAL_WINDOW_SIZE: u32 = 7;
}

/// Name/value pairs of a header block, in order; names lower case.
pub type Headers = Vec<(String, String)>;

/// One SETTINGS entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flags: u8,
    pub id: u32,
    pub value: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        slot: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        flags: u8,
        entries: Vec<Setting>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Bytes,
    },
    /// A control frame of a type this endpoint ignores (the draft: an
    /// unknown control frame is ignored), e.g. CREDENTIAL.
    Unknown {
        kind: u16,
    },
}

/// The value of `name` in `headers` (the first one when repeated).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split('\0').next().unwrap_or_default())
}

fn encode_block(headers: &Headers) -> Vec<u8> {
    let mut b = Vec::new();
    b.put_u32(headers.len() as u32);
    for (k, v) in headers {
        b.put_u32(k.len() as u32);
        b.put_slice(k.to_ascii_lowercase().as_bytes());
        b.put_u32(v.len() as u32);
        b.put_slice(v.as_bytes());
    }
    b
}

fn decode_block(mut b: &[u8]) -> Result<Headers, SpdyError> {
    let bad = |what: &str| SpdyError::Protocol(format!("malformed header block: {what}"));
    if b.remaining() < 4 {
        return Err(bad("no pair count"));
    }
    let count = b.get_u32() as usize;
    // Every pair takes at least 8 bytes.
    if count > b.remaining() / 8 {
        return Err(bad("pair count larger than the block"));
    }
    let mut out = Vec::with_capacity(count);
    let take = |b: &mut &[u8], what: &str| -> Result<String, SpdyError> {
        if b.remaining() < 4 {
            return Err(bad(what));
        }
        let len = b.get_u32() as usize;
        if len > b.remaining() {
            return Err(bad(what));
        }
        let s = String::from_utf8_lossy(&b[..len]).into_owned();
        b.advance(len);
        Ok(s)
    };
    for _ in 0..count {
        let name = take(&mut b, "name length")?;
        if name.is_empty() {
            return Err(bad("empty header name"));
        }
        let value = take(&mut b, "value length")?;
        out.push((name.to_ascii_lowercase(), value));
    }
    Ok(out)
}

/// Writes frames of one direction (owns its compression context).
#[derive(Default)]
pub struct Encoder {
    compressor: HeaderCompressor,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn control(out: &mut BytesMut, kind: u16, flags: u8, payload: &[u8]) -> Result<(), SpdyError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(SpdyError::Protocol(format!(
                "control frame payload of {} bytes",
                payload.len()
            )));
        }
        out.put_u16(0x8000 | VERSION);
        out.put_u16(kind);
        out.put_u32((u32::from(flags) << 24) | payload.len() as u32);
        out.put_slice(payload);
        Ok(())
    }

    /// Appends the wire form of `frame` to `out`.
    pub fn encode(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), SpdyError> {
        let id = |i: u32| i & 0x7fff_ffff;
        match frame {
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                slot,
                flags,
                headers,
            } => {
                let mut p = Vec::new();
                p.put_u32(id(*stream_id));
                p.put_u32(id(*associated_to));
                p.put_u8((priority & 0x7) << 5);
                p.put_u8(*slot);
                p.extend(self.compressor.compress(&encode_block(headers))?);
                Self::control(out, SYN_STREAM, *flags, &p)
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            }
            | Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let kind = if matches!(frame, Frame::SynReply { .. }) {
                    SYN_REPLY
                } else {
                    HEADERS
                };
                let mut p = Vec::new();
                p.put_u32(id(*stream_id));
                p.extend(self.compressor.compress(&encode_block(headers))?);
                Self::control(out, kind, *flags, &p)
            }
            Frame::RstStream { stream_id, status } => {
                let mut p = Vec::with_capacity(8);
                p.put_u32(id(*stream_id));
                p.put_u32(*status);
                Self::control(out, RST_STREAM, 0, &p)
            }
            Frame::Settings { flags, entries } => {
                let mut p = Vec::with_capacity(4 + 8 * entries.len());
                p.put_u32(entries.len() as u32);
                for e in entries {
                    p.put_u32((u32::from(e.flags) << 24) | (e.id & 0x00ff_ffff));
                    p.put_u32(e.value);
                }
                Self::control(out, SETTINGS, *flags, &p)
            }
            Frame::Ping { id: ping } => Self::control(out, PING, 0, &ping.to_be_bytes()),
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                let mut p = Vec::with_capacity(8);
                p.put_u32(id(*last_good_stream_id));
                p.put_u32(*status);
                Self::control(out, GOAWAY, 0, &p)
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let mut p = Vec::with_capacity(8);
                p.put_u32(id(*stream_id));
                p.put_u32(delta & 0x7fff_ffff);
                Self::control(out, WINDOW_UPDATE, 0, &p)
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                if data.len() > MAX_PAYLOAD {
                    return Err(SpdyError::Protocol(format!(
                        "data frame of {} bytes",
                        data.len()
                    )));
                }
                out.put_u32(id(*stream_id));
                out.put_u32((u32::from(*flags) << 24) | data.len() as u32);
                out.put_slice(data);
                Ok(())
            }
            Frame::Unknown { kind } => Err(SpdyError::Protocol(format!(
                "cannot send control frame type {kind}"
            ))),
        }
    }
}

/// Reads frames of one direction (owns its decompression context).
#[derive(Default)]
pub struct Decoder {
    decompressor: HeaderDecompressor,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one complete frame off the front of `buf`; None when more
    /// bytes are needed. An error ends the session (the compression
    /// context cannot be trusted after a bad frame).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, SpdyError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let len = (u32::from_be_bytes([0, buf[5], buf[6], buf[7]])) as usize;
        if buf.len() < 8 + len {
            return Ok(None);
        }
        let mut head = buf.split_to(8);
        let payload = buf.split_to(len).freeze();
        let first = head.get_u32();
        let flags = head.get_u8();
        if first & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data {
                stream_id: first & 0x7fff_ffff,
                flags,
                data: payload,
            }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        let kind = (first & 0xffff) as u16;
        if version != VERSION {
            return Err(SpdyError::Protocol(format!(
                "unsupported SPDY version {version}"
            )));
        }
        self.control(kind, flags, payload).map(Some)
    }

    fn control(&mut self, kind: u16, flags: u8, mut p: Bytes) -> Result<Frame, SpdyError> {
        let short = |need: usize, p: &Bytes, name: &str| {
            if p.len() < need {
                Err(SpdyError::Protocol(format!(
                    "{name} frame of {} bytes",
                    p.len()
                )))
            } else {
                Ok(())
            }
        };
        Ok(match kind {
            SYN_STREAM => {
                short(10, &p, "SYN_STREAM")?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                let associated_to = p.get_u32() & 0x7fff_ffff;
                let priority = p.get_u8() >> 5;
                let slot = p.get_u8();
                let headers = decode_block(&self.decompressor.decompress(&p)?)?;
                Frame::SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    slot,
                    flags,
                    headers,
                }
            }
            SYN_REPLY | HEADERS => {
                short(4, &p, "SYN_REPLY/HEADERS")?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                let headers = decode_block(&self.decompressor.decompress(&p)?)?;
                if kind == SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        headers,
                    }
                }
            }
            RST_STREAM => {
                short(8, &p, "RST_STREAM")?;
                Frame::RstStream {
                    stream_id: p.get_u32() & 0x7fff_ffff,
                    status: p.get_u32(),
                }
            }
            SETTINGS => {
                short(4, &p, "SETTINGS")?;
                let n = p.get_u32() as usize;
                if n > p.len() / 8 {
                    return Err(SpdyError::Protocol(format!(
                        "SETTINGS frame with {n} entries in {} bytes",
                        p.len()
                    )));
                }
                let entries = (0..n)
                    .map(|_| {
                        let head = p.get_u32();
                        Setting {
                            flags: (head >> 24) as u8,
                            id: head & 0x00ff_ffff,
                            value: p.get_u32(),
                        }
                    })
                    .collect();
                Frame::Settings { flags, entries }
            }
            PING => {
                short(4, &p, "PING")?;
                Frame::Ping { id: p.get_u32() }
            }
            GOAWAY => {
                short(8, &p, "GOAWAY")?;
                Frame::GoAway {
                    last_good_stream_id: p.get_u32() & 0x7fff_ffff,
                    status: p.get_u32(),
                }
            }
            WINDOW_UPDATE => {
                short(8, &p, "WINDOW_UPDATE")?;
                Frame::WindowUpdate {
                    stream_id: p.get_u32() & 0x7fff_ffff,
                    delta: p.get_u32() & 0x7fff_ffff,
                }
            }
            other => Frame::Unknown { kind: other },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frames: &[Frame]) {
        let (mut enc, mut dec) = (Encoder::new(), Decoder::new());
        let mut wire = BytesMut::new();
        for f in frames {
            enc.encode(f, &mut wire).unwrap();
        }
        // Fed one byte at a time: frames come out whole and in order.
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in wire {
            buf.put_u8(b);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert!(buf.is_empty());
    }

    fn hs(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_frame_type_round_trips() {
        round_trip(&[
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 3,
                slot: 0,
                flags: FLAG_FIN,
                headers: hs(&[("streamtype", "error"), ("port", "80")]),
            },
            Frame::SynReply {
                stream_id: 1,
                flags: 0,
                headers: Vec::new(),
            },
            Frame::SynStream {
                stream_id: 3,
                associated_to: 0,
                priority: 0,
                slot: 0,
                flags: 0,
                headers: hs(&[("streamtype", "data"), ("port", "80")]),
            },
            Frame::Headers {
                stream_id: 3,
                flags: FLAG_FIN,
                headers: hs(&[("x", "a\0b")]),
            },
            Frame::Data {
                stream_id: 3,
                flags: 0,
                data: Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n"),
            },
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::new(),
            },
            Frame::RstStream {
                stream_id: 5,
                status: rst::CANCEL,
            },
            Frame::Settings {
                flags: FLAG_SETTINGS_CLEAR,
                entries: vec![Setting {
                    flags: 1,
                    id: settings::INITIAL_WINDOW_SIZE,
                    value: 1024,
                }],
            },
            Frame::Ping { id: 7 },
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 65536,
            },
            Frame::GoAway {
                last_good_stream_id: 3,
                status: goaway::OK,
            },
        ]);
    }

    #[test]
    fn wire_layout_matches_the_draft() {
        let mut out = BytesMut::new();
        let mut enc = Encoder::new();
        enc.encode(&Frame::Ping { id: 1 }, &mut out).unwrap();
        assert_eq!(&out[..], &[0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
        out.clear();
        enc.encode(
            &Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"hi"),
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[..], &[0, 0, 0, 3, 1, 0, 0, 2, b'h', b'i']);
        out.clear();
        enc.encode(
            &Frame::WindowUpdate {
                stream_id: 5,
                delta: 300,
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(
            &out[..],
            &[0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 1, 44]
        );
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        let mut dec = Decoder::new();
        // SPDY/2 control frame.
        let mut b = BytesMut::from(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert!(dec.decode(&mut b).is_err());
        // RST_STREAM too short.
        let mut b = BytesMut::from(&[0x80, 3, 0, 3, 0, 0, 0, 2, 0, 0][..]);
        assert!(Decoder::new().decode(&mut b).is_err());
        // SYN_STREAM whose header block is not zlib.
        let mut b = BytesMut::from(
            &[
                0x80, 3, 0, 1, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4,
            ][..],
        );
        assert!(Decoder::new().decode(&mut b).is_err());
        // SETTINGS claiming more entries than it has.
        let mut b = BytesMut::from(&[0x80, 3, 0, 4, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(Decoder::new().decode(&mut b).is_err());
        // A header block whose pair count lies.
        assert!(decode_block(&[0, 0, 0, 9, 0, 0, 0, 1, b'a']).is_err());
        assert!(decode_block(&[0, 0, 0, 1, 0, 0, 0, 200, b'a']).is_err());
        // An unknown control type is passed up (and ignored by sessions).
        let mut b = BytesMut::from(&[0x80, 3, 0, 10, 0, 0, 0, 0][..]);
        assert_eq!(
            Decoder::new().decode(&mut b).unwrap(),
            Some(Frame::Unknown { kind: 10 })
        );
    }
}
