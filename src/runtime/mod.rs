//! Pinned executors, the cross-core rings, log ownership, start and stop.
//!
//! [`start`] builds every ring before any executor starts (glommio's advice: create channels
//! early, connect them as soon as the executors start, keep them alive), then starts one
//! executor per CPU of the affinity mask, each pinned with `Placement::Fixed`, and returns a
//! [`Server`] once every executor accepts connections. Executor 0 also runs the coordinator,
//! which loads the log lists ([`log_sources`]) and assigns each log to exactly one executor.
//!
//! Start, stop, reload and liveness are messages of one server ([`control`]), never
//! process-wide flags, so two servers can run in one process and every wait wakes when its
//! message comes:
//!
//! ```text
//! signal thread ── ServerControl::stop ──▶ stop channel closes ─▶ every executor's tasks wake
//!               └─ ServerControl::reload ─▶ access settings (here) + reload request ─▶ coordinator
//! executor k ── Event::Bound / Event::Exited ─▶ the starting thread (start, then Server::wait)
//!            └─ beat (every second) ─▶ watchdog thread ─▶ WATCHDOG=1 while every core beats
//! ```
//!
//! The start waits for "every executor bound" OR "a stop" OR "an executor ended" (a failure:
//! it could not be created, could not bind, panicked): a failure stops the executors already
//! running and is returned as a [`BootError`] saying how to fix it; a stop ends the start
//! early and [`Server::wait`] then winds down as after any stop.
//!
//! Test-only hook: `CERTSTREAM_TEST_EXECUTOR_START_DELAY_MS=N` (read once per start) makes
//! executor `k` wait `k × N` ms (stop-aware, at most
//! [`limits::TEST_EXECUTOR_START_DELAY_MAX`]) before it is created, so the end-to-end tests
//! can send a stop while executors are still being created; real starts take milliseconds,
//! too short to aim a signal at.

pub mod control;
pub mod coordinator;
pub mod log_sources;
pub mod mesh;
pub mod reload;
pub mod shard;
pub mod store_feed;

use std::{
    net::SocketAddr,
    sync::Arc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use glommio::{LocalExecutorBuilder, Placement};

use control::{Event, ExitNotice};
pub use control::{ServerControl, StopSignal};

use crate::{
    config::{Config, OnBadState},
    limits,
    state::{Position, State},
    ws::AccessSource,
};

fn notify_systemd(state: &str) {
    if let Err(e) = crate::systemd::notify(state) {
        tracing::warn!("sd_notify {state:?} failed: {e}");
    }
}

/// What can stop the server from starting, each with what to do about it.
#[derive(Debug)]
pub enum BootError {
    Config(String),
    Listen(SocketAddr, std::io::Error),
    /// An io_uring executor could not be created.
    Executor(String),
    /// More executors asked for than CPUs this process may run on.
    Workers {
        requested: usize,
        cpus: Vec<usize>,
    },
    /// An executor ended while starting without saying why (a panic, a wedged start).
    ExecutorEnded(String),
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
                 memlock must be at least 512 KiB per process: `ulimit -l`, or LimitMEMLOCK= \
                 under systemd)"
            ),
            BootError::Workers { requested, cpus } => write!(
                f,
                "--workers {requested} is more than the {} CPU(s) this process may run on \
                 (CPUs {}): thread-per-core runs at most one executor per CPU; pass --workers \
                 {} or fewer (0 means one per CPU), or widen the CPU affinity (taskset, \
                 CPUAffinity= under systemd)",
                cpus.len(),
                cpu_list(cpus),
                cpus.len()
            ),
            BootError::ExecutorEnded(e) => write!(f, "an executor ended while starting: {e}"),
        }
    }
}

impl std::error::Error for BootError {}

fn cpu_list(cpus: &[usize]) -> String {
    let ids: Vec<String> = cpus.iter().map(ToString::to_string).collect();
    ids.join(", ")
}

/// The CPUs of this process's affinity mask, in order.
fn affinity_cpus() -> Vec<usize> {
    let cpus: Vec<usize> = core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default();
    if cpus.is_empty() {
        vec![0]
    } else {
        cpus
    }
}

