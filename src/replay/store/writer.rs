//! The owner side: one [`LogWriter`] per log, on the executor that owns the log.

use std::{
    io,
    ops::Range,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use glommio::io::{BufferedFile, OpenOptions};

use super::{
    segment::{self, End, Scanner, HEADER_BYTES},
    Held, LogAbout, LogKey, StoreConfig, ABOUT_FILE,
};
use crate::{frame::Frames, limits};

/// What one [`LogWriter::append`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// Entries written.
    pub stored: usize,
    /// Entries dropped because their index was not above the last stored one (re-fetched
    /// after a restart): never stored twice.
    pub duplicates: usize,
    /// Entries dropped because their record would pass [`crate::limits::REPLAY_RECORD_BYTES_MAX`]
    /// (none exist under the crate's other bounds; counted rather than stored unreadable).
    pub too_large: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Oldest segments deleted by retention.
    pub segments_deleted: usize,
}

/// What the writer knows of one segment.
#[derive(Debug)]
struct Segment {
    first_index: u64,
    last_index: Option<u64>,
    bytes: u64,
    first_seen_us: Option<u64>,
    last_seen_us: Option<u64>,
    /// The index range lost to damage in this segment.
    corrupt: Option<Range<u64>>,
}

impl Segment {
    fn empty(first_index: u64) -> Segment {
        Segment {
            first_index,
            last_index: None,
            bytes: 0,
            first_seen_us: None,
            last_seen_us: None,
            corrupt: None,
        }
    }

    fn note(&mut self, index: u64, seen_us: u64) {
        self.last_index = Some(index);
        self.first_seen_us.get_or_insert(seen_us);
        self.last_seen_us = Some(seen_us);
    }

    /// The first index a damaged rest of this segment may have held.
    fn after_good(&self) -> u64 {
        self.last_index
            .map_or(self.first_index, |i| i.saturating_add(1))
    }
}

/// Appends a log's entries to its segments; see the module docs for the format and recovery.
pub struct LogWriter {
    dir: PathBuf,
    max_bytes: u64,
    max_age: Duration,
    segment_bytes: u64,
    /// Oldest first; the last one is the newest.
    segments: Vec<Segment>,
    /// The newest segment, open for appending; `None` when the next append starts a new one.
    current: Option<BufferedFile>,
    next_index: Option<u64>,
}

impl LogWriter {
    /// Opens (creating the directory and `log.json`) and recovers the log's segments.
    pub async fn open(cfg: &StoreConfig, key: LogKey, about: &LogAbout) -> io::Result<LogWriter> {
        let dir = cfg.log_dir(key);
        let listed = dir.clone();
        let (firsts, has_about) = glommio::executor()
            .spawn_blocking(move || -> io::Result<_> {
                std::fs::create_dir_all(&listed)?;
                let has_about = listed.join(ABOUT_FILE).exists();
                Ok((segment::list_segments_blocking(&listed)?, has_about))
            })
            .await?;
        if !has_about {
            write_about(&dir, about).await?;
        }
        let mut writer = LogWriter {
            dir,
            max_bytes: cfg.max_bytes,
            max_age: cfg.max_age,
            segment_bytes: cfg.segment_bytes,
            segments: Vec::with_capacity(firsts.len()),
            current: None,
            next_index: None,
        };
        for (i, &first) in firsts.iter().enumerate() {
            match firsts.get(i + 1) {
                Some(&next_first) => writer.recover_older(first, next_first).await?,
                None => writer.recover_newest(first).await?,
            }
        }
        Ok(writer)
    }

    /// One past the highest stored index (`None` when nothing was ever stored).
    pub fn next_index(&self) -> Option<u64> {
        self.next_index
    }

    /// What the log's store holds now.
    pub fn held(&self) -> Held {
        Held {
            first_index: self.segments.first().map(|s| s.first_index),
            next_index: self.next_index,
            oldest_seen_us: self.segments.iter().find_map(|s| s.first_seen_us),
            bytes: self.segments.iter().map(|s| s.bytes).sum(),
            segments: self.segments.len(),
            corrupt: self
                .segments
                .iter()
                .filter_map(|s| s.corrupt.clone())
                .collect(),
        }
    }

