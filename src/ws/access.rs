//! The settings a reload (SIGHUP) can change: bearer tokens, connection limits (counts and
//! rate) and the TLS
//! certificate. Each applies to connections accepted after the change; connections already
//! open keep what they were admitted with.
//!
//! The reload publishes a new [`AccessSettings`] into the process-wide [`AccessSource`] and bumps
//! its epoch. Each core keeps an `Rc` of its current copy ([`LocalAccess`]) and looks at the
//! epoch (one atomic load) per accepted connection; only when it moved does it load the new
//! settings (an `ArcSwap`: lock-free, so no core ever waits on another, even during a reload).

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use arc_swap::ArcSwap;

/// Per-connection settings that can change while the server runs.
#[derive(Clone, Default)]
pub struct AccessSettings {
    /// Bearer tokens accepted (`Authorization: Bearer T` or `?token=T`); empty = no auth.
    /// `/health` stays open for load balancers.
    pub auth_tokens: Vec<String>,
    /// Most connections the process holds (0 = no limit); past it: 503.
    pub connections_max: usize,
    /// Most connections one client IP holds (0 = no limit); past it: 429.
    pub connections_per_ip_max: usize,
    /// New connections per second one address may open, sustained, on each core (0 = no
    /// limit); past it and its burst: 429.
    pub connection_rate_per_ip: f64,
    /// Connections one address may open at once on each core before the rate applies.
    pub connection_burst_per_ip: u32,
    /// Serve TLS with this configuration (certificate and key); `None` = plain.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for AccessSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a token.
        f.debug_struct("AccessSettings")
            .field("auth_tokens", &self.auth_tokens.len())
            .field("connections_max", &self.connections_max)
            .field("connections_per_ip_max", &self.connections_per_ip_max)
            .field("connection_rate_per_ip", &self.connection_rate_per_ip)
            .field("connection_burst_per_ip", &self.connection_burst_per_ip)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Where the current [`AccessSettings`] are published for every core.
#[derive(Debug, Default)]
pub struct AccessSource {
    epoch: AtomicU64,
    current: ArcSwap<AccessSettings>,
}

impl AccessSource {
    pub fn new(initial: AccessSettings) -> Arc<Self> {
        Arc::new(Self {
            epoch: AtomicU64::new(0),
            current: ArcSwap::from_pointee(initial),
        })
    }

    /// Replaces the settings; every core uses them from its next accepted connection on.
    pub fn publish(&self, settings: AccessSettings) {
        self.current.store(Arc::new(settings));
        // Bumped after the store: whoever sees the new epoch then loads these settings (or
        // newer ones).
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The settings in force now.
    pub fn current(&self) -> Arc<AccessSettings> {
        self.current.load_full()
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }
}

/// One core's copy of the current settings.
#[derive(Debug)]
pub(crate) struct LocalAccess {
    source: Arc<AccessSource>,
    epoch: Cell<u64>,
    current: RefCell<Rc<AccessSettings>>,
}

impl LocalAccess {
    pub(crate) fn new(source: Arc<AccessSource>) -> Self {
        let epoch = source.epoch();
        let current = Rc::new(AccessSettings::clone(&source.current()));
        Self {
            source,
            epoch: Cell::new(epoch),
            current: RefCell::new(current),
        }
    }

    /// The settings for a connection accepted now.
    pub(crate) fn get(&self) -> Rc<AccessSettings> {
        let epoch = self.source.epoch();
        if epoch != self.epoch.get() {
            let fresh = AccessSettings::clone(&self.source.current());
            *self.current.borrow_mut() = Rc::new(fresh);
            self.epoch.set(epoch);
        }
        Rc::clone(&self.current.borrow())
    }

    pub(crate) fn source(&self) -> &Arc<AccessSource> {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_sees_published_settings_from_its_next_connection_and_keeps_old_copies_intact() {
        let source = AccessSource::new(AccessSettings {
            auth_tokens: vec!["first-token-0123456789".into()],
            ..AccessSettings::default()
        });
        let local = LocalAccess::new(source.clone());
        let before = local.get();
        source.publish(AccessSettings {
            connections_max: 7,
            ..AccessSettings::default()
        });
        let after = local.get();
        assert_eq!(after.connections_max, 7);
        assert!(after.auth_tokens.is_empty());
        assert_eq!(
            before.auth_tokens,
            ["first-token-0123456789"],
            "a connection admitted earlier keeps its settings"
        );
        assert!(Rc::ptr_eq(&after, &local.get()), "no copy without a reload");
        assert!(!format!("{:?}", *before).contains("first-token"));
    }
}
