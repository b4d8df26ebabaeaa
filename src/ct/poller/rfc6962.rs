//! The RFC 6962 poller: get-sth, then get-entries from the cursor to the tree size.

use std::{cell::Cell, rc::Rc};

use super::{
    fetch::{metric_kind, FetchError, LogClient},
    pipeline::{aligned_end, run_ordered, Aborted, Window},
    LogCtx, Page, PollerEnv, StopFlag,
};
use crate::{
    ct::{
        entry::LogEntry,
        error::DecodeFailure as _,
        rfc6962::{
            get_entries_url, get_sth_url, parse_get_entries, parse_sth, verify_sth, SignedTreeHead,
        },
        sig::SigError,
    },
    limits,
};

/// Follows one RFC 6962 log until stopped.
pub async fn run(env: Rc<PollerEnv>, log: Rc<LogCtx>, start_at: Option<u64>, stop: Rc<StopFlag>) {
    let client = LogClient::new(env, log, stop);
    let page = Rc::new(Cell::new(limits::GET_ENTRIES_BATCH));
    let head = || poll_head(&client);
    let catch = |next, size| catch_up(&client, &page, next, size);
    super::follow(&client, start_at, head, catch).await;
}

/// Fetches and verifies the STH; returns the tree size to stream up to (never smaller than
/// before), or None when stopped.
async fn poll_head(client: &LogClient) -> Option<u64> {
    let log = &client.log;
    let url = get_sth_url(&log.info.url);
    loop {
        let sth = client
            .get_with_retry("get-sth", &url, |body| Ok(parse_sth(&body)?), |_| false)
            .await
            .ok()?;
        match accept_sth(log, &sth) {
            Ok(size) => return Some(size),
            Err(e) => {
                log.stats.count_error(metric_kind(e.kind()));
                tracing::warn!(log = %log.info.description, "ignoring STH of size {}: signature does not verify: {e}", sth.tree_size);
                client.sleep_unless_stopped(client.env.poll_interval).await;
                if client.stop.is_stopped() {
                    return None;
                }
            }
        }
    }
}

/// Verifies `sth` and folds it into the log's known size. A smaller tree (load-balanced
/// frontends serve stale STHs) is "no news", never a rewind.
fn accept_sth(log: &LogCtx, sth: &SignedTreeHead) -> Result<u64, SigError> {
    verify_sth(sth, &log.info.key)?;
    Ok(log.progress.record_head(sth.tree_size, sth.timestamp_ms))
}

/// Streams `[cursor, size)`; returns the new cursor (or how far it got).
async fn catch_up(
    client: &Rc<LogClient>,
    page: &Rc<Cell<u64>>,
    cursor: u64,
    size: u64,
) -> Result<u64, Aborted> {
    let plan_page = page.clone();
    let fetch_client = client.clone();
    let fetch_page = page.clone();
    let fetch = move |w: Window| {
        let client = fetch_client.clone();
        let page = fetch_page.clone();
        async move { fetch_window(&client, &page, w).await }
    };
    let log = client.log.clone();
    let env = client.env.clone();
    let consume =
        move |w: Window, results: Vec<Result<LogEntry, crate::ct::rfc6962::EntryError>>| {
            super::consume_page(&*env.sink, &log, page_of(w, results))
        };
    run_ordered(
        cursor,
        size,
        limits::FETCHES_IN_FLIGHT_PER_LOG,
        move |s| aligned_end(s, plan_page.get()),
        fetch,
        consume,
    )
    .await
}

/// Fetches one window, retrying until it yields at least one entry.
async fn fetch_window(
    client: &LogClient,
    page: &Cell<u64>,
    w: Window,
) -> Result<Vec<Result<LogEntry, crate::ct::rfc6962::EntryError>>, FetchError> {
    let url = get_entries_url(&client.log.info.url, w.start, w.end);
    let requested = w.end - w.start + 1;
    let results = client
        .get_with_retry(
            "get-entries",
            &url,
            |body| Ok(parse_get_entries(&body, w.start, requested)?),
            |_| false,
        )
        .await?;
    learn_page_size(page, requested, results.len() as u64);
    Ok(results)
}

/// Learns the log's page cap from short answers and probes upwards again after full ones, so a
/// single dynamically truncated answer does not shrink the requests for good.
fn learn_page_size(page: &Cell<u64>, requested: u64, got: u64) {
    if got < requested {
        page.set(got.max(1).min(page.get()));
    } else if requested >= page.get() {
        page.set((page.get() * 2).min(limits::GET_ENTRIES_BATCH));
    }
}

/// The page a get-entries answer for window `w` makes: its decodable entries, and the
/// undecodable ones by index (skipped for good once the page is consumed).
fn page_of(w: Window, results: Vec<Result<LogEntry, crate::ct::rfc6962::EntryError>>) -> Page {
    let end = w.start + results.len() as u64;
    let mut entries = Vec::with_capacity(results.len());
    let mut undecodable = Vec::new();
    for r in results {
        match r {
            Ok(e) => entries.push(e),
            Err(err) => undecodable.push((err.index, err.to_string())),
        }
    }
    Page {
        start: w.start,
        end,
        entries,
        undecodable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_learning_shrinks_and_recovers() {
        let page = Cell::new(256);
        learn_page_size(&page, 256, 32);
        assert_eq!(page.get(), 32);
        learn_page_size(&page, 32, 32);
        assert_eq!(page.get(), 64);
        learn_page_size(&page, 10, 10);
        assert_eq!(
            page.get(),
            64,
            "a small window that was filled says nothing about the cap"
        );
        learn_page_size(&page, 64, 0);
        assert_eq!(page.get(), 1);
    }
}
