//! A resuming session (`?resume`, `?since=`): what its client was sent, per log, and the
//! control messages that tell it so.
//!
//! A resuming session reads the live stream like any other, but picks entry by entry: an
//! entry of a log it already has (`index` below the log's position, or first seen before the
//! watermark for a log it has nothing of) is skipped, so replay and live join without a
//! repeat; an entry past a hole in a log it follows (`index` above the log's position) sends
//! it back to the replay store first, so the join has no gap either. Holes come from a live
//! stream that lost frames (a full ring at saturation) or that started after entries the store
//! had not written yet. A hole the store cannot fill (entries never decodable, or older than
//! the store holds) is reported with a `gap` message before the stream goes on past it.
//!
//! After a batch that carried certificates, and at most every
//! [`limits::RESUME_CURSOR_INTERVAL`] (at the latest that long after the last certificate),
//! the session sends `{"message_type":"cursor","data":{"cursor":"<token>"}}`: a token that
//! covers exactly what was written before it on this connection.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    rc::Rc,
    sync::Arc,
    time::Instant,
};

use glommio::{Latency, Shares, TaskQueueHandle};
use serde::Serialize;

use super::hub::Pick;
use crate::{
    frame::{self, Frames, OPCODE_TEXT},
    limits,
    replay::{
        recent::RecentFrames,
        store::{self, LogReader, StoreConfig, StoredEntry},
        token::{self, Cursor, LogKey, Since, TokenError},
    },
};

/// What a client asked for in its query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResumeRequest {
    /// Where to start replaying from; `None`: from now on (`?resume` alone).
    pub(crate) since: Option<Since>,
}

impl ResumeRequest {
    /// `Ok(None)` when the query asks for neither `resume` nor `since`; an error (answered
    /// with 400) when `since` is malformed.
    pub(crate) fn from_query(query: &str) -> Result<Option<Self>, TokenError> {
        let mut wanted = false;
        let mut since = None;
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "resume" => wanted = true,
                "since" => {
                    // A `+` stays a `+`: no valid `since` holds a space, and RFC 3339 offsets
                    // do hold a `+`.
                    let value = crate::filter::spec::percent_decode(value)
                        .ok_or_else(|| TokenError("since: bad percent-encoding".into()))?;
                    since = Some(token::parse_since(&value)?);
                    wanted = true;
                }
                _ => {}
            }
        }
        Ok(wanted.then_some(ResumeRequest { since }))
    }
}

/// A hole met on the live stream: the entry after it, not yet sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hole {
    pub(crate) log: LogKey,
    /// The log's position when the hole was met (first index missing).
    pub(crate) from: u64,
    /// The index of the entry after the hole.
    pub(crate) at: u64,
}

/// The resume state of one session (on its core, shared by its writer's steps).
#[derive(Debug)]
pub(crate) struct Resume {
    cursor: RefCell<Cursor>,
    /// Skip entries of logs the client has nothing of when they were first seen before the
    /// watermark: true when it resumes from a position (a token or a time). A client that
    /// starts now (`?resume`) takes everything after it connected, whenever it was parsed.
    by_watermark: bool,
    /// Certificates were sent since the last cursor message (when the first of them went).
    owed_since: Cell<Option<Instant>>,
    last_cursor_at: Cell<Option<Instant>>,
    /// Met on the live stream, to be filled from the store before going on.
    hole: Cell<Option<Hole>>,
    /// A hole the store was asked to fill: the entry after it is sent even if the hole stays.
    accepted: Cell<Option<(LogKey, u64)>>,
}

impl Resume {
    pub(crate) fn new(cursor: Cursor, by_watermark: bool) -> Self {
        Resume {
            cursor: RefCell::new(cursor),
            by_watermark,
            owed_since: Cell::new(None),
            last_cursor_at: Cell::new(None),
            hole: Cell::new(None),
            accepted: Cell::new(None),
        }
    }

