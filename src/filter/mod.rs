//! Server-side subscriptions: per-client filters (`?domain=&keyword=&regex=&issuer=
//! &update_type=&log=`) and dedup (`?dedup=cert|issuance`), matched once per certificate per
//! core whatever the number of clients.
//!
//! # Semantics
//!
//! A certificate passes a client's filter when one of its name patterns matches one of the
//! certificate's names (if the client gave any name pattern) AND every other given constraint
//! holds. Names are the leaf's `all_domains`, lowercased, without a trailing dot; IDNs are
//! matched in both their A-label (`xn--…`) and Unicode forms.
//!
//! | parameter | matches |
//! |---|---|
//! | `domain=example.com` | `example.com` and every name below it, on label boundaries (`a.example.com`, `*.example.com`; never `badexample.com`); Unicode input is converted to its A-label |
//! | `domain=*.example.com` | only names below `example.com` |
//! | `keyword=paypal` | a substring of a name, case-insensitive |
//! | `regex=^login\.` | an unanchored, case-insensitive search in each name (size- and nesting-bounded) |
//! | `issuer=let's encrypt` | a substring of the issuer's CN or O, case-insensitive |
//! | `update_type=PrecertLogEntry` | that kind only (`X509LogEntry` or `PrecertLogEntry`) |
//! | `log=argon` | a substring of the log's name, or a prefix of its URL (scheme optional) |
//!
//! `domain`, `keyword` and `update_type` take comma-separated lists; every parameter may be
//! repeated. A frame is never re-encoded for a filter: `/domains-only` sends the whole
//! `dns_entries` message of a matching certificate, not only the names that matched.
//!
//! # Cost
//!
//! Each core compiles its clients' filters into one [`index::Index`] (Aho-Corasick for
//! keywords and issuers, a label-suffix hash map for domains, one regex-automata set for the
//! regexes). The hub matches each certificate once, when it is published, and keeps the set
//! of matching slots ([`Routing`]) beside the shared frames; a session only tests its bit.
//! Clients that connect are compiled at once into a small `recent` index; the big one is
//! rebuilt in a batch at most every [`limits::FILTER_REBUILD_DELAY`] on the executor's
//! blocking thread (never on the fan-out path), then swapped in.
//!
//! # Dedup
//!
//! See [`dedup`]: per core, first seen wins, within `--dedup-window`.

pub mod dedup;
pub mod index;
pub mod names;
pub mod regex;
pub mod spec;

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::Arc,
    time::Duration,
};

pub use dedup::Dup;
pub use index::{Bits, Index, Slot};
pub use spec::{parse_query, Dedup, FilterError, FilterSpec};

use crate::{frame::EntryMeta, limits};

/// What the hub keeps beside a certificate's frames when any client of its core filters or
/// dedups: which filters it passes and what it duplicates.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    pub matched: Bits,
    pub dup: Dup,
}

/// A work order for the batched rebuild: the filters to compile, and the slots freed before
/// it was taken (reusable once the new index, which no longer holds them, is in place).
#[derive(Debug)]
pub struct RebuildJob {
    filters: Vec<(Slot, Arc<FilterSpec>)>,
    retired: Vec<Slot>,
}

impl RebuildJob {
    /// Compiles the job (the slow part, run off the executor).
    pub fn build(&self) -> Index {
        Index::build(&self.filters)
    }
}

#[derive(Debug, Default)]
struct State {
    /// The live filter of each slot.
    specs: Vec<Option<Arc<FilterSpec>>>,
    /// Slots no index refers to any more.
    free: Vec<Slot>,
    /// Slots released since the last rebuild (the main index may still set their bits).
    retired: Vec<Slot>,
    main: Index,
    /// Slots registered since the last rebuild was taken, compiled in `recent`.
    recent_slots: Vec<Slot>,
    recent: Index,
    rebuilding: bool,
    /// Live subscriptions, and those with dedup on.
    live: usize,
    dedup_live: usize,
    dedup: Option<dedup::DedupWindow>,
}

