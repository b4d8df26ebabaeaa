//! A resuming session's replay: what its client missed, read from the replay store and written
//! with the same writer (same bounds, same stall policy) before it goes live.
//!
//! Store reads run in the executor's low-share replay task queue, so a replaying client never
//! delays the live fan-out of its core (glommio gives each queue CPU by its shares).

use std::{sync::Arc, time::Instant};

use super::{ChunkHead, CloseReason, Writer};
use crate::{
    frame::{Frames, StreamKind},
    replay::{
        store::{LogReader, StoredEntry},
        token::LogKey,
    },
    ws::resume::{gap_frame, Hole, ReplayAccess},
};

/// Why a session replays.
#[derive(Debug)]
pub(crate) enum Start {
    /// The client connected with `?since=` (its cursor starts there): every log the store
    /// holds.
    Since,
    /// The live stream skipped entries of one log: that log, up to the store's end.
    Hole(Hole),
}

/// One log being replayed.
struct Source {
    key: LogKey,
    /// Taken while a read runs in the replay queue.
    reader: Option<LogReader>,
    /// Next index to read.
    next: u64,
}

impl Writer<'_> {
    /// Replays from the store, then returns for the live stream to take over (it skips what
    /// the replay sent, by log index). Without a store there is nothing to replay.
    pub(super) async fn replay(&mut self, start: Start) -> Result<(), CloseReason> {
        let Some(replay) = self.session.ctx.replay.clone() else {
            return Ok(());
        };
        let metrics = &self.session.ctx.metrics;
        metrics.replay_started();
        self.replaying = true;
        let result = self.replay_from(&replay, &start).await;
        self.replaying = false;
        self.session.ctx.metrics.replay_ended();
        result
    }

    async fn replay_from(
        &mut self,
        replay: &ReplayAccess,
        start: &Start,
    ) -> Result<(), CloseReason> {
        let mut sources = self.open_sources(replay, start).await;
        let chunk_bytes = self.session.ctx.config.client_write_bytes_max;
        while !sources.is_empty() {
            if let Some(reason) = self.session.closing.get() {
                return Err(self.send_last(reason).await);
            }
            // Round robin over the logs, one chunk each: order holds within a log, and a
            // log with a long backlog does not hold the others back.
            let mut i = 0;
            while i < sources.len() {
                let source = &mut sources[i];
                let key = source.key;
                // Recent positions come from memory; older ones (and anything past a hole in
                // memory) from the disk store.
                let recent = replay.recent(&key, source.next, chunk_bytes);
                if let Some(last) = recent.last() {
                    source.next = last.meta.index + 1;
                    let url = replay.url_of(&key);
                    self.session
                        .ctx
                        .metrics
                        .replayed_from_memory(recent.len() as u64);
                    self.send_stored(key, url.as_deref(), &recent).await?;
                    i += 1;
                    continue;
                }
                let Some(reader) = source.reader.take() else {
                    sources.swap_remove(i);
                    continue;
                };
                let (reader, entries) = replay.read(reader, source.next, chunk_bytes).await;
                source.reader = Some(reader);
                match entries {
                    Ok(entries) if !entries.is_empty() => {
                        source.next = entries.last().map_or(source.next, |e| e.index + 1);
                        let url = replay.url_of(&key);
                        self.send_stored(key, url.as_deref(), &entries).await?;
                        i += 1;
                    }
                    Ok(_) => {
                        sources.swap_remove(i);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "replay store read failed; the client goes on live");
                        sources.swap_remove(i);
                    }
                }
            }
        }
        Ok(())
    }

    /// Opens a reader per log to replay and says where each starts.
    async fn open_sources(&mut self, replay: &ReplayAccess, start: &Start) -> Vec<Source> {
        let resume = self
            .session
            .resume
            .as_ref()
            .expect("replay is for resuming sessions");
        let keys: Vec<LogKey> = match start {
            Start::Hole(hole) => vec![hole.log],
            Start::Since => replay.logs().await,
        };
        let mut sources = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(reader) = replay.open(key).await else {
                continue;
            };
            let position = resume.cursor().next.get(&key).copied();
            let (reader, from) = match position {
                Some(next) => (reader, next),
                None => {
                    let watermark = resume.cursor().watermark_us;
                    match replay.first_seen_since(reader, watermark).await {
                        (reader, Some(index)) => (reader, index),
                        (_, None) => continue,
                    }
                }
            };
            // A position older than the store holds: the first entry read is past it, and
            // `send_stored` reports the gap before it.
            resume.follow_from(key, from);
            sources.push(Source {
                key,
                reader: Some(reader),
                next: from,
            });
        }
        sources
    }

    /// Writes one chunk of stored entries (this stream's form) and a cursor message after it,
    /// with any control frames the reader queued, in one send.
    async fn send_stored<E: Replayed>(
        &mut self,
        key: LogKey,
        url: Option<&str>,
        entries: &[E],
    ) -> Result<(), CloseReason> {
        let resume = self
            .session
            .resume
            .as_ref()
            .expect("replay is for resuming sessions");
        // Entries the store skips over (damaged, never stored, deleted meanwhile) are reported
        // where they would have been, before the entries after them.
        let mut gaps: Vec<(usize, Vec<u8>)> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let next = resume.cursor().next.get(&key).copied();
            if let Some(next) = next.filter(|&n| entry.index() > n) {
                gaps.push((i, gap_frame(&key, url, next, entry.index())));
                self.session.ctx.metrics.resume_gap();
            }
            resume.sent_from_store(key, entry.index());
        }
        let cursor_frame = resume.cursor_frame(Instant::now());
        self.buf.clear();
        self.session.take_control_into(&mut self.buf);
        let kind = self.session.kind;
        let mut slices: Vec<&[u8]> = Vec::with_capacity(entries.len() + gaps.len() + 2);
        let mut gaps_at = gaps.iter().peekable();
        for (i, entry) in entries.iter().enumerate() {
            while let Some((_, gap)) = gaps_at.next_if(|(at, _)| *at == i) {
                slices.push(gap);
            }
            slices.push(entry.form(kind));
        }
        slices.push(&cursor_frame);
        self.session.ctx.metrics.frames_sent(entries.len() as u64);
        self.session.ctx.metrics.replayed(entries.len() as u64);
        let mut head = ChunkHead::default();
        let slices = self.session.wire_slices(&self.buf, &slices, &mut head);
        let rest = super::remainder(&slices, 0);
        self.buf = rest;
        if let Some(tls) = self.session.tls.as_ref() {
            self.sealed.clear();
            tls.seal(&[&self.buf], &mut self.sealed)
                .map_err(|e| super::io_close_reason(&e))?;
            std::mem::swap(&mut self.buf, &mut self.sealed);
        }
        self.send().await
    }
}

/// An entry a replay sends: read from the disk store, or held in memory.
trait Replayed {
    fn index(&self) -> u64;
    fn form(&self, kind: StreamKind) -> &[u8];
}

impl Replayed for StoredEntry {
    fn index(&self) -> u64 {
        self.index
    }

    fn form(&self, kind: StreamKind) -> &[u8] {
        match kind {
            StreamKind::Lite => &self.lite,
            StreamKind::Full => &self.full,
            StreamKind::Domains => &self.domains,
        }
    }
}

impl Replayed for Arc<Frames> {
    fn index(&self) -> u64 {
        self.meta.index
    }

    fn form(&self, kind: StreamKind) -> &[u8] {
        self.for_stream(kind)
    }
}
