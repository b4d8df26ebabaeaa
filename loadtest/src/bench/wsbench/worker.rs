//! A worker thread: a current-thread tokio runtime with a `LocalSet` running its share of
//! the clients ([`super::client`]) and one phase follower ([`watch_phases`]) that measures the
//! thread's CPU over the window and, while draining, tells the controller once every reading
//! client reached the gap-check targets. When the run stops, the worker hands its state back
//! as a [`WorkerResult`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::client::{client_task, ClientCtx};
use super::connect::WsTarget;
use super::control::{Control, Phase};
use super::state::{find_id, ClientState, WorkerShared};
use super::targets::GapTarget;
use crate::bench::sys::thread_cpu;
use crate::bench::tracker::LogTrack;

/// What a worker is told about each of its clients.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientSpec {
    pub(super) slow: bool,
}

/// A worker's state when the run stopped, and its CPU time over the window.
pub(super) struct WorkerResult {
    pub(super) shared: WorkerShared,
    pub(super) clients: Vec<ClientState>,
    pub(super) cpu_window: Duration,
}

/// The worker thread's body.
pub(super) fn worker_main(
    specs: Vec<ClientSpec>,
    ctl: Arc<Control>,
    target: WsTarget,
    starts: Arc<HashMap<String, u64>>,
    read_buf: usize,
) -> WorkerResult {
    let shared = Rc::new(RefCell::new(WorkerShared::new(starts)));
    let states: Vec<Rc<RefCell<ClientState>>> = specs
        .iter()
        .map(|s| {
            Rc::new(RefCell::new(ClientState {
                slow: s.slow,
                ..Default::default()
            }))
        })
        .collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            shared.borrow_mut().error(format!("tokio runtime: {e}"));
            ctl.failed.fetch_add(specs.len(), Ordering::AcqRel);
            return finish(shared, states, Duration::ZERO);
        }
    };
    let local = tokio::task::LocalSet::new();
    let cpu = local.block_on(&rt, async {
        let mut slow_tasks = Vec::new();
        for st in &states {
            let c = ClientCtx {
                ctl: ctl.clone(),
                target: target.clone(),
                shared: shared.clone(),
                state: st.clone(),
                read_buf,
            };
            let slow = st.borrow().slow;
            let h = tokio::task::spawn_local(client_task(c));
            if slow {
                slow_tasks.push(h);
            }
        }
        let cpu = watch_phases(&ctl, &shared, &states).await;
        // Slow clients probe their sockets on Stop; give them a bounded moment.
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            for h in slow_tasks {
                let _ = h.await;
            }
        })
        .await;
        cpu
    });
    drop(local); // cancels the reading clients
    finish(shared, states, cpu)
}

fn finish(
    shared: Rc<RefCell<WorkerShared>>,
    states: Vec<Rc<RefCell<ClientState>>>,
    cpu_window: Duration,
) -> WorkerResult {
    let clients = states
        .into_iter()
        .map(|s| std::mem::take(&mut *s.borrow_mut()))
        .collect();
    let shared = match Rc::try_unwrap(shared) {
        Ok(s) => s.into_inner(),
        Err(rc) => std::mem::replace(&mut *rc.borrow_mut(), WorkerShared::new(Arc::default())),
    };
    WorkerResult {
        shared,
        clients,
        cpu_window,
    }
}

/// Follows the phase channel: measures this thread's CPU over the window and, when draining,
/// reports once every reading client reached the targets. Returns the window's CPU time.
async fn watch_phases(
    ctl: &Control,
    shared: &Rc<RefCell<WorkerShared>>,
    states: &[Rc<RefCell<ClientState>>],
) -> Duration {
    let mut rx = ctl.phase_tx.subscribe();
    let (mut cpu0, mut cpu) = (None, Duration::ZERO);
    let mut reported_drained = false;
    loop {
        let p = *rx.borrow_and_update();
        if p == Phase::Measuring && cpu0.is_none() {
            cpu0 = Some(thread_cpu());
        }
        if p > Phase::Measuring {
            if let Some(c0) = cpu0.take() {
                cpu = thread_cpu().saturating_sub(c0);
            }
        }
        if p == Phase::Stop {
            return cpu;
        }
        if p == Phase::Draining && !reported_drained {
            let targets = ctl.targets.lock().ok().and_then(|t| t.clone());
            if let Some(t) = targets {
                if all_reached(&t, shared, states) {
                    ctl.drained_workers.fetch_add(1, Ordering::AcqRel);
                    reported_drained = true;
                }
                // Poll while draining; the controller ends the drain by timeout otherwise.
                let _ = tokio::time::timeout(Duration::from_millis(20), rx.changed()).await;
                continue;
            }
        }
        if rx.changed().await.is_err() {
            return cpu;
        }
    }
}

fn all_reached(
    targets: &[GapTarget],
    shared: &Rc<RefCell<WorkerShared>>,
    states: &[Rc<RefCell<ClientState>>],
) -> bool {
    let sh = shared.borrow();
    let ids: Vec<(Option<u32>, &GapTarget, Option<u64>)> = targets
        .iter()
        .map(|t| {
            (
                find_id(&sh.interner, &t.url),
                t,
                sh.starts.get(&t.url).copied(),
            )
        })
        .collect();
    states.iter().all(|st| {
        let st = st.borrow();
        if st.slow || !st.connected || st.ended.is_some() {
            return true;
        }
        ids.iter().all(|&(id, target, start)| {
            match id.and_then(|id| st.logs.get(id as usize)?.as_ref()) {
                Some(t) => t.reached(target.size, &target.skips),
                // Never seen: done only if an explicit start says nothing was due.
                None => {
                    start.is_none_or(|s| LogTrack::new(Some(s)).reached(target.size, &target.skips))
                }
            }
        })
    })
}
