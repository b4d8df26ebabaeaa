//! The Static CT API poller: checkpoint, then data tiles from the cursor to the tree size, with
//! issuer certificates fetched by fingerprint and cached.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    rc::Rc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::{
    fetch::{metric_kind, DecodeError, FetchError, LogClient},
    pipeline::{run_ordered, Aborted, Window},
    LogCtx, Page, PollerEnv, StopFlag,
};
use crate::{
    ct::{
        entry::LogEntry,
        error::DecodeFailure as _,
        static_ct::{
            data_tile_url, issuer_url, origin_from_submission_url, parse_checkpoint,
            parse_data_tile_salvaging, TileError, TileLeaf, TilePrefix,
        },
    },
    limits,
    metrics::FetchErrorKind,
};

/// Leaves per full data tile (the protocol's constant, as an index distance).
const TILE_WIDTH: u64 = crate::ct::static_ct::TILE_WIDTH as u64;
/// The width of a full tile as the tile URLs and the parser take it.
const FULL_TILE: u16 = crate::ct::static_ct::TILE_WIDTH as u16;

/// Issuer certificates of one log by SHA-256 fingerprint (immutable, so cached for good).
type IssuerCache = RefCell<HashMap<[u8; 32], Bytes>>;

/// Issuers a log answered 404 for while one tile was resolved: asked once per tile, not once
/// per entry, and asked again for the next tile (the issuer may appear later).
type MissingIssuers = std::collections::HashSet<[u8; 32]>;

/// The tile and entry position of the last break confirmed as permanent. Tiles never change
/// once served, so a later window of the same tile that breaks at the same entry is the same
/// damage and is read at once instead of after another confirmation.
pub(super) type KnownBreak = Cell<Option<(u64, usize)>>;

/// Leaves of one window's data tile, resolved into entries.
struct TileEntries {
    entries: Vec<LogEntry>,
    /// Set when the log keeps serving the tile broken: the first index that cannot be read
    /// from it (every later index of the tile neither), and why.
    unreadable_from: Option<(u64, String)>,
}

/// Follows one Static CT log until stopped.
pub async fn run(env: Rc<PollerEnv>, log: Rc<LogCtx>, start_at: Option<u64>, stop: Rc<StopFlag>) {
    let client = LogClient::new(env, log.clone(), stop);
    let issuers: Rc<IssuerCache> = Rc::default();
    let known_break: Rc<KnownBreak> = Rc::default();
    let origin =
        origin_from_submission_url(log.info.submission_url.as_deref().unwrap_or(&log.info.url));
    let head = || poll_checkpoint(&client, &origin);
    let catch = |next, size| catch_up(&client, &issuers, &known_break, next, size);
    super::follow(&client, start_at, head, catch).await;
}

/// Fetches and verifies the checkpoint; a checkpoint whose signature fails is not used.
async fn poll_checkpoint(client: &LogClient, origin: &str) -> Option<u64> {
    let log = &client.log;
    let url = format!("{}checkpoint", with_slash(&log.info.url));
    loop {
        let text = client
            .get_with_retry("checkpoint", &url, Ok, |_| false)
            .await
            .ok()?;
        match parse_checkpoint(&text, origin, &log.info.key) {
            Ok(cp) => return Some(log.progress.record_head(cp.tree_size, cp.timestamp_ms)),
            Err(e) => {
                // Only a signature problem is `bad_signature`; a body that is not a checkpoint
                // of this log at all is a bad response, like an unparsable STH.
                log.stats.count_error(metric_kind(e.kind()));
                tracing::warn!(log = %log.info.description, "checkpoint not used: {e}");
                client.sleep_unless_stopped(client.env.poll_interval).await;
                if client.stop.is_stopped() {
                    return None;
                }
            }
        }
    }
}

pub(crate) fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

