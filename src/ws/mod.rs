//! The client side: listener, HTTP endpoints, WebSocket handshake, sessions and the per-core hub.
//!
//! # Layout
//!
//! | file | what lives there |
//! |---|---|
//! | `mod.rs` | [`WsConfig`], [`ServerContext`], [`serve`] (accept loop) and one connection's life |
//! | [`hub`](Hub) | per-core bounded history of frames; wakes sleeping writers on flush |
//! | `session.rs` | one client after the 101: coalescing writer with the lag policy, sans-IO reader |
//! | `http.rs` | request head bounds, parsing, upgrade validation, routing, responses |
//! | `http_stream.rs` | SSE and NDJSON: a session whose writer wraps the same shared payloads in its protocol's bytes, one chunk per wake |
//! | `heartbeat.rs` | the 30 s JSON heartbeat + ping, published through the hub |
//! | `metrics.rs` | per-core counters and their `Send` snapshot / Prometheus text |
//! | `stream.rs` | one glommio socket shared by a session's reader and writer tasks; `Conn`: plain or TLS |
//! | `tls.rs` | `--tls-cert`/`--tls-key`: PEM loading, handshake, the TLS layer of a connection |
//! | `api.rs` | `/api/stats`, `/api/logs`, `/api/cert/{hash}`: routing, JSON errors, the lookup in the replay store ([`ApiHooks`]: what the runtime plugs in) |
//! | `live.rs` | the live page for browsers (`GET /`, `live.html` compiled in) |
//! | `rate.rs` | connection-rate limiting per address: a token bucket per core, no shared state |
//! | `access.rs` | [`AccessSettings`] (tokens, connection limits, TLS certificate): reloadable, per connection |
//!
//! # Data flow
//!
//! ```text
//! producer ── hub.publish(Arc<Frames>) ×N ── hub.flush() ──► each sleeping writer woken once
//! writer: control frames + hub[cursor..head] (its stream form) ──► ONE send
//!         (TLS: ──► rustls, one vectored write ──► ciphertext buffer ──► ONE send)
//! reader: socket ──► MemIo ──► tungstenite WebSocketContext ──► pong/close ──► writer's queue
//! ```
//!
//! # Invariants worth naming
//!
//! - Publishing is O(1) and never waits on a client; a client's backlog is `head - cursor`,
//!   bounded by the policy in `session.rs`, so a client that never reads delays nobody and
//!   holds at most its write buffer plus its kernel socket buffer.
//! - Everything here is per core (`Rc`, `Cell`); the runtime plugs cross-core concerns in
//!   through the closures of [`ServerContext`] (metrics aggregation, health).
//! - Every accepted connection ends in exactly one counted outcome: an HTTP response code, a
//!   handshake failure, or a session close reason.
//! - Tokens, connection limits and the TLS certificate are taken once per connection, from the
//!   core's `Rc` copy of the reloadable [`AccessSettings`]; the process-wide source's lock is
//!   only taken on the first connection after a reload. Open connections never see a change.

mod access;
mod admission;
mod api;
mod conn;
mod heartbeat;
mod http;
mod http_stream;
#[cfg(test)]
mod http_stream_tests;
mod hub;
mod live;
mod metrics;
mod rate;
mod resume;
mod session;
mod stream;
#[cfg(test)]
mod tests;
pub mod tls;
#[cfg(test)]
mod tls_tests;

use std::{net::IpAddr, rc::Rc, sync::Arc, time::Duration};

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};

pub use access::{AccessSettings, AccessSource};
pub use api::ApiHooks;
pub use heartbeat::{heartbeat_bytes, run_heartbeat};
pub use hub::Hub;
pub use metrics::{CloseReason, DropReason, HandshakeFailure, WsMetrics, WsMetricsSnapshot};

