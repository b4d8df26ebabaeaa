//! The coordinator (on executor 0): loads the log lists, decides which logs to follow and which
//! executor owns each, and refreshes the lists hourly (or at once on a reload request), adding
//! and retiring logs without a restart. Ownership never moves: a log keeps its executor until
//! it leaves the list, and a log that comes back goes to the executor it left, which kept its
//! cursor (see [`super::shard::Shard::retire_log`]).
//!
//! It reaches the executor it runs on only through the narrow [`Host`] trait, so this module
//! does not depend on the shard (the shard starts the coordinator, not the other way round).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    rc::Rc,
    sync::Arc,
    time::Duration,
};

use futures_lite::future;
use glommio::{channels::shared_channel::ConnectedSender, timer::sleep};

use super::{control::StopSignal, log_sources::LogSources, mesh::Control};
use crate::{
    config::{Config, LogKinds},
    ct::{
        http::HttpClient,
        log_list::{LogInfo, LogKind},
        log_lists::{self, Disagreement},
        poller::PollSlot,
    },
    limits,
};

/// What the coordinator needs from the executor it runs on.
pub trait Host {
    /// The executor the coordinator runs on (its logs are applied directly, not sent).
    fn core(&self) -> usize;
    /// How many executors there are.
    fn cores(&self) -> usize;
    fn config(&self) -> &Config;
    /// Fetches the log lists.
    fn http(&self) -> &HttpClient;
    /// The cursor the state file holds for a log.
    fn saved_cursor(&self, log_id: &[u8; 32]) -> Option<u64>;
    /// Applies an assignment to a log this executor owns.
    fn apply(&self, msg: Control);
}

/// Which executor owns each followed log, and how many logs each executor owns.
#[derive(Debug, Default)]
pub struct Assignment {
    owner: HashMap<[u8; 32], usize>,
    load: Vec<usize>,
    /// The last owner of each retired log (at most [`limits::RETIRED_LOGS_MAX`], oldest
    /// forgotten first): that executor kept the log's cursor, so a log that comes back is
    /// given to it again.
    parked: VecDeque<([u8; 32], usize)>,
}

impl Assignment {
    pub fn new(cores: usize) -> Assignment {
        Assignment {
            owner: HashMap::new(),
            load: vec![0; cores.max(1)],
            parked: VecDeque::new(),
        }
    }

    /// The owner of a log: its current owner, else the executor it had before it left the
    /// list, else the executor with the fewest logs (lowest index on ties), so assignment is
    /// balanced and deterministic for a given list order.
    pub fn assign(&mut self, log_id: [u8; 32]) -> usize {
        if let Some(&core) = self.owner.get(&log_id) {
            return core;
        }
        let parked = self.parked.iter().position(|(id, _)| *id == log_id);
        let core = match parked.and_then(|i| self.parked.remove(i)) {
            Some((_, core)) if core < self.load.len() => core,
            _ => (0..self.load.len())
                .min_by_key(|&c| (self.load[c], c))
                .unwrap_or(0),
        };
        self.load[core] += 1;
        self.owner.insert(log_id, core);
        core
    }

    /// Forgets a retired log (remembering its owner); returns the owner.
    pub fn retire(&mut self, log_id: &[u8; 32]) -> Option<usize> {
        let core = self.owner.remove(log_id)?;
        self.load[core] -= 1;
        if self.parked.len() == limits::RETIRED_LOGS_MAX {
            self.parked.pop_front();
        }
        self.parked.push_back((*log_id, core));
        Some(core)
    }

    pub fn followed(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.owner.keys()
    }
}

/// The logs to follow from the merged lists: polled states and the configured kinds, in a
/// stable order.
pub fn select_logs(logs: &[LogInfo], kinds: LogKinds) -> Vec<LogInfo> {
    let mut logs: Vec<LogInfo> = logs
        .iter()
        .filter(|l| l.is_polled())
        .filter(|l| {
            matches!(
                (kinds, l.kind),
                (LogKinds::Both, _)
                    | (LogKinds::Rfc6962, LogKind::Rfc6962)
                    | (LogKinds::Static, LogKind::StaticCt)
            )
        })
        .cloned()
        .collect();
    logs.sort_by(|a, b| a.url.cmp(&b.url));
    logs
}

