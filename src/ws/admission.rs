//! Connection limits, process-wide: total connections and connections per client IP.
//!
//! Connections land on any executor (SO_REUSEPORT), so the counts are shared atomics — control
//! plane, touched once per connection, never a lock. Per-IP counts live in a fixed table of
//! buckets indexed by a hash of the address; two addresses sharing a bucket share its count,
//! which can only make the limit stricter for them, never looser.
//!
//! The limits themselves arrive with each connection (from the reloadable
//! [`AccessSettings`](super::AccessSettings)); the counts always run, so a limit lowered or
//! switched on by a reload is measured against the connections already open.

use std::{
    hash::{Hash, Hasher},
    net::IpAddr,
    sync::atomic::{AtomicUsize, Ordering},
};

const IP_BUCKETS: usize = crate::limits::CONNECTION_IP_BUCKETS;

static TOTAL: AtomicUsize = AtomicUsize::new(0);
static PER_IP: [AtomicUsize; IP_BUCKETS] = [const { AtomicUsize::new(0) }; IP_BUCKETS];

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The client's address holds too many connections: 429.
    PerIp,
    /// The server holds too many connections: 503.
    Total,
    /// The client's address opens connections faster than its rate (`rate.rs`): 429.
    Rate,
}

/// Holds one admitted connection's place in the counts until dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    bucket: Option<usize>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        TOTAL.fetch_sub(1, Ordering::AcqRel);
        if let Some(b) = self.bucket {
            PER_IP[b].fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn bucket_of(ip: IpAddr) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ip.hash(&mut h);
    (h.finish() as usize) % IP_BUCKETS
}

/// Admits a connection from `ip` under the limits (0 = no limit). Every connection is counted
/// whether or not a limit is set, so a limit switched on by a reload sees the connections
/// already open.
pub(crate) fn admit(
    ip: Option<IpAddr>,
    total_max: usize,
    per_ip_max: usize,
) -> Result<Admitted, Refusal> {
    let bucket = ip.map(bucket_of);
    let per_ip_before = bucket.map(|b| PER_IP[b].fetch_add(1, Ordering::AcqRel));
    let total_before = TOTAL.fetch_add(1, Ordering::AcqRel);
    // Built before the checks: a refusal releases both counts when it drops.
    let admitted = Admitted { bucket };
    if per_ip_max > 0 && per_ip_before.is_some_and(|n| n >= per_ip_max) {
        return Err(Refusal::PerIp);
    }
    if total_max > 0 && total_before >= total_max {
        return Err(Refusal::Total);
    }
    Ok(admitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_admit_up_to_the_bound_and_release_on_drop() {
        // A documentation-range address no other test uses; the total limit is off here so
        // concurrent tests cannot disturb the count.
        let ip: IpAddr = "192.0.2.77".parse().unwrap();
        let a = admit(Some(ip), 0, 2).unwrap();
        let b = admit(Some(ip), 0, 2).unwrap();
        assert_eq!(admit(Some(ip), 0, 2).unwrap_err(), Refusal::PerIp);
        drop(a);
        let c = admit(Some(ip), 0, 2).expect("a freed place is reusable");
        drop((b, c));
        assert!(admit(Some(ip), 0, 0).is_ok(), "0 means no limit");
    }

    #[test]
    fn a_limit_set_later_counts_the_connections_admitted_without_one() {
        let ip: IpAddr = "192.0.2.78".parse().unwrap();
        let open = [
            admit(Some(ip), 0, 0).unwrap(),
            admit(Some(ip), 0, 0).unwrap(),
        ];
        assert_eq!(admit(Some(ip), 0, 2).unwrap_err(), Refusal::PerIp);
        drop(open);
        assert!(admit(Some(ip), 0, 2).is_ok());
    }
}
