//! One executor's root: its hub and sessions, the pollers of the logs it owns, its ring ends and
//! counters. Everything here is `!Send` and lives on its core.

use std::{
    cell::RefCell,
    collections::{HashMap, VecDeque},
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_lite::future::poll_once;
use glommio::{
    channels::shared_channel::{ConnectedReceiver, ConnectedSender},
    net::TcpListener,
    spawn_local,
    task::JoinHandle,
    timer::sleep,
};

use super::{
    control::{Event, StopSignal},
    coordinator,
    mesh::{Control, FrameBatch, PublisherBarrier},
    store_feed::StoreFeed,
    BootError, ExecutorBoot,
};
use crate::{
    api::{CertIndex, CoreApi, IndexFacts, RateCounters, RateSampler},
    cert,
    config::Config,
    ct::{
        entry::{EntrySource, LogEntry},
        http::{tls_config, HttpClient},
        log_list::{LogInfo, LogKind},
        poller::{
            self, Emitted, EntrySink, LogCtx, LogPosition, LogProgress, PollSlot, PollerEnv,
            StopFlag,
        },
    },
    frame::Frames,
    limits,
    metrics::{self, add, bump, CoreSnapshot, CoreStats, LogStats},
    replay::store::{LogAbout, StoreConfig},
    state::{Position, State},
    ws,
};

/// Encodes each page once and publishes it locally and to every other core. It never touches a
/// log's cursor: it tells the poller whether it took the page and which entries it could not
/// encode, and the poller advances the cursor.
pub struct Publisher {
    /// Set at shutdown once the final cursors are taken: later pages are refused (and are
    /// fetched again after the restart, their pollers do not advance past them), so the saved
    /// cursors are exact.
    closed: std::cell::Cell<bool>,
    hub: Rc<ws::Hub>,
    peers: Vec<ConnectedSender<FrameBatch>>,
    stats: Rc<CoreStats>,
    /// The replay store's writer, when `--replay-dir` is set.
    store: Option<Rc<StoreFeed>>,
    /// What the store records about each log (its URL above all), made once per log.
    store_about: RefCell<HashMap<[u8; 32], Rc<LogAbout>>>,
    /// `/api/cert`: every certificate published into this core's hub (with a store only).
    certs: Option<Rc<CertIndex>>,
}

impl EntrySink for Publisher {
    fn emit(&self, log: &LogCtx, entries: Vec<LogEntry>) -> Emitted {
        if self.closed.get() {
            return Emitted::Refused;
        }
        let mut unencodable = Vec::new();
        let batch = self.encode_page(log, &entries, &mut unencodable);
        if !batch.is_empty() {
            self.offer_to_store(log, &batch);
            self.publish(&batch);
        }
        Emitted::Taken { unencodable }
    }
}

impl Publisher {
    /// Encodes every entry once; those that cannot be encoded go to `unencodable` (index,
    /// reason), for the poller to record as skipped.
    fn encode_page(
        &self,
        log: &LogCtx,
        entries: &[LogEntry],
        unencodable: &mut Vec<(u64, String)>,
    ) -> FrameBatch {
        let mut out: Vec<Frames> = Vec::with_capacity(entries.len());
        for entry in entries {
            // Per entry: `seen` is when this certificate was parsed, not when its page arrived.
            let seen = seen_now().unwrap_or(0.0);
            let link = log.cert_link(entry.index);
            let source = EntrySource {
                log_id: log.info.log_id,
                url: &log.info.url,
                name: &log.info.description,
                cert_link: &link,
            };
            match cert::encode_entry(entry, &source, seen) {
                Ok(frames) => {
                    out.push(frames);
                    bump(&log.stats.entries);
                }
                Err(e) => unencodable.push((entry.index, e.to_string())),
            }
        }
        crate::frame::pack_contiguous(&mut out);
        out.into_iter().map(Arc::new).collect::<Vec<_>>().into()
    }

    fn offer_to_store(&self, log: &LogCtx, batch: &FrameBatch) {
        let Some(store) = &self.store else {
            return;
        };
        let info = &log.info;
        let about = Rc::clone(
            self.store_about
                .borrow_mut()
                .entry(info.log_id)
                .or_insert_with(|| {
                    Rc::new(LogAbout::new(&info.url, &info.description, &info.log_id))
                }),
        );
        store.offer(info.log_id, &about, batch);
    }

    /// To this core's sessions, and to every other core (a full ring drops and counts).
    fn publish(&self, batch: &FrameBatch) {
        self.publish_local(batch);
        for peer in &self.peers {
            if peer.try_send(batch.clone()).is_err() {
                bump(&self.stats.ring_drops);
                add(&self.stats.ring_dropped_frames, batch.len() as u64);
            }
        }
    }

    fn publish_local(&self, batch: &FrameBatch) {
        for frames in batch.iter() {
            self.hub.publish(frames.clone());
        }
        index_certs(self.certs.as_deref(), batch);
        add(&self.stats.frames_published, batch.len() as u64);
        self.hub.flush();
    }
}

/// Adds a batch published into this core's hub to its certificate index, if it keeps one.
fn index_certs(certs: Option<&CertIndex>, batch: &FrameBatch) {
    if let Some(certs) = certs {
        for frames in batch.iter() {
            certs.record(&frames.meta);
        }
    }
}

fn new_stats(info: &LogInfo) -> Rc<LogStats> {
    let kind = match info.kind {
        LogKind::Rfc6962 => "rfc6962",
        LogKind::StaticCt => "static",
    };
    LogStats::new(info.log_id, &info.url, &info.description, kind)
}

/// Runs a log's poller; when the log had one before (it left the list and came back), first
/// waits for that one to finish and resumes from the cursor it stopped at.
async fn start_poller(
    env: Rc<PollerEnv>,
    ctx: Rc<LogCtx>,
    start_at: Option<u64>,
    stop: Rc<StopFlag>,
    previous: Option<Poller>,
) {
    let start = match previous {
        Some(Poller { task, progress, .. }) => {
            // A stopped poller ends at its next request or sleep; it may still emit the page
            // it was fetching, which moves its cursor: read the cursor only once it is done.
            task.await;
            progress.position().resume_cursor().or(start_at)
        }
        None => start_at,
    };
    if stop.is_stopped() {
        return;
    }
    poller::run(env, ctx, start, stop).await;
}

/// Unix seconds with microsecond precision, for `seen`.
fn seen_now() -> Option<f64> {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(d.as_micros() as f64 / 1e6)
}

/// A poller: how to stop it, its counters, the log's position (which only the poller writes)
/// and its task.
struct Poller {
    stop: Rc<StopFlag>,
    stats: Rc<LogStats>,
    progress: Rc<LogProgress>,
    task: JoinHandle<()>,
}

impl Poller {
    /// Where the state file should resume this log, if the log ever had a position (a start
    /// cursor, or one set from its first tree head).
    fn position(&self) -> Option<Position> {
        saved_position(self.progress.position(), &self.stats.url)
    }
}

/// The executor's mutable state.
pub struct Shard {
    pub core: usize,
    pub cores: usize,
    pub config: Config,
    pub started: Instant,
    pub hub: Rc<ws::Hub>,
    pub stats: Rc<CoreStats>,
    pub env: Rc<PollerEnv>,
    pollers: RefCell<HashMap<[u8; 32], Poller>>,
    /// Pollers of logs that left the list, oldest first (at most [`limits::RETIRED_LOGS_MAX`]):
    /// a log that comes back resumes from the cursor its poller stopped at.
    retired: RefCell<VecDeque<([u8; 32], Poller)>>,
    peer_snapshots: RefCell<Vec<Option<Arc<CoreSnapshot>>>>,
    pub ws_ctx: RefCell<Option<Rc<ws::ServerContext>>>,
    /// The state loaded at start: saved cursors new logs resume from.
    pub state: Arc<State>,
    /// The replay store's writer, when `--replay-dir` is set: saved cursors never pass what
    /// it holds.
    store: Option<Rc<StoreFeed>>,
    /// `/api/cert`'s index of this core (with a store only); see [`crate::api`].
    certs: Option<Rc<CertIndex>>,
    /// `/api/stats` rates: this core's counters over the last seconds.
    rates: RefCell<RateSampler>,
}

impl Shard {
    /// Starts following `info` on this core. A log that left the list and came back resumes
    /// from where its previous poller stopped (after that poller has finished, so the two never
    /// overlap); otherwise from `start_at` (the state file) or the backfill setting.
    pub fn add_log(&self, info: LogInfo, start_at: Option<u64>, slot: PollSlot) {
        if self.pollers.borrow().contains_key(&info.log_id) {
            return;
        }
        let previous = self.take_retired(&info.log_id);
        let (stats, progress) = match &previous {
            Some(p) if p.stats.url == info.url => (p.stats.clone(), p.progress.clone()),
            // With a previous poller the start is where it stopped, known once it finished:
            // its successor sets it.
            _ => {
                let start = if previous.is_none() { start_at } else { None };
                let progress = LogProgress::new(info.log_id, &info.description, &info.url, start);
                (new_stats(&info), progress)
            }
        };
        stats.set_lists(info.lists.clone());
        let stop = Rc::new(StopFlag::default());
        let log_id = info.log_id;
        tracing::info!(log = %info.description, url = %info.url, core = self.core, resumed = previous.is_some(), "following log");
        let ctx = Rc::new(LogCtx {
            info,
            stats: stats.clone(),
            progress: progress.clone(),
            slot,
        });
        let task = spawn_local(start_poller(
            self.env.clone(),
            ctx,
            start_at,
            stop.clone(),
            previous,
        ))
        .detach();
        self.pollers.borrow_mut().insert(
            log_id,
            Poller {
                stop,
                stats,
                progress,
                task,
            },
        );
    }

    /// Stops following a log that left the list, keeping its poller (and so its cursor) in
    /// case the log comes back.
    pub fn retire_log(&self, log_id: &[u8; 32]) {
        let Some(poller) = self.pollers.borrow_mut().remove(log_id) else {
            return;
        };
        tracing::info!(log = %poller.stats.name, core = self.core, cursor = poller.progress.cursor(), "log left the list; poller stopped");
        poller.stop.stop();
        let mut retired = self.retired.borrow_mut();
        if retired.len() == limits::RETIRED_LOGS_MAX {
            retired.pop_front();
        }
        retired.push_back((*log_id, poller));
    }

    /// Records which lists have a followed log now (`/health/deep` and `/metrics` show them).
    pub fn set_lists(&self, log_id: &[u8; 32], lists: Vec<Arc<str>>) {
        if let Some(poller) = self.pollers.borrow().get(log_id) {
            poller.stats.set_lists(lists);
        }
    }

    fn take_retired(&self, log_id: &[u8; 32]) -> Option<Poller> {
        let mut retired = self.retired.borrow_mut();
        let i = retired.iter().position(|(id, _)| id == log_id)?;
        retired.remove(i).map(|(_, p)| p)
    }

    fn stop_all_pollers(&self) {
        for poller in self.pollers.borrow().values() {
            poller.stop.stop();
        }
    }

    /// The cursors of the logs this core follows, and of those that left the list, now. A
    /// log whose poller never had a position (no saved cursor, no tree head yet: say the log
    /// was down since the start) is left out: a cursor 0 in the state file would make the next
    /// start stream the whole log from its first entry.
    pub fn positions(&self) -> Vec<Position> {
        let pollers = self.pollers.borrow();
        let retired = self.retired.borrow();
        pollers
            .values()
            .chain(retired.iter().map(|(_, p)| p))
            .filter_map(Poller::position)
            .map(|mut position| {
                // Pages not yet in the replay store are fetched again after a crash.
                let unwritten = self
                    .store
                    .as_ref()
                    .and_then(|s| s.unwritten_from(&position.log_id));
                if let Some(first) = unwritten {
                    position.cursor = position.cursor.min(first);
                }
                position
            })
            .collect()
    }

    /// This core's counters, now.
    pub fn snapshot(&self) -> CoreSnapshot {
        let logs: Vec<_> = self
            .pollers
            .borrow()
            .values()
            .map(|p| p.progress.snapshot(&p.stats))
            .collect();
        let mut snap = CoreSnapshot::capture(self.core, &self.stats, logs);
        if let Some(ctx) = self.ws_ctx.borrow().as_ref() {
            snap.ws = ctx.snapshot();
        }
        snap.api = self.api_facts();
        snap
    }

    /// What `/api/stats` and `/api/logs` need of this core beyond its counters.
    fn api_facts(&self) -> CoreApi {
        CoreApi {
            rates: self.rates.borrow().rates(),
            store: self.store.as_ref().map(|s| s.facts()),
            cert_index: self.certs.as_ref().map(|c| IndexFacts {
                entries: c.len() as u64,
                capacity: c.capacity() as u64,
            }),
        }
    }

    /// Reads the counters `/api/stats` rates are made of (once per snapshot interval).
    fn sample_rates(&self) {
        let ws = self.ws_ctx.borrow().as_ref().map(|c| c.snapshot());
        let counters = RateCounters {
            certificates: self
                .pollers
                .borrow()
                .values()
                .map(|p| p.stats.entries.get())
                .sum(),
            messages: ws.as_ref().map_or(0, |w| w.frames_sent),
            bytes: ws.as_ref().map_or(0, |w| w.bytes_written),
        };
        self.rates.borrow_mut().sample(Instant::now(), counters);
    }

    /// `/api/stats`: the whole process, from this core's fresh snapshot and the others' latest.
    pub fn api_stats(&self) -> String {
        crate::api::stats_json(
            &self.all_snapshots(),
            metrics::ProcessFacts::read(self.started),
        )
    }

    /// `/api/logs`: every log's health and store range.
    pub fn api_logs(&self) -> String {
        crate::api::logs_json(
            &self.all_snapshots(),
            metrics::ProcessFacts::read(self.started),
        )
    }

    /// `/health/deep`: per-log state and lag, clients and uptime, as JSON.
    pub fn health_deep(&self) -> String {
        let snaps = self.all_snapshots();
        let facts = metrics::ProcessFacts::read(self.started);
        metrics::health_json(&snaps, facts)
    }

    fn all_snapshots(&self) -> Vec<CoreSnapshot> {
        let mut all = vec![self.snapshot()];
        all.extend(
            self.peer_snapshots
                .borrow()
                .iter()
                .flatten()
                .map(|s| (**s).clone()),
        );
        all.sort_by_key(|s| s.core);
        all
    }

    /// The whole process's counters: this core's fresh, the others' latest snapshots.
    pub fn metrics_text(&self) -> String {
        metrics::render(
            &self.all_snapshots(),
            metrics::ProcessFacts::read(self.started),
        )
    }
}

/// The executor's main future: starts the executor (rings, listener, pumps, pollers) unless
/// a stop comes first, then serves until the stop and winds down. Returns the cursors the
/// executor had when it stopped publishing.
pub async fn run(mut boot: ExecutorBoot) -> Result<Vec<Position>, BootError> {
    let barrier = std::mem::take(&mut boot.ends.barrier);
    let (core, stop) = (boot.core, boot.stop.clone());
    let starting = async { Some(start(boot).await) };
    let stopped = async {
        stop.wait().await;
        None
    };
    let Some(Some(running)) = futures_lite::future::or(starting, stopped)
        .await
        .transpose()?
    else {
        tracing::debug!(core, "stopped while starting");
        return Ok(Vec::new());
    };
    wait_for_shutdown(&stop).await;
    Ok(running.shut_down(&barrier).await)
}

/// A started executor: what its stop needs.
struct Running {
    shard: Rc<Shard>,
    publisher: Rc<Publisher>,
    server: JoinHandle<()>,
}

/// Wires the rings, starts the pumps and the listener (then says "bound"), the WebSocket
/// server, and on executor 0 the coordinator and the state saver. `None` when the stop came
/// first: wiring may complete without ever waiting, so the stop is checked (not awaited)
/// before anything is started.
async fn start(boot: ExecutorBoot) -> Result<Option<Running>, BootError> {
    let ExecutorBoot {
        core,
        config,
        listen,
        ends,
        started,
        state,
        access,
        stop,
        events,
        reload,
        beats,
    } = boot;
    let tls =
        tls_config(config.ca_file.as_deref()).map_err(|e| BootError::Config(e.to_string()))?;
    let hub = Rc::new(ws::Hub::with_default_limits());
    hub.filters()
        .set_dedup_window(Duration::from_secs(config.dedup_window));
    let stats = Rc::new(CoreStats::default());
    let ends = ends.connect().await;
    if stop.is_stopped() {
        return Ok(None);
    }
    let store_config = replay_store_config(&config);
    let store = store_config.clone().map(StoreFeed::start);
    let certs = store_config
        .as_ref()
        .map(|s| Rc::new(CertIndex::new(limits::cert_index_entries(s.max_age))));
    let publisher = Rc::new(Publisher {
        closed: std::cell::Cell::new(false),
        hub: hub.clone(),
        peers: ends.frames_out,
        stats: stats.clone(),
        store: store.clone(),
        store_about: RefCell::default(),
        certs: certs.clone(),
    });
    let env = Rc::new(PollerEnv {
        http: Rc::new(HttpClient::with_timeouts(tls, config.http_timeouts())),
        sink: publisher.clone(),
        backfill: config.backfill,
        poll_interval: Duration::from_millis(config.poll_interval_ms),
        clock_epoch: started,
        timing: config.poller_timing(),
    });
    let shard = Rc::new(Shard {
        core,
        cores: ends.cores,
        config: config.clone(),
        started,
        hub: hub.clone(),
        stats,
        env,
        pollers: RefCell::default(),
        retired: RefCell::default(),
        peer_snapshots: RefCell::new(vec![None; ends.cores]),
        ws_ctx: RefCell::new(None),
        state,
        store,
        certs,
        rates: RefCell::default(),
    });
    for rx in ends.frames_in {
        spawn_local(pump(rx, shard.clone())).detach();
    }
    start_snapshots(&shard, ends.snapshots_out, ends.snapshots_in, beats, &stop);
    let listener = TcpListener::bind(listen)
        .map_err(|e| BootError::Listen(listen, std::io::Error::other(e.to_string())))?;
    let _ = events.try_send(Event::Bound { core });
    let ws_ctx = Rc::new(ws_context(&shard, access, store_config));
    *shard.ws_ctx.borrow_mut() = Some(ws_ctx.clone());
    let server = spawn_local(ws::serve(listener, ws_ctx.clone())).detach();
    if let Some(rx) = ends.control_in {
        spawn_local(follow_control(rx, shard.clone())).detach();
    }
    if let Some(reload) = reload {
        let coordinator = coordinator::run(shard.clone(), ends.control_out, reload, stop.clone());
        spawn_local(coordinator).detach();
        if let Some(path) = config.state_file.clone() {
            spawn_local(save_state_periodically(shard.clone(), path, stop)).detach();
        }
    }
    Ok(Some(Running {
        shard,
        publisher,
        server,
    }))
}

impl Running {
    /// The stop, in the order (and within the bounds) that keeps the saved cursors exact and
    /// gives every client everything published before its 1001 close.
    async fn shut_down(self, barrier: &PublisherBarrier) -> Vec<Position> {
        let Running {
            shard,
            publisher,
            server,
        } = self;
        // Phase 1: stop fetching and publishing; what was published so far is what the
        // cursors say.
        shard.stop_all_pollers();
        publisher.closed.set(true);
        let positions = shard.positions();
        // Phase 2, once every core is past phase 1: the rings hold the last pages of the other
        // cores; give the pumps a moment to publish them, then every client gets a 1001 close
        // after everything published, and writers a moment to send it.
        barrier.all_closed().await;
        sleep(limits::SHUTDOWN_RING_DRAIN).await;
        shard.hub.publish_going_away();
        shard.hub.flush();
        sleep(limits::SHUTDOWN_FLUSH_GRACE).await;
        server.cancel();
        release_listener().await;
        positions
    }
}

/// Lets the cancelled server task be dropped and its in-flight accept be cancelled in the
/// kernel before the executor ends. Otherwise the ring's pending accept keeps the listening
/// socket alive (and accepting into its backlog) until the kernel's asynchronous ring teardown,
/// which matters when the process goes on (another server in it). Two reactor rounds, each a
/// short timer (a yield does not reach the reactor): one drops the task and queues the accept's
/// cancellation, the next submits it.
async fn release_listener() {
    for _ in 0..2 {
        sleep(limits::SHUTDOWN_LISTENER_RELEASE).await;
    }
}

/// Rewrites the state file from this core's cursors and the other cores' latest snapshots.
async fn save_state_periodically(shard: Rc<Shard>, path: std::path::PathBuf, stop: StopSignal) {
    let mut state = (*shard.state).clone();
    loop {
        if !sleep_unless_stopped(limits::STATE_SAVE_INTERVAL, &stop).await {
            return;
        }
        let mut positions = shard.positions();
        for snap in shard.peer_snapshots.borrow().iter().flatten() {
            positions.extend(
                snap.logs
                    .iter()
                    .filter_map(|l| saved_position(LogPosition::of_snapshot(l), &l.url)),
            );
        }
        state.record(
            &positions,
            metrics::unix_ms(),
            limits::STATE_RETAIN_GONE.as_millis() as u64,
        );
        if let Err(e) = state.save(&path) {
            tracing::error!(path = %path.display(), "cannot save the state file: {e}");
        }
    }
}

/// What the state file keeps of a log's position: its cursor, once the log has one (a log
/// that never had one is left out: a cursor 0 would stream the whole log after a restart).
fn saved_position(position: LogPosition, url: &str) -> Option<Position> {
    Some(Position {
        log_id: position.log_id,
        url: url.to_owned(),
        cursor: position.resume_cursor()?,
    })
}

/// The replay store's settings, when `--replay-dir` is set.
fn replay_store_config(config: &Config) -> Option<Rc<StoreConfig>> {
    let dir = config.replay_dir.clone()?;
    let mut store = StoreConfig::with_defaults(dir);
    store.max_bytes = config.replay_max_bytes;
    store.max_age = Duration::from_secs(config.replay_max_age_secs);
    Some(Rc::new(store))
}

fn ws_context(
    shard: &Rc<Shard>,
    access: Arc<ws::AccessSource>,
    store: Option<Rc<StoreConfig>>,
) -> ws::ServerContext {
    let weak = Rc::downgrade(shard);
    let weak_deep = weak.clone();
    let api = api_hooks(shard);
    let ctx = ws::ServerContext::new(shard.hub.clone(), ws::WsConfig::default());
    let ctx = match store {
        // Each executor takes its share of the cap (rounded up: at least one each).
        Some(store) => {
            let cores = shard.cores.max(1) as u64;
            ctx.with_replay(store, shard.config.replay_max_clients.div_ceil(cores))
        }
        None => ctx,
    };
    ctx.with_access(access)
        .with_api(api)
        .with_metrics_text(move |_| weak.upgrade().map(|s| s.metrics_text()).unwrap_or_default())
        .with_health_deep(move || {
            weak_deep
                .upgrade()
                .map(|s| s.health_deep())
                .unwrap_or_default()
        })
}

/// `/api/stats` and `/api/logs` rendered by the shard; its certificate index.
fn api_hooks(shard: &Rc<Shard>) -> ws::ApiHooks {
    let (for_stats, for_logs) = (Rc::downgrade(shard), Rc::downgrade(shard));
    ws::ApiHooks::new(
        move || {
            for_stats
                .upgrade()
                .map(|s| s.api_stats())
                .unwrap_or_default()
        },
        move || for_logs.upgrade().map(|s| s.api_logs()).unwrap_or_default(),
        shard.certs.clone(),
    )
}

/// Waits for the server's stop; wakes in the executor's next scheduling round after it.
async fn wait_for_shutdown(stop: &StopSignal) {
    stop.wait().await;
}

/// Sleeps for `period`; false (at once) when the stop comes first.
async fn sleep_unless_stopped(period: Duration, stop: &StopSignal) -> bool {
    let slept = async {
        sleep(period).await;
        true
    };
    let stopped = async {
        stop.wait().await;
        false
    };
    futures_lite::future::or(stopped, slept).await
}

/// Drains one incoming ring into the local hub. Writers wake once per flush, not once per
/// certificate; a flush happens at the latest every [`limits::PUMP_FLUSH_FRAMES`] frames, and
/// the pump then yields so the writers run before the next batch: a catch-up burst must never
/// pile up past a client's queue bound while its writer could not run.
async fn pump(rx: ConnectedReceiver<FrameBatch>, shard: Rc<Shard>) {
    while let Some(batch) = rx.recv().await {
        let mut n = publish_batch(&shard, &batch);
        while n < limits::PUMP_FLUSH_FRAMES as u64 {
            match poll_once(rx.recv()).await {
                Some(Some(more)) => n += publish_batch(&shard, &more),
                _ => break,
            }
        }
        add(&shard.stats.frames_published, n);
        shard.hub.flush();
        futures_lite::future::yield_now().await;
    }
}

fn publish_batch(shard: &Shard, batch: &FrameBatch) -> u64 {
    for frames in batch.iter() {
        shard.hub.publish(frames.clone());
    }
    index_certs(shard.certs.as_deref(), batch);
    batch.len() as u64
}

async fn follow_control(rx: ConnectedReceiver<Control>, shard: Rc<Shard>) {
    while let Some(msg) = rx.recv().await {
        apply_control(&shard, msg);
    }
}

/// Applies one coordinator decision on this core.
pub fn apply_control(shard: &Shard, msg: Control) {
    match msg {
        Control::AddLog {
            info,
            start_at,
            slot,
        } => shard.add_log(*info, start_at, slot),
        Control::RetireLog { log_id } => shard.retire_log(&log_id),
        Control::ListedIn { log_id, lists } => shard.set_lists(&log_id, lists),
    }
}

/// Sends this core's counters to the others every [`limits::METRICS_SNAPSHOT_INTERVAL`]
/// (and a liveness beat to the watchdog, if there is one) and keeps the others' latest.
fn start_snapshots(
    shard: &Rc<Shard>,
    senders: Vec<ConnectedSender<Arc<CoreSnapshot>>>,
    ins: Vec<ConnectedReceiver<Arc<CoreSnapshot>>>,
    beats: Option<flume::Sender<usize>>,
    stop: &StopSignal,
) {
    for rx in ins {
        let shard = shard.clone();
        spawn_local(async move {
            while let Some(snap) = rx.recv().await {
                let core = snap.core;
                if let Some(slot) = shard.peer_snapshots.borrow_mut().get_mut(core) {
                    *slot = Some(snap);
                }
            }
        })
        .detach();
    }
    let (shard, stop) = (shard.clone(), stop.clone());
    spawn_local(async move {
        while sleep_unless_stopped(limits::METRICS_SNAPSHOT_INTERVAL, &stop).await {
            if let Some(beats) = &beats {
                // Full only when the watchdog thread is stuck; then a lost beat is moot.
                let _ = beats.try_send(shard.core);
            }
            shard.sample_rates();
            let snap = Arc::new(shard.snapshot());
            for tx in &senders {
                let _ = tx.try_send(snap.clone());
            }
        }
    })
    .detach();
}

/// The coordinator reaches its executor only through this.
impl coordinator::Host for Shard {
    fn core(&self) -> usize {
        self.core
    }
    fn cores(&self) -> usize {
        self.cores
    }
    fn config(&self) -> &Config {
        &self.config
    }
    fn http(&self) -> &HttpClient {
        &self.env.http
    }
    fn saved_cursor(&self, log_id: &[u8; 32]) -> Option<u64> {
        self.state.cursor(log_id)
    }
    fn apply(&self, msg: Control) {
        apply_control(self, msg);
    }
}
