//! `HashKV`: a CRC-32C (Castagnoli, as etcd) over the stored history up to
//! a revision, skipping records that compaction has already forgotten, so
//! members holding the same history report the same hash.

use crate::error::StoreError;

use super::revision::Revision;
use super::shared::Shared;

const POLY: u32 = 0x82f6_3b78;

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// Incremental CRC-32C.
#[derive(Debug, Clone, Copy)]
pub struct Crc32c(u32);

impl Default for Crc32c {
    fn default() -> Self {
        Crc32c(!0)
    }
}

impl Crc32c {
    pub fn update(&mut self, bytes: &[u8]) {
        let mut crc = self.0;
        for b in bytes {
            crc = TABLE[((crc ^ u32::from(*b)) & 0xff) as usize] ^ (crc >> 8);
        }
        self.0 = crc;
    }

    pub fn finish(self) -> u32 {
        !self.0
    }
}

/// Records hashed per lock of the key index.
const CHUNK: usize = 1024;

/// Hash of history up to `rev` (0 = current). Returns the revision hashed
/// at, the hash and the compact revision.
pub fn hash_kv(shared: &Shared, rev: i64) -> Result<(i64, u32, i64), StoreError> {
    let (current, compact_rev) = {
        let state = shared.state();
        (state.rev, state.compact_rev)
    };
    if rev > current {
        return Err(StoreError::FutureRevision);
    }
    if rev > 0 && rev <= compact_rev {
        return Err(StoreError::Compacted {
            compact_revision: compact_rev,
        });
    }
    let upto = if rev <= 0 { current } else { rev };
    let mut crc = Crc32c::default();
    crc.update(b"key");
    let mut chunk: Vec<(Revision, Vec<u8>)> = Vec::with_capacity(CHUNK);
    let flush =
        |chunk: &mut Vec<(Revision, Vec<u8>)>, crc: &mut Crc32c| -> Result<(), StoreError> {
            let state = shared.state();
            for (rev, bytes) in chunk.drain(..) {
                if rev.main <= compact_rev {
                    // Only the values compaction keeps count.
                    let record = super::codec::decode(rev, &bytes)?;
                    let kept = state.index.entry(record.key()).is_some_and(|e| e.has(rev));
                    if !kept {
                        continue;
                    }
                }
                crc.update(&rev.to_bytes());
                crc.update(&bytes);
            }
            Ok(())
        };
    shared
        .backend
        .scan_history(Revision::new(0, 0), |rev, bytes| {
            if rev.main > upto {
                return Ok(false);
            }
            chunk.push((rev, bytes.to_vec()));
            if chunk.len() == CHUNK {
                flush(&mut chunk, &mut crc)?;
            }
            Ok(true)
        })?;
    flush(&mut chunk, &mut crc)?;
    Ok((upto, crc.finish(), compact_rev))
}

#[cfg(test)]
mod tests {
    use super::Crc32c;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        let mut crc = Crc32c::default();
        crc.update(b"123456789");
        assert_eq!(crc.finish(), 0xe306_9283);
    }
}
