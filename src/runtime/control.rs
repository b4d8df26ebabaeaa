//! One server's lifecycle as typed messages: stop, reload, "bound", "exited" and liveness beats.
//!
//! Nothing here is process-wide, so several servers can run in one process, and nothing is
//! polled: every wait is on a channel that wakes its receiver (glommio wakers accept wake-ups
//! from other threads, so an executor task can wait on a [`flume`] channel the signal thread
//! sends to).
//!
//! # Invariants worth naming
//!
//! - A stop is a channel closing, not a message: [`ServerControl::stop`] drops the only sender
//!   of the stop channel, so every holder of a [`StopSignal`] (each executor's tasks, the
//!   starting thread, the watchdog) wakes at once, whenever it started waiting, and a stop can
//!   neither be lost to a full queue nor delivered twice.
//! - Every channel is bounded by construction: each executor sends at most one
//!   [`Event::Bound`] and one [`Event::Exited`]; reload requests coalesce into one pending.

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use arc_swap::ArcSwapOption;

use super::reload::LiveSettings;
use crate::config::Config;

/// The stop channel carries no message: only its closing matters.
pub enum Never {}

/// Waits for the stop of one server; clone it into every task that must wind down.
#[derive(Clone)]
pub struct StopSignal(flume::Receiver<Never>);

impl StopSignal {
    /// Completes once the server is asked to stop (at once if it already was).
    pub async fn wait(&self) {
        // The channel never carries a value: this only returns on disconnect.
        let _ = self.0.recv_async().await;
    }

    pub fn is_stopped(&self) -> bool {
        self.0.is_disconnected()
    }

    /// Blocks this (non-executor) thread until `deadline` or the stop; true when stopped.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        matches!(
            self.0.recv_deadline(deadline),
            Err(flume::RecvTimeoutError::Disconnected)
        )
    }

    pub(super) fn receiver(&self) -> &flume::Receiver<Never> {
        &self.0
    }
}

/// What an executor thread tells the thread that started it.
#[derive(Debug)]
pub enum Event {
    /// Its listener is bound: it accepts connections.
    Bound { core: usize },
    /// Its thread ended (normally, with an error, or by a panic). Before every executor is
    /// bound and without a stop, this is a boot failure; the thread's result says why.
    Exited { core: usize },
}

/// Sends [`Event::Exited`] when dropped, so a thread that returns early, fails or panics is
/// always noticed by the starting thread (which would otherwise wait for its `Bound`).
pub struct ExitNotice {
    pub core: usize,
    pub events: flume::Sender<Event>,
}

impl Drop for ExitNotice {
    fn drop(&mut self) {
        let _ = self.events.try_send(Event::Exited { core: self.core });
    }
}

/// Stop and reload for one server. Cheap to clone and `Send`: the signal thread holds one, the
/// [`super::Server`] another. It exists before the server starts, so a stop requested during
/// startup is never lost.
#[derive(Clone)]
pub struct ServerControl {
    shared: Arc<Shared>,
}

struct Shared {
    /// The only sender of the stop channel; dropped (set to `None`) by the stop.
    stop_tx: ArcSwapOption<flume::Sender<Never>>,
    stop_rx: flume::Receiver<Never>,
    /// A pending log-list reload for the coordinator (capacity 1: requests coalesce).
    reload_tx: flume::Sender<()>,
    reload_rx: flume::Receiver<()>,
    /// The access settings a reload republishes; set once the server has loaded them.
    live: OnceLock<LiveSettings>,
}

impl Default for ServerControl {
    fn default() -> Self {
        ServerControl::new()
    }
}

impl ServerControl {
    /// A control for one server (pass it to [`super::start_with`]).
    pub fn new() -> ServerControl {
        let (stop_tx, stop_rx) = flume::bounded(0);
        let (reload_tx, reload_rx) = flume::bounded(crate::limits::RELOAD_REQUESTS_PENDING_MAX);
        ServerControl {
            shared: Arc::new(Shared {
                stop_tx: ArcSwapOption::from_pointee(stop_tx),
                stop_rx,
                reload_tx,
                reload_rx,
                live: OnceLock::new(),
            }),
        }
    }

    /// Asks the server to stop: every executor closes its clients with 1001 and ends, and
    /// [`super::Server::wait`] saves the state file. Takes effect at the receivers' next
    /// scheduling round; calling it again does nothing.
    pub fn stop(&self) {
        if self.shared.stop_tx.swap(None).is_some() {
            super::notify_systemd("STOPPING=1");
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.shared.stop_rx.is_disconnected()
    }

    /// Reloads what can change live: the access settings from `fresh` (the configuration
    /// loaded again), applied here on the caller's thread, and the log list, which the
    /// coordinator loads again at its next scheduling round.
    pub fn reload(&self, fresh: Result<Config, String>) {
        match self.shared.live.get() {
            Some(live) => live.reload(fresh),
            None => tracing::warn!("reload requested before the server started; ignored"),
        }
        if self.shared.reload_tx.try_send(()).is_err() {
            tracing::info!("a log-list reload is already pending");
        }
    }

    pub fn stop_signal(&self) -> StopSignal {
        StopSignal(self.shared.stop_rx.clone())
    }

    /// The coordinator's end of the reload requests.
    pub(super) fn reload_requests(&self) -> flume::Receiver<()> {
        self.shared.reload_rx.clone()
    }

    /// Installs the settings later reloads apply to; a control serves one server only.
    pub(super) fn install(&self, live: LiveSettings) -> Result<(), super::BootError> {
        self.shared.live.set(live).map_err(|_| {
            super::BootError::Config("this ServerControl already started a server".into())
        })
    }
}
