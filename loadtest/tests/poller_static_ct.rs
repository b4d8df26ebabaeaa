//! The Static CT poller against the simulator's Static CT replay log (navigli2025h2's three
//! data tiles and five issuers), with faults from the simulator's fault schedule; see
//! `common/poller.rs` for what every scenario asserts.

#[path = "common/poller.rs"]
mod poller;

use std::time::Duration;

use certstream::{ct::poller::PollerTiming, limits, metrics::FetchErrorKind};
use poller::*;

const TILE_001: &str = "tile/data/001";

/// Paths of the data tiles requested, in arrival order.
fn tiles_requested(sim: &loadtest::sim::SimHandle) -> Vec<String> {
    requests_under(sim, STATIC_LOG, "tile/")
        .into_iter()
        .map(|r| r.path)
        .collect()
}

#[test]
fn tiled_full_and_partial_tiles() {
    let sim = start_sim("[[rule]]\nendpoint = \"checkpoint\"\nfault = \"head_size\"\nsize = 600\n");
    let out = drive(&sim, Drive::tiled(600));
    assert_exactly_once(&out, &tiled_expected(600, &[]), 0, &[]);
    let mut tiles = tiles_requested(&sim);
    tiles.sort();
    assert_eq!(
        tiles,
        ["tile/data/000", "tile/data/001", "tile/data/002.p/88"]
    );
    // Issuers are cached for good: each is fetched at most once per tile in flight (the
    // windows of one catch-up can miss the cache together), and every one is fetched.
    let mut distinct: Vec<String> = tiled_expected(600, &[])
        .iter()
        .flat_map(|s| s.chain.iter().map(|fp| format!("issuer/{}", hex(fp))))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    for path in &distinct {
        let n = requests(&sim, STATIC_LOG, path).len();
        assert!(
            (1..=limits::FETCHES_IN_FLIGHT_PER_LOG).contains(&n),
            "{path} fetched {n} times"
        );
    }
    assert!(requests_under(&sim, STATIC_LOG, "issuer/")
        .iter()
        .all(|r| distinct.contains(&r.path)));
    assert_eq!(tree_size(&out.log), 600);
    out.assert_no_other_errors(&[]);
}

#[test]
fn tiled_partial_tile_gone_falls_back_to_the_full_tile() {
    // Checkpoints say 300, then 400, then 768. Tile 1 exists as `.p/44` and in full, but its
    // `.p/144` is already gone (404) when the poller asks for it: the log has grown meanwhile.
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "checkpoint"
        limit = 3
        fault = "head_size"
        size = 300
        [[rule]]
        endpoint = "checkpoint"
        limit = 3
        fault = "head_size"
        size = 400
        [[rule]]
        endpoint = "tile"
        path = "tile/data/001.p/144"
        fault = "not_found"
        "#,
    );
    let out = drive(&sim, Drive::tiled(TILE_ENTRIES));
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    let tiles = tiles_requested(&sim);
    for tile in ["tile/data/001.p/44", "tile/data/001.p/144", TILE_001] {
        assert!(tiles.iter().any(|t| t == tile), "{tile}: {tiles:?}");
    }
    let fired = fired(&sim);
    assert_eq!(&fired[..2], [3, 3]);
    assert!(fired[2] >= 1, "the partial tile was gone");
    assert!(
        out.cursors.contains(&400),
        "the size-400 checkpoint was streamed up to exactly 400"
    );
    out.assert_no_other_errors(&[]);
}

#[test]
fn tiled_partial_tile_404_while_the_full_tile_does_not_exist_yet() {
    // A CDN that has not caught up: the partial tile of the tree's edge is 404 twice, and the
    // full tile cannot exist yet (the log holds 300 entries). The poller must go back to the
    // partial tile, not wait for a full tile that appears only 212 entries later.
    let sim = start_sim(
        "[[rule]]\nendpoint = \"tile\"\npath = \"tile/data/001.p/44\"\nlimit = 2\nfault = \"not_found\"\n",
    );
    sim.publish_prefix(STATIC_LOG, 300);
    let out = drive(
        &sim,
        Drive {
            deadline: Duration::from_secs(5),
            ..Drive::tiled(300)
        },
    );
    assert_exactly_once(&out, &tiled_expected(300, &[]), 0, &[]);
    assert_eq!(requests(&sim, STATIC_LOG, "tile/data/001.p/44").len(), 3);
    assert!(
        requests(&sim, STATIC_LOG, TILE_001)
            .iter()
            .all(|r| r.status == 404),
        "the full tile does not exist"
    );
    assert_eq!(fired(&sim), [2]);
    out.assert_errors(FetchErrorKind::Status, 2);
    out.assert_no_other_errors(&[FetchErrorKind::Status]);
}

