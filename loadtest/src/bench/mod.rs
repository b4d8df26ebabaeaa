//! The benchmark harness of benchmark.md (`/work/shared/docs/benchmark.md` in the project's
//! shared docs): a native WebSocket load generator, a baseline sender and the orchestration
//! that runs the six workloads against any certstream-compatible server.
//!
//! # Layout
//!
//! | module | what lives there |
//! |---|---|
//! | [`limits`] | every bound the harness uses |
//! | [`ws`] | hand-written RFC 6455 handshake and frame codec (both roles) |
//! | [`scan`] | byte scans for `message_type`, `seen`, `cert_index`, `source.url` (no JSON parse) |
//! | [`tracker`] | per-client, per-log loss tracking and URL interning |
//! | [`wsbench`] | N clients on a few threads: latency, delivered rate, loss, gap check |
//! | [`fanout`] | raw-fanout: the trivial coalescing sender that sets the machine's limit |
//! | [`run`] | bench-run: simulator + server under test + the six workloads → bench-results/ |
//! | [`sys`] | CPU time, RSS, machine description |
//! | [`http`] | blocking HTTP GET for control-plane requests |

pub mod fanout;
pub mod http;
pub mod limits;
pub mod run;
pub mod scan;
pub mod sys;
pub mod tracker;
pub mod ws;
pub mod wsbench;