/// Runs on executor 0 until the stop: initial load, then a refresh every
/// `--log-list-refresh-secs` (sooner while a list has never loaded) or on a reload request
/// (SIGHUP). Each list is loaded on its own ([`LogSources`]); the lists in force are merged
/// ([`log_lists::merge`]) and the executors told what changed.
pub async fn run(
    host: Rc<impl Host>,
    outs: Vec<Option<ConnectedSender<Control>>>,
    reload: flume::Receiver<()>,
    stop: StopSignal,
) {
    let mut followed = Followed::new(host.cores());
    let mut sources = LogSources::new(&host.config().log_list);
    let mut reported = HashSet::new();
    loop {
        sources.load(host.http()).await;
        let lists = sources.in_force();
        if lists.is_empty() {
            tracing::error!("no log list loaded; nothing to follow until one is");
        } else {
            let merged = log_lists::merge(&lists);
            report_new(&merged.disagreements, &mut reported);
            let logs = select_logs(&merged.logs, host.config().log_kinds);
            tracing::info!(
                lists = lists.len(),
                listed = merged.logs.len(),
                followed = logs.len(),
                "log lists merged"
            );
            apply_list(&*host, &outs, &mut followed, logs);
        }
        let period = Duration::from_secs(host.config().log_list_refresh_secs);
        if !wait_for_refresh(sources.next_load_in(period), &reload, &stop).await {
            return;
        }
    }
}

/// Logs each disagreement between the lists the first time it is seen (the lists are merged
/// again at every refresh; the same difference is not repeated hourly). A conflict is a
/// warning, a difference of state is information.
fn report_new(disagreements: &[Disagreement], reported: &mut HashSet<String>) {
    let now: HashSet<String> = disagreements.iter().map(ToString::to_string).collect();
    for d in disagreements {
        let text = d.to_string();
        if reported.contains(&text) {
            continue;
        }
        match d {
            Disagreement::State { .. } => tracing::info!("{text}"),
            Disagreement::Conflict { .. } | Disagreement::UrlTaken { .. } => {
                tracing::warn!("{text}")
            }
        }
    }
    *reported = now;
}

/// Why the coordinator woke.
enum Wake {
    Refresh,
    Reload,
    Stop,
}

/// Waits for the next refresh: the period, or a reload request (now). False at the stop.
async fn wait_for_refresh(
    period: Duration,
    reload: &flume::Receiver<()>,
    stop: &StopSignal,
) -> bool {
    let refresh = async {
        sleep(period).await;
        Wake::Refresh
    };
    let reloaded = async {
        match reload.recv_async().await {
            Ok(()) => Wake::Reload,
            // The control is gone: no reload can come any more; wait for the others.
            Err(_) => future::pending().await,
        }
    };
    let stopped = async {
        stop.wait().await;
        Wake::Stop
    };
    match future::or(stopped, future::or(reloaded, refresh)).await {
        Wake::Refresh => true,
        Wake::Reload => {
            tracing::info!("reload requested; loading the log lists now");
            true
        }
        Wake::Stop => false,
    }
}

/// What the executors have been told: each followed log's owner, and the lists it is
/// followed for.
struct Followed {
    assignment: Assignment,
    lists: HashMap<[u8; 32], Vec<Arc<str>>>,
}

impl Followed {
    fn new(cores: usize) -> Followed {
        Followed {
            assignment: Assignment::new(cores),
            lists: HashMap::new(),
        }
    }
}

/// Sends AddLog for new logs, RetireLog for logs no list has any more (in a followed state),
/// and ListedIn for followed logs whose lists changed (another list now polls it as well, or
/// no longer does).
fn apply_list(
    host: &impl Host,
    outs: &[Option<ConnectedSender<Control>>],
    followed: &mut Followed,
    logs: Vec<LogInfo>,
) {
    let assignment = &mut followed.assignment;
    let listed: HashSet<[u8; 32]> = logs.iter().map(|l| l.log_id).collect();
    let gone: Vec<[u8; 32]> = assignment
        .followed()
        .filter(|id| !listed.contains(*id))
        .copied()
        .collect();
    for log_id in gone {
        followed.lists.remove(&log_id);
        if let Some(core) = assignment.retire(&log_id) {
            send(host, outs, core, Control::RetireLog { log_id });
        }
    }
    // Slots follow the list order, and consecutive new logs go to alternating executors, so
    // neighbouring slots (bursts) alternate between the cores too. Logs already followed keep
    // the slot they started with: after a refresh the spacing may be uneven, never doubled up
    // beyond what the list change itself adds.
    let listed_count = logs.len();
    for (position, info) in logs.into_iter().enumerate() {
        let log_id = info.log_id;
        let told = followed.lists.insert(log_id, info.lists.clone());
        if let Some(&core) = assignment.owner.get(&log_id) {
            if told.as_ref() != Some(&info.lists) {
                let lists = info.lists;
                send(host, outs, core, Control::ListedIn { log_id, lists });
            }
            continue;
        }
        let core = assignment.assign(log_id);
        let start_at = host.saved_cursor(&log_id);
        send(
            host,
            outs,
            core,
            Control::AddLog {
                info: Box::new(info),
                start_at,
                slot: PollSlot::new(position, listed_count),
            },
        );
    }
}