/// The CPUs executors are pinned to, one executor per CPU: `workers == 0` means every CPU of
/// the affinity mask; more workers than CPUs is refused (two executors on one CPU would take
/// turns at the kernel's whim, each one's latency hostage to the other's work).
pub fn executor_cpus(workers: usize) -> Result<Vec<usize>, BootError> {
    cpus_for(workers, affinity_cpus())
}

fn cpus_for(workers: usize, mut mask: Vec<usize>) -> Result<Vec<usize>, BootError> {
    if workers > mask.len() {
        return Err(BootError::Workers {
            requested: workers,
            cpus: mask,
        });
    }
    if workers > 0 {
        mask.truncate(workers);
    }
    Ok(mask)
}

/// Everything one executor thread needs; `Send`, handed over before the executor exists.
pub struct ExecutorBoot {
    pub core: usize,
    pub config: Config,
    pub listen: SocketAddr,
    pub ends: mesh::CoreEnds,
    pub started: Instant,
    pub state: Arc<State>,
    pub access: Arc<AccessSource>,
    pub stop: StopSignal,
    /// Tells the starting thread "bound".
    pub events: flume::Sender<Event>,
    /// Executor 0 (the coordinator) only: log-list reload requests.
    pub reload: Option<flume::Receiver<()>>,
    /// Liveness beats for the systemd watchdog, when there is one.
    pub beats: Option<flume::Sender<usize>>,
}

/// The result of one executor thread: the cursors it had when it stopped publishing.
type ExecutorResult = Result<Vec<Position>, BootError>;

/// A started server: its executors run until [`Server::stop`] (or a stop through a
/// [`ServerControl`] clone), and [`Server::wait`] returns once they all ended.
pub struct Server {
    addr: SocketAddr,
    control: ServerControl,
    executors: Vec<JoinHandle<ExecutorResult>>,
    events: flume::Receiver<Event>,
    /// Executors whose thread ended (their `Exited` already received).
    exited: Vec<bool>,
    config: Config,
    state: Arc<State>,
    /// Taken by the watchdog thread once the server is READY.
    watchdog: Option<Watchdog>,
}

impl Server {
    /// The address every executor accepts connections on (the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops or reloads this server from any thread.
    pub fn control(&self) -> ServerControl {
        self.control.clone()
    }

    pub fn stop(&self) {
        self.control.stop();
    }

    /// See [`ServerControl::reload`].
    pub fn reload(&self, fresh: Result<Config, String>) {
        self.control.reload(fresh);
    }

    /// Waits until every executor has ended, then writes the state file (`--state-file`)
    /// with the exact cursors they stopped at. An executor that ends without a stop (it
    /// panicked or failed) stops the others, and its error is returned.
    pub fn wait(mut self) -> Result<(), BootError> {
        self.supervise();
        let mut failed = None;
        let mut positions = Vec::new();
        for (core, handle) in self.executors.drain(..).enumerate() {
            match join(core, handle) {
                Ok(p) => positions.extend(p),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        if failed.is_none() {
            save_final_state(&self.config, &self.state, &positions);
        }
        failed.map_or(Ok(()), Err)
    }

    /// Returns once every executor's thread ended.
    fn supervise(&mut self) {
        while self.exited.iter().any(|done| !done) {
            match self.events.recv() {
                Ok(Event::Exited { core }) => {
                    self.exited[core] = true;
                    if !self.control.is_stopped() {
                        tracing::error!(core, "an executor ended unexpectedly; stopping");
                        self.control.stop();
                    }
                }
                Ok(Event::Bound { .. }) => {}
                Err(_) => return,
            }
        }
    }
}

impl Drop for Server {
    /// A server dropped without [`Server::wait`] (say, a test that failed half-way) is stopped
    /// and its executors joined, so no executor outlives its handle.
    fn drop(&mut self) {
        if self.executors.is_empty() {
            return;
        }
        self.control.stop();
        for (core, handle) in self.executors.drain(..).enumerate() {
            let _ = join(core, handle);
        }
    }
}

/// Joins one executor thread, turning a panic into an error.
fn join(core: usize, handle: JoinHandle<ExecutorResult>) -> ExecutorResult {
    handle.join().unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(BootError::ExecutorEnded(format!(
            "executor {core} panicked: {reason}"
        )))
    })
}

/// Runs the server until a stop through `control`; returns once every executor has stopped
/// (the `certstream` command's whole life).
pub fn run(config: Config, control: ServerControl) -> Result<(), BootError> {
    start_with(config, control)?.wait()
}

