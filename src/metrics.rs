//! Counters and the Prometheus text exposition.