    pub(crate) fn cursor(&self) -> std::cell::Ref<'_, Cursor> {
        self.cursor.borrow()
    }

    /// The verdict on one live entry (`None`: a broadcast, which every client gets).
    pub(crate) fn pick(&self, frames: Option<&Frames>) -> Pick {
        let Some(frames) = frames else {
            return Pick::Send;
        };
        let meta = &frames.meta;
        let mut cursor = self.cursor.borrow_mut();
        let may_have_it = self.by_watermark || cursor.next.contains_key(&meta.log_key);
        if may_have_it && cursor.already_sent(&meta.log_key, meta.index, meta.seen_us) {
            return Pick::Skip;
        }
        if let Some(&next) = cursor.next.get(&meta.log_key) {
            let accepted = self.accepted.get() == Some((meta.log_key, meta.index));
            if meta.index > next && !accepted {
                self.hole.set(Some(Hole {
                    log: meta.log_key,
                    from: next,
                    at: meta.index,
                }));
                return Pick::Stop;
            }
        }
        cursor.sent(meta.log_key, meta.index);
        self.owe_cursor();
        Pick::Send
    }

    /// Records an entry sent from the replay store.
    pub(crate) fn sent_from_store(&self, log: LogKey, index: u64) {
        self.cursor.borrow_mut().sent(log, index);
        self.owe_cursor();
    }

    /// Makes `log` a followed log from `next` on (a replay found where it starts).
    pub(crate) fn follow_from(&self, log: LogKey, next: u64) {
        self.cursor.borrow_mut().next.entry(log).or_insert(next);
    }

    fn owe_cursor(&self) {
        if self.owed_since.get().is_none() {
            self.owed_since.set(Some(Instant::now()));
        }
    }

    /// The hole met on the live stream, if any, taken: the writer replays before going on.
    pub(crate) fn take_hole(&self) -> Option<Hole> {
        self.hole.take()
    }

    /// After a replay for `hole`: the entry after it is sent next even if the store had
    /// nothing for the hole. Returns the gap message to send when the hole is still open.
    pub(crate) fn settle(&self, hole: Hole) -> Option<Vec<u8>> {
        self.accepted.set(Some((hole.log, hole.at)));
        let next = self.cursor.borrow().next.get(&hole.log).copied()?;
        (next < hole.at).then(|| gap_frame(&hole.log, None, next, hole.at))
    }

    /// When the next cursor message is due (`None`: nothing owed).
    pub(crate) fn cursor_due_at(&self) -> Option<Instant> {
        let owed = self.owed_since.get()?;
        // Never sooner than an interval after the last one; since a cursor was sent before
        // anything was owed again, that is also never later than an interval after `owed`.
        let after_last = self
            .last_cursor_at
            .get()
            .map_or(owed, |t| t + limits::RESUME_CURSOR_INTERVAL);
        Some(after_last.max(owed))
    }

    /// The cursor frame, when one is owed and due at `now`.
    pub(crate) fn cursor_frame_if_due(&self, now: Instant) -> Option<Vec<u8>> {
        if self.cursor_due_at()? > now {
            return None;
        }
        Some(self.cursor_frame(now))
    }

    /// The cursor frame now, owed or not (the end of a replay chunk).
    pub(crate) fn cursor_frame(&self, now: Instant) -> Vec<u8> {
        self.owed_since.set(None);
        self.last_cursor_at.set(Some(now));
        #[derive(Serialize)]
        struct Data {
            cursor: String,
        }
        control_frame(
            "cursor",
            &Data {
                cursor: self.cursor.borrow().encode(),
            },
        )
    }
}

/// A core's access to the replay store for its resuming sessions: reads run in a low-share
/// task queue, and concurrent replays are capped.
pub(crate) struct ReplayAccess {
    config: Rc<StoreConfig>,
    /// The store's memory tier on this core: recent positions are served from it.
    recent: Rc<RecentFrames>,
    /// The queue store reads run in: below the live fan-out (default queue) in CPU shares.
    queue: TaskQueueHandle,
    /// Replays this core runs at once (its share of `--replay-max-clients`).
    max_active: u64,
    /// `source.url` per log, from the store's own record of each log.
    urls: RefCell<HashMap<LogKey, String>>,
}

impl std::fmt::Debug for ReplayAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayAccess")
            .field("dir", &self.config.dir)
            .field("max_active", &self.max_active)
            .finish_non_exhaustive()
    }
}

impl ReplayAccess {
    /// On the executor that will use it (it creates the executor's replay task queue).
    pub(crate) fn new(config: Rc<StoreConfig>, recent: Rc<RecentFrames>, max_active: u64) -> Self {
        let queue = glommio::executor().create_task_queue(
            Shares::Static(limits::REPLAY_TASK_QUEUE_SHARES),
            Latency::NotImportant,
            "replay",
        );
        ReplayAccess {
            config,
            recent,
            queue,
            max_active,
            urls: RefCell::new(HashMap::new()),
        }
    }

