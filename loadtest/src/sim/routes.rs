//! Request routing: log list, admin state, RFC 6962 `ct/v1/*`, static-ct-api monitoring paths.
//! Every log request and the log list first ask the fault schedule ([`super::faults`]) whether
//! to misbehave.

use std::{io::Write, sync::Arc};

use flate2::{write::GzEncoder, Compression};

use super::{
    encode::{self, parse_decimal},
    faults::{self, Action, Endpoint},
    log::{Log, Published, Source, TILE_WIDTH},
    log_type::LogType,
    loglist::{build_shaped, ListContent, ListKind},
    message::{Request, Response},
    Sim,
};

/// Trillian CTFE cache headers for full vs short get-entries pages.
const CACHE_FULL: &str = "public, max-age=86400";
const CACHE_PARTIAL: &str = "public, max-age=60";

pub fn handle(sim: &Sim, req: &Request) -> Response {
    if req.method != "GET" {
        return Response::text(405, "method not allowed\n");
    }
    match req.path.as_str() {
        "/log_list.json" => return log_list(sim, req, ListKind::Google),
        "/apple/current_log_list.json" => return log_list(sim, req, ListKind::Apple),
        "/sim/state" => return Response::new(200, "application/json", sim.state_json().as_bytes()),
        _ => {}
    }
    let Some(log) = sim.logs.iter().find(|l| req.path.starts_with(&l.meta.path)) else {
        return Response::not_found();
    };
    let arrived = std::time::Instant::now();
    let rest = &req.path[log.meta.path.len()..];
    let endpoint = endpoint_of(log.meta.kind, rest);
    let action = endpoint.and_then(|e| {
        sim.faults
            .on_path(Some((log.meta.idx, log.meta.kind)), e, Some(rest))
            .map(|(rule, a)| (e, rule, a))
    });
    let response = match action {
        Some((endpoint, _, action)) => faulty(sim, log, rest, req, endpoint, action),
        None => honest(sim, log, rest, req),
    };
    let fault = action.map(|(_, rule, _)| rule);
    sim.record(log, (rest, req, arrived), fault, &response);
    response
}

/// The endpoint a log path is for (`None` for paths no fault rule targets, e.g. hash tiles).
fn endpoint_of(kind: LogType, rest: &str) -> Option<Endpoint> {
    match kind {
        LogType::Rfc6962 => match rest {
            "ct/v1/get-sth" => Some(Endpoint::Sth),
            "ct/v1/get-entries" => Some(Endpoint::Entries),
            _ => None,
        },
        LogType::Static if rest == "checkpoint" => Some(Endpoint::Checkpoint),
        LogType::Static if rest.starts_with("issuer/") => Some(Endpoint::Issuer),
        LogType::Static if rest.starts_with("tile/data/") => Some(Endpoint::Tile),
        LogType::Static => None,
    }
}

fn honest(sim: &Sim, log: &Log, rest: &str, req: &Request) -> Response {
    match log.meta.kind {
        LogType::Rfc6962 => rfc6962(sim, log, rest, req),
        LogType::Static => static_ct(sim, log, rest, req),
    }
}