/// Streams `[cursor, size)` tile by tile; returns the new cursor (or how far it got).
async fn catch_up(
    client: &Rc<LogClient>,
    issuers: &Rc<IssuerCache>,
    known_break: &Rc<KnownBreak>,
    cursor: u64,
    size: u64,
) -> Result<u64, Aborted> {
    let fetch_client = client.clone();
    let fetch_issuers = issuers.clone();
    let fetch_known_break = known_break.clone();
    let fetch = move |w: Window| {
        let client = fetch_client.clone();
        let issuers = fetch_issuers.clone();
        let known_break = fetch_known_break.clone();
        async move { fetch_tile(&client, &issuers, &known_break, w).await }
    };
    let log = client.log.clone();
    let env = client.env.clone();
    let consume = move |w: Window, tile: TileEntries| {
        // Only the window's own leaves: the tile may start before it, and a full tile fetched
        // because the partial one was gone holds leaves past it, past the verified tree size.
        // Those are streamed by a later window, once a checkpoint covers them.
        let entries: Vec<LogEntry> = tile
            .entries
            .into_iter()
            .filter(|e| (w.start..=w.end).contains(&e.index))
            .collect();
        let mut next = entries.last().map(|e| e.index + 1);
        let mut unreadable = Vec::new();
        if let Some((from, reason)) = &tile.unreadable_from {
            let first = (*from).max(w.start);
            unreadable.extend((first..=w.end).map(|index| (index, reason.clone())));
            if first <= w.end {
                next = Some(w.end + 1);
            }
        }
        let Some(next) = next else {
            return Err(FetchError::BadResponse(DecodeError::NoLeafInWindow {
                start: w.start,
                end: w.end,
            }));
        };
        let page = Page {
            start: w.start,
            end: next,
            entries,
            undecodable: unreadable,
        };
        super::consume_page(&*env.sink, &log, page)
    };
    let plan = |s: u64| s - s % TILE_WIDTH + TILE_WIDTH - 1;
    run_ordered(
        cursor,
        size,
        limits::FETCHES_IN_FLIGHT_PER_LOG,
        plan,
        fetch,
        consume,
    )
    .await
}

