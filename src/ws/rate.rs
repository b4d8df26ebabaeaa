//! Connection-rate limiting per client address (`--connection-rate-per-ip`,
//! `--connection-burst-per-ip`): a token bucket per address, kept by each core for the
//! connections it accepts. No state is shared between cores and no lock is taken: the kernel
//! spreads one address's connections over the cores (SO_REUSEPORT), so with N executors an
//! address may open up to N times the configured rate and burst.
//!
//! The bucket is GCRA (the "virtual scheduling" form of a token bucket): one timestamp per
//! slot, the theoretical arrival time of the next connection. A connection is admitted when
//! that time is at most `(burst - 1)` intervals ahead of now, and pushes it one interval
//! further. An untouched slot (time 0) is a full bucket.
//!
//! The table is a fixed array of [`limits::CONNECTION_RATE_SLOTS`] slots per core, indexed by
//! a keyed hash (random per core, so no client can aim at another's slot) of the address; an
//! IPv6 address counts as its /64, the block one host usually holds. Addresses sharing a slot
//! share its bucket, which can only make the limit stricter for them, never looser; the table
//! never grows, whatever the number of addresses. It is allocated when a limit is first set.

use std::{
    cell::{Cell, RefCell},
    hash::BuildHasher,
    net::IpAddr,
    time::{Duration, Instant},
};

use crate::limits;

/// One core's buckets.
#[derive(Debug)]
pub(crate) struct ConnectionRate {
    /// Per slot: the theoretical arrival time of the next connection, in nanoseconds since
    /// `start` (0 = untouched: a full bucket). Empty until a limit is first set.
    slots: RefCell<Box<[Cell<u64>]>>,
    hasher: std::collections::hash_map::RandomState,
    start: Instant,
}

impl Default for ConnectionRate {
    fn default() -> Self {
        Self {
            slots: RefCell::new(Box::new([])),
            hasher: std::collections::hash_map::RandomState::new(),
            start: Instant::now(),
        }
    }
}

impl ConnectionRate {
    /// Whether `ip` may open a connection now under `rate_per_sec` (0 = no limit) and `burst`.
    /// An admitted connection takes its place in the bucket; a refused one does not.
    pub(crate) fn admit(&self, ip: IpAddr, rate_per_sec: f64, burst: u32) -> bool {
        if rate_per_sec <= 0.0 {
            return true;
        }
        let mut slots = self.slots.borrow_mut();
        if slots.is_empty() {
            *slots = (0..limits::CONNECTION_RATE_SLOTS)
                .map(|_| Cell::new(0))
                .collect();
        }
        let slot = &slots[self.hasher.hash_one(rate_key(ip)) as usize % slots.len()];
        // Nanoseconds since start, plus one so that "now" is never the untouched marker 0.
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1;
        match gcra(slot.get(), now, interval_nanos(rate_per_sec), burst) {
            Some(next) => {
                slot.set(next);
                true
            }
            None => false,
        }
    }
}

/// Nanoseconds between two connections at `rate_per_sec` (> 0).
fn interval_nanos(rate_per_sec: f64) -> u64 {
    // The setting's range keeps this between 1 µs and ~17 min; the clamp only keeps the
    // arithmetic total for any value.
    Duration::try_from_secs_f64(1.0 / rate_per_sec)
        .map_or(u128::MAX, |d| d.as_nanos())
        .clamp(1, u128::from(u64::MAX / 4)) as u64
}

/// The GCRA step: with the next connection due at `tat`, is one at `now` admitted (`Some` with
/// the new due time) under `interval` between connections and `burst` at once?
fn gcra(tat: u64, now: u64, interval: u64, burst: u32) -> Option<u64> {
    let due = tat.max(now);
    let tolerance = interval.saturating_mul(u64::from(burst.max(1)) - 1);
    (due - now <= tolerance).then(|| due.saturating_add(interval))
}

/// What one client's bucket is keyed on: the IPv4 address, or the /64 of an IPv6 one.
fn rate_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn a_burst_is_admitted_at_once_then_one_connection_per_interval() {
        let (interval, burst) = (SEC / 2, 3);
        let mut tat = 0;
        let now = 10 * SEC;
        for _ in 0..3 {
            tat = gcra(tat, now, interval, burst).expect("within the burst");
        }
        assert_eq!(gcra(tat, now, interval, burst), None, "burst spent");
        assert_eq!(
            gcra(tat, now + interval - 1, interval, burst),
            None,
            "not yet"
        );
        tat = gcra(tat, now + interval, interval, burst).expect("one interval later");
        assert_eq!(gcra(tat, now + interval, interval, burst), None);
        // Long idle refills the whole burst, never more.
        let later = now + 100 * SEC;
        for _ in 0..3 {
            tat = gcra(tat, later, interval, burst).expect("refilled");
        }
        assert_eq!(gcra(tat, later, interval, burst), None);
    }

    #[test]
    fn a_burst_of_one_is_a_plain_rate() {
        let tat = gcra(0, SEC, SEC, 1).unwrap();
        assert_eq!(gcra(tat, SEC, SEC, 1), None);
        assert!(gcra(tat, 2 * SEC, SEC, 1).is_some());
        assert_eq!(gcra(0, SEC, SEC, 0), Some(2 * SEC), "0 counts as 1");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(rate_key(a), rate_key(b));
        assert_ne!(rate_key(a), rate_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(rate_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_table_limits_each_address_and_stays_off_without_a_rate() {
        let rate = ConnectionRate::default();
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        assert!((0..100).all(|_| rate.admit(ip, 0.0, 1)), "0 = no limit");
        assert!(rate.slots.borrow().is_empty(), "no table while off");
        // One per ~3 hours: the burst of 2 is all this test can get.
        let slow = 1.0 / 10_000.0;
        assert!(rate.admit(ip, slow, 2) && rate.admit(ip, slow, 2));
        assert!(!rate.admit(ip, slow, 2));
        assert_eq!(rate.slots.borrow().len(), limits::CONNECTION_RATE_SLOTS);
    }
}