use access::LocalAccess;
use http::{HeadError, Page, ParseError, Reject, Response, Route};
// The sans-IO request and reader entry points `crate::fuzzing` drives.
use conn::Conn;
pub(crate) use http::{
    authorized, find_head_end, parse_head as parse_request_head, route, Route as RequestRoute,
};
pub(crate) use session::replay_client_bytes;
use stream::SharedStream;

use crate::{frame::StreamKind, limits};

/// Knobs of the client side. Defaults come from [`crate::limits`]; tests shorten the timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    /// Interval of the JSON heartbeat and ping.
    pub heartbeat_interval: Duration,
    /// Deadline for a whole request head (slowloris guard).
    pub request_head_timeout: Duration,
    /// Deadline for a TLS handshake (when TLS is on), before the head's own deadline.
    pub tls_handshake_timeout: Duration,
    /// Request head bytes accepted before 431.
    pub request_head_bytes_max: usize,
    /// Headers per request before 431.
    pub request_headers_max: usize,
    /// Largest client frame or message; larger ones close with 1009.
    pub client_message_bytes_max: usize,
    /// Backlog (frames) past which a client's oldest frames are skipped. Must stay below the
    /// hub's history size, or clients overrun the history before they are skipped.
    pub client_queue_frames_max: usize,
    /// How long a client may stay over its queue bound before it is closed with 1008.
    pub client_lagging_close_after: Duration,
    /// Bytes per send; bigger backlogs go out in several sends.
    pub client_write_bytes_max: usize,
    /// A socket that accepts no byte for this long is dropped.
    pub client_write_stall_timeout: Duration,
    /// How often a send blocked on a full socket re-applies the lag policy.
    pub lag_check_interval: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: limits::HEARTBEAT_INTERVAL,
            request_head_timeout: limits::REQUEST_HEAD_TIMEOUT,
            tls_handshake_timeout: limits::TLS_HANDSHAKE_TIMEOUT,
            request_head_bytes_max: limits::REQUEST_HEAD_BYTES_MAX,
            request_headers_max: limits::REQUEST_HEADERS_MAX,
            client_message_bytes_max: limits::CLIENT_MESSAGE_BYTES_MAX,
            client_queue_frames_max: limits::CLIENT_QUEUE_FRAMES_MAX,
            client_lagging_close_after: limits::CLIENT_LAGGING_CLOSE_AFTER,
            client_write_bytes_max: limits::CLIENT_WRITE_BYTES_MAX,
            client_write_stall_timeout: limits::CLIENT_WRITE_STALL_TIMEOUT,
            lag_check_interval: limits::CLIENT_LAG_CHECK_INTERVAL,
        }
    }
}

/// A [`WsConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsConfigError {
    /// A timer of zero would spin or fire at once.
    ZeroDuration(&'static str),
    /// A size of zero would refuse everything.
    ZeroSize(&'static str),
    /// Clients must be skipped before they can fall out of the hub history.
    QueueNotBelowHistory {
        queue_frames: usize,
        history_frames: usize,
    },
}

impl std::fmt::Display for WsConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsConfigError::ZeroDuration(name) => write!(f, "{name} must be longer than zero"),
            WsConfigError::ZeroSize(name) => write!(f, "{name} must be larger than zero"),
            WsConfigError::QueueNotBelowHistory {
                queue_frames,
                history_frames,
            } => write!(
                f,
                "client queue ({queue_frames} frames) must be smaller than the hub history \
                 ({history_frames} frames)"
            ),
        }
    }
}

impl std::error::Error for WsConfigError {}