/// [`start_with`] a fresh control (reach it later with [`Server::control`]).
pub fn start(config: Config) -> Result<Server, BootError> {
    start_with(config, ServerControl::new())
}

/// Starts the server and returns once every executor accepts connections, or earlier when
/// `control` asks for a stop (then [`Server::wait`] winds down). A boot failure stops the
/// executors already started and returns the error.
pub fn start_with(config: Config, control: ServerControl) -> Result<Server, BootError> {
    let boot = Boot::prepare(config, &control)?;
    let (listen, port_guard) = reserve_listen_addr(boot.config.listen)?;
    let mut server = boot.spawn_executors(listen, control)?;
    let outcome = wait_for_start(&mut server);
    drop(port_guard);
    match outcome {
        Startup::Bound => {
            announce(&server, &boot);
            start_watchdog(&mut server);
        }
        Startup::Stopped => tracing::info!("stopped while starting"),
        Startup::Failed(e) => {
            server.stop();
            let joined = server.wait();
            return Err(joined.err().unwrap_or(e));
        }
    }
    Ok(server)
}

/// What a start has checked and loaded before any executor exists.
struct Boot {
    config: Config,
    state: Arc<State>,
    access: Arc<AccessSource>,
    cpus: Vec<usize>,
    test_start_delay: Duration,
}

/// What [`check`] found usable: the CPUs to pin executors to and the access settings.
pub struct Checked {
    pub cpus: Vec<usize>,
    pub access: crate::ws::AccessSettings,
}

/// The checks a start makes before anything is created, and all that `--check-config` runs:
/// the cross-field rules, `--workers` against the CPUs, each log list file, and the tokens, limits
/// and TLS certificate and key.
pub fn check(config: &Config) -> Result<Checked, BootError> {
    config.validate().map_err(BootError::Config)?;
    let cpus = executor_cpus(config.workers)?;
    for source in config.log_list.iter().filter(|s| !log_sources::is_url(s)) {
        log_sources::read_list_file(source).map_err(|e| BootError::Config(e.to_string()))?;
    }
    let access = reload::access_settings(config).map_err(BootError::Config)?;
    Ok(Checked { cpus, access })
}

impl Boot {
    fn prepare(config: Config, control: &ServerControl) -> Result<Boot, BootError> {
        let Checked { cpus, access } = check(&config)?;
        let state = Arc::new(load_state(&config)?);
        let access = AccessSource::new(access);
        control.install(reload::LiveSettings::new(access.clone(), config.clone()))?;
        Ok(Boot {
            config,
            state,
            access,
            cpus,
            test_start_delay: test_start_delay(),
        })
    }

    /// Starts one thread per executor; a thread that cannot be spawned stops those before it.
    fn spawn_executors(
        &self,
        listen: SocketAddr,
        control: ServerControl,
    ) -> Result<Server, BootError> {
        let n = self.cpus.len();
        // Each executor sends at most Bound and Exited.
        let (events_tx, events) = flume::bounded(2 * n);
        let (beats, watchdog) = watchdog_beats(n).unzip();
        let started = Instant::now();
        let mut server = Server {
            addr: listen,
            control,
            executors: Vec::with_capacity(n),
            events,
            exited: Vec::with_capacity(n),
            config: self.config.clone(),
            state: self.state.clone(),
            watchdog,
        };
        for (core, ends) in mesh::Wiring::new(n).into_cores().into_iter().enumerate() {
            let boot = ExecutorBoot {
                core,
                config: self.config.clone(),
                listen,
                ends,
                started,
                state: self.state.clone(),
                access: self.access.clone(),
                stop: server.control.stop_signal(),
                events: events_tx.clone(),
                reload: (core == 0).then(|| server.control.reload_requests()),
                beats: beats.clone(),
            };
            let delay = self.test_start_delay * core as u32;
            match spawn_executor(self.cpus[core], delay, boot) {
                Ok(handle) => {
                    server.executors.push(handle);
                    server.exited.push(false);
                }
                Err(e) => {
                    server.stop();
                    let _ = server.wait();
                    return Err(BootError::Executor(format!("executor thread {core}: {e}")));
                }
            }
        }
        Ok(server)
    }
}

