//! The RFC 6962 poller against the simulator's RFC 6962 replay log (26 real entries, navigli2025h2
//! among them), with faults from the simulator's fault schedule; see `common/poller.rs` for
//! what every scenario asserts.

#[path = "common/poller.rs"]
mod poller;

use std::time::Duration;

use certstream::{ct::http::Timeouts, metrics::FetchErrorKind};
use poller::*;

#[test]
fn replay_fixtures_agree_with_each_other() {
    // The navigli2025h2 page of the RFC 6962 replay log (indices 6..=21) is derived from tile 000:
    // same leaves, same chains (whose certificates hash to the tile's fingerprints), so both
    // pollers are checked against one truth.
    let rfc = rfc_expected();
    let tiles = tiled_expected(TILE_ENTRIES, &[]);
    assert_eq!(rfc.len() as u64, RFC_ENTRIES);
    assert_eq!(tiles.len() as u64, TILE_ENTRIES);
    for (r, t) in rfc[6..22].iter().zip(&tiles[..16]) {
        assert_eq!((r.leaf, &r.chain), (t.leaf, &t.chain), "entry {}", r.index);
    }
    let known = issuer_names();
    assert!(tiles
        .iter()
        .flat_map(|s| &s.chain)
        .all(|fp| known.contains(&hex(fp))));
}

fn rfc_capped(cap: u64) {
    let sim = start_sim_with("", cap, false);
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    // Each entry was handed out once: no window overlapped another or was fetched twice.
    assert_eq!(entries_served(&sim), RFC_ENTRIES);
    let pages = requests(&sim, RFC_LOG, ENTRIES).len() as u64;
    assert_eq!(pages, RFC_ENTRIES.div_ceil(cap), "one request per page");
    assert!(
        out.stats().fetches.get() > pages,
        "get-sth and get-entries fetches are counted"
    );
    assert_eq!(tree_size(&out.log), RFC_ENTRIES);
    assert_eq!(cursor(&out.log), RFC_ENTRIES);
    out.assert_no_other_errors(&[]);
}

#[test]
fn rfc_pages_capped_at_3() {
    rfc_capped(3);
}

#[test]
fn rfc_pages_capped_at_1() {
    rfc_capped(1);
}

#[test]
fn rfc_varying_page_sizes_on_a_growing_tree() {
    // The tree grows 10 → 18 → 26 (two heads each) while the first seven pages are cut to
    // 5, 1, 4, 2, 7, 3 and 1 entries.
    let mut schedule = String::from(
        r#"
        [[rule]]
        endpoint = "sth"
        limit = 2
        fault = "head_size"
        size = 10
        [[rule]]
        endpoint = "sth"
        limit = 2
        fault = "head_size"
        size = 18
        "#,
    );
    for cap in [5, 1, 4, 2, 7, 3, 1] {
        schedule.push_str(&format!(
            "[[rule]]\nendpoint = \"entries\"\nlimit = 1\nfault = \"short_page\"\nmax_entries = {cap}\n"
        ));
    }
    let sim = start_sim(&schedule);
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(entries_served(&sim), RFC_ENTRIES, "no entry fetched twice");
    assert!(
        requests(&sim, RFC_LOG, STH).len() >= 5,
        "the tree grew in steps"
    );
    assert_eq!(fired(&sim), [2, 2, 1, 1, 1, 1, 1, 1, 1]);
    out.assert_no_other_errors(&[]);
}

#[test]
fn rfc_aligned_pages_from_a_mid_page_start() {
    // A log that ends every page on a multiple of 4 (Trillian --align_getentries), followed
    // from index 1: the first page is short and later ones must not overlap it.
    let sim = start_sim_with("", 4, true);
    let out = drive(
        &sim,
        Drive {
            start_at: Some(1),
            ..Drive::rfc(RFC_ENTRIES)
        },
    );
    assert_exactly_once(&out, &rfc_expected(), 1, &[]);
    assert_eq!(entries_served(&sim), RFC_ENTRIES - 1);
    let starts: Vec<u64> = requests(&sim, RFC_LOG, ENTRIES)
        .iter()
        .map(|r| r.param("start").unwrap())
        .collect();
    assert_eq!(starts.first(), Some(&1));
    assert!(
        starts.iter().all(|s| *s >= 1),
        "nothing before start_at is fetched: {starts:?}"
    );
    out.assert_no_other_errors(&[]);
}

// Retry-After is about time: the gap between the rate-limited request and its retry must be
// at least what the log asked for. Only a lower bound is asserted (a loaded machine may be
// later, never earlier).

#[test]
fn rfc_429_with_retry_after_seconds() {
    let sim = start_sim(
        "[[rule]]\nendpoint = \"entries\"\nlimit = 1\nfault = \"rate_limit\"\nretry_after = 1\n",
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    let gap = retry_gap(&sim, RFC_LOG, ENTRIES);
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured: {gap:?}"
    );
    assert_eq!(fired(&sim), [1]);
    out.assert_errors(FetchErrorKind::RateLimited, 1);
    assert!(
        out.stats().pacing_ms.get() > 0,
        "the pacer widened after the 429"
    );
    out.assert_no_other_errors(&[FetchErrorKind::RateLimited]);
}

