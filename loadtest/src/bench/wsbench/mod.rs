//! `wsbench`: N WebSocket clients in one process, cheap enough never to be the bottleneck.
//!
//! # Layout and data flow
//!
//! | module | what lives there |
//! |---|---|
//! | `config` | what to run: [`WsBenchConfig`], [`GapCheckConfig`], their bounds |
//! | `controller` | [`run`]: the calling thread walks the [`Phase`]s |
//! | `control` | what the controller shares with workers and aggregation: [`Phase`], `Control`, `Timing` |
//! | `worker` | one thread per `threads`: a tokio `LocalSet` of clients and a phase follower |
//! | `connect` | [`WsTarget`] from the URL, TLS trusting one CA, TCP + TLS + handshake |
//! | `client` | one client's task: connect, then hold (slow) or read until the end |
//! | `reader` | bytes → frames → messages, accounted per client and worker (no I/O) |
//! | `state` | per-worker counters and histograms, per-client log tracks |
//! | `targets` | the gap check's targets from `/sim/state`, the server's skip report |
//! | `aggregate` | workers' state → [`WsBenchReport`], loss and gap verdicts (no I/O) |
//! | `report` | the report types (the `ws` fields of bench-run's results.json) |
//!
//! [`run`] validates the config and parses the URL, starts the workers, and drives the phases
//! (connect → warm-up → measured window → optional gap-check drain → stop), calling the
//! caller's hook as each starts. Client `i` lives on worker `i % threads`; all per-worker state
//! is `Rc<RefCell<..>>`: nothing on the data path is shared between threads except one relaxed
//! atomic load of the phase per `read`. When the window ends the controller reads the targets
//! ([`fetch_targets`]) and hands them to the workers, which report once their reading clients
//! reached them. At stop every worker returns its state; `aggregate` merges it into the
//! report.
//!
//! - A reading client reads up to [`READ_BUF_BYTES`] per syscall and decodes every complete
//!   frame in place; a message is classified by a byte scan ([`crate::bench::scan::classify`]),
//!   never parsed as JSON.
//! - Slow clients connect and never read; at stop they probe whether the server closed them.
//! - Gap check ([`GapCheckConfig`]): after the window, `/sim/state` gives each log's final tree
//!   size and the entries the simulator corrupted for good. Every reading client must get every
//!   other index from its start to that size exactly once and in order; the corrupted ones must
//!   not arrive. Optionally the server's own report of skipped entries (certstream's
//!   `/health/deep`) must name them ([`ServerSkipCheck`]).
//!
//! # Invariants
//!
//! - Latency = wall-clock time right after the `read` that completed the frame − `seen`; both
//!   from the same host clock. It is recorded only inside the measured window, as are the
//!   delivered and byte counters; loss is tracked over the whole connection.
//! - Every wait has a bound: connect ([`CONNECT_TIMEOUT`], [`CONNECT_ALL_TIMEOUT`]), the run
//!   ([`RUN_DURATION_MAX`]), the drain ([`GapCheckConfig::drain_timeout`]).
//!
//! [`READ_BUF_BYTES`]: crate::bench::limits::READ_BUF_BYTES
//! [`CONNECT_TIMEOUT`]: crate::bench::limits::CONNECT_TIMEOUT
//! [`CONNECT_ALL_TIMEOUT`]: crate::bench::limits::CONNECT_ALL_TIMEOUT
//! [`RUN_DURATION_MAX`]: crate::bench::limits::RUN_DURATION_MAX

mod aggregate;
mod client;
mod config;
mod connect;
mod control;
mod controller;
mod reader;
mod report;
mod state;
mod targets;
mod worker;

pub use config::{GapCheckConfig, WsBenchConfig};
pub use connect::{connect, parse_ws_url, ClientIo, ClientStream, WsTarget};
pub use control::Phase;
pub use controller::run;
pub use report::{
    GapLog, GapReport, LossSummary, MsSummary, ServerSkipCheck, SlowSummary, WsBenchReport,
};
pub use targets::{
    fetch_server_skips, fetch_targets, parse_server_skips, parse_sim_state, GapTarget, ServerSkips,
};
