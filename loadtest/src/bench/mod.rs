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
//! | [`wsbench`] | N clients on a few threads: latency, delivered rate, loss, gap check (one module per concern: config, controller, worker, client, reader, aggregate, report) |
//! | [`fanout`] | raw-fanout: the trivial coalescing sender that sets the machine's limit |
//! | [`run`] | bench-run: simulator + server under test + the six workloads → bench-results/ (plan, commands, supervise, workloads, sample, judge, results, summary) |
//! | [`sys`] | CPU time, RSS, machine description |
//! | [`http`] | blocking HTTP GET for control-plane requests |

//!
//! # Running it
//!
//! ```text
//! cargo build --release -p loadtest
//! # the machine's baseline only (500 clients, 20 s window):
//! target/release/bench-run --workloads raw-fanout
//! # all six workloads against our server (and any other server by adding --server):
//! target/release/bench-run \
//!   --server 'certstream=target/release/certstream --log-list {log_list_url} --listen 127.0.0.1:{port}'
//! # a seconds-long smoke run:
//! target/release/bench-run --quick --server 'certstream=…'
//! # clients alone, against anything that speaks certstream:
//! target/release/wsbench --url ws://127.0.0.1:8080/ --clients 500 --warmup 10 --duration 60
//! ```
//!
//! Results land in `bench-results/<YYYY-MM-DD>-<commit>/` as `results.json` and `summary.md`,
//! next to each child's logs.

pub mod fanout;
pub mod http;
pub mod limits;
pub mod run;
pub mod scan;
pub mod sys;
pub mod tracker;
pub mod ws;
pub mod wsbench;