/// The answer to a request the schedule hit with `action`.
fn faulty(
    sim: &Sim,
    log: &Log,
    rest: &str,
    req: &Request,
    endpoint: Endpoint,
    action: Action,
) -> Response {
    match action {
        Action::Status { code, retry_after } => {
            let mut r = Response::text(code, "injected fault\n");
            r.retry_after = retry_after;
            r
        }
        Action::InvalidJson => invalid_body(endpoint),
        Action::InvalidBase64 => {
            let head = log.state().published.clone();
            head_response(log, req, &head, true)
        }
        Action::StaleHead { back } => {
            let head = log.state().stale_head(back).clone();
            head_response(log, req, &head, false)
        }
        Action::ShortPage { max_entries } => get_entries(sim, log, req, Some(max_entries)),
        Action::EmptyPage => Response::new(200, "application/json", &br#"{"entries":[]}"#[..]),
        Action::Hang { .. } | Action::Reset | Action::Truncate | Action::Trickle { .. } => {
            let mut r = honest(sim, log, rest, req);
            r.wire = Some(action);
            r
        }
        // Only the log list handles vanish.
        Action::Vanish => honest(sim, log, rest, req),
        Action::StatusRetryAt { code, date_secs } => status_retry_at(code, date_secs),
        Action::Shape(_) => {
            let mut r = honest(sim, log, rest, req);
            r.wire = Some(action);
            r
        }
        // ---- Poller scenarios ----
        Action::OverstatedLength { .. }
        | Action::HeadSize { .. }
        | Action::BadSignature { .. }
        | Action::WrongOrigin
        | Action::RateLimitDate { .. }
        | Action::OversizedPage { .. }
        | Action::RawBody { .. }
        | Action::BadGzip
        | Action::GarbageTile
        | Action::ShortTile { .. }
        | Action::TileJunk
        | Action::BadLeafIndex { .. }
        | Action::WrongTile => poller_scenario_fault(sim, log, rest, req, endpoint, action),
    }
}

/// An injected error status whose `Retry-After` is an HTTP-date.
fn status_retry_at(code: u16, date_secs: u64) -> Response {
    let mut r = Response::text(code, "injected fault\n");
    r.retry_after_date = Some(date_secs);
    r
}

/// The answer to a request hit by one of the faults of the poller scenarios.
fn poller_scenario_fault(
    sim: &Sim,
    log: &Log,
    rest: &str,
    req: &Request,
    endpoint: Endpoint,
    action: Action,
) -> Response {
    match action {
        Action::OverstatedLength { .. } => {
            let mut r = honest(sim, log, rest, req);
            r.chunked = false;
            r.wire = Some(action);
            r
        }
        Action::HeadSize { size } => {
            let head = signed_head(sim, log, size, None);
            log.note_head_served(head.size);
            head_response(log, req, &head, false)
        }
        Action::BadSignature { size } => {
            let size = size.unwrap_or_else(|| log.state().published.size);
            let head = signed_head(sim, log, size, Some(size + 1));
            head_response(log, req, &head, false)
        }
        Action::WrongOrigin => {
            let (size, ts) = {
                let state = log.state();
                (state.published.size, state.published.timestamp_ms)
            };
            let head = log.signed_head(size, None, ts, &[faults::FOREIGN_ORIGIN.to_owned()]);
            head_response(log, req, &head, false)
        }
        Action::RateLimitDate { secs } => {
            let now = u64::try_from(super::certgen::unix_now_secs()).unwrap_or(0);
            status_retry_at(429, now.saturating_add(secs))
        }
        Action::OversizedPage { extra } => oversized_page(sim, log, req, extra),
        Action::RawBody { rule } => {
            let mut r = invalid_body(endpoint);
            r.body = sim.faults.rule_body(rule).into();
            r
        }
        Action::BadGzip => {
            let mut r = invalid_body(endpoint);
            r.body = faults::NOT_GZIP.into();
            r.gzipped = true;
            r
        }
        Action::GarbageTile => gzipped_tile(gzip(&[0xa5; 5000])),
        Action::ShortTile { max_entries } => faulty_tile(sim, log, rest, |raw| {
            faults::cut_tile(raw, max_entries as usize)
        }),
        Action::TileJunk => faulty_tile(sim, log, rest, |raw| {
            let mut raw = raw.to_vec();
            raw.extend_from_slice(&[0; 7]);
            Some(raw)
        }),
        Action::BadLeafIndex { entry, leaf_index } => faulty_tile(sim, log, rest, |raw| {
            let n = tile_of(rest)?;
            let claimed = leaf_index.unwrap_or(n * TILE_WIDTH + entry as u64 + 1);
            faults::with_leaf_index(raw, entry, claimed)
        }),
        Action::WrongTile => {
            if tile_of(rest) == Some(0) || !log.state().tile_visible(0, None) {
                return honest(sim, log, rest, req);
            }
            gzipped_tile(gzip(&build_data_tile(sim, log, 0, None)))
        }
        // The other actions are answered by `faulty`.
        _ => honest(sim, log, rest, req),
    }
}

/// A correctly formed head of the first `size` entries, signed over `signed_size` entries when
/// given, with the published head's timestamp.
fn signed_head(sim: &Sim, log: &Log, size: u64, signed_size: Option<u64>) -> Published {
    let ts = log.state().published.timestamp_ms;
    log.signed_head(size, signed_size, ts, &sim.origins(log))
}

/// The tile index of a `tile/data/...` path.
fn tile_of(rest: &str) -> Option<u64> {
    let path = rest.strip_prefix("tile/data/")?;
    encode::parse_tile_path(path).map(|(n, _)| n)
}

/// The data tile `rest` names, changed by `edit` (404 when the tile is not there or `edit`
/// cannot apply).
fn faulty_tile(
    sim: &Sim,
    log: &Log,
    rest: &str,
    edit: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
) -> Response {
    let Some((n, width)) = rest
        .strip_prefix("tile/data/")
        .and_then(encode::parse_tile_path)
    else {
        return Response::not_found();
    };
    if !log.state().tile_visible(n, width) {
        return Response::not_found();
    }
    match edit(&build_data_tile(sim, log, n, width)) {
        Some(raw) => gzipped_tile(gzip(&raw)),
        None => Response::not_found(),
    }
}

fn gzipped_tile(gz: Vec<u8>) -> Response {
    let mut r = Response::new(200, "application/octet-stream", gz);
    r.gzipped = true;
    r
}

/// get-entries answering `extra` entries past `end` (the `oversized_page` fault).
fn oversized_page(sim: &Sim, log: &Log, req: &Request, extra: u64) -> Response {
    let parse = |name| query_param(&req.query, name).and_then(parse_decimal);
    let (Some(start), Some(end)) = (parse("start"), parse("end")) else {
        return Response::text(400, "start and end must be decimal integers\n");
    };
    let size = log.state().published.size;
    if start > end || start >= size {
        return Response::text(400, "invalid range (start > end or start >= tree_size)\n");
    }
    let last = end.saturating_add(extra).min(size - 1);
    let mut r = Response::new(
        200,
        "application/json",
        entries_json(sim, log, start, last).into_bytes(),
    );
    r.entries = Some((start, last));
    r
}

fn invalid_body(endpoint: Endpoint) -> Response {
    let content_type = match endpoint {
        Endpoint::Checkpoint => "text/plain; charset=utf-8",
        Endpoint::Tile | Endpoint::Issuer => "application/octet-stream",
        _ => "application/json",
    };
    Response::new(200, content_type, faults::invalid_body(endpoint))
}

/// The tree head `head` of `log` (STH or checkpoint), optionally with a root hash that is not
/// base64.
fn head_response(log: &Log, req: &Request, head: &Published, break_base64: bool) -> Response {
    match log.meta.kind {
        LogType::Rfc6962 => {
            let mut sth = head.sth_json.to_string();
            if break_base64 {
                corrupt_after(&mut sth, "\"sha256_root_hash\":\"");
            }
            Response::new(200, "application/json", sth.into_bytes())
        }
        LogType::Static => {
            let Some(cp) = checkpoint_for(head, req.https) else {
                return Response::not_found();
            };
            let mut cp = cp.to_string();
            if break_base64 {
                // Line 3 of a checkpoint is the root hash.
                let at = cp.match_indices('\n').nth(1).map_or(0, |(i, _)| i + 1);
                cp.insert(at + 4, '*');
            }
            let mut r = Response::new(200, "text/plain; charset=utf-8", cp.into_bytes());
            r.cache_control = Some("no-store");
            r
        }
    }
}

/// Inserts a character outside the base64 alphabet a few characters after `marker`.
fn corrupt_after(text: &mut String, marker: &str) {
    if let Some(i) = text.find(marker) {
        text.insert(i + marker.len() + 4, '*');
    }
}

fn checkpoint_for(head: &Published, https: bool) -> Option<&Arc<str>> {
    let cps = &head.checkpoints;
    if https {
        cps.get(1).or(cps.first())
    } else {
        cps.first()
    }
}

/// A log list (`kind`), minus the logs a `vanish` rule hides now: what [`ListContent`] says,
/// or 503 when the list is set unavailable. A fault rule on `loglist` applies to both lists.
///
/// Like the real list (www.gstatic.com, which clients poll with `If-Modified-Since`, ct-protocol
/// §3), the Google-shaped list carries `Last-Modified` and answers a conditional GET with 304.
/// Only the prebuilt list does: under a schedule with `vanish` rules, or once a test sets what
/// a list has, the list changes while it runs, so it is sent without `Last-Modified` and never
/// answered with 304.
fn log_list(sim: &Sim, req: &Request, kind: ListKind) -> Response {
    let action = sim.faults.on_request(None, Endpoint::Loglist);
    let content = sim.list_content(kind);
    if content == ListContent::Unavailable {
        return Response::text(503, "log list unavailable\n");
    }
    let ids: Vec<(usize, LogType)> = sim.logs.iter().map(|l| (l.meta.idx, l.meta.kind)).collect();
    let gone = sim.faults.vanished(&ids);
    let prebuilt = kind == ListKind::Google && content == ListContent::Every && gone.is_empty();
    let body: Arc<[u8]> = if prebuilt {
        let prebuilt = if req.https {
            &sim.log_list_https
        } else {
            &sim.log_list_http
        };
        prebuilt.as_bytes().into()
    } else {
        built_list(sim, req, kind, &content, &gone)
            .into_bytes()
            .into()
    };
    let mut honest = Response::new(200, "application/json", body);
    if prebuilt && !sim.faults.has_vanish_rules() {
        honest.last_modified = Some(sim.list_built_secs);
        let since = req.if_modified_since.as_deref();
        // A fault (if any) answers instead; it is never sent as a 304.
        if action.is_none()
            && since.and_then(super::message::parse_http_date) >= Some(sim.list_built_secs)
        {
            honest.status = 304;
        }
    }
    match action {
        Some(Action::StatusRetryAt { code, date_secs }) => status_retry_at(code, date_secs),
        Some(Action::Status { code, retry_after }) => {
            let mut r = Response::text(code, "injected fault\n");
            r.retry_after = retry_after;
            r
        }
        Some(Action::InvalidJson) => invalid_body(Endpoint::Loglist),
        Some(
            wire @ (Action::Hang { .. }
            | Action::Reset
            | Action::Truncate
            | Action::Trickle { .. }
            | Action::Shape(_)),
        ) => {
            let mut r = honest;
            r.wire = Some(wire);
            r
        }
        _ => honest,
    }
}

/// List `kind` as `content` has it now, without the logs in `gone`.
fn built_list(
    sim: &Sim,
    req: &Request,
    kind: ListKind,
    content: &ListContent,
    gone: &std::collections::HashSet<usize>,
) -> String {
    let listed = sim
        .logs
        .iter()
        .filter(|l| !gone.contains(&l.meta.idx))
        .filter_map(|l| content.state_of(l.meta.idx).map(|state| (l, state)));
    let https = sim.https_base.as_deref().unwrap_or(&sim.http_base);
    if req.https {
        build_shaped(kind, listed, |_| https, sim.list_built_secs)
    } else {
        build_shaped(kind, listed, |l| sim.listed_base(l), sim.list_built_secs)
    }
}

fn rfc6962(sim: &Sim, log: &Log, rest: &str, req: &Request) -> Response {
    match rest {
        "ct/v1/get-sth" => {
            let sth = log.state().published.sth_json.clone();
            Response::new(200, "application/json", sth.as_bytes())
        }
        "ct/v1/get-entries" => get_entries(sim, log, req, None),
        _ => Response::not_found(),
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The inclusive range actually served, per RFC 6962 §4.6 and Trillian CTFE
/// `parseGetEntriesRange`: cap, optional alignment, then clip to the tree size.
pub fn served_range(start: u64, end: u64, size: u64, cap: u64, align: bool) -> Option<(u64, u64)> {
    if start > end || start >= size || cap == 0 {
        return None;
    }
    let mut last = end.min(start.saturating_add(cap - 1));
    if align && last - start + 1 == cap {
        last = last.min((start / cap + 1) * cap - 1);
    }
    Some((start, last.min(size - 1)))
}

/// get-entries; `short` caps the page below the log's own cap (the `short_page` fault).
fn get_entries(sim: &Sim, log: &Log, req: &Request, short: Option<u64>) -> Response {
    let parse = |name| query_param(&req.query, name).and_then(parse_decimal);
    let (Some(start), Some(end)) = (parse("start"), parse("end")) else {
        return Response::text(400, "start and end must be decimal integers\n");
    };
    let size = log.state().published.size;
    let cap = short.map_or(log.meta.page_cap, |s| s.min(log.meta.page_cap));
    let Some((first, last)) = served_range(start, end, size, cap, sim.cfg.align_pages) else {
        return Response::text(400, "invalid range (start > end or start >= tree_size)\n");
    };
    let body = entries_json(sim, log, first, last);
    let full = last - first + 1 == log.meta.page_cap;
    let mut response = if req.accept_gzip {
        let mut r = Response::new(200, "application/json", gzip(body.as_bytes()));
        r.gzipped = true;
        r
    } else {
        Response::new(200, "application/json", body.into_bytes())
    };
    response.chunked = true;
    response.cache_control = Some(if full { CACHE_FULL } else { CACHE_PARTIAL });
    response.entries = Some((first, last));
    response
}

/// The get-entries JSON body of entries `first..=last`.
fn entries_json(sim: &Sim, log: &Log, first: u64, last: u64) -> String {
    let mut body = String::with_capacity(((last - first + 1) * 4096) as usize);
    body.push_str("{\"entries\":[");
    for (k, (leaf_input, extra_data)) in entry_strings(sim, log, first, last).iter().enumerate() {
        if k > 0 {
            body.push(',');
        }
        body.push_str("{\"leaf_input\":\"");
        body.push_str(leaf_input);
        body.push_str("\",\"extra_data\":\"");
        body.push_str(extra_data);
        body.push_str("\"}");
    }
    body.push_str("]}");
    body
}

/// Base64 `leaf_input`/`extra_data` for entries `first..=last` (all sequenced).
fn entry_strings(sim: &Sim, log: &Log, first: u64, last: u64) -> Vec<(String, String)> {
    match &log.meta.source {
        Source::RfcReplay(_) => (first..=last)
            .filter_map(|index| log.replay_entry_strings(&sim.faults, index))
            .collect(),
        Source::Generated => {
            let timestamps = log.state().timestamps[first as usize..=last as usize].to_vec();
            timestamps
                .iter()
                .zip(first..)
                .map(|(ts, index)| log.rfc_entry_strings(&sim.generator, &sim.faults, index, *ts))
                .collect()
        }
        Source::StaticReplay(_) => Vec::new(),
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

fn static_ct(sim: &Sim, log: &Log, rest: &str, req: &Request) -> Response {
    if rest == "checkpoint" {
        let state = log.state();
        return match checkpoint_for(&state.published, req.https) {
            Some(cp) => {
                let mut r = Response::new(200, "text/plain; charset=utf-8", cp.as_bytes());
                r.cache_control = Some("no-store");
                r
            }
            None => Response::not_found(),
        };
    }
    if let Some(hex) = rest.strip_prefix("issuer/") {
        return issuer(sim, hex);
    }
    if let Some(path) = rest.strip_prefix("tile/data/") {
        return match encode::parse_tile_path(path) {
            Some((n, width)) => data_tile(sim, log, n, width),
            None => Response::not_found(),
        };
    }
    if let Some(path) = rest.strip_prefix("tile/0/") {
        return match encode::parse_tile_path(path) {
            Some((n, width)) => hash_tile(log, n, width),
            None => Response::not_found(),
        };
    }
    Response::not_found()
}

fn issuer(sim: &Sim, hex: &str) -> Response {
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Response::not_found();
    }
    let mut fp = [0u8; 32];
    for (i, byte) in fp.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    match sim.issuers.get(&fp) {
        Some(der) => {
            let mut r = Response::new(200, "application/pkix-cert", der.clone());
            r.cache_control = Some("public, max-age=604800, immutable");
            r
        }
        None => Response::not_found(),
    }
}

fn data_tile(sim: &Sim, log: &Log, n: u64, width: Option<u16>) -> Response {
    if !log.state().tile_visible(n, width) {
        return Response::not_found();
    }
    let key = (log.meta.idx, n, width.unwrap_or(0));
    let gz = match sim.tile_cache.get(&key) {
        Some(gz) => gz,
        None => {
            let raw = build_data_tile(sim, log, n, width);
            let gz: Arc<[u8]> = gzip(&raw).into();
            sim.tile_cache.insert(key, gz.clone());
            gz
        }
    };
    let mut r = Response::new(200, "application/octet-stream", gz);
    r.gzipped = true; // static-ct-api: gzip without negotiation
    r.cache_control = Some("public, max-age=604800, immutable");
    r
}

fn build_data_tile(sim: &Sim, log: &Log, n: u64, width: Option<u16>) -> Vec<u8> {
    let count = width.map_or(TILE_WIDTH, u64::from);
    match &log.meta.source {
        Source::StaticReplay(r) => {
            let full = r.data_tiles.get(n as usize).map(|t| t.to_vec());
            let full = full.unwrap_or_default();
            match width {
                Some(w) => faults::cut_tile(&full, usize::from(w)).unwrap_or(full),
                None => full,
            }
        }
        _ => {
            let first = n * TILE_WIDTH;
            let timestamps =
                log.state().timestamps[first as usize..(first + count) as usize].to_vec();
            let mut out = Vec::with_capacity(count as usize * 1600);
            for (ts, index) in timestamps.iter().zip(first..) {
                log.push_tile_leaf(&mut out, &sim.generator, &sim.faults, index, *ts);
            }
            out
        }
    }
}

fn hash_tile(log: &Log, n: u64, width: Option<u16>) -> Response {
    let state = log.state();
    if !state.tile_visible(n, width) {
        return Response::not_found();
    }
    let first = (n * TILE_WIDTH) as usize;
    let count = width.map_or(TILE_WIDTH as usize, usize::from);
    let body: Vec<u8> = state.leaf_hashes[first..first + count].concat();
    let mut r = Response::new(200, "application/octet-stream", body);
    r.cache_control = Some("public, max-age=604800, immutable");
    r
}

#[cfg(test)]
mod tests {
    use super::served_range;

    #[test]
    fn ranges_follow_rfc6962_and_trillian() {
        // LE Oak example: max 256, start=10&end=400 → 10..255.
        assert_eq!(served_range(10, 400, 10_000, 256, true), Some((10, 255)));
        assert_eq!(served_range(10, 400, 10_000, 256, false), Some((10, 265)));
        // Requests below the cap are not aligned.
        assert_eq!(served_range(10, 100, 10_000, 256, true), Some((10, 100)));
        // Partial response past the tree end.
        assert_eq!(served_range(90, 200, 100, 1000, true), Some((90, 99)));
        assert_eq!(served_range(100, 200, 100, 1000, true), None);
        assert_eq!(served_range(5, 4, 100, 1000, true), None);
        assert_eq!(served_range(0, 0, 1, 32, true), Some((0, 0)));
    }
}