    /// Appends a page's entries (in index order) with one write; entries not above the last
    /// stored index are skipped and counted. Starts a new segment first when the newest is
    /// full, and applies retention after. On an error nothing of the page is kept.
    pub async fn append(&mut self, entries: &[Arc<Frames>]) -> io::Result<AppendReport> {
        let mut report = AppendReport::default();
        let mut buf = Vec::new();
        let mut page: Vec<(u64, u64)> = Vec::with_capacity(entries.len());
        let mut next = self.next_index;
        for frames in entries {
            let index = frames.meta.index;
            if next.is_some_and(|n| index < n) {
                report.duplicates += 1;
                continue;
            }
            if segment::body_len(frames) > limits::REPLAY_RECORD_BYTES_MAX {
                report.too_large += 1;
                continue;
            }
            if page.is_empty() {
                self.prepare_segment(index, &mut buf).await?;
            }
            segment::encode_record(frames, &mut buf);
            page.push((index, frames.meta.seen_us));
            next = Some(index.saturating_add(1));
        }
        if page.is_empty() {
            return Ok(report);
        }
        let written = buf.len() as u64;
        if let Err(e) = self.write_page(buf).await {
            self.forget_unwritten_segment().await;
            return Err(e);
        }
        let seg = self.segments.last_mut().expect("prepare_segment made one");
        seg.bytes += written;
        for &(index, seen_us) in &page {
            seg.note(index, seen_us);
        }
        self.next_index = next;
        report.stored = page.len();
        report.bytes = written;
        report.segments_deleted = self.apply_retention().await?;
        Ok(report)
    }

    /// Makes sure a writable newest segment with room exists, creating one named after
    /// `first_index` (its header goes into `buf`, written with the page).
    async fn prepare_segment(&mut self, first_index: u64, buf: &mut Vec<u8>) -> io::Result<()> {
        let full = self
            .segments
            .last()
            .is_none_or(|s| s.bytes >= self.segment_bytes);
        if self.current.is_some() && !full {
            return Ok(());
        }
        let path = self.dir.join(segment::file_name(first_index));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .buffered_open(&path)
            .await?;
        if let Some(old) = self.current.replace(file) {
            old.close().await?;
        }
        self.segments.push(Segment::empty(first_index));
        buf.extend_from_slice(&segment::header());
        Ok(())
    }

    /// After a failed write: a segment created for that page holds nothing, so it goes (file
    /// and all; the next append creates it again), leaving no empty segment behind.
    async fn forget_unwritten_segment(&mut self) {
        if self.segments.last().is_none_or(|s| s.bytes > 0) {
            return;
        }
        if let (Some(seg), Some(file)) = (self.segments.pop(), self.current.take()) {
            let path = self.dir.join(segment::file_name(seg.first_index));
            if let Err(e) = file.remove().await {
                tracing::warn!(path = %path.display(), error = %e, "replay store: an empty segment could not be removed");
            }
            let _ = file.close().await;
        }
    }

