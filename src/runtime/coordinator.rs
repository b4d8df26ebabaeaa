//! The coordinator (on executor 0): loads the log list, decides which logs to follow and which
//! executor owns each, and refreshes the list hourly (or at once on a reload request), adding
//! and retiring logs without a restart. Ownership never moves: a log keeps its executor until
//! it leaves the list, and a log that comes back goes to the executor it left, which kept its
//! cursor (see [`super::shard::Shard::retire_log`]).
//!
//! It reaches the executor it runs on only through the narrow [`Host`] trait, so this module
//! does not depend on the shard (the shard starts the coordinator, not the other way round).

use std::{
    collections::{HashMap, VecDeque},
    rc::Rc,
    time::Duration,
};

use futures_lite::future;
use glommio::{channels::shared_channel::ConnectedSender, timer::sleep};

use super::{control::StopSignal, mesh::Control};
use crate::{
    config::{Config, LogKinds},
    ct::{
        http::HttpClient,
        log_list::{parse_log_list, ListLoadError, LogInfo, LogKind, LogList, EMBEDDED_LOG_LIST},
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
    /// Fetches the log list.
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

/// The logs to follow from a list: polled states and the configured kinds, in a stable order.
pub fn select_logs(list: &LogList, kinds: LogKinds) -> Vec<LogInfo> {
    let mut logs: Vec<LogInfo> = list
        .logs
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

/// Whether the configured log list is fetched over HTTP(S) rather than read from a file.
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

/// Loads the configured list. A URL that cannot be fetched falls back to the embedded copy at
/// start (`initial`), and on a refresh keeps the list in force: a transient failure must not
/// swap the live list for an older one and retire logs.
pub async fn load_list(host: &impl Host, initial: bool) -> Result<LogList, ListLoadError> {
    let source = &host.config().log_list;
    if !is_url(source) {
        return read_list_file(source);
    }
    match fetch_list(host, source).await {
        Ok(list) => Ok(list),
        Err(e) if initial => {
            tracing::warn!(url = %source, "cannot fetch the log list ({e}); using the embedded copy");
            parse_log_list(EMBEDDED_LOG_LIST).map_err(ListLoadError::Embedded)
        }
        Err(e) => Err(ListLoadError::RefreshFailed {
            source: source.clone(),
            error: Box::new(e),
        }),
    }
}

async fn fetch_list(host: &impl Host, url: &str) -> Result<LogList, ListLoadError> {
    let resp = host.http().get(url).await.map_err(ListLoadError::Fetch)?;
    if resp.status != 200 {
        return Err(ListLoadError::Status(resp.status));
    }
    parse_log_list(&resp.body).map_err(ListLoadError::Body)
}

/// Runs on executor 0 until the stop: initial load, then a refresh every
/// `--log-list-refresh-secs` or on a reload request (SIGHUP).
pub async fn run(
    host: Rc<impl Host>,
    outs: Vec<Option<ConnectedSender<Control>>>,
    reload: flume::Receiver<()>,
    stop: StopSignal,
) {
    let mut assignment = Assignment::new(host.cores());
    let mut initial = true;
    loop {
        match load_list(&*host, initial).await {
            Ok(list) => {
                for reason in &list.skipped {
                    tracing::warn!("log list entry skipped: {reason}");
                }
                let logs = select_logs(&list, host.config().log_kinds);
                tracing::info!(version = %list.version, listed = list.logs.len(), followed = logs.len(), "log list loaded");
                apply_list(&*host, &outs, &mut assignment, logs);
                initial = false;
            }
            Err(e) => tracing::error!("log list not loaded: {e}"),
        }
        let period = Duration::from_secs(host.config().log_list_refresh_secs);
        if !wait_for_refresh(period, &reload, &stop).await {
            return;
        }
    }
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
            tracing::info!("reload requested; loading the log list now");
            true
        }
        Wake::Stop => false,
    }
}

/// Sends AddLog for new logs and RetireLog for logs that left the list.
fn apply_list(
    host: &impl Host,
    outs: &[Option<ConnectedSender<Control>>],
    assignment: &mut Assignment,
    logs: Vec<LogInfo>,
) {
    let listed: std::collections::HashSet<[u8; 32]> = logs.iter().map(|l| l.log_id).collect();
    let gone: Vec<[u8; 32]> = assignment
        .followed()
        .filter(|id| !listed.contains(*id))
        .copied()
        .collect();
    for log_id in gone {
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
        if assignment.owner.contains_key(&info.log_id) {
            continue;
        }
        let core = assignment.assign(info.log_id);
        let start_at = host.saved_cursor(&info.log_id);
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
    use super::*;

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