#[test]
fn tiled_checkpoint_with_bad_signature_is_ignored() {
    // Bad checkpoints claim 768 while the only verified one says 300.
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "checkpoint"
        limit = 1
        fault = "bad_signature"
        [[rule]]
        endpoint = "checkpoint"
        limit = 2
        fault = "head_size"
        size = 300
        [[rule]]
        endpoint = "checkpoint"
        limit = 1
        fault = "bad_signature"
        "#,
    );
    let out = drive(&sim, Drive::tiled(TILE_ENTRIES));
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    assert_eq!(fired(&sim), [1, 2, 1]);
    let log = sim.requests();
    let honest = log
        .iter()
        .position(|r| r.path == CHECKPOINT && r.fault.is_none())
        .expect("a verified checkpoint of 768 was served");
    let past_300 = |p: &str| {
        p.starts_with("tile/data/002")
            || p == TILE_001
            || (p.starts_with("tile/data/001.p/") && p != "tile/data/001.p/44")
    };
    assert!(
        !log[..honest].iter().any(|r| past_300(&r.path)),
        "fetched past the verified checkpoint"
    );
    out.assert_errors(FetchErrorKind::BadSignature, 2);
    out.assert_no_other_errors(&[FetchErrorKind::BadSignature]);
}

#[test]
fn tiled_malformed_checkpoints_are_bad_responses() {
    // An HTML error page, another log's checkpoint (wrong origin, correctly signed), a 500;
    // then checkpoints of 600.
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "checkpoint"
        limit = 1
        fault = "invalid_json"
        [[rule]]
        endpoint = "checkpoint"
        limit = 1
        fault = "wrong_origin"
        [[rule]]
        endpoint = "checkpoint"
        limit = 1
        fault = "status"
        status = 500
        [[rule]]
        endpoint = "checkpoint"
        fault = "head_size"
        size = 600
        "#,
    );
    let out = drive(&sim, Drive::tiled(600));
    assert_exactly_once(&out, &tiled_expected(600, &[]), 0, &[]);
    assert_eq!(&fired(&sim)[..3], [1, 1, 1]);
    out.assert_errors(FetchErrorKind::BadResponse, 2);
    out.assert_errors(FetchErrorKind::Status, 1);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse, FetchErrorKind::Status]);
}

#[test]
fn tiled_checkpoint_going_backwards() {
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "checkpoint"
        limit = 2
        fault = "head_size"
        size = 600
        [[rule]]
        endpoint = "checkpoint"
        limit = 3
        fault = "head_size"
        size = 200
        "#,
    );
    let out = drive(&sim, Drive::tiled(TILE_ENTRIES));
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    assert!(requests(&sim, STATIC_LOG, CHECKPOINT).len() >= 6);
    assert_eq!(fired(&sim), [2, 3]);
    let tiles = tiles_requested(&sim);
    for tile in ["tile/data/000", "tile/data/001"] {
        let n = tiles.iter().filter(|t| t.starts_with(tile)).count();
        assert_eq!(n, 1, "{tile}: {tiles:?}");
    }
    out.assert_no_other_errors(&[]);
}

#[test]
fn tiled_missing_issuer_streams_the_chain_it_has() {
    let expected = tiled_expected(TILE_ENTRIES, &[]);
    // The last certificate of the first chain (the root): every entry references it.
    let root = *expected[0].chain.last().unwrap();
    let root_path = format!("issuer/{}", hex(&root));
    let sim = start_sim(&format!(
        "[[rule]]\nendpoint = \"issuer\"\npath = \"{root_path}\"\nfault = \"not_found\"\n"
    ));
    let out = drive(&sim, Drive::tiled(TILE_ENTRIES));
    let want = tiled_expected(TILE_ENTRIES, &[root]);
    assert!(
        want.iter().all(|s| !s.chain.is_empty()),
        "the intermediates still resolve"
    );
    assert_exactly_once(&out, &want, 0, &[]);
    // Asked once per tile that references it, not once per entry.
    let tiles_with_root = (0..3)
        .filter(|n| {
            expected[n * 256..(n + 1) * 256]
                .iter()
                .any(|s| s.chain.contains(&root))
        })
        .count();
    assert_eq!(
        requests(&sim, STATIC_LOG, &root_path).len(),
        tiles_with_root
    );
    out.assert_errors(FetchErrorKind::Status, tiles_with_root as u64);
    out.assert_no_other_errors(&[FetchErrorKind::Status]);
}