impl WsConfig {
    /// Checks the knobs against each other and against the hub's history size.
    pub fn validate(&self, hub_history_frames: usize) -> Result<(), WsConfigError> {
        let durations = [
            ("heartbeat_interval", self.heartbeat_interval),
            ("request_head_timeout", self.request_head_timeout),
            ("tls_handshake_timeout", self.tls_handshake_timeout),
            (
                "client_lagging_close_after",
                self.client_lagging_close_after,
            ),
            (
                "client_write_stall_timeout",
                self.client_write_stall_timeout,
            ),
            ("lag_check_interval", self.lag_check_interval),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(WsConfigError::ZeroDuration(name));
        }
        let sizes = [
            ("request_head_bytes_max", self.request_head_bytes_max),
            ("request_headers_max", self.request_headers_max),
            ("client_message_bytes_max", self.client_message_bytes_max),
            ("client_queue_frames_max", self.client_queue_frames_max),
            ("client_write_bytes_max", self.client_write_bytes_max),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, n)| *n == 0) {
            return Err(WsConfigError::ZeroSize(name));
        }
        if self.client_queue_frames_max >= hub_history_frames {
            return Err(WsConfigError::QueueNotBelowHistory {
                queue_frames: self.client_queue_frames_max,
                history_frames: hub_history_frames,
            });
        }
        Ok(())
    }
}

/// Renders `/metrics`; receives this core's context so a single-core setup can render its own
/// counters, while the runtime's closure aggregates every core.
pub type MetricsText = Box<dyn Fn(&ServerContext) -> String>;
/// Answers `/health`: `Ok` → 200 `OK`, `Err(why)` → 503 with `why`.
pub type HealthCheck = Box<dyn Fn() -> Result<(), String>>;

/// Everything one core's listener and sessions share. `!Send`; use as `Rc<ServerContext>`.
pub struct ServerContext {
    hub: Rc<Hub>,
    config: WsConfig,
    /// Tokens, limits and TLS certificate for new connections (reloadable).
    access: LocalAccess,
    metrics: WsMetrics,
    /// This core's connection-rate buckets (`--connection-rate-per-ip`).
    rate: rate::ConnectionRate,
    metrics_text: MetricsText,
    health: HealthCheck,
    /// Renders `/health/deep` (JSON).
    health_deep: Box<dyn Fn() -> String>,
    /// The replay store, when `--replay-dir` is set: what resuming clients replay from.
    replay: Option<Rc<resume::ReplayAccess>>,
    /// `/api/*`: the runtime's documents and this core's certificate index.
    api: Option<ApiHooks>,
}

impl std::fmt::Debug for ServerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerContext")
            .field("hub", &self.hub)
            .field("config", &self.config)
            .field("access", &self.access)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl ServerContext {
    /// A context whose `/metrics` renders this core's counters and whose `/health` is always OK,
    /// serving plain connections without auth or limits until [`Self::with_access`].
    pub fn new(hub: Rc<Hub>, config: WsConfig) -> Self {
        Self {
            hub,
            config,
            access: LocalAccess::new(AccessSource::new(AccessSettings::default())),
            metrics: WsMetrics::default(),
            rate: rate::ConnectionRate::default(),
            metrics_text: Box::new(|ctx: &ServerContext| {
                let mut out = String::new();
                ctx.snapshot().write_prometheus(&mut out);
                out
            }),
            health: Box::new(|| Ok(())),
            health_deep: Box::new(|| "{\"status\":\"ok\"}".to_owned()),
            replay: None,
            api: None,
        }
    }

    /// Serves `/api/stats`, `/api/logs` and `/api/cert/{hash}` from `hooks`.
    pub fn with_api(mut self, hooks: ApiHooks) -> Self {
        self.api = Some(hooks);
        self
    }

    /// Serves `?since=` from the replay store in `config`; this core runs at most
    /// `max_active` replays at once. Call on the executor that runs this context.
    pub fn with_replay(
        mut self,
        config: Rc<crate::replay::store::StoreConfig>,
        max_active: u64,
    ) -> Self {
        let recent = Rc::new(crate::replay::recent::RecentFrames::default());
        self.hub.keep_recent(Rc::clone(&recent));
        self.replay = Some(Rc::new(resume::ReplayAccess::new(
            config, recent, max_active,
        )));
        self
    }

    /// Takes tokens, limits and TLS from `source`, following its reloads.
    pub fn with_access(mut self, source: Arc<AccessSource>) -> Self {
        self.access = LocalAccess::new(source);
        self
    }

    /// Where this context's access settings come from (publish there to reload them).
    pub fn access_source(&self) -> &Arc<AccessSource> {
        self.access.source()
    }

    /// Replaces the `/metrics` renderer (the runtime's cross-core aggregation).
    pub fn with_metrics_text(
        mut self,
        render: impl Fn(&ServerContext) -> String + 'static,
    ) -> Self {
        self.metrics_text = Box::new(render);
        self
    }

    /// Replaces the `/health/deep` renderer (the runtime's per-log view).
    pub fn with_health_deep(mut self, render: impl Fn() -> String + 'static) -> Self {
        self.health_deep = Box::new(render);
        self
    }

    /// Replaces the `/health` check.
    pub fn with_health(mut self, check: impl Fn() -> Result<(), String> + 'static) -> Self {
        self.health = Box::new(check);
        self
    }

    pub fn hub(&self) -> &Rc<Hub> {
        &self.hub
    }

    pub fn config(&self) -> &WsConfig {
        &self.config
    }

    pub fn metrics(&self) -> &WsMetrics {
        &self.metrics
    }

    /// This core's counters plus its hub gauges.
    pub fn snapshot(&self) -> WsMetricsSnapshot {
        let mut snap = self.metrics.snapshot();
        snap.hub_published = self.hub.head_seq();
        snap.hub_history = self.hub.history_len() as u64;
        let (cert, issuance) = self.hub.filters().suppressed();
        snap.dedup_suppressed = [cert, issuance];
        snap
    }
}

