//! Connection limits, process-wide: total connections and connections per client IP.
//!
//! Connections land on any executor (SO_REUSEPORT), so the counts are shared atomics — control
//! plane, touched once per connection, never a lock. Per-IP counts live in a fixed table of
//! buckets indexed by a hash of the address; two addresses sharing a bucket share its count,
//! which can only make the limit stricter for them, never looser.

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
}

/// Holds one admitted connection's place in the counts until dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    bucket: Option<usize>,
    counted_total: bool,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if self.counted_total {
            TOTAL.fetch_sub(1, Ordering::AcqRel);
        }
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

/// Admits a connection from `ip` under the limits (0 = no limit).
pub(crate) fn admit(
    ip: Option<IpAddr>,
    total_max: usize,
    per_ip_max: usize,
) -> Result<Admitted, Refusal> {
    let mut admitted = Admitted {
        bucket: None,
        counted_total: false,
    };
    if per_ip_max > 0 {
        if let Some(ip) = ip {
            let b = bucket_of(ip);
            let before = PER_IP[b].fetch_add(1, Ordering::AcqRel);
            admitted.bucket = Some(b);
            if before >= per_ip_max {
                return Err(Refusal::PerIp);
            }
        }
    }
    if total_max > 0 {
        let before = TOTAL.fetch_add(1, Ordering::AcqRel);
        admitted.counted_total = true;
        if before >= total_max {
            return Err(Refusal::Total);
        }
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
}
