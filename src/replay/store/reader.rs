//! The reading side: any executor, concurrently with the log's writer, through the files only.

use std::{io, path::PathBuf};

use glommio::io::BufferedFile;

use super::{
    segment::{self, Scanner, HEADER_BYTES},
    LogKey, StoreConfig, StoredEntry,
};
use crate::limits;

/// Where the last read stopped: every record at `pos` or later in `segment` has an index of
/// at least `next_index`, so a read from `next_index` or above can start there.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    segment: u64,
    pos: u64,
    next_index: u64,
}

/// Reads one log's entries in index order; see the module docs for what it relies on.
pub struct LogReader {
    dir: PathBuf,
    /// First indexes of the segments, as last listed.
    segments: Vec<u64>,
    first_index: Option<u64>,
    /// The segment being read and its file (kept open: retention may unlink it meanwhile).
    open: Option<(u64, BufferedFile)>,
    cursor: Option<Cursor>,
}

impl LogReader {
    /// Lists the log's segments (`None`: the store holds no such log).
    pub async fn open(cfg: &StoreConfig, key: LogKey) -> io::Result<Option<LogReader>> {
        let mut reader = LogReader {
            dir: cfg.log_dir(key),
            segments: Vec::new(),
            first_index: None,
            open: None,
            cursor: None,
        };
        match reader.refresh().await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
            Ok(()) => Ok(Some(reader)),
        }
    }

    /// The oldest index still readable (as of the last listing).
    pub fn first_index(&self) -> Option<u64> {
        self.first_index
    }

    /// Lists the segments again (a newer segment, retention's deletions) and finds the first
    /// readable index.
    pub async fn refresh(&mut self) -> io::Result<()> {
        let dir = self.dir.clone();
        let listed = glommio::executor()
            .spawn_blocking(move || segment::list_segments_blocking(&dir))
            .await?;
        let same_oldest = listed.first() == self.segments.first();
        self.segments = listed;
        if same_oldest && self.first_index.is_some() {
            return Ok(());
        }
        self.first_index = None;
        for first in self.segments.clone() {
            if let Some(entry) = self.first_entry(first).await? {
                self.first_index = Some(entry.index);
                break;
            }
        }
        Ok(())
    }

    /// Entries with index >= `from`, in order, about `bytes_max` bytes of frames (at least one
    /// entry when there is one); empty when `from` is at the current end. The first entry's
    /// index is above `from` when entries were never stored (gaps), were deleted by retention
    /// or lost to damage: the caller compares. Reading on from the index after the last one
    /// returned continues where this read stopped, without scanning again.
    pub async fn read_from(&mut self, from: u64, bytes_max: usize) -> io::Result<Vec<StoredEntry>> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut refreshed = false;
        let Some((mut seg, mut pos)) = self.start_for(from) else {
            return Ok(out);
        };
        loop {
            let ended_at = self
                .read_segment(seg, pos, from, bytes_max, &mut out, &mut bytes)
                .await?;
            let full = !out.is_empty() && bytes >= bytes_max;
            // Past the good records of `seg`: a newer segment means `seg` is complete (any
            // rest is damage, skipped); otherwise this is the live end.
            let newer = self.segments.iter().copied().find(|&f| f > seg);
            match newer {
                Some(next) if !full => (seg, pos) = (next, HEADER_BYTES as u64),
                None if !full && out.is_empty() && !refreshed => {
                    refreshed = true;
                    self.refresh().await?;
                    pos = ended_at;
                }
                _ => {
                    let next_index = out.last().map_or(from, |e| e.index.saturating_add(1));
                    self.cursor = Some(Cursor {
                        segment: seg,
                        pos: ended_at,
                        next_index,
                    });
                    return Ok(out);
                }
            }
        }
    }

    /// Appends the good entries `>= from` of segment `seg`, from `pos` on, to `out` until
    /// `bytes` reaches `bytes_max`; returns the position after the last record it consumed.
    async fn read_segment(
        &mut self,
        seg: u64,
        pos: u64,
        from: u64,
        bytes_max: usize,
        out: &mut Vec<StoredEntry>,
        bytes: &mut usize,
    ) -> io::Result<u64> {
        let Some(file) = self.file(seg).await? else {
            return Ok(pos);
        };
        let mut scanner = Scanner::new(pos);
        let mut ended_at = pos;
        let mut previous = None;
        while let Ok(entry) = scanner.next(file).await? {
            if previous.is_some_and(|p| entry.index <= p) {
                // Indexes only increase: this is damage (as the writer's recovery judges it),
                // and so is the rest of the segment.
                break;
            }
            previous = Some(entry.index);
            ended_at = scanner.pos;
            if entry.index < from {
                continue;
            }
            *bytes += entry.lite.len() + entry.full.len() + entry.domains.len();
            out.push(entry);
            if *bytes >= bytes_max {
                break;
            }
        }
        Ok(ended_at)
    }

    /// The first stored index whose `seen_us` is at least `seen_us`.
    pub async fn first_index_seen_since(&mut self, seen_us: u64) -> io::Result<Option<u64>> {
        // Start in the last segment whose first entry is older than `seen_us`.
        let mut from = self.first_index.unwrap_or(0);
        for first in self.segments.clone() {
            match self.first_entry(first).await? {
                Some(e) if e.seen_us < seen_us => from = e.index,
                Some(_) => break,
                None => {}
            }
        }
        loop {
            let batch = self
                .read_from(from, limits::REPLAY_READ_CHUNK_BYTES)
                .await?;
            let Some(last) = batch.last() else {
                return Ok(None);
            };
            if let Some(e) = batch.iter().find(|e| e.seen_us >= seen_us) {
                return Ok(Some(e.index));
            }
            let Some(next) = last.index.checked_add(1) else {
                return Ok(None);
            };
            from = next;
        }
    }

    /// Where to start reading for `from`: the cursor when it is on the way, else the start of
    /// the segment that would hold `from`.
    fn start_for(&self, from: u64) -> Option<(u64, u64)> {
        let holder = self
            .segments
            .iter()
            .copied()
            .take_while(|&f| f <= from)
            .last()
            .or_else(|| self.segments.first().copied())?;
        match self.cursor {
            Some(c) if c.segment == holder && c.next_index <= from => Some((c.segment, c.pos)),
            _ => Some((holder, HEADER_BYTES as u64)),
        }
    }

    /// The open file of a segment whose header is whole (`None`: not written yet, damaged, or
    /// deleted by retention before it was opened).
    async fn file(&mut self, first: u64) -> io::Result<Option<&BufferedFile>> {
        if self.open.as_ref().is_none_or(|(f, _)| *f != first) {
            if let Some((_, old)) = self.open.take() {
                old.close().await?;
            }
            let path = self.dir.join(segment::file_name(first));
            let file = match BufferedFile::open(&path).await.map_err(io::Error::from) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                other => other?,
            };
            if segment::read_header(&file).await? != Some(true) {
                file.close().await?;
                return Ok(None);
            }
            self.open = Some((first, file));
        }
        Ok(self.open.as_ref().map(|(_, f)| f))
    }

    async fn first_entry(&mut self, first: u64) -> io::Result<Option<StoredEntry>> {
        let Some(file) = self.file(first).await? else {
            return Ok(None);
        };
        let mut peek = Scanner::reading(HEADER_BYTES as u64, limits::REPLAY_PEEK_BYTES);
        Ok(peek.next(file).await?.ok())
    }
}