/// Accepts connections on this core forever. Also runs the core's heartbeat, which stops when
/// this future is dropped. Call once per core (one hub, one heartbeat); SO_REUSEPORT lets
/// every core bind the same address.
pub async fn serve(listener: TcpListener, ctx: Rc<ServerContext>) {
    let hub = Rc::clone(&ctx.hub);
    let _heartbeat = glommio::spawn_local(run_heartbeat(hub, ctx.config.heartbeat_interval));
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(handle_connection(stream, Rc::clone(&ctx))).detach();
            }
            Err(err) => {
                // EMFILE and friends persist until a connection closes: do not spin.
                tracing::warn!(error = %err, "accept failed");
                glommio::timer::sleep(limits::ACCEPT_ERROR_BACKOFF).await;
            }
        }
    }
}

/// One connection: TLS handshake (if on) and request head under their deadlines, then a
/// response or a session. Tokens, limits and TLS are the ones in force when it was accepted.
async fn handle_connection(stream: TcpStream, ctx: Rc<ServerContext>) {
    // Frames are coalesced by the writer; Nagle would only add latency.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "set_nodelay failed");
    }
    let access = ctx.access.get();
    let ip = stream.peer_addr().ok().map(|a| a.ip());
    let admitted = admit(ip, &access, &ctx);
    let socket = SharedStream::new(stream);
    let Some(mut conn) = Box::pin(secure(socket, &access, &ctx)).await else {
        return;
    };
    let _admitted = match admitted {
        Ok(a) => a,
        Err(refusal) => {
            return Box::pin(respond(conn, &ctx, refusal_response(refusal))).await;
        }
    };
    let mut buf = Vec::new();
    let config = &ctx.config;
    let head_len = match with_deadline(
        config.request_head_timeout,
        http::read_head(&mut conn, &mut buf, config.request_head_bytes_max),
    )
    .await
    {
        Some(Ok(len)) => len,
        Some(Err(err)) => return Box::pin(reject_head(err, conn, &ctx)).await,
        None => return Box::pin(reject_head(HeadError::Timeout, conn, &ctx)).await,
    };
    let head = http::parse_head(&buf[..head_len], config.request_headers_max);
    let route = match &head {
        Ok(head) if !http::authorized(head, &access.auth_tokens) => {
            Route::Reject(Reject::Unauthorized)
        }
        Ok(head) => http::route(head),
        Err(ParseError::TooManyHeaders) => Route::Reject(Reject::HeadTooLarge),
        Err(ParseError::Malformed) => {
            Route::Reject(Reject::BadRequest(HandshakeFailure::MalformedRequest))
        }
    };
    drop(access);
    // What follows the head is boxed: an async fn's state is the largest of its awaits, and a
    // session's is ~13 KB, which every connection still waiting for its head (a burst of
    // thousands, slowloris) would otherwise pay too.
    let leftover = buf.split_off(head_len);
    Box::pin(serve_route(route, head.ok(), conn, ctx, leftover)).await;
}