/// Fetches the data tile holding window `w` (the partial tile for the window's width, falling
/// back to the full tile when the partial one is gone, and to the partial one again when both
/// are missing) and resolves its issuers. A tile that does not parse is fetched again (with
/// backoff) until the log has served the very same broken bytes for long enough
/// ([`BreakJudge`]); then the leaves before the break are used and the rest is reported
/// unreadable, so one damaged tile cannot stall the log for good.
async fn fetch_tile(
    client: &LogClient,
    issuers: &IssuerCache,
    known_break: &KnownBreak,
    w: Window,
) -> Result<TileEntries, FetchError> {
    let tile = w.start / TILE_WIDTH;
    let width = (w.end % TILE_WIDTH + 1) as u16;
    let log = &client.log;
    let judge = RefCell::new(BreakJudge::new(
        &log.info.description,
        tile,
        known_break,
        client.env.timing.broken_tile_confirm_after,
    ));
    let read = loop {
        let parse = |want: u16| {
            let judge = &judge;
            move |body: Bytes| Ok(judge.borrow_mut().read(&body, want as usize)?)
        };
        let partial_url = data_tile_url(&log.info.url, tile, width);
        let first = client
            .get_with_retry("data tile", &partial_url, parse(width), |e| {
                matches!(e, FetchError::NotFound) && width < FULL_TILE
            })
            .await;
        match first {
            Ok(l) => break l,
            // The partial tile is gone because the tile filled up; or it is not visible yet
            // (a CDN lagging the checkpoint) and then neither is the full tile, which may be
            // hours away on a slow log: back off and ask for the partial tile again.
            Err(FetchError::NotFound) => {
                let full_url = data_tile_url(&log.info.url, tile, FULL_TILE);
                let not_found = |e: &FetchError| matches!(e, FetchError::NotFound);
                match client
                    .get_with_retry("full data tile", &full_url, parse(FULL_TILE), not_found)
                    .await
                {
                    Ok(l) => break l,
                    Err(FetchError::NotFound) => {
                        client
                            .after_failure("partial and full data tile", &FetchError::NotFound)
                            .await
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    };
    let mut entries = Vec::with_capacity(read.leaves.len());
    let mut missing = MissingIssuers::new();
    for leaf in read.leaves {
        entries.push(resolve(client, issuers, &mut missing, leaf).await?);
    }
    Ok(TileEntries {
        entries,
        unreadable_from: read.unreadable_from,
    })
}

/// A data tile's leaves as far as they could be read.
pub(super) struct TileRead {
    pub(super) leaves: Vec<TileLeaf>,
    pub(super) unreadable_from: Option<(u64, String)>,
}

/// Tells a tile the log serves broken for good from one damaged on the way (a cache, a
/// truncated body, a bad deploy being rolled back). A break is taken as permanent once the
/// same bytes, broken at the same entry, came back [`limits::BROKEN_TILE_REPEATS`] times in a
/// row over at least `confirm_after`; or at once when it is the break already confirmed for
/// this tile ([`KnownBreak`]). Until then the tile is an error, and fetched again.
pub(super) struct BreakJudge<'a> {
    /// The log's name, for the log line.
    log: &'a str,
    tile: u64,
    known: &'a KnownBreak,
    confirm_after: Duration,
    /// Digest of the last broken body and its break position, how often it came back in a
    /// row, and when it was first seen.
    last: Option<([u8; 32], usize)>,
    repeats: u32,
    since: Instant,
}

impl<'a> BreakJudge<'a> {
    pub(super) fn new(
        log: &'a str,
        tile: u64,
        known: &'a KnownBreak,
        confirm_after: Duration,
    ) -> Self {
        BreakJudge {
            log,
            tile,
            known,
            confirm_after,
            last: None,
            repeats: 0,
            since: Instant::now(),
        }
    }

    /// Reads `body` as `width` leaves of the tile: all of them, or (once the break is
    /// confirmed) those before it; otherwise the error that makes the caller fetch again.
    pub(super) fn read(&mut self, body: &Bytes, width: usize) -> Result<TileRead, TileError> {
        let prefix = match parse_data_tile_salvaging(body, self.tile, width) {
            Err(e) => return Err(e),
            Ok(Ok(leaves)) => {
                return Ok(TileRead {
                    leaves,
                    unreadable_from: None,
                })
            }
            Ok(Err(prefix)) => prefix,
        };
        if !self.is_permanent(body, prefix.broken_at) {
            return Err(prefix.error);
        }
        Ok(self.salvage(prefix, width))
    }

    fn is_permanent(&mut self, body: &Bytes, broken_at: usize) -> bool {
        if self.known.get() == Some((self.tile, broken_at)) {
            return true;
        }
        let seen = (Sha256::digest(body).into(), broken_at);
        if self.last == Some(seen) {
            self.repeats += 1;
        } else {
            self.last = Some(seen);
            self.repeats = 1;
            self.since = Instant::now();
        }
        let permanent = self.repeats >= limits::BROKEN_TILE_REPEATS
            && self.since.elapsed() >= self.confirm_after;
        if permanent {
            self.known.set(Some((self.tile, broken_at)));
        }
        permanent
    }

    fn salvage(&self, prefix: TilePrefix, width: usize) -> TileRead {
        let first = self.tile * TILE_WIDTH;
        let unreadable_from = (prefix.broken_at < width).then(|| {
            let from = first + prefix.broken_at as u64;
            let reason = format!(
                "data tile {} is served broken ({}); entries {from}.. of it cannot be read",
                self.tile, prefix.error
            );
            (from, reason)
        });
        match &unreadable_from {
            Some((_, reason)) => tracing::error!(log = %self.log, "{reason}"),
            None => tracing::warn!(
                log = %self.log,
                "data tile {} used despite: {}",
                self.tile,
                prefix.error
            ),
        }
        TileRead {
            leaves: prefix.leaves,
            unreadable_from,
        }
    }
}

/// Turns a TileLeaf into a LogEntry, fetching any issuer not cached yet.
async fn resolve(
    client: &LogClient,
    issuers: &IssuerCache,
    missing: &mut MissingIssuers,
    leaf: TileLeaf,
) -> Result<LogEntry, FetchError> {
    let mut chain = Vec::with_capacity(leaf.chain_fingerprints.len());
    for fp in leaf.chain_fingerprints.iter().take(limits::CHAIN_CERTS_MAX) {
        if missing.contains(fp) {
            continue;
        }
        if let Some(der) = issuer(client, issuers, fp).await? {
            chain.push(der);
        } else {
            missing.insert(*fp);
        }
    }
    Ok(LogEntry {
        index: leaf.index,
        timestamp_ms: leaf.timestamp_ms,
        kind: leaf.kind,
        leaf_der: leaf.leaf_der,
        chain,
    })
}

async fn issuer(
    client: &LogClient,
    issuers: &IssuerCache,
    fp: &[u8; 32],
) -> Result<Option<Bytes>, FetchError> {
    if let Some(hit) = issuers.borrow().get(fp) {
        return Ok(Some(hit.clone()));
    }
    let url = issuer_url(&client.log.info.url, fp);
    let check = |body: Bytes| {
        use sha2::Digest;
        if sha2::Sha256::digest(&body).as_slice() == fp {
            Ok(body)
        } else {
            Err(DecodeError::IssuerFingerprint)
        }
    };
    let der = match client
        .get_with_retry("issuer", &url, check, |e| matches!(e, FetchError::NotFound))
        .await
    {
        Ok(der) => der,
        Err(FetchError::NotFound) => {
            client.log.stats.count_error(FetchErrorKind::Status);
            tracing::warn!(log = %client.log.info.description, "issuer {} is missing (404); chain streamed without it", hex(fp));
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let mut cache = issuers.borrow_mut();
    if cache.len() >= limits::ISSUER_CACHE_MAX {
        cache.clear();
    }
    cache.insert(*fp, der.clone());
    Ok(Some(der))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::static_ct::parse_data_tile;

    /// Data tile `n` of the navigli2025h2 fixture.
    fn tile(n: u64) -> Bytes {
        let path = format!(
            "{}/loadtest/fixtures/ctdata/static-ct/navigli2025h2/tile/data/{n:03}",
            env!("CARGO_MANIFEST_DIR")
        );
        Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
    }

    /// Tile `n` with the `leaf_index` extension of entry `position` changed to `value`.
    fn tile_with_leaf_index(n: u64, position: usize, value: u64) -> Bytes {
        let full = tile(n);
        let leaves = parse_data_tile(&full, n, 256).unwrap();
        let entry = &leaves[position].timestamped_entry;
        // The extensions are the end of the TimestampedEntry: u16 length 8, then
        // type 0 (leaf_index), u16 length 5, uint40.
        let end = entry.as_ptr() as usize - full.as_ptr() as usize + entry.len();
        assert_eq!(
            &full[end - 10..end - 5],
            &[0, 8, 0, 0, 5],
            "leaf_index extension layout"
        );
        let mut out = full.to_vec();
        out[end - 5..end].copy_from_slice(&value.to_be_bytes()[3..]);
        Bytes::from(out)
    }

    #[test]
    fn break_judge_needs_the_same_bytes_repeatedly_then_remembers_the_break() {
        let known = KnownBreak::default();
        let broken = tile_with_leaf_index(1, 200, 7);
        let other = tile_with_leaf_index(1, 100, 7);
        let mut judge = BreakJudge::new("test log", 1, &known, Duration::ZERO);
        let repeats = limits::BROKEN_TILE_REPEATS;
        for _ in 1..repeats {
            assert!(judge.read(&broken, 256).is_err(), "not confirmed yet");
        }
        assert!(
            judge.read(&other, 256).is_err(),
            "other bytes start the count again"
        );
        for _ in 1..repeats {
            assert!(judge.read(&broken, 256).is_err());
        }
        let read = judge.read(&broken, 256).expect("confirmed");
        assert_eq!(read.leaves.len(), 200);
        assert_eq!(read.leaves.last().map(|l| l.index), Some(455));
        assert_eq!(read.unreadable_from.as_ref().map(|u| u.0), Some(456));
        // A later window of the same tile (a wider partial tile) broken at the same entry is
        // the same damage: read at once. A break elsewhere is not.
        let mut later = BreakJudge::new("test log", 1, &known, Duration::from_secs(3600));
        let wider = tile_with_leaf_index(1, 200, 8);
        assert!(later.read(&wider, 256).is_ok());
        assert!(later.read(&other, 256).is_err());
        // A tile that parses is read whole whatever happened before.
        let read = later.read(&tile(1), 256).expect("intact tile");
        assert_eq!(read.leaves.len(), 256);
        assert!(read.unreadable_from.is_none());
    }
}