fn send(host: &impl Host, outs: &[Option<ConnectedSender<Control>>], core: usize, msg: Control) {
    if core == host.core() {
        host.apply(msg);
        return;
    }
    match outs.get(core).and_then(|o| o.as_ref()) {
        Some(tx) => {
            if tx.try_send(msg).is_err() {
                tracing::error!(core, "control ring full; log assignment not delivered");
            }
        }
        None => tracing::error!(core, "no control ring to executor"),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::ct::{
        http::tls_config,
        log_list::{parse_log_list, EMBEDDED_APPLE_LOG_LIST, EMBEDDED_LOG_LIST},
    };

    /// One executor: every message the coordinator sends is applied here and recorded.
    struct OneCore {
        config: Config,
        http: HttpClient,
        applied: RefCell<Vec<Control>>,
    }

    impl Host for OneCore {
        fn core(&self) -> usize {
            0
        }
        fn cores(&self) -> usize {
            1
        }
        fn config(&self) -> &Config {
            &self.config
        }
        fn http(&self) -> &HttpClient {
            &self.http
        }
        fn saved_cursor(&self, _: &[u8; 32]) -> Option<u64> {
            None
        }
        fn apply(&self, msg: Control) {
            self.applied.borrow_mut().push(msg);
        }
    }

    fn one_core() -> OneCore {
        OneCore {
            config: Config::load_from(["certstream"]).unwrap(),
            http: HttpClient::new(tls_config(None).unwrap()),
            applied: RefCell::new(Vec::new()),
        }
    }

    /// (adds, retires, lists changes) among the messages applied since the last call.
    fn drain(host: &OneCore) -> (usize, usize, Vec<Vec<Arc<str>>>) {
        let (mut adds, mut retires, mut relisted) = (0, 0, Vec::new());
        for msg in host.applied.borrow_mut().drain(..) {
            match msg {
                Control::AddLog { .. } => adds += 1,
                Control::RetireLog { .. } => retires += 1,
                Control::ListedIn { lists, .. } => relisted.push(lists),
            }
        }
        (adds, retires, relisted)
    }

    /// The embedded lists: Google's alone (71 followed), then with Apple's (the 4 Raio logs
    /// only Apple's has are added; the 53 both poll are now followed for both; the 18 Apple's
    /// rejects or has pending stay, for Google's), then Apple's alone (those 18 retired).
    #[test]
    fn a_refresh_with_another_list_adds_its_logs_and_relists_the_shared_ones() {
        let host = one_core();
        let (g, a): (Arc<str>, Arc<str>) = ("google".into(), "apple".into());
        let google = parse_log_list(EMBEDDED_LOG_LIST).unwrap();
        let apple = parse_log_list(EMBEDDED_APPLE_LOG_LIST).unwrap();
        let mut followed = Followed::new(1);
        let outs = vec![None];
        let mut apply = |lists: &[log_lists::NamedList<'_>]| {
            let merged = log_lists::merge(lists);
            apply_list(
                &host,
                &outs,
                &mut followed,
                select_logs(&merged.logs, LogKinds::Both),
            );
            drain(&host)
        };
        let (adds, retires, relisted) = apply(&[(&g, &google)]);
        assert_eq!((adds, retires, relisted.len()), (71, 0, 0));
        let (adds, retires, relisted) = apply(&[(&g, &google), (&a, &apple)]);
        assert_eq!(
            (adds, retires),
            (4, 0),
            "the Raio logs, only in Apple's list"
        );
        assert_eq!(
            relisted.len(),
            71 - 18,
            "followed logs Apple's list also polls"
        );
        assert_eq!(
            apply(&[(&g, &google), (&a, &apple)]).2.len(),
            0,
            "nothing changed"
        );
        let (adds, retires, relisted) = apply(&[(&a, &apple)]);
        assert_eq!((adds, retires), (0, 18));
        assert!(relisted.iter().all(|l| *l == [a.clone()]));
    }

    #[test]
    fn assignment_is_balanced_stable_and_deterministic() {
        let mut a = Assignment::new(3);
        let cores: Vec<usize> = (0u8..7).map(|i| a.assign([i; 32])).collect();
        assert_eq!(cores, vec![0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(a.assign([1; 32]), 1, "an owned log keeps its owner");
        assert_eq!(a.retire(&[1; 32]), Some(1));
        assert_eq!(a.assign([9; 32]), 1, "the freed slot is reused");
    }

    #[test]
    fn a_returning_log_goes_back_to_the_core_that_kept_its_cursor() {
        let mut a = Assignment::new(2);
        assert_eq!((a.assign([1; 32]), a.assign([2; 32])), (0, 1));
        assert_eq!(a.retire(&[2; 32]), Some(1));
        assert_eq!(a.assign([3; 32]), 1, "the least loaded core");
        assert_eq!(
            a.assign([2; 32]),
            1,
            "back to core 1, which kept its cursor (core 0 would win the tie)"
        );
        assert_eq!(a.load, vec![1, 2]);
        for i in 0..limits::RETIRED_LOGS_MAX + 1 {
            let mut id = [0xee; 32];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            a.assign(id);
            a.retire(&id);
        }
        assert_eq!(a.parked.len(), limits::RETIRED_LOGS_MAX, "bounded");
    }
}