/// Serves a routed request: a session (WebSocket, SSE, NDJSON), a page, the API, or an error.
async fn serve_route(
    route: Route,
    head: Option<http::RequestHead>,
    conn: Conn,
    ctx: Rc<ServerContext>,
    leftover: Vec<u8>,
) {
    match route {
        Route::Upgrade {
            kind,
            accept,
            filter,
        } => {
            let query = head.as_ref().map_or("", |h| h.query.as_str());
            let resume = match admit_resume(query, filter.is_some(), &ctx) {
                Ok(resume) => resume,
                Err(response) => return respond(conn, &ctx, response).await,
            };
            let subscription = session::Subscription { filter, resume };
            upgrade(conn, ctx, kind, &accept, subscription, leftover).await;
        }
        Route::Stream {
            kind,
            protocol,
            filter,
        } => {
            let query = head.as_ref().map_or("".into(), http_stream::resume_query);
            let resume = match admit_resume(&query, filter.is_some(), &ctx) {
                Ok(resume) => resume,
                Err(response) => return respond(conn, &ctx, response).await,
            };
            let subscription = session::Subscription { filter, resume };
            http_stream::serve(conn, ctx, (kind, protocol), subscription).await;
        }
        Route::BadStream(why) => {
            ctx.metrics
                .handshake_failed(HandshakeFailure::MalformedRequest);
            let response = Response::new(400, http::TEXT_PLAIN, why.as_bytes().to_vec());
            respond(conn, &ctx, response).await;
        }
        Route::BadFilter(err) => {
            ctx.metrics.handshake_failed(HandshakeFailure::BadFilter);
            let body = format!("{err}\n").into_bytes();
            let response = Response::new(400, http::TEXT_PLAIN, body);
            respond(conn, &ctx, response).await;
        }
        Route::Page(page) => {
            let response = render_page(page, &ctx);
            respond(conn, &ctx, response).await;
        }
        Route::Api(request) => {
            let response = api::answer(request, &ctx).await;
            respond(conn, &ctx, response).await;
        }
        Route::Reject(reject) => {
            count_reject(reject, &ctx.metrics);
            respond(conn, &ctx, Response::reject(reject)).await;
        }
    }
}

/// Admits a connection from `ip` under the connection-rate limit (this core's buckets), then
/// the count limits. A connection refused for its rate takes no place in the counts.
fn admit(
    ip: Option<IpAddr>,
    access: &AccessSettings,
    ctx: &ServerContext,
) -> Result<admission::Admitted, admission::Refusal> {
    let rate = (
        access.connection_rate_per_ip,
        access.connection_burst_per_ip,
    );
    if let Some(ip) = ip {
        if !ctx.rate.admit(ip, rate.0, rate.1) {
            ctx.metrics.rate_limited();
            return Err(admission::Refusal::Rate);
        }
    }
    admission::admit(ip, access.connections_max, access.connections_per_ip_max)
}

fn refusal_response(refusal: admission::Refusal) -> Response {
    let (code, body) = match refusal {
        admission::Refusal::PerIp => (429, "too many connections from this address\n"),
        admission::Refusal::Rate => (429, "too many new connections from this address\n"),
        admission::Refusal::Total => (503, "server at its connection limit\n"),
    };
    Response::new(code, http::TEXT_PLAIN, body.as_bytes().to_vec())
}