    /// Whether one more replay may start on this core, `active` running.
    pub(crate) fn admits(&self, active: u64) -> bool {
        active < self.max_active
    }

    /// Every log the store holds.
    pub(crate) async fn logs(&self) -> Vec<LogKey> {
        let config = Rc::clone(&self.config);
        let listed = self
            .in_queue(async move { store::list_logs(&config).await })
            .await;
        match listed {
            Ok(logs) => {
                let mut urls = self.urls.borrow_mut();
                logs.into_iter()
                    .map(|(key, about)| {
                        urls.insert(key, about.url);
                        key
                    })
                    .collect()
            }
            Err(err) => {
                tracing::warn!(error = %err, "listing the replay store failed");
                Vec::new()
            }
        }
    }

    /// A reader of `key`, when the store holds that log.
    pub(crate) async fn open(&self, key: LogKey) -> Option<LogReader> {
        let config = Rc::clone(&self.config);
        match self
            .in_queue(async move { LogReader::open(&config, key).await })
            .await
        {
            Ok(reader) => reader,
            Err(err) => {
                tracing::warn!(error = %err, "opening a log in the replay store failed");
                None
            }
        }
    }

    /// Up to about `bytes_max` of entries from index `from` on.
    pub(crate) async fn read(
        &self,
        mut reader: LogReader,
        from: u64,
        bytes_max: usize,
    ) -> (LogReader, std::io::Result<Vec<StoredEntry>>) {
        self.in_queue(async move {
            let read = reader.read_from(from, bytes_max).await;
            (reader, read)
        })
        .await
    }

    /// The first index of the log first seen at or after `seen_us`.
    pub(crate) async fn first_seen_since(
        &self,
        mut reader: LogReader,
        seen_us: u64,
    ) -> (LogReader, Option<u64>) {
        self.in_queue(async move {
            let first = reader.first_index_seen_since(seen_us).await;
            (reader, first.ok().flatten())
        })
        .await
    }

    /// Entries of `key` from `from` on held in memory, contiguous; empty when memory does not
    /// hold `from` (the disk store does).
    pub(crate) fn recent(&self, key: &LogKey, from: u64, bytes_max: usize) -> Vec<Arc<Frames>> {
        self.recent.read_from(key, from, bytes_max)
    }

    pub(crate) fn url_of(&self, key: &LogKey) -> Option<String> {
        self.urls.borrow().get(key).cloned()
    }

    /// Runs `work` in the replay queue.
    async fn in_queue<T: 'static>(
        &self,
        work: impl std::future::Future<Output = T> + 'static,
    ) -> T {
        glommio::spawn_local_into(work, self.queue)
            .expect("the replay task queue lives as long as its executor")
            .await
    }
}

/// `{"message_type":"gap","data":{...}}`: entries `[first_missing, first_sent)` of a log will
/// not be sent (older than the store holds, or never decodable).
pub(crate) fn gap_frame(
    log: &LogKey,
    url: Option<&str>,
    first_missing: u64,
    first_sent: u64,
) -> Vec<u8> {
    #[derive(Serialize)]
    struct Data<'a> {
        log_key: String,
        url: Option<&'a str>,
        first_missing: u64,
        first_sent: u64,
    }
    let log_key = log.iter().map(|b| format!("{b:02x}")).collect();
    control_frame(
        "gap",
        &Data {
            log_key,
            url,
            first_missing,
            first_sent,
        },
    )
}