#[test]
fn rfc_429_with_retry_after_http_date() {
    // Whole seconds: two seconds from now is 1..2 s away.
    let sim = start_sim(
        "[[rule]]\nendpoint = \"entries\"\nlimit = 1\nfault = \"rate_limit_date\"\nretry_after = 2\n",
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    let gap = retry_gap(&sim, RFC_LOG, ENTRIES);
    assert!(
        gap >= Duration::from_millis(900),
        "Retry-After date was not honoured: {gap:?}"
    );
    assert_eq!(fired(&sim), [1]);
    out.assert_errors(FetchErrorKind::RateLimited, 1);
    out.assert_no_other_errors(&[FetchErrorKind::RateLimited]);
}

#[test]
fn rfc_429_without_retry_after_then_503_with_it() {
    // 429 without Retry-After (backoff), then a 503 with Retry-After (a rate limit, too).
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "entries"
        limit = 2
        fault = "rate_limit"
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "status"
        status = 503
        retry_after = 0
        "#,
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(fired(&sim), [2, 1]);
    out.assert_errors(FetchErrorKind::RateLimited, 3);
    assert_eq!(requests(&sim, RFC_LOG, ENTRIES).len(), 4);
    out.assert_no_other_errors(&[FetchErrorKind::RateLimited]);
}

#[test]
fn rfc_5xx_bursts() {
    let mut schedule = String::from(
        r#"
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "status"
        status = 502
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "status"
        status = 504
        "#,
    );
    // A burst on the first four get-entries requests, and a second one in mid-stream, after
    // two pages went through: each of its rules is first asked on the 5th request and fires
    // on its third look, so they hit the 7th, 8th, 9th and 10th.
    for status in [500, 502, 503, 504] {
        schedule.push_str(&format!(
            "[[rule]]\nendpoint = \"entries\"\nlimit = 1\nfault = \"status\"\nstatus = {status}\n"
        ));
    }
    for status in [500, 502, 503, 504] {
        schedule.push_str(&format!(
            "[[rule]]\nendpoint = \"entries\"\nevery = 3\nlimit = 1\nfault = \"status\"\nstatus = {status}\n"
        ));
    }
    let sim = start_sim_with(&schedule, 3, false);
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(fired(&sim), [1; 10]);
    let hit: Vec<usize> = requests(&sim, RFC_LOG, ENTRIES)
        .iter()
        .enumerate()
        .filter(|(_, r)| r.fault.is_some())
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hit, [1, 2, 3, 4, 7, 8, 9, 10]);
    out.assert_errors(FetchErrorKind::Status, 10);
    out.assert_no_other_errors(&[FetchErrorKind::Status]);
}

#[test]
fn rfc_non_json_bodies() {
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "raw_body"
        body = "<html>maintenance</html>"
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "raw_body"
        body = "<html><body>502 Bad Gateway</body></html>"
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "invalid_json"
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "raw_body"
        body_base64 = "//57fQ=="   # ff fe { }: not UTF-8
        "#,
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(fired(&sim), [1, 1, 1, 1]);
    out.assert_errors(FetchErrorKind::BadResponse, 4);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}

#[test]
fn rfc_invalid_base64_in_one_entry_skips_only_that_entry() {
    // Entry 5's leaf_input and entry 9's extra_data are not base64. Both are persistent
    // corruptions: skipped and counted, never retried.
    let sim = start_sim_with(
        r#"
        [[corrupt]]
        logs = [0]
        kind = "invalid_base64"
        every = 100
        offset = 5
        [[corrupt]]
        logs = [0]
        kind = "invalid_base64_extra"
        every = 100
        offset = 9
        "#,
        6,
        false,
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[5, 9]);
    assert_eq!(
        requests(&sim, RFC_LOG, ENTRIES).len() as u64,
        RFC_ENTRIES.div_ceil(6),
        "a bad entry is a skip, not a page retry"
    );
    let counts: Vec<u64> = sim.corrupt_counts().iter().map(|c| c.entries).collect();
    assert_eq!(counts, [1, 1]);
    assert_eq!(cursor(&out.log), RFC_ENTRIES);
    out.assert_no_other_errors(&[]);
}

#[test]
fn rfc_empty_entries_page_is_retried() {
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "entries"
        limit = 2
        fault = "empty_page"
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "raw_body"
        body = '{"something":"else"}'
        "#,
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(fired(&sim), [2, 1]);
    out.assert_errors(FetchErrorKind::BadResponse, 3);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}

#[test]
fn rfc_more_entries_than_requested_is_retried() {
    // The STH says 8 at first; the first page answers 12 entries for start=0&end=7.
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "sth"
        limit = 3
        fault = "head_size"
        size = 8
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "oversized_page"
        extra = 4
        "#,
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    let first = &requests(&sim, RFC_LOG, ENTRIES)[0];
    assert_eq!(
        (first.param("end"), first.entries),
        (Some(7), Some((0, 11)))
    );
    out.assert_errors(FetchErrorKind::BadResponse, 1);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}

