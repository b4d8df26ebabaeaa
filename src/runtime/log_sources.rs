//! The `--log-list` sources (by default Google's list and Apple's), each loaded, validated and
//! refreshed on its own: one that fails never holds up or empties the others.
//!
//! A source is a URL (fetched) or a file (read). What one load does with a failure depends on
//! whether the source has a list in force:
//!
//! | source has | the load fails | outcome |
//! |---|---|---|
//! | a list in force | any way | the list in force stays (a transient failure must not retire logs); logged as an error |
//! | nothing yet, a copy in the binary | any way | the embedded copy ([`embedded_copy`]: the two default URLs); logged as a warning |
//! | nothing yet, no copy | any way | skipped, logged as a warning |
//!
//! A source with no list, or only its embedded copy, is tried again within
//! [`limits::LOG_LIST_RETRY`] rather than at the next refresh: a list down at boot (or a network
//! not up yet) should not cost an hour of its logs, or an hour on a months-old copy.
//!
//! The loads of one round run concurrently, so a list that hangs costs the others nothing
//! beyond the request timeout of its own fetch.

use std::{future::Future, pin::Pin, sync::Arc, task::Poll, time::Duration};

use crate::{
    ct::{
        http::HttpClient,
        log_list::{embedded_copy, parse_log_list, ListLoadError, LogList},
        log_lists::NamedList,
    },
    limits,
};

/// Whether a log list source is fetched over HTTP(S) rather than read from a file.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Reads and parses a log list file (also used at boot, where a bad path is fatal).
pub fn read_list_file(path: &str) -> Result<LogList, ListLoadError> {
    let read_error = |error| ListLoadError::Read {
        path: path.to_string(),
        error,
    };
    let body = std::fs::read(path).map_err(read_error)?;
    parse_log_list(&body).map_err(|error| ListLoadError::File {
        path: path.to_string(),
        error,
    })
}

async fn fetch_list(http: &HttpClient, url: &str) -> Result<LogList, ListLoadError> {
    let resp = http.get(url).await.map_err(ListLoadError::Fetch)?;
    if resp.status != 200 {
        return Err(ListLoadError::Status(resp.status));
    }
    parse_log_list(&resp.body).map_err(ListLoadError::Body)
}

/// Loads one source as it is now: a file read, or a URL fetched.
pub async fn load_source(http: &HttpClient, source: &str) -> Result<LogList, ListLoadError> {
    if is_url(source) {
        fetch_list(http, source).await
    } else {
        read_list_file(source)
    }
}

/// One source and the list in force from it.
struct Slot {
    /// The source as configured; it names the list in logs, `/health/deep` and `/metrics`.
    name: Arc<str>,
    in_force: Option<LogList>,
    /// The list in force was loaded from the source (not the embedded copy).
    loaded: bool,
}

/// Every configured source, in the order given (which decides merge conflicts).
pub struct LogSources {
    slots: Vec<Slot>,
}

impl LogSources {
    pub fn new(sources: &[String]) -> LogSources {
        let slots = sources
            .iter()
            .map(|s| Slot {
                name: s.as_str().into(),
                in_force: None,
                loaded: false,
            })
            .collect();
        LogSources { slots }
    }

    /// Loads every source again, concurrently, and settles each outcome (see the module docs).
    pub async fn load(&mut self, http: &HttpClient) {
        let loads = self
            .slots
            .iter()
            .map(|slot| load_source(http, &slot.name))
            .collect();
        let results = join_all(loads).await;
        for (slot, result) in self.slots.iter_mut().zip(results) {
            slot.settle(result);
        }
    }

    /// The lists in force, named, in the order given; sources with none are left out.
    pub fn in_force(&self) -> Vec<NamedList<'_>> {
        self.slots
            .iter()
            .filter_map(|s| s.in_force.as_ref().map(|list| (&s.name, list)))
            .collect()
    }

    /// Whether some source has not loaded yet: it has no list in force, or only its embedded
    /// copy (it is then tried again sooner).
    pub fn incomplete(&self) -> bool {
        self.slots.iter().any(|s| !s.loaded)
    }

    /// When to load again: the configured period, or sooner while a source has not loaded.
    pub fn next_load_in(&self, period: Duration) -> Duration {
        if self.incomplete() {
            period.min(limits::LOG_LIST_RETRY)
        } else {
            period
        }
    }
}

