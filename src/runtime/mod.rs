//! Pinned executors, cross-core rings, log ownership, start and stop.
