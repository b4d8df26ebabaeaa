//! The Static CT API poller: checkpoint, then data tiles from the cursor to the tree size, with
//! issuer certificates fetched by fingerprint and cached.

use std::{cell::RefCell, collections::HashMap, rc::Rc};

use bytes::Bytes;

use super::{
    fetch::{FetchError, LogClient},
    pipeline::{run_ordered, Aborted, Window},
    LogCtx, PollerEnv, StopFlag,
};
use crate::{
    ct::{
        entry::LogEntry,
        static_ct::{
            data_tile_url, issuer_url, origin_from_submission_url, parse_checkpoint,
            parse_data_tile, CheckpointError, TileLeaf,
        },
    },
    limits,
    metrics::FetchErrorKind,
};

const TILE_WIDTH: u64 = 256;

/// Issuer certificates of one log by SHA-256 fingerprint (immutable, so cached for good).
type IssuerCache = RefCell<HashMap<[u8; 32], Bytes>>;

/// Issuers a log answered 404 for while one tile was resolved: asked once per tile, not once
/// per entry, and asked again for the next tile (the issuer may appear later).
type MissingIssuers = std::collections::HashSet<[u8; 32]>;

/// Follows one Static CT log until stopped.
pub async fn run(env: Rc<PollerEnv>, log: Rc<LogCtx>, start_at: Option<u64>, stop: Rc<StopFlag>) {
    let client = LogClient::new(env, log.clone(), stop);
    let issuers: Rc<IssuerCache> = Rc::default();
    let origin =
        origin_from_submission_url(log.info.submission_url.as_deref().unwrap_or(&log.info.url));
    let head = || poll_checkpoint(&client, &origin);
    let catch = |next, size| catch_up(&client, &issuers, next, size);
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
            Ok(cp) => {
                if cp.tree_size > log.stats.tree_size.get() {
                    log.stats.record_head(cp.tree_size, cp.timestamp_ms);
                }
                return Some(log.stats.tree_size.get());
            }
            Err(e) => {
                // Only a signature problem is `bad_signature`; a body that is not a checkpoint
                // of this log at all is a bad response, like an unparsable STH.
                let kind = match e {
                    CheckpointError::BadLogSignature(_) | CheckpointError::NoLogSignature => {
                        FetchErrorKind::BadSignature
                    }
                    _ => FetchErrorKind::BadResponse,
                };
                log.stats.count_error(kind);
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
    cursor: u64,
    size: u64,
) -> Result<u64, Aborted> {
    let fetch_client = client.clone();
    let fetch_issuers = issuers.clone();
    let fetch = move |w: Window| {
        let client = fetch_client.clone();
        let issuers = fetch_issuers.clone();
        async move { fetch_tile(&client, &issuers, w).await }
    };
    let log = client.log.clone();
    let env = client.env.clone();
    let consume = move |w: Window, leaves: Vec<LogEntry>| {
        // Only the window's own leaves: the tile may start before it, and a full tile fetched
        // because the partial one was gone holds leaves past it, past the verified tree size.
        // Those are streamed by a later window, once a checkpoint covers them.
        let entries: Vec<LogEntry> = leaves
            .into_iter()
            .filter(|e| (w.start..=w.end).contains(&e.index))
            .collect();
        let Some(next) = entries.last().map(|e| e.index + 1) else {
            return Err(FetchError::BadResponse(format!(
                "tile holds no leaf of {}..={}",
                w.start, w.end
            )));
        };
        log.stats.cursor.set(next);
        env.sink.emit(&log, entries);
        Ok(next)
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
/// are missing) and resolves its issuers.
async fn fetch_tile(
    client: &LogClient,
    issuers: &IssuerCache,
    w: Window,
) -> Result<Vec<LogEntry>, FetchError> {
    let tile = w.start / TILE_WIDTH;
    let width = (w.end % TILE_WIDTH + 1) as u16;
    let log = &client.log;
    let leaves = loop {
        let parse = |want: u16| {
            move |body: Bytes| {
                parse_data_tile(&body, tile, want as usize).map_err(|e| e.to_string())
            }
        };
        let partial_url = data_tile_url(&log.info.url, tile, width);
        let first = client
            .get_with_retry("data tile", &partial_url, parse(width), |e| {
                matches!(e, FetchError::NotFound) && width < 256
            })
            .await;
        match first {
            Ok(l) => break l,
            // The partial tile is gone because the tile filled up; or it is not visible yet
            // (a CDN lagging the checkpoint) and then neither is the full tile, which may be
            // hours away on a slow log: back off and ask for the partial tile again.
            Err(FetchError::NotFound) => {
                let full_url = data_tile_url(&log.info.url, tile, 256);
                let not_found = |e: &FetchError| matches!(e, FetchError::NotFound);
                match client
                    .get_with_retry("full data tile", &full_url, parse(256), not_found)
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
    let mut out = Vec::with_capacity(leaves.len());
    let mut missing = MissingIssuers::new();
    for leaf in leaves {
        out.push(resolve(client, issuers, &mut missing, leaf).await?);
    }
    Ok(out)
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
            Err("issuer certificate does not match its fingerprint".to_owned())
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