fn control_frame<T: Serialize>(message_type: &str, data: &T) -> Vec<u8> {
    #[derive(Serialize)]
    struct Message<'a, T> {
        message_type: &'a str,
        data: &'a T,
    }
    let json = sonic_rs::to_vec(&Message { message_type, data })
        .unwrap_or_else(|_| br#"{"message_type":"error"}"#.to_vec());
    let mut out = Vec::with_capacity(json.len() + 10);
    frame::write_header(&mut out, OPCODE_TEXT, json.len());
    out.extend_from_slice(&json);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::EntryMeta;
    use sonic_rs::JsonValueTrait;

    fn entry(url: &str, index: u64, seen_us: u64) -> Frames {
        Frames {
            lite: Default::default(),
            full: Default::default(),
            domains: Default::default(),
            meta: EntryMeta {
                log_key: token::log_key(url),
                index,
                seen_us,
                ..EntryMeta::default()
            },
        }
    }

    #[test]
    fn the_query_asks_for_resume_since_a_token_or_a_time() {
        assert_eq!(ResumeRequest::from_query("x=1").unwrap(), None);
        assert_eq!(
            ResumeRequest::from_query("resume").unwrap(),
            Some(ResumeRequest { since: None })
        );
        let t = ResumeRequest::from_query("since=2026-12-03T10%3A00%3A00%2B01:00").unwrap();
        assert_eq!(t.unwrap().since, Some(Since::Time(1_796_288_400_000_000)));
        let c = Cursor::starting_at(9);
        let r = ResumeRequest::from_query(&format!("token=a&since={}", c.encode())).unwrap();
        assert_eq!(r.unwrap().since, Some(Since::Token(c)));
        assert!(ResumeRequest::from_query("since=%zz").is_err());
        assert!(ResumeRequest::from_query("since=garbage!").is_err());
        assert!(ResumeRequest::from_query("since=").is_err());
    }

    #[test]
    fn live_entries_already_sent_are_skipped_and_holes_stop_the_batch() {
        let a = "https://a.example/";
        let mut c = Cursor::starting_at(1_000);
        c.sent(token::log_key(a), 9); // next = 10
        let r = Resume::new(c, true);
        assert_eq!(r.pick(None), Pick::Send, "broadcasts always go");
        assert_eq!(r.pick(Some(&entry(a, 9, 5_000))), Pick::Skip);
        assert_eq!(r.pick(Some(&entry(a, 10, 5_000))), Pick::Send);
        assert_eq!(r.pick(Some(&entry(a, 13, 5_000))), Pick::Stop);
        let hole = r.take_hole().unwrap();
        assert_eq!((hole.from, hole.at), (11, 13));
        // The store filled 11 but not 12: a gap for 12, then 13 goes.
        r.sent_from_store(token::log_key(a), 11);
        let gap = r.settle(hole).expect("12 is still missing");
        let json: sonic_rs::Value = sonic_rs::from_slice(frame::payload(&gap)).unwrap();
        assert_eq!(json["message_type"], "gap");
        assert_eq!(json["data"]["first_missing"], 12);
        assert_eq!(json["data"]["first_sent"], 13);
        assert_eq!(r.pick(Some(&entry(a, 13, 5_000))), Pick::Send);
        // An unfollowed log: by the watermark.
        let b = "https://b.example/";
        assert_eq!(r.pick(Some(&entry(b, 0, 999))), Pick::Skip);
        assert_eq!(r.pick(Some(&entry(b, 1, 1_000))), Pick::Send);
    }

    #[test]
    fn a_client_starting_now_takes_everything_that_arrives_after_it_connected() {
        // Parsed on another core a moment before the client connected, arriving after: sent.
        let r = Resume::new(Cursor::starting_at(1_000), false);
        assert_eq!(
            r.pick(Some(&entry("https://a.example/", 3, 999))),
            Pick::Send
        );
        assert_eq!(r.cursor().watermark_us, 1_000);
    }

    #[test]
    fn a_cursor_is_owed_after_certificates_and_covers_them() {
        let a = "https://a.example/";
        let r = Resume::new(Cursor::starting_at(0), false);
        let now = Instant::now();
        assert_eq!(
            r.cursor_frame_if_due(now),
            None,
            "nothing sent, nothing owed"
        );
        assert_eq!(r.pick(Some(&entry(a, 4, 1))), Pick::Send);
        let due = r.cursor_due_at().unwrap();
        assert!(due <= Instant::now() + limits::RESUME_CURSOR_INTERVAL);
        let frame = r.cursor_frame_if_due(due).unwrap();
        let json: sonic_rs::Value = sonic_rs::from_slice(frame::payload(&frame)).unwrap();
        let back = Cursor::decode(json["data"]["cursor"].as_str().unwrap()).unwrap();
        assert_eq!(back.next.get(&token::log_key(a)), Some(&5));
        assert_eq!(r.cursor_due_at(), None);
        // The next one waits for the interval.
        assert_eq!(r.pick(Some(&entry(a, 5, 1))), Pick::Send);
        assert!(r.cursor_frame_if_due(due).is_none());
        assert!(r
            .cursor_frame_if_due(due + limits::RESUME_CURSOR_INTERVAL)
            .is_some());
    }
}
