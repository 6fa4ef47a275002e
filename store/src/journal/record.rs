//! One journal record on disk: a 16-byte header, then the payload.
//!
//! ```text
//! crc32 (u32 LE) | payload length (u32 LE) | sequence number (u64 LE) | payload
//! ```
//!
//! The CRC covers the length, the sequence number and the payload. A
//! record is valid only if its length is non-zero, it fits in the segment,
//! its CRC matches and its sequence number is the one expected next: zeros
//! (never written), a torn write, and records left from an earlier use of a
//! recycled segment (whose numbers are all lower) each end the journal.

pub const HEADER_LEN: usize = 16;

/// Appends the record for `payload` numbered `seq` to `out`.
pub fn encode(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = payload.len() as u32;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len.to_le_bytes());
    crc.update(&seq.to_le_bytes());
    crc.update(payload);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The payload of the record at the start of `bytes` if it is a valid
/// record numbered `seq`.
pub fn decode(bytes: &[u8], seq: u64) -> Option<&[u8]> {
    let header = bytes.get(..HEADER_LEN)?;
    let crc = u32::from_le_bytes(header[0..4].try_into().ok()?);
    let len_bytes: [u8; 4] = header[4..8].try_into().ok()?;
    let seq_bytes: [u8; 8] = header[8..16].try_into().ok()?;
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len == 0 || u64::from_le_bytes(seq_bytes) != seq {
        return None;
    }
    let payload = bytes.get(HEADER_LEN..HEADER_LEN.checked_add(len)?)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(&seq_bytes);
    hasher.update(payload);
    (hasher.finalize() == crc).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_numbers_and_damage() {
        let mut buf = Vec::new();
        encode(7, b"hello", &mut buf);
        assert_eq!(buf.len(), HEADER_LEN + 5);
        assert_eq!(decode(&buf, 7), Some(&b"hello"[..]));
        assert_eq!(decode(&buf, 6), None, "a stale record has another number");
        assert_eq!(decode(&buf[..buf.len() - 1], 7), None, "torn payload");
        let mut flipped = buf.clone();
        flipped[HEADER_LEN] ^= 1;
        assert_eq!(decode(&flipped, 7), None, "damaged payload");
        assert_eq!(decode(&[0u8; 64], 0), None, "zeros end the journal");
    }
}