#[test]
fn tiled_garbage_tile_bodies_are_retried() {
    // Tile 1: claims gzip and is not; valid gzip of garbage; only 100 entries for the full
    // tile; the full tile with trailing junk; then the right tile.
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "tile"
        path = "tile/data/001"
        limit = 1
        fault = "bad_gzip"
        [[rule]]
        endpoint = "tile"
        path = "tile/data/001"
        limit = 1
        fault = "garbage_tile"
        [[rule]]
        endpoint = "tile"
        path = "tile/data/001"
        limit = 1
        fault = "short_tile"
        max_entries = 100
        [[rule]]
        endpoint = "tile"
        path = "tile/data/001"
        limit = 1
        fault = "tile_junk"
        "#,
    );
    let out = drive(&sim, Drive::tiled(TILE_ENTRIES));
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    assert_eq!(requests(&sim, STATIC_LOG, TILE_001).len(), 5);
    assert_eq!(fired(&sim), [1, 1, 1, 1]);
    assert_eq!(
        out.errors(FetchErrorKind::Network),
        1,
        "undecodable gzip is a transport error"
    );
    out.assert_errors(FetchErrorKind::BadResponse, 3);
    out.assert_no_other_errors(&[FetchErrorKind::Network, FetchErrorKind::BadResponse]);
}

#[test]
fn tiled_leaf_index_mismatch_is_retried_without_skipping() {
    // One entry of tile 1 claims the wrong index, three times; then tile 0's bytes are
    // served for tile 1 (every index wrong); then the right tile.
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "tile"
        path = "tile/data/001"
        limit = 3
        fault = "bad_leaf_index"
        entry = 10
        leaf_index = 999
        [[rule]]
        endpoint = "tile"
        path = "tile/data/001"
        limit = 1
        fault = "wrong_tile"
        "#,
    );
    let out = drive(&sim, Drive::tiled(TILE_ENTRIES));
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    assert_eq!(fired(&sim), [3, 1]);
    out.assert_errors(FetchErrorKind::BadResponse, 4);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}

/// Tile 1's entry 200 claims index 7 on every request: the log serves the same broken bytes.
const TILE_1_BROKEN_AT_200: &str = r#"
    [[rule]]
    endpoint = "tile"
    path = "tile/data/001"
    fault = "bad_leaf_index"
    entry = 200
    leaf_index = 7
"#;

#[test]
fn tiled_tile_broken_for_good_is_read_up_to_the_break_and_the_rest_reported() {
    // Once the break is confirmed, entries 256..=455 stream, 456..=511 (which cannot be
    // located in the tile) are skipped and reported, and tile 2 streams as usual.
    let sim = start_sim(TILE_1_BROKEN_AT_200);
    let out = drive(&sim, Drive::tiled(TILE_ENTRIES));
    let skipped: Vec<u64> = (456..512).collect();
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &skipped);
    assert!(
        requests(&sim, STATIC_LOG, TILE_001).len() >= limits::BROKEN_TILE_REPEATS as usize,
        "the tile is fetched again until the break is confirmed"
    );
    let recent = out.log.progress.skipped_recent();
    assert_eq!(
        recent.iter().map(|e| e.index).collect::<Vec<_>>(),
        (480..512).collect::<Vec<_>>(),
        "the newest skips are listed"
    );
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}

#[test]
fn tiled_tile_broken_only_until_the_confirmation_time_is_never_skipped() {
    // The same broken bytes, many times, but for less than the confirmation time: then the
    // right tile. Nothing may be skipped.
    let sim = start_sim(&format!("{TILE_1_BROKEN_AT_200}limit = 8\n"));
    let out = drive(
        &sim,
        Drive {
            timing: PollerTiming {
                broken_tile_confirm_after: Duration::from_secs(60),
                ..fast_timing()
            },
            ..Drive::tiled(TILE_ENTRIES)
        },
    );
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    assert_eq!(fired(&sim), [8]);
    out.assert_errors(FetchErrorKind::BadResponse, 8);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}