/// One core's filters. `!Send`; owned by its hub.
#[derive(Debug)]
pub struct CoreFilters {
    state: RefCell<State>,
    dedup_window: Cell<Duration>,
    /// A rebuild task is alive on this core (at most one).
    rebuilder: Cell<bool>,
    /// Duplicates suppressed for clients, by reason (certificate, issuance).
    suppressed: [Cell<u64>; 2],
}

impl Default for CoreFilters {
    fn default() -> Self {
        CoreFilters {
            state: RefCell::default(),
            dedup_window: Cell::new(limits::DEDUP_WINDOW_DEFAULT),
            rebuilder: Cell::new(false),
            suppressed: Default::default(),
        }
    }
}

/// A client's filter, registered with its core. Dropping it releases the slot.
#[derive(Debug)]
pub struct Subscription {
    filters: Rc<CoreFilters>,
    slot: Slot,
    dedup: Dedup,
    filtered: bool,
}

impl Subscription {
    /// Whether the client gets the certificate with `routing` (`None`: it was published while
    /// no client of this core filtered, so before this subscription existed).
    pub fn wants(&self, routing: Option<&Routing>) -> bool {
        let Some(routing) = routing else {
            return false;
        };
        if self.filtered && !routing.matched.contains(self.slot) {
            return false;
        }
        let reason = match self.dedup {
            Dedup::Issuance if routing.dup.cert => 0,
            Dedup::Issuance if routing.dup.issuance => 1,
            Dedup::Cert if routing.dup.cert => 0,
            _ => return true,
        };
        let counter = &self.filters.suppressed[reason];
        counter.set(counter.get() + 1);
        false
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.filters.release(self.slot, self.dedup);
    }
}

impl CoreFilters {
    /// Sets how long dedup remembers an entry (`--dedup-window`).
    pub fn set_dedup_window(&self, window: Duration) {
        self.dedup_window.set(window);
    }

    /// Duplicates suppressed so far: (same certificate, same issuance).
    pub fn suppressed(&self) -> (u64, u64) {
        (self.suppressed[0].get(), self.suppressed[1].get())
    }

    /// Registers `spec` (compiled at once into the small recent index). Call
    /// [`Self::take_rebuild`] afterwards (or let [`subscribe`] do it) to fold it into the main
    /// index in a batch.
    pub fn register(self: &Rc<Self>, spec: Arc<FilterSpec>) -> Subscription {
        let mut st = self.state.borrow_mut();
        let slot = st.free.pop().unwrap_or(st.specs.len() as Slot);
        if slot as usize == st.specs.len() {
            st.specs.push(None);
        }
        let dedup = spec.dedup;
        let filtered = spec.has_name_patterns()
            || !spec.issuers.is_empty()
            || spec.update_type.is_some()
            || !spec.logs.is_empty();
        st.specs[slot as usize] = Some(spec);
        st.recent_slots.push(slot);
        st.live += 1;
        if dedup != Dedup::Off {
            st.dedup_live += 1;
        }
        rebuild_recent(&mut st);
        Subscription {
            filters: Rc::clone(self),
            slot,
            dedup,
            filtered,
        }
    }

    fn release(&self, slot: Slot, dedup: Dedup) {
        let mut st = self.state.borrow_mut();
        st.specs[slot as usize] = None;
        st.retired.push(slot);
        st.live -= 1;
        if dedup != Dedup::Off {
            st.dedup_live -= 1;
        }
        if st.recent_slots.contains(&slot) {
            st.recent_slots.retain(|&s| s != slot);
            rebuild_recent(&mut st);
        }
    }

    /// A rebuild of the main index, when one is due and none is running.
    pub fn take_rebuild(&self) -> Option<RebuildJob> {
        let mut st = self.state.borrow_mut();
        if st.rebuilding || (st.recent_slots.is_empty() && st.retired.is_empty()) {
            return None;
        }
        st.rebuilding = true;
        let filters = live_filters(&st.specs, |_| true);
        Some(RebuildJob {
            filters,
            retired: std::mem::take(&mut st.retired),
        })
    }

