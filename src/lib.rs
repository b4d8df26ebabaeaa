//! # certstream: a thread-per-core Certificate Transparency streaming server
//!
//! The server polls every usable public CT log (RFC 6962 and Static CT API) of Google's and
//! Apple's log lists, parses each new entry once, serializes it once per stream form into a
//! complete WebSocket text frame, and fans those immutable frames out to every connected client
//! in the CaliDog certstream format.
//!
//! # Layout
//!
//! | module | what lives there |
//! |---|---|
//! | [`limits`] | every bound and default (queue depths, page sizes, timeouts); nothing else sets one |
//! | [`cli`] | the `certstream` command: flags, logging, signals |
//! | [`config`] | the settings: each declared once in [`config::Config`] (flag, `CERTSTREAM_*` variable, file key, default, validation, help, whether SIGHUP reloads it), read from flags, environment and a TOML file (in that precedence) by one generic layer, validated once at boot; [`config::watch`] reloads when the `--config` file's content changes (inotify, a thread of its own) |
//! | [`ct`] | the CT side: log lists (parsed, and merged by log ID), HTTP client, pacing, RFC 6962 and Static CT decoders, and the per-log pollers ([`ct::poller`]); every CT error says whose fault it is and whether retrying helps ([`ct::error`]) |
//! | [`frame`] | pre-encoded WebSocket frames ([`frame::Frames`]): the only data that crosses cores |
//! | [`filter`] | subscriptions: per-client filters (`?domain=&keyword=&regex=&issuer=&update_type=&log=`) parsed before the upgrade, compiled per core into shared automata and matched once per certificate; `dedup=` windows |
//! | [`cert`] | DER certificate → certstream JSON fields, and the three encoded frames |
//! | [`ws`] | the client side: listener, TLS (rustls), HTTP endpoints and the live page for browsers, WebSocket handshake, sessions, per-core hub, reloadable access settings (tokens, limits, certificate), per-core connection-rate buckets |
//! | [`runtime`] | pinned executors (one per CPU at most), the cross-core rings, the log list sources (each loaded and refreshed on its own: [`runtime::log_sources`]), log ownership, and a server's life as messages: [`runtime::start`] → [`runtime::Server`] (`addr`, `stop`, `reload`, `wait`), several per process if wanted |
//! | [`api`] | the HTTP API's data (issue #14): per-core rates, store summaries and the certificate index ([`api::CertIndex`]), carried in each core's snapshot; the `/api/stats` and `/api/logs` JSON (served by `ws/api.rs`) |
//! | [`replay`] | resume and replay: [`replay::token`], the resume cursor (per-log positions as a URL-safe token that outlives the server); [`replay::store`], the on-disk store of every streamed entry per log (segments, recovery, retention, readers on any executor). The session side is `ws::resume` and `ws::session::replay`; the writing side `runtime::store_feed` |
//! | [`state`] | the saved per-log cursors (`--state-file`): resume after a restart |
//! | [`systemd`] | sd_notify READY/STOPPING/WATCHDOG, no-op outside systemd |
//! | [`metrics`] | single-writer counters, the plain snapshots that cross cores, and the Prometheus text and `/health/deep` renderings; it knows nothing of the CT side (a log's snapshot is filled by its [`ct::poller::LogProgress`]) |
//! | `fuzzing` (hidden) | one checked entry point per parser of outside bytes, driven by `loadtest/fuzz/` and by unit tests over seeds |
//!
//! # Data flow
//!
//! ```text
//! core 0: coordinator: log lists, each fetched on its own (or its embedded fallback), merged by
//!         log ID (Google's and Apple's by default) → assigns each log to a core
//! core k: poller per owned log → ct decode → cert::encode_entry (ONCE per form) → Arc<Frames>
//!         ├─ store_feed_k.offer(page): its writer task appends the page to the log's replay
//!         │                            store (one io_uring write; bounded queue, full ⇒
//!         │                            streamed but not stored, counted; `--replay-dir`)
//!         ├─ hub_k.publish(frames); hub_k.flush()          (sessions on core k)
//!         └─ ring k→j for every j ≠ k: one Arc'd batch per page (bounded SPSC; full ⇒ drop + count)
//! core j: pump drains ring i→j → hub_j.publish → flush (every ≤ 1024 frames) → yield
//!         hub_j.publish: when a client of core j filters (`?domain=…`) or dedups, the
//!                certificate's EntryMeta facts are matched ONCE against core j's compiled
//!                filters; the bitset of clients that want it sits beside the shared frames
//!         hub_j: per-core history of frames; each session keeps a cursor into it, and the hub
//!                releases what every session has sent (memory follows the slowest lag)
//!         session writer, once per wake: ONE non-blocking vectored sendmsg of its control
//!                frames and every frame from its cursor to the head, borrowed from the
//!                history (no copy); only what the kernel did not take is copied and sent
//!                with an awaited write. Syscalls per client are the cost, not bytes.
//!                Over TLS (`--tls-cert`) the same frames go through rustls in one vectored
//!                write and the ciphertext leaves with one send the same way. SSE and NDJSON
//!                sessions send the same frames' payloads between static per-protocol
//!                bytes, one HTTP chunk per wake (`ws::http_stream`).
//!         resuming session (`?resume`, `?since=`): replays from the store (reads in a
//!                low-share task queue; any core reads any log's files), then picks live
//!                entries by log index (skips what it sent; a hole sends it back to the
//!                store), and ends batches with a `cursor` message
//!
//! lifecycle (per server, no process-wide flag, no polling loop):
//! signal thread ── ServerControl::stop ──▶ the stop channel closes: every executor task waiting
//!                                          on it wakes in its next scheduling round
//!               └─ ServerControl::reload ─▶ access settings republished + a reload request to
//!                                          the coordinator
//! config watcher (a change of the --config file) ── ServerControl::reload ─▶ the same
//! executors ──▶ starting thread: Bound (listener up) / Exited (ended: a failure while starting)
//! stop: pollers stop, publishers close ─▶ "closed" message to every other executor (bounded
//!       wait) ─▶ ring drain ─▶ 1001 close to every client ─▶ flush grace ─▶ state file written
//! ```
//!
//! # Invariants worth naming
//!
//! - Each CT log is owned by exactly one executor for its whole life; only that executor fetches
//!   it and advances its cursor, so per-log order is the fetch order.
//! - A certificate is parsed once and serialized once per stream form, on its owning executor.
//!   Filters never re-encode: a filtered client gets the same shared frames, fewer of them; a
//!   certificate is matched once per core whatever the number of filtered clients
//!   ([`filter`]).
//! - Only immutable reference-counted frames and plain control messages cross cores, through
//!   bounded SPSC rings (lifecycle messages between threads go through bounded `flume`
//!   channels). The server's code holds no Mutex or RwLock (settings a SIGHUP reloads are
//!   published through an `ArcSwap` and picked up per core by an epoch check); per-core state
//!   is `!Send`.
//! - Start, stop, reload and liveness are messages of one server ([`runtime::ServerControl`]):
//!   a stop requested at any moment, even while executors are still being created, ends the
//!   start and the process within [`limits::STOP_DEADLINE`]; an executor that cannot start
//!   fails the boot with the fix, never a wait.
//! - No producer ever blocks on a consumer: a full ring or a lagging client drops and counts.
//! - A log cursor never moves backwards and never skips an entry that can still be fetched;
//!   only entries that can never be decoded are skipped, counted and logged with their index
//!   (the most recent are listed in `/health/deep`). The cursor, the verified tree size and the
//!   skips have one owner, the log's [`ct::poller::LogProgress`], and one writer, its poller:
//!   the consume step advances the cursor only past a page the publisher took, never past the
//!   verified tree size (a violation panics in debug builds and is refused, logged and counted
//!   in release). Snapshots, the state file, `/health/deep` and `/metrics` only read it. For
//!   Static CT the skipped entries include the rest of a data tile after an entry the log keeps
//!   serving broken (the same bytes for [`limits::BROKEN_TILE_CONFIRM_AFTER`]): entries are
//!   length-prefixed, so nothing after the break can be located. A log that leaves the list and
//!   comes back resumes from the cursor its poller stopped at, on the same executor.
//! - A client's backlog is bounded ([`limits::CLIENT_QUEUE_FRAMES_MAX`]); past it the oldest
//!   frames are dropped and counted, and a client that stays behind is closed (1008). A
//!   session's cursor into its hub only moves forward and never passes the head, and every
//!   published frame is one whole WebSocket frame: both are asserted where they are used.
//! - A resuming client gets every entry of a log at most once and in index order: its session
//!   keeps the next index per log (`ws::resume`), skips anything below it and replays from
//!   the store anything the live stream skipped; what the store no longer holds is announced
//!   with a `gap` message, never skipped silently. A saved log cursor (state file) never
//!   passes the first page still waiting for the store writer, so after a crash the store
//!   misses nothing it had streamed.
//! - The replay store ([`replay::store`]) of a log has one writer, the log's executor, which
//!   only appends (one write per page) and deletes whole oldest segments; readers on any
//!   executor share no memory with it and go through the files: a segment is complete once a
//!   newer one exists, and a short or bad record at the end of the newest is "not written
//!   yet", never served. Stored indexes strictly increase per log, so a page re-fetched after
//!   a crash is never stored twice.
//! - Every executor indexes each certificate it publishes into its hub ([`api::CertIndex`],
//!   bounded by count, only with a replay store), so `/api/cert/{hash}` is answered by the
//!   executor that took the request, with no cross-core message; the entry itself is read from
//!   the replay store's files (see [`api`] for what this costs and misses).
//! - Imports run one way: `cli` → `runtime` → (`ws`, `ct`, `cert`, `config`); `ct` → `metrics`
//!   → `ws`'s snapshot type and `api`'s facts; `ws` → `api`; everything → `limits`, `frame`.
//!   No two files import each other (the coordinator reaches its executor through the narrow `runtime::coordinator::Host`
//!   trait; the TLS codec and hashing the CT decoders share sit in `ct::tls_codec` and
//!   `ct::hash`).

pub mod api;
pub mod cert;
pub mod cli;
pub mod config;
pub mod ct;
pub mod filter;
pub mod frame;
/// Fuzz targets of every parser of outside bytes (`loadtest/fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod limits;
pub mod metrics;
pub mod replay;
pub mod runtime;
pub mod state;
pub mod systemd;
pub mod ws;
