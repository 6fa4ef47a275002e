//! SPDY/3 header-block compression: zlib streams primed with the
//! dictionary of the SPDY/3 draft (section 2.6.10.1). Each direction of a
//! session keeps one compression context for its whole life: every header
//! block is compressed with a sync flush, so a block may refer to bytes of
//! earlier blocks, and the peer must decompress them in order.

use std::sync::LazyLock;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::SpdyError;

/// The header names the draft puts in the dictionary, each with its
/// 32-bit big-endian length before it.
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's tail: status codes, reason phrases, dates, common
/// values, taken as they are (no length prefixes).
const DICTIONARY_TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411\
412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved \
Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server \
Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov \
Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,\
image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivate\
max-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/// The SPDY/3 zlib dictionary (1423 bytes).
pub static DICTIONARY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut d = Vec::with_capacity(1423);
    for w in DICTIONARY_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    d
});

/// The largest header block accepted once decompressed.
pub const MAX_HEADER_BLOCK: usize = 256 * 1024;

/// The compressing side (one per session, for the frames it sends).
pub struct HeaderCompressor {
    z: Compress,
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCompressor {
    pub fn new() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        // Cannot fail on a fresh stream.
        let _ = z.set_dictionary(&DICTIONARY);
        HeaderCompressor { z }
    }

    /// Compresses one header block, ending it with a sync flush.
    pub fn compress(&mut self, block: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(block.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before_in = self.z.total_in();
            self.z
                .compress_vec(&block[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Compression(e.to_string()))?;
            consumed += (self.z.total_in() - before_in) as usize;
            // Done when all input is in and the flush left room unused.
            if consumed == block.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// The decompressing side (one per session, for the frames it receives).
pub struct HeaderDecompressor {
    z: Decompress,
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecompressor {
    pub fn new() -> Self {
        HeaderDecompressor {
            z: Decompress::new(true),
        }
    }

    /// Decompresses one header block (all of `input`, which ends at a sync
    /// flush point).
    pub fn decompress(&mut self, input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let (before_in, before_out) = (self.z.total_in(), out.len());
            let result = self
                .z
                .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync);
            consumed += (self.z.total_in() - before_in) as usize;
            match result {
                Ok(Status::StreamEnd) => {
                    return Err(SpdyError::Compression(
                        "the header compression stream ended".into(),
                    ));
                }
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z
                        .set_dictionary(&DICTIONARY)
                        .map_err(|e| SpdyError::Compression(e.to_string()))?;
                    continue;
                }
                Err(e) => return Err(SpdyError::Compression(e.to_string())),
            }
            if out.len() > MAX_HEADER_BLOCK {
                return Err(SpdyError::Protocol(format!(
                    "header block larger than {MAX_HEADER_BLOCK} bytes"
                )));
            }
            if consumed == input.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            if before_in == self.z.total_in() && out.len() == before_out {
                return Err(SpdyError::Compression("truncated header block".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn dictionary_is_the_drafts() {
        assert_eq!(DICTIONARY.len(), 1423);
        // The Adler-32 of the dictionary, which zlib puts in the stream
        // header (FDICT) and which peers check.
        let mut z = Compress::new(Compression::default(), true);
        assert_eq!(z.set_dictionary(&DICTIONARY).unwrap(), 0xe3c6_a7c2);
    }

    /// Two blocks compressed by C zlib with the dictionary and one shared
    /// context ("streamtype: error|data, port: 8080, requestid: 0"): the
    /// second refers to the first.
    #[test]
    fn decompresses_known_good_blocks_in_one_context() {
        let first = hex(
            "78f9e3c6a7c202253a703a2b294a4dcc851625aca9a0808614cb45e01c6061606100a4398b20d198094ade8c0600000000ffff",
        );
        let second = hex("c2aa19540e2512d60b000000ffff");
        let mut d = HeaderDecompressor::new();
        let a = d.decompress(&first).unwrap();
        let b = d.decompress(&second).unwrap();
        let block = |pairs: &[(&str, &str)]| {
            let mut v = (pairs.len() as u32).to_be_bytes().to_vec();
            for (k, val) in pairs {
                v.extend((k.len() as u32).to_be_bytes());
                v.extend(k.as_bytes());
                v.extend((val.len() as u32).to_be_bytes());
                v.extend(val.as_bytes());
            }
            v
        };
        assert_eq!(
            a,
            block(&[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0")
            ])
        );
        assert_eq!(
            b,
            block(&[("streamtype", "data"), ("port", "8080"), ("requestid", "0")])
        );
        // The second block alone (no shared context) cannot be read.
        assert!(HeaderDecompressor::new().decompress(&second).is_err());
    }

    #[test]
    fn round_trips_many_blocks() {
        let mut c = HeaderCompressor::new();
        let mut d = HeaderDecompressor::new();
        for i in 0..50 {
            let block: Vec<u8> = format!("block {i} ").repeat(i * 40).into_bytes();
            let z = c.compress(&block).unwrap();
            assert!(z.ends_with(&[0, 0, 0xff, 0xff]), "sync flush marker");
            assert_eq!(d.decompress(&z).unwrap(), block);
        }
    }
}
