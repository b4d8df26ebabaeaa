//! # certstream: a thread-per-core Certificate Transparency streaming server
//!
//! The server polls every usable public CT log (RFC 6962 and Static CT API), parses each new
//! entry once, serializes it once per stream form into a complete WebSocket text frame, and fans
//! those immutable frames out to every connected client in the CaliDog certstream format.
//!
//! # Layout
//!
//! | module | what lives there |
//! |---|---|
//! | [`limits`] | every bound and default (queue depths, page sizes, timeouts); nothing else sets one |
//! | [`cli`] | the `certstream` command: flags, logging, signals |
//! | [`config`] | command line, environment and file configuration, validated once at boot |
//! | [`ct`] | the CT side: log list, HTTP client, RFC 6962 and Static CT decoders and fetchers |
//! | [`frame`] | pre-encoded WebSocket frames ([`frame::Frames`]): the only data that crosses cores |
//! | [`cert`] | DER certificate → certstream JSON fields, and the three encoded frames |
//! | [`ws`] | the client side: listener, HTTP endpoints, WebSocket handshake, sessions, per-core hub |
//! | [`runtime`] | pinned executors, the cross-core rings, log ownership, start and stop |
//! | [`metrics`] | single-writer counters and the Prometheus text exposition |
//!
//! # Data flow
//!
//! ```text
//! core k: fetcher (logs owned by k) → ct decode → cert::encode (ONCE per form) → Arc<Frames>
//!         ├─ hub_k.publish(frames)                         (sessions on core k)
//!         └─ ring k→j for every j ≠ k (bounded SPSC; full ⇒ drop + count)
//! core j: pump drains ring i→j → hub_j.publish(frames)
//!         hub_j: per-core bounded history of frames; each session keeps a cursor into it
//!         session writer: copies every frame between its cursor and the head into one buffer
//!                         and sends it with ONE write (syscalls per client are the cost)
//! ```
//!
//! # Invariants worth naming
//!
//! - Each CT log is owned by exactly one executor for its whole life; only that executor fetches
//!   it and advances its cursor, so per-log order is the fetch order.
//! - A certificate is parsed once and serialized once per stream form, on its owning executor.
//! - Only immutable reference-counted frames and plain control messages cross cores, through
//!   bounded SPSC rings. No Mutex or RwLock sits on the data path; per-core state is `!Send`.
//! - No producer ever blocks on a consumer: a full ring or a lagging client drops and counts.
//! - A log cursor never moves backwards and never skips an entry that can still be fetched.

pub mod cert;
pub mod cli;
pub mod config;
pub mod ct;
pub mod frame;
pub mod limits;
pub mod metrics;
pub mod runtime;
pub mod ws;