    /// Swaps in the index built from `job`.
    pub fn install(&self, job: RebuildJob, index: Index) {
        let mut st = self.state.borrow_mut();
        st.main = index;
        st.recent_slots
            .retain(|s| !job.filters.iter().any(|(slot, _)| slot == s));
        st.free.extend(job.retired);
        st.rebuilding = false;
        rebuild_recent(&mut st);
    }

    /// Builds and installs the main index now, on this thread (tests, and small cores).
    pub fn rebuild_now(&self) {
        if let Some(job) = self.take_rebuild() {
            let index = job.build();
            self.install(job, index);
        }
    }

    /// Matches one certificate against every filter of this core (and records it for dedup):
    /// `None` when no client of this core filters or dedups (then nothing is computed).
    pub fn route(&self, meta: &EntryMeta) -> Option<Box<Routing>> {
        let mut st = self.state.borrow_mut();
        if st.live == 0 {
            return None;
        }
        let mut matched = st.main.matches(&meta.facts);
        if !st.recent.is_empty() {
            matched.union_with(&st.recent.matches(&meta.facts));
        }
        let dup = if st.dedup_live > 0 {
            let window = self.dedup_window.get().as_secs().min(u64::from(u32::MAX)) as u32;
            let seen = (meta.seen_us / 1_000_000).min(u64::from(u32::MAX)) as u32;
            let memory = st
                .dedup
                .get_or_insert_with(|| dedup::DedupWindow::new(window, limits::DEDUP_KEYS_MAX));
            memory.set_window(window);
            memory.observe(&meta.leaf_sha256, meta.facts.issuance_key.as_ref(), seen)
        } else {
            Dup::default()
        };
        Some(Box::new(Routing { matched, dup }))
    }
}

fn live_filters(
    specs: &[Option<Arc<FilterSpec>>],
    keep: impl Fn(Slot) -> bool,
) -> Vec<(Slot, Arc<FilterSpec>)> {
    specs
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i as Slot, Arc::clone(s.as_ref()?))))
        .filter(|(slot, _)| keep(*slot))
        .collect()
}

fn rebuild_recent(st: &mut State) {
    let recent = &st.recent_slots;
    let filters = live_filters(&st.specs, |slot| recent.contains(&slot));
    st.recent = Index::build(&filters);
}

/// Registers `spec` on this core and makes sure a batched rebuild of the main index follows
/// (one task per core at a time, compiling on the executor's blocking thread). Call from
/// inside the executor.
pub fn subscribe(filters: &Rc<CoreFilters>, spec: Arc<FilterSpec>) -> Subscription {
    let sub = filters.register(spec);
    schedule_rebuild(filters);
    sub
}

/// Makes sure a batched rebuild follows when filters came or went since the last one (at most
/// one rebuild task per core). Call from inside the executor, after a [`Subscription`] was
/// made or dropped.
pub fn schedule_rebuild(filters: &Rc<CoreFilters>) {
    let pending = {
        let st = filters.state.borrow();
        !st.recent_slots.is_empty() || !st.retired.is_empty()
    };
    if pending && !filters.rebuilder.replace(true) {
        glommio::spawn_local(run_rebuilds(Rc::clone(filters))).detach();
    }
}

/// Rebuilds the main index until nothing is pending, one batch every
/// [`limits::FILTER_REBUILD_DELAY`] at most.
async fn run_rebuilds(filters: Rc<CoreFilters>) {
    loop {
        glommio::timer::sleep(limits::FILTER_REBUILD_DELAY).await;
        let Some(job) = filters.take_rebuild() else {
            filters.rebuilder.set(false);
            return;
        };
        let specs = job.filters.clone();
        let (index, took) = glommio::executor()
            .spawn_blocking(move || {
                let start = std::time::Instant::now();
                (Index::build(&specs), start.elapsed())
            })
            .await;
        tracing::debug!(
            filters = job.filters.len(),
            build_ms = took.as_secs_f64() * 1e3,
            "filter index rebuilt"
        );
        filters.install(job, index);
    }
}

#[cfg(test)]
mod tests;
