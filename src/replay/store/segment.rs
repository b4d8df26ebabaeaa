//! The byte format of a segment (header and records) and a chunked scanner over one segment
//! file. Pure parsing: every function here takes hostile bytes and answers, never panics.

use std::{io, path::Path};

use bytes::{Buf, BufMut, Bytes};
use glommio::io::BufferedFile;

use super::StoredEntry;
use crate::{frame::Frames, limits};

/// First bytes of every segment file.
pub const MAGIC: &[u8; 8] = b"CSREPLAY";
/// Format version, after the magic.
pub const VERSION: u32 = 1;
/// Magic, version, 4 reserved zero bytes.
pub const HEADER_BYTES: usize = 16;
/// Starts every record: lets recovery tell a torn tail from damage followed by good records.
pub const RECORD_MAGIC: u32 = 0xC5E7_A11E;
/// Record magic, body length, CRC-32 of (length ++ body).
pub const RECORD_HEAD_BYTES: usize = 12;
/// index, seen_us, leaf_sha256, three frame lengths.
const BODY_FIXED_BYTES: usize = 8 + 8 + 32 + 3 * 4;

/// The header every segment starts with.
pub fn header() -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// Whether `bytes` start with a valid header (`None`: too short to tell).
pub fn header_ok(bytes: &[u8]) -> Option<bool> {
    let h = bytes.get(..HEADER_BYTES)?;
    Some(h[..8] == MAGIC[..] && h[8..12] == VERSION.to_le_bytes())
}

/// The body length of `f`'s record.
pub fn body_len(f: &Frames) -> usize {
    BODY_FIXED_BYTES + f.lite.len() + f.full.len() + f.domains.len()
}

/// Appends one record for `f` to `out` (its body must be at most
/// [`limits::REPLAY_RECORD_BYTES_MAX`]); returns its length.
pub fn encode_record(f: &Frames, out: &mut Vec<u8>) -> usize {
    let body_len = body_len(f);
    debug_assert!(body_len <= limits::REPLAY_RECORD_BYTES_MAX);
    let start = out.len();
    out.reserve(RECORD_HEAD_BYTES + body_len);
    out.put_u32_le(RECORD_MAGIC);
    out.put_u32_le(body_len as u32);
    out.put_u32_le(0); // CRC, filled below
    out.put_u64_le(f.meta.index);
    out.put_u64_le(f.meta.seen_us);
    out.put_slice(&f.meta.leaf_sha256);
    for frame in [&f.lite, &f.full, &f.domains] {
        out.put_u32_le(frame.len() as u32);
    }
    for frame in [&f.lite, &f.full, &f.domains] {
        out.put_slice(frame);
    }
    let crc = record_crc(
        &out[start + 4..start + 8],
        &out[start + RECORD_HEAD_BYTES..],
    );
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

fn record_crc(len: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len);
    h.update(body);
    h.finalize()
}

/// What the bytes at a position hold.
#[derive(Debug)]
pub enum Parsed {
    /// A whole record that checks out, and its length on disk.
    Record(StoredEntry, usize),
    /// The bytes end before the record does; `need` is how many bytes it takes to tell.
    Incomplete { need: usize },
    /// Not a record: wrong magic, impossible length, bad checksum or inconsistent lengths.
    Bad,
}

/// Parses the record at the start of `buf` (a slice of a read chunk: frames are zero-copy
/// slices of it).
pub fn parse_record(buf: &Bytes) -> Parsed {
    let Some(mut head) = buf.get(..RECORD_HEAD_BYTES) else {
        return Parsed::Incomplete {
            need: RECORD_HEAD_BYTES,
        };
    };
    if head.get_u32_le() != RECORD_MAGIC {
        return Parsed::Bad;
    }
    let body_len = head.get_u32_le() as usize;
    let crc = head.get_u32_le();
    if !(BODY_FIXED_BYTES..=limits::REPLAY_RECORD_BYTES_MAX).contains(&body_len) {
        return Parsed::Bad;
    }
    let total = RECORD_HEAD_BYTES + body_len;
    if buf.len() < total {
        return Parsed::Incomplete { need: total };
    }
    let body = buf.slice(RECORD_HEAD_BYTES..total);
    if record_crc(&buf[4..8], &body) != crc {
        return Parsed::Bad;
    }
    match parse_body(body) {
        Some(entry) => Parsed::Record(entry, total),
        None => Parsed::Bad,
    }
}

