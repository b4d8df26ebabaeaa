//! Pinned executors, the cross-core rings, log ownership, start and stop.
//!
//! `run` builds every ring before any executor starts (glommio's advice: create channels early,
//! connect them as soon as the executors start, keep them alive), then starts one executor per
//! core pinned with `Placement::Fixed`. Executor 0 also runs the coordinator, which loads the
//! log list and assigns each log to exactly one executor.

pub mod coordinator;
pub mod mesh;
pub mod reload;
pub mod shard;

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    sync::Arc,
    time::{Duration, Instant},
};

use glommio::{LocalExecutorBuilder, Placement};

use crate::{
    config::{Config, OnBadState},
    state::{Position, State},
};

/// Set once by the signal thread; every executor polls it and winds down.
pub static SHUTDOWN: AtomicBool = AtomicBool::new(false);

/// Executors that stopped publishing at shutdown (phase 1 of the stop).
static PUBLISHERS_CLOSED: AtomicUsize = AtomicUsize::new(0);

/// Marks this executor's publisher closed and waits (bounded) until every executor's is, so
/// that no core sends its 1001 close while another could still publish into its rings.
pub async fn publishers_closed(executors: usize) {
    PUBLISHERS_CLOSED.fetch_add(1, Ordering::AcqRel);
    let deadline = Instant::now() + Duration::from_millis(500);
    while PUBLISHERS_CLOSED.load(Ordering::Acquire) < executors && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

/// Executors whose listener is bound; `run` announces the address only when all are.
static LISTENERS_BOUND: AtomicUsize = AtomicUsize::new(0);

/// Called by an executor once its listener is bound (or once it failed to start, so that the
/// wait ends and the failure is reported).
pub fn listener_bound() {
    LISTENERS_BOUND.fetch_add(1, Ordering::AcqRel);
}

/// Set by SIGHUP, taken by the coordinator: reload the log list. (The other live settings are
/// reloaded by [`reload::reload_access`].)
static RELOAD: AtomicBool = AtomicBool::new(false);

/// Asks for a reload of the live configuration (SIGHUP).
pub fn request_reload() {
    RELOAD.store(true, Ordering::Release);
}

/// Takes a pending reload request.
pub fn take_reload_request() -> bool {
    RELOAD.swap(false, Ordering::AcqRel)
}

/// Asks every executor to stop.
pub fn request_shutdown() {
    notify_systemd("STOPPING=1");
    SHUTDOWN.store(true, Ordering::Release);
}

fn notify_systemd(state: &str) {
    if let Err(e) = crate::systemd::notify(state) {
        tracing::warn!("sd_notify {state:?} failed: {e}");
    }
}

/// Last liveness beat (Unix ms) of each executor, set by its metrics task every second: a
/// control-plane atomic per core, written by that core only.
static EXECUTOR_BEATS: [AtomicU64; 1024] = [const { AtomicU64::new(0) }; 1024];

/// Called by executor `core` from its periodic task.
pub fn executor_beat(core: usize) {
    if let Some(b) = EXECUTOR_BEATS.get(core) {
        b.store(crate::metrics::unix_ms(), Ordering::Relaxed);
    }
}

/// Whether every one of `executors` beat within `window`.
fn executors_alive(executors: usize, window: Duration) -> bool {
    let now = crate::metrics::unix_ms();
    EXECUTOR_BEATS[..executors.min(EXECUTOR_BEATS.len())]
        .iter()
        .all(|b| now.saturating_sub(b.load(Ordering::Relaxed)) <= window.as_millis() as u64)
}

/// Pings the systemd watchdog while every executor keeps beating; a stuck executor stops the
/// pings, and systemd restarts the service.
fn start_watchdog(executors: usize) {
    let Some(every) = crate::systemd::watchdog_interval() else {
        return;
    };
    let window = 3 * crate::limits::METRICS_SNAPSHOT_INTERVAL;
    let spawned = std::thread::Builder::new()
        .name("certstream-watchdog".into())
        .spawn(move || {
            while !shutdown_requested() {
                if executors_alive(executors, window) {
                    notify_systemd("WATCHDOG=1");
                } else {
                    tracing::error!("an executor stopped beating; withholding the watchdog ping");
                }
                std::thread::sleep(every);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the watchdog thread: {e}");
    }
}

/// Whether a stop was requested.
pub fn shutdown_requested() -> bool {
    SHUTDOWN.load(Ordering::Acquire)
}

/// What can stop the server from starting, each with what to do about it.
#[derive(Debug)]
pub enum BootError {
    Config(String),
    Listen(SocketAddr, std::io::Error),
    Executor(String),
}

impl std::fmt::Display for BootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BootError::Config(e) => write!(f, "configuration error: {e}"),
            BootError::Listen(a, e) => write!(f, "cannot listen on {a}: {e}"),
            BootError::Executor(e) => write!(
                f,
                "cannot start an io_uring executor: {e} (io_uring must be allowed: check \
                 /proc/sys/kernel/io_uring_disabled and the container's seccomp profile; \
                 memlock must be at least 512 KiB: `ulimit -l`, or LimitMEMLOCK= under systemd)"
            ),
        }
    }
}