/// Starts executor `boot.core` on its own thread pinned to `cpu`, after `delay` (the test
/// hook; zero otherwise). Creating the executor (its io_uring rings) happens on that thread:
/// a failure is the thread's result, and its [`ExitNotice`] wakes the starting thread.
fn spawn_executor(
    cpu: usize,
    delay: Duration,
    boot: ExecutorBoot,
) -> std::io::Result<JoinHandle<ExecutorResult>> {
    let core = boot.core;
    std::thread::Builder::new()
        .name(format!("certstream-{core}"))
        .spawn(move || {
            let _exit = ExitNotice {
                core,
                events: boot.events.clone(),
            };
            if !delay.is_zero() && boot.stop.wait_until(Instant::now() + delay) {
                return Ok(Vec::new());
            }
            let executor = LocalExecutorBuilder::new(Placement::Fixed(cpu))
                .name(&format!("certstream-{core}"))
                .io_memory(limits::EXECUTOR_IO_MEMORY_BYTES)
                .spin_before_park(limits::EXECUTOR_SPIN_BEFORE_PARK)
                .make()
                .map_err(|e| BootError::Executor(format!("executor {core} on CPU {cpu}: {e}")))?;
            executor.run(shard::run(boot))
        })
}

/// How a start ended.
enum Startup {
    Bound,
    Stopped,
    Failed(BootError),
}

/// Waits for every executor's `Bound`, a stop, or an executor that ended (a failure), at most
/// [`limits::EXECUTORS_BIND_WAIT`]. Nothing is polled: each of those is a message.
fn wait_for_start(server: &mut Server) -> Startup {
    enum Woke {
        Event(Event),
        Stop,
        Gone,
    }
    let deadline = Instant::now() + limits::EXECUTORS_BIND_WAIT;
    let stop = server.control.stop_signal();
    let mut bound = vec![false; server.executors.len()];
    while bound.iter().any(|b| !b) {
        let woke = flume::Selector::new()
            .recv(&server.events, |e| e.map_or(Woke::Gone, Woke::Event))
            .recv(stop.receiver(), |_| Woke::Stop)
            .wait_deadline(deadline);
        match woke {
            Ok(Woke::Event(Event::Bound { core })) => bound[core] = true,
            Ok(Woke::Event(Event::Exited { core })) => {
                server.exited[core] = true;
                // An executor told to stop while starting ends early: that is no failure.
                if stop.is_stopped() {
                    return Startup::Stopped;
                }
                return Startup::Failed(BootError::ExecutorEnded(format!(
                    "executor {core} ended before it accepted connections"
                )));
            }
            Ok(Woke::Stop) => return Startup::Stopped,
            Ok(Woke::Gone) => {
                return Startup::Failed(BootError::ExecutorEnded("every executor ended".into()))
            }
            Err(_) => {
                let late: Vec<usize> = (0..bound.len()).filter(|&c| !bound[c]).collect();
                return Startup::Failed(BootError::ExecutorEnded(format!(
                    "executor(s) {late:?} did not bind within {:?}",
                    limits::EXECUTORS_BIND_WAIT
                )));
            }
        }
    }
    Startup::Bound
}

/// Says "listening" (only once every executor accepts connections) and READY.
fn announce(server: &Server, boot: &Boot) {
    let tls = boot.config.tls_cert.is_some();
    let (listen, cpus) = (server.addr, &boot.cpus);
    tracing::info!(%listen, tls, executors = cpus.len(), ?cpus, "listening");
    notify_systemd("READY=1\nSTATUS=streaming");
}

/// Reads the test-only start delay (see the module docs); zero when unset or unparsable.
fn test_start_delay() -> Duration {
    std::env::var("CERTSTREAM_TEST_EXECUTOR_START_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::ZERO, |ms| {
            Duration::from_millis(ms).min(limits::TEST_EXECUTOR_START_DELAY_MAX)
        })
}

/// Where executors send their liveness beats, when systemd asked for a watchdog (`None`
/// otherwise: then nobody beats).
fn watchdog_beats(executors: usize) -> Option<(flume::Sender<usize>, Watchdog)> {
    let every = crate::systemd::watchdog_interval()?;
    let (tx, beats) = flume::bounded(executors * limits::WATCHDOG_BEATS_QUEUED_PER_EXECUTOR);
    Some((tx, Watchdog { beats, every }))
}

