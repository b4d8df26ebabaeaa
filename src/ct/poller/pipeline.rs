//! An ordered fetch pipeline: several windows in flight, results consumed strictly in index
//! order, short results re-queued so that nothing is skipped.

use std::{collections::VecDeque, future::Future};

use glommio::{spawn_local, task::JoinHandle};

use super::fetch::FetchError;

/// An inclusive index range `[start, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u64,
    pub end: u64,
}

/// Why [`run_ordered`] stopped before the target, and the cursor it had reached: windows
/// consumed before the failure were emitted, so the caller must resume from `cursor`, not from
/// where it started, or it would emit them again.
#[derive(Debug)]
pub struct Aborted {
    pub cursor: u64,
    pub error: FetchError,
}

/// Fetches every index in `[cursor, target)` with at most `in_flight` requests outstanding.
///
/// - `plan(start)` gives the end (inclusive, `< target`) of the window starting at `start`.
/// - `fetch(window)` must retry transient failures itself; an `Err` aborts the pipeline (the
///   poller was stopped or the log told us something permanent).
/// - `consume(window, result)` emits what the result holds and returns the index after the last
///   entry it used (`> window.start`); anything left in the window is fetched again before any
///   later window is consumed.
///
/// Returns the new cursor, or how far it got when aborted.
pub async fn run_ordered<T, Fut>(
    mut cursor: u64,
    target: u64,
    in_flight: usize,
    plan: impl Fn(u64) -> u64,
    fetch: impl Fn(Window) -> Fut,
    mut consume: impl FnMut(Window, T) -> Result<u64, FetchError>,
) -> Result<u64, Aborted>
where
    T: 'static,
    Fut: Future<Output = Result<T, FetchError>> + 'static,
{
    let mut pending: VecDeque<(Window, JoinHandle<Result<T, FetchError>>)> = VecDeque::new();
    let mut planned = cursor;
    loop {
        while pending.len() < in_flight.max(1) && planned < target {
            let w = Window {
                start: planned,
                end: plan(planned).clamp(planned, target - 1),
            };
            pending.push_back((w, spawn_local(fetch(w)).detach()));
            planned = w.end + 1;
        }
        debug_assert!(
            windows_tile(&pending, cursor, planned),
            "the windows in flight cover {cursor}..{planned} exactly, in order"
        );
        debug_assert!(planned <= target.max(cursor), "never past the target");
        let Some((w, task)) = pending.pop_front() else {
            return Ok(cursor);
        };
        debug_assert_eq!(w.start, cursor, "windows are consumed in order");
        let result = match task.await {
            Some(r) => r,
            None => Err(FetchError::Stopped),
        };
        // Let the writers send this page before the next (possibly already fetched) one is
        // consumed: a catch-up must not outrun the clients' queues while they cannot run.
        futures_lite::future::yield_now().await;
        let next = match result.and_then(|value| consume(w, value)) {
            Ok(next) => next,
            Err(error) => {
                cancel_all(pending);
                return Err(Aborted { cursor, error });
            }
        };
        if next <= w.start || next > w.end + 1 {
            cancel_all(pending);
            // `consume` may have emitted up to `next`, but a window it overran is a bug in
            // the caller; resuming at the window's start could repeat, resuming past it skip.
            let error = FetchError::WindowOverrun {
                start: w.start,
                end: w.end,
                next,
            };
            return Err(Aborted { cursor, error });
        }
        cursor = next;
        let rest = split_rest(next, w.end, in_flight.max(1), &plan);
        for r in rest.into_iter().rev() {
            pending.push_front((r, spawn_local(fetch(r)).detach()));
        }
    }
}

/// Whether the windows of `pending` follow each other with no gap or overlap from `cursor` to
/// `planned` (exclusive): what makes consuming them front to back stream every index once.
fn windows_tile<T>(pending: &VecDeque<(Window, T)>, cursor: u64, planned: u64) -> bool {
    let mut next = cursor;
    for (w, _) in pending {
        if w.start != next || w.end < w.start {
            return false;
        }
        next = w.end + 1;
    }
    next == planned
}

/// The unconsumed tail `[next, end]` of a window, re-planned into at most `parts` windows (the
/// page size may have been learnt smaller since the window was planned).
fn split_rest(next: u64, end: u64, parts: usize, plan: &impl Fn(u64) -> u64) -> Vec<Window> {
    let mut rest = Vec::new();
    let mut s = next;
    while s <= end {
        let e = if rest.len() + 1 == parts {
            end
        } else {
            plan(s).clamp(s, end)
        };
        rest.push(Window { start: s, end: e });
        s = e + 1;
    }
    rest
}

