//! Server-level tests.
