//! Pinned executors, the cross-core rings, log ownership, start and stop.
//!
//! `run` builds every ring before any executor starts (glommio's advice: create channels early,
//! connect them as soon as the executors start, keep them alive), then starts one executor per
//! core pinned with `Placement::Fixed`. Executor 0 also runs the coordinator, which loads the
//! log list and assigns each log to exactly one executor.

pub mod coordinator;
pub mod mesh;
pub mod shard;

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use glommio::{LocalExecutorBuilder, Placement};

use crate::config::Config;

/// Set once by the signal thread; every executor polls it and winds down.
pub static SHUTDOWN: AtomicBool = AtomicBool::new(false);

/// Executors whose listener is bound; `run` announces the address only when all are.
static LISTENERS_BOUND: AtomicUsize = AtomicUsize::new(0);

/// Called by an executor once its listener is bound (or once it failed to start, so that the
/// wait ends and the failure is reported).
pub fn listener_bound() {
    LISTENERS_BOUND.fetch_add(1, Ordering::AcqRel);
}

/// Asks every executor to stop.
pub fn request_shutdown() {
    SHUTDOWN.store(true, Ordering::Release);
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
        coordinator::read_list_file(&config.log_list).map_err(BootError::Config)?;
    }
    let cpus = executor_cpus(config.workers);
    let (listen, port_guard) = reserve_listen_addr(config.listen)?;
    let started = Instant::now();
    let wiring = mesh::Wiring::new(cpus.len());
    let mut handles = Vec::with_capacity(cpus.len());
    for (core, ends) in wiring.into_cores().into_iter().enumerate() {
        let cfg = config.clone();
        let cpu = cpus[core];
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("certstream-{core}"))
            .io_memory(crate::limits::EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || async move {
                let result = shard::run(core, cfg, listen, ends, started).await;
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
    tracing::info!(%listen, executors = cpus.len(), ?cpus, "listening");
    let mut failed = None;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e),
            Err(e) => failed = Some(BootError::Executor(e.to_string())),
        }
    }
    failed.map_or(Ok(()), Err)
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