fn cancel_all<T>(pending: VecDeque<(Window, JoinHandle<T>)>) {
    for (_, task) in pending {
        task.cancel();
    }
}

/// The end of the page-aligned window starting at `start` for a log serving `page` entries per
/// request: aligned windows hit the logs' cached fast path (Trillian `--align_getentries`).
pub fn aligned_end(start: u64, page: u64) -> u64 {
    let page = page.max(1);
    start - start % page + page - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::poller::fetch::DecodeError;
    use std::{cell::RefCell, rc::Rc};

    #[test]
    fn aligned_windows() {
        assert_eq!(aligned_end(0, 256), 255);
        assert_eq!(aligned_end(10, 256), 255);
        assert_eq!(aligned_end(256, 256), 511);
        assert_eq!(aligned_end(5, 1), 5);
    }

    #[test]
    fn windows_tile_only_without_gap_or_overlap() {
        let w = |start, end| (Window { start, end }, ());
        let pending: VecDeque<_> = [w(5, 9), w(10, 19)].into();
        assert!(windows_tile(&pending, 5, 20));
        assert!(!windows_tile(&pending, 4, 20), "gap before the first");
        assert!(
            !windows_tile(&pending, 5, 21),
            "ends before what was planned"
        );
        let gap: VecDeque<_> = [w(5, 9), w(11, 19)].into();
        assert!(!windows_tile(&gap, 5, 20));
        let overlap: VecDeque<_> = [w(5, 10), w(10, 19)].into();
        assert!(!windows_tile(&overlap, 5, 20));
        assert!(windows_tile(&VecDeque::<(Window, ())>::new(), 7, 7));
    }

    /// A fake log that serves at most `cap` entries per request and truncates some requests
    /// further; the pipeline must still deliver every index exactly once, in order.
    #[test]
    fn short_pages_never_skip_or_repeat() {
        glommio::LocalExecutor::default().run(async {
            let seen = Rc::new(RefCell::new(Vec::new()));
            let calls = Rc::new(RefCell::new(0u32));
            let calls2 = calls.clone();
            let fetch = move |w: Window| {
                let calls = calls2.clone();
                async move {
                    *calls.borrow_mut() += 1;
                    let n = *calls.borrow();
                    let cap = if n.is_multiple_of(3) { 7 } else { 32 };
                    let len = (w.end - w.start + 1).min(cap);
                    glommio::timer::sleep(std::time::Duration::from_micros(u64::from(n % 5) * 100))
                        .await;
                    Ok::<_, FetchError>((w.start..w.start + len).collect::<Vec<u64>>())
                }
            };
            let seen2 = seen.clone();
            let end = run_ordered(
                5,
                1000,
                3,
                |s| aligned_end(s, 50),
                fetch,
                |w, v: Vec<u64>| {
                    assert_eq!(v[0], w.start);
                    seen2.borrow_mut().extend_from_slice(&v);
                    Ok(w.start + v.len() as u64)
                },
            )
            .await
            .unwrap();
            assert_eq!(end, 1000);
            assert_eq!(*seen.borrow(), (5..1000).collect::<Vec<u64>>());
        });
    }

    #[test]
    fn a_stop_aborts_and_reports() {
        glommio::LocalExecutor::default().run(async {
            let fetch = |w: Window| async move {
                if w.start >= 20 {
                    Err(FetchError::Stopped)
                } else {
                    Ok(w.end - w.start + 1)
                }
            };
            let r = run_ordered(
                0,
                100,
                2,
                |s| aligned_end(s, 10),
                fetch,
                |w, n: u64| Ok(w.start + n),
            )
            .await;
            assert!(
                matches!(
                    r,
                    Err(Aborted {
                        cursor: 20,
                        error: FetchError::Stopped
                    })
                ),
                "{r:?}"
            );
        });
    }

    /// A failure after some windows were consumed reports how far they got, so that the
    /// caller resumes there instead of emitting them again.
    #[test]
    fn an_abort_reports_the_cursor_reached() {
        glommio::LocalExecutor::default().run(async {
            let fetch = |w: Window| async move { Ok::<_, FetchError>(w) };
            let consume = |w: Window, _: Window| {
                if w.start >= 30 {
                    Err(FetchError::BadResponse(DecodeError::NoLeafInWindow {
                        start: w.start,
                        end: w.end,
                    }))
                } else {
                    Ok(w.end + 1)
                }
            };
            let r = run_ordered(5, 100, 3, |s| aligned_end(s, 10), fetch, consume).await;
            assert!(
                matches!(
                    r,
                    Err(Aborted {
                        cursor: 30,
                        error: FetchError::BadResponse(_)
                    })
                ),
                "{r:?}"
            );
        });
    }
}