impl Slot {
    fn settle(&mut self, result: Result<LogList, ListLoadError>) {
        let name = &self.name;
        match result {
            Ok(list) => {
                for reason in &list.skipped {
                    tracing::warn!(list = %name, "log list entry skipped: {reason}");
                }
                tracing::info!(list = %name, version = %list.version, listed = list.logs.len(), "log list loaded");
                self.in_force = Some(list);
                self.loaded = true;
            }
            Err(error) if self.in_force.is_some() => {
                let error = ListLoadError::RefreshFailed {
                    source: name.to_string(),
                    error: Box::new(error),
                };
                tracing::error!("{error}");
            }
            Err(error) => self.in_force = first_load_failed(name, &error),
        }
    }
}

/// A source that never loaded failed again: its embedded copy if it has one, else nothing.
fn first_load_failed(name: &str, error: &ListLoadError) -> Option<LogList> {
    let retry = limits::LOG_LIST_RETRY.as_secs();
    let Some(copy) = embedded_copy(name) else {
        tracing::warn!(list = %name, "log list not loaded ({error}); skipped, tried again within {retry} s");
        return None;
    };
    match parse_log_list(copy) {
        Ok(list) => {
            tracing::warn!(list = %name, version = %list.version, "cannot load the log list ({error}); using the embedded copy, tried again within {retry} s");
            Some(list)
        }
        Err(e) => {
            tracing::error!(list = %name, "{}", ListLoadError::Embedded(e));
            None
        }
    }
}

/// Runs every future to completion, concurrently on this task; outputs in the input order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (future, out) in pending.iter_mut().zip(done.iter_mut()) {
            if out.is_none() {
                if let Poll::Ready(value) = future.as_mut().poll(cx) {
                    *out = Some(value);
                }
            }
        }
        if done.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::log_list::{APPLE_LOG_LIST_URL, GOOGLE_LOG_LIST_URL};

    fn failed() -> ListLoadError {
        ListLoadError::Status(503)
    }

    fn small_list() -> LogList {
        let path = format!(
            "{}/loadtest/fixtures/ctdata/loglists/ctgo_testdata_loglist3.json",
            env!("CARGO_MANIFEST_DIR")
        );
        read_list_file(&path).unwrap()
    }

    fn sources(names: &[&str]) -> LogSources {
        LogSources::new(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn a_failed_first_load_falls_back_to_that_lists_own_copy_or_skips() {
        let mut s = sources(&[
            GOOGLE_LOG_LIST_URL,
            APPLE_LOG_LIST_URL,
            "https://x.example/l",
        ]);
        for slot in &mut s.slots {
            slot.settle(Err(failed()));
        }
        let versions: Vec<(&str, &str)> = s
            .in_force()
            .iter()
            .map(|(name, list)| (&***name, list.version.as_str()))
            .collect();
        assert_eq!(
            versions,
            [(GOOGLE_LOG_LIST_URL, "81.14"), (APPLE_LOG_LIST_URL, "511")]
        );
        assert!(
            s.incomplete(),
            "two on their embedded copies, the third has nothing"
        );
        let hour = Duration::from_secs(3600);
        assert_eq!(s.next_load_in(hour), limits::LOG_LIST_RETRY);
        assert_eq!(
            s.next_load_in(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        s.slots[2].settle(Ok(small_list()));
        s.slots[0].settle(Ok(small_list()));
        assert!(s.incomplete(), "Apple's still on its embedded copy");
        s.slots[1].settle(Err(failed()));
        assert_eq!(s.in_force()[1].1.version, "511", "the copy stays in force");
        s.slots[1].settle(Ok(small_list()));
        assert!(!s.incomplete());
        assert_eq!(s.next_load_in(hour), hour);
    }

    #[test]
    fn a_failed_refresh_keeps_the_list_in_force_and_a_success_replaces_it() {
        let mut s = sources(&[GOOGLE_LOG_LIST_URL, "/etc/lists/b.json"]);
        s.slots[0].settle(Ok(small_list()));
        s.slots[1].settle(Ok(small_list()));
        s.slots[0].settle(Err(failed()));
        s.slots[1].settle(Err(failed()));
        let versions: Vec<&str> = s.in_force().iter().map(|(_, l)| &*l.version).collect();
        assert_eq!(
            versions,
            ["9.4", "9.4"],
            "not the embedded copy: the list in force"
        );
        let mut fresh = small_list();
        fresh.version = "9.5".into();
        s.slots[1].settle(Ok(fresh));
        let versions: Vec<&str> = s.in_force().iter().map(|(_, l)| &*l.version).collect();
        assert_eq!(versions, ["9.4", "9.5"]);
    }

    #[test]
    fn join_all_keeps_the_input_order() {
        let futures: Vec<_> = (0..3u32)
            .map(|i| async move {
                for _ in 0..(3 - i) {
                    futures_lite::future::yield_now().await;
                }
                i
            })
            .collect();
        assert_eq!(futures_lite::future::block_on(join_all(futures)), [0, 1, 2]);
    }
}
