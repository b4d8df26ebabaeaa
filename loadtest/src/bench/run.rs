//! bench-run orchestration (below).