/// The connection as the client speaks it: plain, or TLS once the handshake completed within
/// its deadline. `None` when the handshake failed (counted; a non-TLS client gets a TLS alert
/// and a graceful close, so it sees an error rather than a reset).
async fn secure(
    socket: SharedStream,
    access: &AccessSettings,
    ctx: &ServerContext,
) -> Option<Conn> {
    let Some(tls) = &access.tls else {
        return Some(Conn::Plain(socket));
    };
    let handshake = tls::accept(socket.clone(), Arc::clone(tls));
    match with_deadline(ctx.config.tls_handshake_timeout, handshake).await {
        Some(Ok(stream)) => Some(Conn::Tls(stream)),
        Some(Err(err)) => {
            tracing::debug!(error = %err, "TLS handshake failed");
            let failure = match err {
                tls::AcceptError::Tls(_) => HandshakeFailure::Tls,
                tls::AcceptError::Closed | tls::AcceptError::Io(_) => HandshakeFailure::Io,
            };
            ctx.metrics.handshake_failed(failure);
            if failure == HandshakeFailure::Tls {
                linger_close(Conn::Plain(socket)).await;
            }
            None
        }
        None => {
            ctx.metrics.handshake_failed(HandshakeFailure::Timeout);
            None
        }
    }
}

/// Runs `fut` unless `limit` passes first.
async fn with_deadline<T>(limit: Duration, fut: impl std::future::Future<Output = T>) -> Option<T> {
    future::or(async { Some(fut.await) }, async {
        glommio::timer::sleep(limit).await;
        None
    })
    .await
}

async fn reject_head(err: HeadError, stream: Conn, ctx: &ServerContext) {
    match err {
        HeadError::TooLarge => {
            count_reject(Reject::HeadTooLarge, &ctx.metrics);
            respond(stream, ctx, Response::reject(Reject::HeadTooLarge)).await;
        }
        // A client that cannot send a head in time gets no answer: it costs us nothing more.
        HeadError::Timeout => ctx.metrics.handshake_failed(HandshakeFailure::Timeout),
        HeadError::Closed => ctx.metrics.handshake_failed(HandshakeFailure::Io),
        HeadError::Io(err) => {
            tracing::debug!(error = %err, "reading request head failed");
            ctx.metrics.handshake_failed(HandshakeFailure::Io);
        }
    }
}

fn count_reject(reject: Reject, metrics: &WsMetrics) {
    match reject {
        Reject::BadRequest(failure) => metrics.handshake_failed(failure),
        Reject::UpgradeRequired => metrics.handshake_failed(HandshakeFailure::UnsupportedVersion),
        Reject::HeadTooLarge => metrics.handshake_failed(HandshakeFailure::HeadTooLarge),
        // Counted by their status code (`certstream_http_responses_total`).
        Reject::NotFound | Reject::MethodNotAllowed | Reject::Unauthorized => {}
    }
}

/// The resume request of an upgrade (`?resume`, `?since=`), or the response refusing it
/// before the upgrade: 400 with the reason for a malformed one, for one combined with a filter,
/// or for `?since=` on a server without a replay store; 503 when this core already runs its
/// share of replays.
fn admit_resume(
    query: &str,
    filtered: bool,
    ctx: &ServerContext,
) -> Result<Option<session::ResumeRequest>, Response> {
    let text = |code, body: String| Response::new(code, http::TEXT_PLAIN, body.into_bytes());
    let request =
        session::ResumeRequest::from_query(query).map_err(|e| text(400, format!("{e}\n")))?;
    let Some(request) = request else {
        return Ok(None);
    };
    if filtered {
        // A replay would have to match stored entries against the filter, which the store
        // cannot do yet: refused rather than replayed unfiltered.
        let why = "resume and since cannot be combined with filters (domain, keyword, regex, issuer, update_type, log, dedup) yet\n";
        return Err(text(400, why.to_owned()));
    }
    if request.since.is_some() {
        let Some(replay) = &ctx.replay else {
            let why = "since: this server keeps no replay store (it runs without --replay-dir)\n";
            return Err(text(400, why.to_owned()));
        };
        if !replay.admits(ctx.metrics.replays_active()) {
            let why = "too many clients replaying; retry later (--replay-max-clients)\n";
            return Err(text(503, why.to_owned()));
        }
    }
    Ok(Some(request))
}

