//! Segment files of the journal directory and how they are made.
//!
//! - `<first seq, 16 hex digits>.seg`: a segment in use, whose first
//!   record is numbered by its name;
//! - `spare-<n>.seg`: a segment ready to be used next, already written in
//!   full (zeros, or old records of a recycled segment), so appending to
//!   it changes no file size or block map and `fdatasync` writes only the
//!   data: about half the cost of syncing an append that grows a file;
//! - `*.tmp`: a spare being zero-filled; removed on open.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::JournalError;
use super::record;

const SEGMENT_SUFFIX: &str = ".seg";
const SPARE_PREFIX: &str = "spare-";
const TMP_SUFFIX: &str = ".tmp";

pub fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:016x}{SEGMENT_SUFFIX}"))
}

pub fn spare_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{SPARE_PREFIX}{id}{SEGMENT_SUFFIX}"))
}

/// What the journal directory holds.
#[derive(Default)]
pub struct Listing {
    /// Segments in use, by first sequence number.
    pub segments: Vec<(u64, PathBuf)>,
    pub spares: Vec<PathBuf>,
    /// The highest number in a spare's name (0: none).
    pub spare_ids: u64,
}

/// Lists `dir` (removing unfinished spares).
pub fn list(dir: &Path) -> Result<Listing, JournalError> {
    let mut listing = Listing::default();
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io("read", dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| JournalError::io("read", dir, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(TMP_SUFFIX) {
            fs::remove_file(&path).map_err(|e| JournalError::io("remove", &path, e))?;
        } else if let Some(id) = name
            .strip_prefix(SPARE_PREFIX)
            .and_then(|rest| rest.strip_suffix(SEGMENT_SUFFIX))
        {
            let id = id.parse::<u64>().unwrap_or(0);
            listing.spare_ids = listing.spare_ids.max(id);
            listing.spares.push(path);
        } else if let Some(first) = name
            .strip_suffix(SEGMENT_SUFFIX)
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        {
            listing.segments.push((first, path));
        }
    }
    listing.segments.sort();
    listing.spares.sort();
    Ok(listing)
}

/// Makes a zero-filled spare of `size` bytes in `dir` (written in full and
/// synced before it gets its spare name).
pub fn make_spare(dir: &Path, id: u64, size: u64) -> Result<PathBuf, JournalError> {
    let tmp = dir.join(format!("{SPARE_PREFIX}{id}{TMP_SUFFIX}"));
    let mut file = File::create(&tmp).map_err(|e| JournalError::io("create", &tmp, e))?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])
            .map_err(|e| JournalError::io("zero-fill", &tmp, e))?;
        left -= n as u64;
    }
    file.sync_all()
        .map_err(|e| JournalError::io("sync", &tmp, e))?;
    let spare = spare_path(dir, id);
    rename_durably(&tmp, &spare, dir)?;
    Ok(spare)
}

/// Renames `from` to `to` and syncs `dir`, so the new name survives a
/// crash (a segment under its spare name would be taken for empty).
pub fn rename_durably(from: &Path, to: &Path, dir: &Path) -> Result<(), JournalError> {
    fs::rename(from, to).map_err(|e| JournalError::io("rename", from, e))?;
    sync_dir(dir)
}

pub fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io("sync", dir, e))
}

pub fn open_for_writing(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| JournalError::io("open", path, e))
}

/// The valid records of a segment whose first record is `first_seq`:
/// their payloads and the offset where the next record goes.
pub fn scan(path: &Path, first_seq: u64) -> Result<(Vec<Vec<u8>>, u64), JournalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| JournalError::io("read", path, e))?;
    let mut payloads = Vec::new();
    let mut offset = 0usize;
    let mut seq = first_seq;
    while let Some(payload) = bytes.get(offset..).and_then(|b| record::decode(b, seq)) {
        offset += record::HEADER_LEN + payload.len();
        payloads.push(payload.to_vec());
        seq += 1;
    }
    Ok((payloads, offset as u64))
}