impl std::error::Error for BootError {}

/// The CPUs executors are pinned to, in order; `workers == 0` means one per available CPU.
pub fn executor_cpus(workers: usize) -> Vec<usize> {
    let cpus: Vec<usize> = core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default();
    let cpus = if cpus.is_empty() { vec![0] } else { cpus };
    let n = if workers == 0 { cpus.len() } else { workers };
    (0..n).map(|i| cpus[i % cpus.len()]).collect()
}

/// Runs the server until [`request_shutdown`]; returns once every executor has stopped.
pub fn run(config: Config) -> Result<(), BootError> {
    config.validate().map_err(BootError::Config)?;
    if !coordinator::is_url(&config.log_list) {
        coordinator::read_list_file(&config.log_list)
            .map_err(|e| BootError::Config(e.to_string()))?;
    }
    let state = Arc::new(load_state(&config)?);
    let access =
        crate::ws::AccessSource::new(reload::access_settings(&config).map_err(BootError::Config)?);
    let tls = config.tls_cert.is_some();
    reload::install(access.clone(), config.clone());
    let cpus = executor_cpus(config.workers);
    let (listen, port_guard) = reserve_listen_addr(config.listen)?;
    let started = Instant::now();
    let wiring = mesh::Wiring::new(cpus.len());
    let mut handles = Vec::with_capacity(cpus.len());
    for (core, ends) in wiring.into_cores().into_iter().enumerate() {
        let cfg = config.clone();
        let state = state.clone();
        let access = access.clone();
        let cpu = cpus[core];
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("certstream-{core}"))
            .io_memory(crate::limits::EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || async move {
                let result = shard::run(core, cfg, listen, ends, started, state, access).await;
                if result.is_err() {
                    listener_bound();
                }
                result
            })
            .map_err(|e| BootError::Executor(e.to_string()))?;
        handles.push(handle);
    }
    wait_until_bound(cpus.len());
    drop(port_guard);
    tracing::info!(%listen, tls, executors = cpus.len(), ?cpus, "listening");
    notify_systemd("READY=1\nSTATUS=streaming");
    start_watchdog(cpus.len());
    let mut failed = None;
    let mut positions = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(p)) => positions.extend(p),
            Ok(Err(e)) => failed = Some(e),
            Err(e) => failed = Some(BootError::Executor(e.to_string())),
        }
    }
    if failed.is_none() {
        save_final_state(&config, &state, &positions);
    }
    failed.map_or(Ok(()), Err)
}

/// Reads `--state-file`; a file that exists but cannot be used stops the boot unless
/// `--on-bad-state start-from-head` says to start without it (never silently).
fn load_state(config: &Config) -> Result<State, BootError> {
    let Some(path) = &config.state_file else {
        return Ok(State::default());
    };
    match State::load(path) {
        Ok(Some(state)) => {
            tracing::info!(path = %path.display(), logs = state.logs.len(), "resuming from the state file");
            Ok(state)
        }
        Ok(None) => Ok(State::default()),
        Err(e) if config.on_bad_state == OnBadState::StartFromHead => {
            tracing::error!("{e}; starting every log from --backfill as --on-bad-state says");
            Ok(State::default())
        }
        Err(e) => Err(BootError::Config(format!(
            "{e} (fix or remove it, or pass --on-bad-state start-from-head)"
        ))),
    }
}

/// Writes the exact cursors every executor had when it stopped publishing.
fn save_final_state(config: &Config, initial: &State, positions: &[Position]) {
    let Some(path) = &config.state_file else {
        return;
    };
    let mut state = initial.clone();
    let retain = crate::limits::STATE_RETAIN_GONE.as_millis() as u64;
    state.record(positions, crate::metrics::unix_ms(), retain);
    match state.save(path) {
        Ok(()) => tracing::info!(path = %path.display(), logs = positions.len(), "state saved"),
        Err(e) => tracing::error!(path = %path.display(), "cannot save the state file: {e}"),
    }
}

/// Waits (bounded) until every executor bound its listener, so that "listening" is only said
/// once connections are accepted; an executor that failed to start ends the wait early.
fn wait_until_bound(executors: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while LISTENERS_BOUND.load(Ordering::Acquire) < executors && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// For port 0 the kernel picks a port once, here, so that every executor binds the same one:
/// the returned socket is bound (not listening) with SO_REUSEPORT and only holds the port until
/// the executors have bound it too.
fn reserve_listen_addr(
    addr: SocketAddr,
) -> Result<(SocketAddr, Option<socket2::Socket>), BootError> {
    if addr.port() != 0 {
        return Ok((addr, None));
    }
    let err = |e| BootError::Listen(addr, e);
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .map_err(err)?;
    sock.set_reuse_port(true).map_err(err)?;
    sock.set_reuse_address(true).map_err(err)?;
    sock.bind(&addr.into()).map_err(err)?;
    let bound = sock.local_addr().map_err(err)?.as_socket().ok_or_else(|| {
        BootError::Listen(
            addr,
            std::io::Error::other("bound address is not an IP socket"),
        )
    })?;
    Ok((bound, Some(sock)))
}