async fn upgrade(
    mut stream: Conn,
    ctx: Rc<ServerContext>,
    kind: StreamKind,
    accept: &str,
    subscription: session::Subscription,
    leftover: Vec<u8>,
) {
    let reply = http::switching_protocols(accept);
    let sent = with_deadline(ctx.config.request_head_timeout, stream.write_all(&reply)).await;
    if !matches!(sent, Some(Ok(()))) {
        ctx.metrics.handshake_failed(HandshakeFailure::Io);
        return;
    }
    ctx.metrics.http_response(101);
    let protocol = http_stream::Protocol::WebSocket;
    session::run(stream, ctx, (kind, protocol), subscription, leftover).await;
}

fn render_page(page: Page, ctx: &ServerContext) -> Response {
    match page {
        Page::Index => Response::new(200, http::TEXT_HTML, http::INDEX_HTML.as_bytes().to_vec()),
        Page::Live => live::response(),
        Page::Example(kind) => {
            let body = ctx
                .hub
                .latest_payload(kind)
                .map_or_else(|| b"{}".to_vec(), |p| p.to_vec());
            Response::new(200, http::APPLICATION_JSON, body)
        }
        Page::Latest => Response::new(200, http::APPLICATION_JSON, latest_json(&ctx.hub)),
        Page::Health => match (ctx.health)() {
            Ok(()) => Response::new(200, http::TEXT_PLAIN, b"OK".to_vec()),
            Err(why) => Response::new(503, http::TEXT_PLAIN, why.into_bytes()),
        },
        Page::HealthDeep => Response::new(
            200,
            http::APPLICATION_JSON,
            (ctx.health_deep)().into_bytes(),
        ),
        Page::Metrics => Response::new(
            200,
            http::PROMETHEUS_TEXT,
            (ctx.metrics_text)(ctx).into_bytes(),
        ),
    }
}

/// `{"messages":[...]}` with the last lite messages, newest first.
fn latest_json(hub: &Hub) -> Vec<u8> {
    let payloads = hub.latest_lite_payloads();
    let mut body = Vec::with_capacity(16 + payloads.iter().map(|p| p.len() + 1).sum::<usize>());
    body.extend_from_slice(b"{\"messages\":[");
    for (i, payload) in payloads.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(payload);
    }
    body.extend_from_slice(b"]}");
    body
}

/// Sends `response` with one write, then closes gracefully.
async fn respond(mut stream: Conn, ctx: &ServerContext, response: Response) {
    ctx.metrics.http_response(response.code);
    let bytes = response.encode();
    // Bounded like the head: a client that will not read its answer does not hold the task.
    let sent = with_deadline(ctx.config.request_head_timeout, stream.write_all(&bytes)).await;
    if matches!(sent, Some(Ok(()))) {
        linger_close(stream).await;
    }
}

/// Half-closes the socket, then drains what the client still sends for a short while, so the
/// kernel does not answer unread data with an RST that could destroy our last bytes (a 431
/// sent while the client is still uploading its head, a 1009 close while it sends its frame).
/// Over TLS the close sends close_notify first, bounded like the drain: a client whose socket
/// is full does not get it and does not hold the task. The drained bytes are discarded unread.
async fn linger_close(mut conn: Conn) {
    if !matches!(
        with_deadline(limits::CLOSE_LINGER, conn.close()).await,
        Some(Ok(()))
    ) {
        return;
    }
    let mut stream = conn.socket().clone();
    let drain = async {
        let mut chunk = [0u8; 4096];
        let mut drained = 0;
        while drained < limits::CLOSE_LINGER_BYTES_MAX {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    };
    with_deadline(limits::CLOSE_LINGER, drain).await;
}
