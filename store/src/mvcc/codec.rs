//! Binary encoding of the values stored in RocksDB: one history record per
//! changed key (a put carries the whole `KeyValue`, a delete only the key)
//! and one record per lease. Integers are little-endian; the format is
//! private to this engine.

use crate::error::StoreError;
use crate::kv::KeyValue;

use super::revision::Revision;

const KIND_PUT: u8 = 1;
const KIND_DELETE: u8 = 2;
/// kind + create + version + lease + key length.
const PUT_HEADER: usize = 1 + 8 + 8 + 8 + 4;
const DELETE_HEADER: usize = 1 + 4;

/// A decoded history record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The key's value as written at the record's revision.
    Put(KeyValue),
    /// The key was deleted at the record's revision.
    Delete { key: Vec<u8> },
}

impl Record {
    pub fn key(&self) -> &[u8] {
        match self {
            Record::Put(kv) => &kv.key,
            Record::Delete { key } => key,
        }
    }
}

/// Encodes a put record; `kv.mod_revision` is not stored (it is the
/// record's own revision).
pub fn encode_put(kv: &KeyValue, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(PUT_HEADER + kv.key.len() + kv.value.len());
    out.push(KIND_PUT);
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.version.to_le_bytes());
    out.extend_from_slice(&kv.lease.to_le_bytes());
    out.extend_from_slice(&(kv.key.len() as u32).to_le_bytes());
    out.extend_from_slice(&kv.key);
    out.extend_from_slice(&kv.value);
}

/// Encodes a delete (tombstone) record.
pub fn encode_delete(key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(DELETE_HEADER + key.len());
    out.push(KIND_DELETE);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("corrupt record: {what}"))
}

fn read_i64(bytes: &[u8], at: usize) -> Result<i64, StoreError> {
    let slice = bytes
        .get(at..at + 8)
        .ok_or_else(|| corrupt("truncated integer"))?;
    let mut buf = [0u8; 8];
    buf.copy_from_slice(slice);
    Ok(i64::from_le_bytes(buf))
}

fn read_len(bytes: &[u8], at: usize) -> Result<usize, StoreError> {
    let slice = bytes
        .get(at..at + 4)
        .ok_or_else(|| corrupt("truncated length"))?;
    let mut buf = [0u8; 4];
    buf.copy_from_slice(slice);
    Ok(u32::from_le_bytes(buf) as usize)
}

/// Decodes a record stored at `rev`.
pub fn decode(rev: Revision, bytes: &[u8]) -> Result<Record, StoreError> {
    match bytes.first() {
        Some(&KIND_PUT) => {
            let create_revision = read_i64(bytes, 1)?;
            let version = read_i64(bytes, 9)?;
            let lease = read_i64(bytes, 17)?;
            let key_len = read_len(bytes, 25)?;
            let key_end = PUT_HEADER
                .checked_add(key_len)
                .filter(|end| *end <= bytes.len())
                .ok_or_else(|| corrupt("key beyond record"))?;
            Ok(Record::Put(KeyValue {
                key: bytes[PUT_HEADER..key_end].to_vec(),
                create_revision,
                mod_revision: rev.main,
                version,
                value: bytes[key_end..].to_vec(),
                lease,
            }))
        }
        Some(&KIND_DELETE) => {
            let key_len = read_len(bytes, 1)?;
            let key = bytes
                .get(DELETE_HEADER..DELETE_HEADER + key_len)
                .ok_or_else(|| corrupt("key beyond record"))?;
            Ok(Record::Delete { key: key.to_vec() })
        }
        _ => Err(corrupt("unknown kind")),
    }
}

/// A lease as persisted: its id is the RocksDB key, the granted TTL the
/// value.
pub fn encode_lease_id(id: i64) -> [u8; 8] {
    id.to_be_bytes()
}

pub fn decode_lease(key: &[u8], value: &[u8]) -> Result<(i64, i64), StoreError> {
    if key.len() != 8 {
        return Err(corrupt("lease id"));
    }
    let mut buf = [0u8; 8];
    buf.copy_from_slice(key);
    Ok((i64::from_be_bytes(buf), read_i64(value, 0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_record_round_trips_with_mod_revision_from_its_key() {
        let kv = KeyValue {
            key: b"/registry/pods/default/a".to_vec(),
            create_revision: 5,
            mod_revision: 9,
            version: 3,
            value: b"{\"kind\":\"Pod\"}".to_vec(),
            lease: 77,
        };
        let mut buf = Vec::new();
        encode_put(&kv, &mut buf);
        assert_eq!(decode(Revision::new(9, 0), &buf), Ok(Record::Put(kv)));
    }

    #[test]
    fn delete_record_round_trips_and_garbage_is_an_error() {
        let mut buf = Vec::new();
        encode_delete(b"k", &mut buf);
        assert_eq!(
            decode(Revision::new(4, 1), &buf),
            Ok(Record::Delete { key: b"k".to_vec() })
        );
        assert!(decode(Revision::new(4, 1), &[1, 2, 3]).is_err());
        assert!(decode(Revision::new(4, 1), &[2, 200, 0, 0, 0, b'k']).is_err());
    }
}