#[test]
fn rfc_truncated_body() {
    // Content-Length larger than what is sent, then a clean close: once mid-body, once after
    // a complete JSON document.
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "truncate"
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "overstated_length"
        extra = 50
        "#,
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(fired(&sim), [1, 1]);
    out.assert_errors(FetchErrorKind::Network, 2);
    assert_eq!(entries_served(&sim), RFC_ENTRIES);
    out.assert_no_other_errors(&[FetchErrorKind::Network]);
}

#[test]
fn rfc_body_reset_midway() {
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "entries"
        limit = 2
        fault = "reset"
        [[rule]]
        endpoint = "sth"
        every = 2
        limit = 1
        fault = "reset"
        "#,
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(fired(&sim)[0], 2);
    assert!(
        out.errors(FetchErrorKind::Network) >= 2,
        "{}",
        out.counters()
    );
    out.assert_no_other_errors(&[FetchErrorKind::Network]);
}

#[test]
fn rfc_server_dropping_every_keep_alive_connection() {
    // Every answer is the last on its connection, without `Connection: close`: each pooled
    // connection is found dead by the next request, which the client retries on a fresh one.
    let sim = start_sim_with(
        "[[rule]]\nendpoint = \"any\"\nfault = \"idle_close\"\n",
        2,
        false,
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert!(
        requests(&sim, RFC_LOG, ENTRIES)
            .iter()
            .all(|r| r.fault.is_some()),
        "every answer dropped its connection"
    );
    assert_eq!(entries_served(&sim), RFC_ENTRIES);
    out.assert_no_other_errors(&[]);
}

#[test]
fn rfc_sth_going_backwards_neither_rewinds_nor_repeats() {
    // A stale frontend: after two heads of 10, smaller trees, and one of size 0.
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "sth"
        limit = 2
        fault = "head_size"
        size = 10
        [[rule]]
        endpoint = "sth"
        limit = 3
        fault = "head_size"
        size = 4
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "head_size"
        size = 0
        "#,
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(fired(&sim), [2, 3, 1], "the stale heads were all served");
    assert!(
        out.tree_sizes.contains(&10),
        "the first head was used before the stale ones"
    );
    assert_eq!(tree_size(&out.log), RFC_ENTRIES);
    // Nothing below 10 was asked for again once 0..10 was delivered.
    let starts: Vec<u64> = requests(&sim, RFC_LOG, ENTRIES)
        .iter()
        .map(|r| r.param("start").unwrap())
        .collect();
    assert_eq!(starts, vec![0, 10], "{starts:?}");
    out.assert_no_other_errors(&[]);
}

#[test]
fn rfc_sth_with_bad_signature_is_ignored() {
    // Bad heads claim 26 while the only verified head says 8; the poller must not fetch past 7
    // until a verified head says 26.
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "bad_signature"
        [[rule]]
        endpoint = "sth"
        limit = 2
        fault = "head_size"
        size = 8
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "bad_signature"
        "#,
    );
    let out = drive(&sim, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(fired(&sim), [1, 2, 1]);
    let log = sim.requests();
    let honest_head = log
        .iter()
        .position(|r| r.path == STH && r.fault.is_none())
        .expect("a verified head of 26 was served");
    assert!(
        log[..honest_head]
            .iter()
            .filter(|r| r.path == ENTRIES)
            .all(|r| r.param("end").unwrap() < 8),
        "fetched past the verified tree size"
    );
    out.assert_errors(FetchErrorKind::BadSignature, 2);
    assert!(
        !out.tree_sizes
            .iter()
            .any(|s| *s != 0 && *s != 8 && *s != RFC_ENTRIES),
        "an unverified size was recorded"
    );
    out.assert_no_other_errors(&[FetchErrorKind::BadSignature]);
}

#[test]
fn rfc_hanging_connection_hits_the_read_timeout() {
    // About time: the retry must come after the read timeout (300 ms), and well before the
    // log would have answered (2.5 s). The upper bound is loose for a loaded machine.
    let sim =
        start_sim("[[rule]]\nendpoint = \"entries\"\nlimit = 1\nfault = \"hang\"\nsecs = 2.5\n");
    let timeouts = Timeouts {
        read: Duration::from_millis(300),
        ..test_timeouts()
    };
    let out = drive(
        &sim,
        Drive {
            timeouts,
            ..Drive::rfc(RFC_ENTRIES)
        },
    );
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    let gap = retry_gap(&sim, RFC_LOG, ENTRIES);
    assert!(
        gap >= Duration::from_millis(280) && gap < Duration::from_millis(2000),
        "{gap:?}"
    );
    assert_eq!(fired(&sim), [1]);
    out.assert_errors(FetchErrorKind::Network, 1);
    out.assert_no_other_errors(&[FetchErrorKind::Network]);
}