/// The watchdog's side of the beats, until [`start_watchdog`] hands it to its thread.
struct Watchdog {
    beats: flume::Receiver<usize>,
    every: Duration,
}

/// Pings the systemd watchdog while every executor keeps beating; a stuck executor stops the
/// pings, and systemd restarts the service. Started once the server is READY.
fn start_watchdog(server: &mut Server) {
    let Some(Watchdog { beats, every }) = server.watchdog.take() else {
        return;
    };
    let (executors, stop) = (server.executors.len(), server.control.stop_signal());
    let spawned = std::thread::Builder::new()
        .name("certstream-watchdog".into())
        .spawn(move || watchdog(executors, every, &beats, &stop));
    if let Err(e) = spawned {
        tracing::warn!("cannot start the watchdog thread: {e}");
    }
}

/// The watchdog thread: takes beats as they come, pings every `every` while all are recent,
/// ends at the stop.
fn watchdog(executors: usize, every: Duration, beats: &flume::Receiver<usize>, stop: &StopSignal) {
    enum Woke {
        Beat(usize),
        Stop,
    }
    let start = Instant::now();
    let mut last_beat = vec![start; executors];
    let mut next_ping = start + every;
    loop {
        let woke = flume::Selector::new()
            .recv(beats, |b| b.map_or(Woke::Stop, Woke::Beat))
            .recv(stop.receiver(), |_| Woke::Stop)
            .wait_deadline(next_ping);
        match woke {
            Ok(Woke::Beat(core)) => {
                if let Some(at) = last_beat.get_mut(core) {
                    *at = Instant::now();
                }
            }
            Ok(Woke::Stop) => return,
            Err(_) => {
                let now = Instant::now();
                if last_beat
                    .iter()
                    .all(|at| now.duration_since(*at) <= limits::EXECUTOR_BEAT_WINDOW)
                {
                    notify_systemd("WATCHDOG=1");
                } else {
                    tracing::error!("an executor stopped beating; withholding the watchdog ping");
                }
                next_ping = now + every;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_one_per_cpu_of_the_mask_at_most() {
        let mask = vec![2, 5, 7];
        assert_eq!(cpus_for(0, mask.clone()).unwrap(), [2, 5, 7], "0 = all");
        assert_eq!(cpus_for(2, mask.clone()).unwrap(), [2, 5]);
        assert_eq!(cpus_for(3, mask.clone()).unwrap(), [2, 5, 7]);
        let err = cpus_for(4, mask).unwrap_err().to_string();
        assert!(
            err.contains("--workers 4 is more than the 3 CPU(s)") && err.contains("CPUs 2, 5, 7"),
            "{err}"
        );
    }

    #[test]
    fn a_stop_wakes_every_waiter_and_is_idempotent() {
        let control = ServerControl::new();
        let signal = control.stop_signal();
        assert!(!signal.is_stopped() && !control.is_stopped());
        let far = Instant::now() + Duration::from_secs(60);
        let waiter = {
            let signal = signal.clone();
            std::thread::spawn(move || signal.wait_until(far))
        };
        control.clone().stop();
        control.stop();
        assert!(
            waiter.join().unwrap(),
            "woken by the stop, not the deadline"
        );
        assert!(signal.is_stopped() && control.is_stopped());
        let soon = Instant::now() + Duration::from_millis(1);
        assert!(
            !ServerControl::new().stop_signal().wait_until(soon),
            "no stop: the deadline ends the wait"
        );
    }

    #[test]
    fn reload_requests_coalesce_into_one_pending() {
        let control = ServerControl::new();
        let requests = control.reload_requests();
        for _ in 0..3 {
            control.reload(Err("not started".into()));
        }
        assert_eq!(requests.len(), limits::RELOAD_REQUESTS_PENDING_MAX);
    }

    #[test]
    fn a_stop_during_startup_wakes_an_executor_task() {
        let control = ServerControl::new();
        let signal = control.stop_signal();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            control.stop();
        });
        let ex = LocalExecutorBuilder::new(Placement::Unbound)
            .make()
            .unwrap();
        // A foreign wake-up: the stop comes from another thread, the waiter is a glommio task.
        ex.run(async move { signal.wait().await });
        stopper.join().unwrap();
    }
}