fn parse_body(body: Bytes) -> Option<StoredEntry> {
    let mut fixed = body.get(..BODY_FIXED_BYTES)?;
    let index = fixed.get_u64_le();
    let seen_us = fixed.get_u64_le();
    let mut leaf_sha256 = [0u8; 32];
    fixed.copy_to_slice(&mut leaf_sha256);
    let lens = [0; 3].map(|_: u8| fixed.get_u32_le() as usize);
    if BODY_FIXED_BYTES + lens.iter().sum::<usize>() != body.len() {
        return None;
    }
    let lite_end = BODY_FIXED_BYTES + lens[0];
    let full_end = lite_end + lens[1];
    Some(StoredEntry {
        index,
        seen_us,
        leaf_sha256,
        lite: body.slice(BODY_FIXED_BYTES..lite_end),
        full: body.slice(lite_end..full_end),
        domains: body.slice(full_end..),
    })
}

/// Where a scan of one segment stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The file ends exactly after the last record.
    Clean,
    /// The bytes at `at` are not a whole good record (torn, damaged, or not written yet).
    Broken { at: u64 },
}

/// Reads one segment forward from `pos` in bounded chunks ([`limits::REPLAY_READ_CHUNK_BYTES`];
/// a record larger than a chunk is read whole, up to [`limits::REPLAY_RECORD_BYTES_MAX`]).
pub struct Scanner {
    pub pos: u64,
    chunk: Bytes,
    chunk_at: u64,
    read_bytes: usize,
}

impl Scanner {
    pub fn new(pos: u64) -> Scanner {
        Scanner::reading(pos, limits::REPLAY_READ_CHUNK_BYTES)
    }

    /// A scanner whose reads ask for `read_bytes` (or what a record needs, when more).
    pub fn reading(pos: u64, read_bytes: usize) -> Scanner {
        Scanner {
            pos,
            chunk: Bytes::new(),
            chunk_at: pos,
            read_bytes,
        }
    }

    /// The next good record and moves past it, or where and why the good records stop.
    pub async fn next(&mut self, file: &BufferedFile) -> io::Result<Result<StoredEntry, End>> {
        loop {
            let offset = (self.pos - self.chunk_at) as usize;
            let have = self.chunk.slice(offset.min(self.chunk.len())..);
            match parse_record(&have) {
                Parsed::Record(entry, len) => {
                    self.pos += len as u64;
                    return Ok(Ok(entry));
                }
                Parsed::Bad => return Ok(Err(End::Broken { at: self.pos })),
                Parsed::Incomplete { need } => {
                    // Each read asks for at least what the record needs, so a short read means
                    // the file ends inside it.
                    self.read(file, need.max(self.read_bytes)).await?;
                    if self.chunk.len() < need {
                        return Ok(Err(self.end_at(self.chunk.len())));
                    }
                }
            }
        }
    }

    fn end_at(&self, have: usize) -> End {
        if have == 0 {
            End::Clean
        } else {
            End::Broken { at: self.pos }
        }
    }

    async fn read(&mut self, file: &BufferedFile, size: usize) -> io::Result<()> {
        let got = file.read_at(self.pos, size).await?;
        // One copy per chunk (glommio's buffer cannot leave this executor); every frame of the
        // chunk is then a slice of it.
        self.chunk = Bytes::copy_from_slice(&got);
        self.chunk_at = self.pos;
        Ok(())
    }
}

/// The position of the first good record after `from`, if any: recovery's test of whether a
/// bad record is a torn tail (nothing good follows) or damage inside the segment.
pub async fn next_good_after(file: &BufferedFile, from: u64) -> io::Result<Option<u64>> {
    let magic = RECORD_MAGIC.to_le_bytes();
    let mut at = from.saturating_add(1);
    loop {
        let chunk = file.read_at(at, limits::REPLAY_READ_CHUNK_BYTES).await?;
        if chunk.len() < RECORD_HEAD_BYTES {
            return Ok(None);
        }
        for (i, window) in chunk.windows(magic.len()).enumerate() {
            if window == magic {
                let candidate = at + i as u64;
                if Scanner::new(candidate).next(file).await?.is_ok() {
                    return Ok(Some(candidate));
                }
            }
        }
        // Overlap by a magic's length minus one so a magic across the boundary is seen.
        at += (chunk.len() - (magic.len() - 1)) as u64;
    }
}

/// Reads a segment's header: `Ok(None)` when the file is shorter than a header.
pub async fn read_header(file: &BufferedFile) -> io::Result<Option<bool>> {
    let got = file.read_at(0, HEADER_BYTES).await?;
    Ok(header_ok(&got))
}

/// `<first index, 20 digits>.seg`
pub fn file_name(first_index: u64) -> String {
    format!("{first_index:020}.seg")
}

/// The first index a segment file name carries, if it is one of ours.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment first indexes in a log directory, sorted (blocking: run it on the blocking pool).
pub fn list_segments_blocking(dir: &Path) -> io::Result<Vec<u64>> {
    let mut firsts = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Some(first) = entry?.file_name().to_str().and_then(parse_file_name) {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}