    /// One write at the end of the newest segment; a partial write is cut back off.
    async fn write_page(&mut self, buf: Vec<u8>) -> io::Result<()> {
        let file = self.current.as_ref().expect("prepare_segment opened it");
        let at = self.segments.last().map_or(0, |s| s.bytes);
        let len = buf.len();
        let written = file.write_at(buf, at).await;
        match written {
            Ok(n) if n == len => Ok(()),
            other => {
                // Best effort: a failed truncate leaves a torn tail, which recovery cuts.
                let _ = file.truncate(at).await;
                Err(match other {
                    Err(e) => e.into(),
                    Ok(n) => io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("replay store: wrote {n} of {len} bytes"),
                    ),
                })
            }
        }
    }

    /// Deletes whole oldest segments past the byte or age bound, never the newest.
    async fn apply_retention(&mut self) -> io::Result<usize> {
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as u64;
        let cutoff = now_us.saturating_sub(self.max_age.as_micros() as u64);
        let mut total: u64 = self.segments.iter().map(|s| s.bytes).sum();
        let mut deleted = 0;
        while self.segments.len() > 1 {
            let oldest = &self.segments[0];
            let too_old = oldest.last_seen_us.is_some_and(|s| s < cutoff);
            if total <= self.max_bytes && !too_old {
                break;
            }
            glommio::io::remove(self.dir.join(segment::file_name(oldest.first_index))).await?;
            total -= oldest.bytes;
            self.segments.remove(0);
            deleted += 1;
        }
        Ok(deleted)
    }

    /// An older segment: complete by construction, so any bad record is damage.
    async fn recover_older(&mut self, first: u64, next_first: u64) -> io::Result<()> {
        let path = self.dir.join(segment::file_name(first));
        let file = BufferedFile::open(&path).await?;
        let (mut seg, end) = scan(&file, first).await?;
        seg.bytes = file.file_size().await?;
        file.close().await?;
        if end != End::Clean {
            let lost = seg.after_good()..next_first.max(seg.after_good());
            tracing::warn!(path = %path.display(), ?end, ?lost, "replay store: damaged segment, its rest is skipped");
            seg.corrupt = Some(lost);
        }
        self.note_segment(seg);
        Ok(())
    }

    /// The newest segment: a bad tail with nothing good after it is torn (cut off); damage
    /// followed by good records marks the rest corrupt and the next append starts a segment.
    async fn recover_newest(&mut self, first: u64) -> io::Result<()> {
        let path = self.dir.join(segment::file_name(first));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .buffered_open(&path)
            .await?;
        let (mut seg, end) = scan(&file, first).await?;
        let End::Broken { at } = end else {
            seg.bytes = file.file_size().await?;
            self.current = Some(file);
            self.note_segment(seg);
            return Ok(());
        };
        let good_after = segment::next_good_after(&file, at).await?;
        match good_after {
            None if seg.last_index.is_none() => {
                tracing::warn!(path = %path.display(), "replay store: newest segment holds no whole record, removed");
                file.remove().await?;
                file.close().await?;
            }
            None => {
                tracing::warn!(path = %path.display(), cut_at = at, "replay store: torn tail truncated");
                file.truncate(at).await?;
                seg.bytes = at;
                self.current = Some(file);
                self.note_segment(seg);
            }
            Some(resume) => {
                let highest = highest_index_from(&file, resume).await?;
                let lost = seg.after_good()..highest.saturating_add(1).max(seg.after_good());
                tracing::warn!(path = %path.display(), ?lost, "replay store: damaged newest segment, its rest is skipped");
                seg.bytes = file.file_size().await?;
                seg.corrupt = Some(lost);
                file.close().await?;
                self.note_segment(seg);
            }
        }
        Ok(())
    }

    /// Adds a recovered segment. `next_index` passes everything it held, damaged or not, and
    /// its first index, so no later segment can take its name.
    fn note_segment(&mut self, seg: Segment) {
        let held_up_to = seg.corrupt.as_ref().map_or(seg.after_good(), |r| r.end);
        let after = held_up_to.max(seg.first_index.saturating_add(1));
        self.next_index = Some(self.next_index.map_or(after, |n| n.max(after)));
        self.segments.push(seg);
    }
}

/// Scans a segment's good records: what they say and where they stop. A record whose index
/// does not increase is damage too.
async fn scan(file: &BufferedFile, first: u64) -> io::Result<(Segment, End)> {
    let mut seg = Segment::empty(first);
    if segment::read_header(file).await? != Some(true) {
        return Ok((seg, End::Broken { at: 0 }));
    }
    let mut scanner = Scanner::new(HEADER_BYTES as u64);
    loop {
        let at = scanner.pos;
        match scanner.next(file).await? {
            Ok(e) if e.index >= seg.after_good() => seg.note(e.index, e.seen_us),
            Ok(_) => return Ok((seg, End::Broken { at })),
            Err(end) => return Ok((seg, end)),
        }
    }
}

/// The highest good index from `pos` on, skipping over further damage.
async fn highest_index_from(file: &BufferedFile, mut pos: u64) -> io::Result<u64> {
    let mut highest = 0;
    loop {
        let mut scanner = Scanner::new(pos);
        let end = loop {
            match scanner.next(file).await? {
                Ok(e) => highest = highest.max(e.index),
                Err(end) => break end,
            }
        };
        match end {
            End::Broken { at } => match segment::next_good_after(file, at).await? {
                Some(next) => pos = next,
                None => return Ok(highest),
            },
            End::Clean => return Ok(highest),
        }
    }
}

/// Writes `log.json` through a temporary file and a rename, so it is whole or absent.
async fn write_about(dir: &Path, about: &LogAbout) -> io::Result<()> {
    let body = sonic_rs::to_string_pretty(about).map_err(io::Error::other)?;
    let tmp = dir.join(format!("{ABOUT_FILE}.tmp"));
    let file = BufferedFile::create(&tmp).await?;
    file.write_at(body.into_bytes(), 0).await?;
    file.close().await?;
    glommio::io::rename(&tmp, dir.join(ABOUT_FILE)).await?;
    Ok(())
}
