//! Per-core counters of the client side, and a `Send` snapshot the runtime can sum across cores
//! and render as Prometheus text.
//!
//! Counters are plain `Cell<u64>`s: a core's sessions are its only writers, so no atomics are
//! needed. Every labelled family is an array indexed by a small enum, so the label set is fixed
//! and rendering needs no allocation per label.

use std::{cell::Cell, fmt::Write as _};

use super::http_stream::Protocol;
use crate::frame::StreamKind;

/// Why frames were not delivered to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The client's backlog passed its queue bound; its oldest frames were skipped.
    ClientQueueFull,
}

impl DropReason {
    const ALL: [DropReason; 1] = [DropReason::ClientQueueFull];
    fn label(self) -> &'static str {
        match self {
            DropReason::ClientQueueFull => "client_queue_full",
        }
    }
}

/// Why a WebSocket session ended. Every session ends with exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client started the close handshake and got our reply.
    ClientClose,
    /// The client vanished without a close frame (EOF or reset).
    Disconnected,
    /// A socket error on read or write.
    IoError,
    /// The client stayed over its queue bound too long: closed with 1008.
    Lagging,
    /// The client's cursor fell out of the hub history: closed with 1008.
    HistoryOverrun,
    /// The socket accepted no byte for the stall timeout.
    WriteStalled,
    /// The client broke the protocol (unmasked frame, bad opcode, ...): closed with 1002.
    ProtocolError,
    /// The client sent a frame or message over the size bound: closed with 1009.
    MessageTooBig,
    /// The client sent a text message that is not UTF-8: closed with 1007.
    InvalidUtf8,
}

impl CloseReason {
    const ALL: [CloseReason; 9] = [
        CloseReason::ClientClose,
        CloseReason::Disconnected,
        CloseReason::IoError,
        CloseReason::Lagging,
        CloseReason::HistoryOverrun,
        CloseReason::WriteStalled,
        CloseReason::ProtocolError,
        CloseReason::MessageTooBig,
        CloseReason::InvalidUtf8,
    ];

    /// Label value used in the exposition.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::ClientClose => "client_close",
            CloseReason::Disconnected => "disconnected",
            CloseReason::IoError => "io_error",
            CloseReason::Lagging => "lagging",
            CloseReason::HistoryOverrun => "history_overrun",
            CloseReason::WriteStalled => "write_stalled",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::MessageTooBig => "message_too_big",
            CloseReason::InvalidUtf8 => "invalid_utf8",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a connection did not become a session or get a useful HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The TLS handshake or the request head did not complete before its deadline (slowloris).
    Timeout,
    /// The head passed the byte or header-count bound (431).
    HeadTooLarge,
    /// The head is not valid HTTP/1.x (400).
    MalformedRequest,
    /// An upgrade request missing its key, Connection: upgrade, or HTTP/1.1 (400).
    BadUpgrade,
    /// Sec-WebSocket-Version other than 13 (426).
    UnsupportedVersion,
    /// The socket failed or closed before a full head arrived (or during the TLS handshake).
    Io,
    /// The TLS handshake failed: not TLS (a plain request on the TLS port), or no common
    /// version or cipher suite.
    Tls,
    /// A stream request whose filter parameters were refused (400, before the upgrade).
    BadFilter,
}

impl HandshakeFailure {
    const ALL: [HandshakeFailure; 8] = [
        HandshakeFailure::Timeout,
        HandshakeFailure::HeadTooLarge,
        HandshakeFailure::MalformedRequest,
        HandshakeFailure::BadUpgrade,
        HandshakeFailure::UnsupportedVersion,
        HandshakeFailure::Io,
        HandshakeFailure::Tls,
        HandshakeFailure::BadFilter,
    ];

    fn label(self) -> &'static str {
        match self {
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::HeadTooLarge => "head_too_large",
            HandshakeFailure::MalformedRequest => "malformed_request",
            HandshakeFailure::BadUpgrade => "bad_upgrade",
            HandshakeFailure::UnsupportedVersion => "unsupported_version",
            HandshakeFailure::Io => "io",
            HandshakeFailure::Tls => "tls",
            HandshakeFailure::BadFilter => "bad_filter",
        }
    }
}

const STREAMS: [StreamKind; 3] = [StreamKind::Lite, StreamKind::Full, StreamKind::Domains];

fn stream_index(kind: StreamKind) -> usize {
    match kind {
        StreamKind::Lite => 0,
        StreamKind::Full => 1,
        StreamKind::Domains => 2,
    }
}

fn stream_label(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Lite => "lite",
        StreamKind::Full => "full",
        StreamKind::Domains => "domains",
    }
}

/// HTTP status codes the server answers with, for `http_responses_total{code}`.
const HTTP_CODES: [u16; 11] = [101, 200, 400, 401, 404, 405, 426, 429, 431, 500, 503];

fn add(cell: &Cell<u64>, n: u64) {
    cell.set(cell.get().wrapping_add(n));
}

/// The counters of one core. `!Sync`; lives in the core's `ServerContext`.
#[derive(Debug, Default)]
pub struct WsMetrics {
    clients_connected: [Cell<u64>; 3],
    clients_accepted: [Cell<u64>; 3],
    /// The same sessions by protocol (see [`Protocol::index`]).
    protocol_connected: [Cell<u64>; 3],
    protocol_accepted: [Cell<u64>; 3],
    frames_sent: Cell<u64>,
    frames_dropped: [Cell<u64>; DropReason::ALL.len()],
    clients_closed: [Cell<u64>; CloseReason::ALL.len()],
    bytes_written: Cell<u64>,
    writes: Cell<u64>,
    handshake_failures: [Cell<u64>; HandshakeFailure::ALL.len()],
    http_responses: [Cell<u64>; HTTP_CODES.len()],
    rate_limited: Cell<u64>,
    /// Resuming sessions: replays started, running, frames they sent from the store, live
    /// holes they filled, and gaps they reported.
    replays_started: Cell<u64>,
    replays_active: Cell<u64>,
    replayed_frames: Cell<u64>,
    resume_holes: Cell<u64>,
    resume_gaps: Cell<u64>,
    replayed_from_memory: Cell<u64>,
}

impl WsMetrics {
    pub(crate) fn session_opened(&self, kind: StreamKind, protocol: Protocol) {
        add(&self.clients_connected[stream_index(kind)], 1);
        add(&self.clients_accepted[stream_index(kind)], 1);
        add(&self.protocol_connected[protocol.index()], 1);
        add(&self.protocol_accepted[protocol.index()], 1);
    }

    pub(crate) fn session_closed(&self, kind: StreamKind, protocol: Protocol, reason: CloseReason) {
        for gauge in [
            &self.clients_connected[stream_index(kind)],
            &self.protocol_connected[protocol.index()],
        ] {
            gauge.set(gauge.get().saturating_sub(1));
        }
        add(&self.clients_closed[reason.index()], 1);
    }

    pub(crate) fn frames_sent(&self, n: u64) {
        add(&self.frames_sent, n);
    }

    pub(crate) fn frames_dropped(&self, reason: DropReason, n: u64) {
        add(&self.frames_dropped[reason as usize], n);
    }

    /// One completed send of a session writer (a syscall), `bytes` long.
    pub(crate) fn wrote(&self, bytes: usize) {
        add(&self.writes, 1);
        add(&self.bytes_written, bytes as u64);
    }

    pub(crate) fn handshake_failed(&self, failure: HandshakeFailure) {
        add(&self.handshake_failures[failure as usize], 1);
    }

    pub(crate) fn http_response(&self, code: u16) {
        if let Some(i) = HTTP_CODES.iter().position(|&c| c == code) {
            add(&self.http_responses[i], 1);
        }
    }

    /// A connection refused for its address's connection rate (answered 429).
    pub(crate) fn rate_limited(&self) {
        add(&self.rate_limited, 1);
    }

    pub(crate) fn replay_started(&self) {
        add(&self.replays_started, 1);
        add(&self.replays_active, 1);
    }

    pub(crate) fn replay_ended(&self) {
        self.replays_active
            .set(self.replays_active.get().saturating_sub(1));
    }

    /// Replays running on this core (capped by `--replay-max-clients`).
    pub(crate) fn replays_active(&self) -> u64 {
        self.replays_active.get()
    }

    pub(crate) fn replayed(&self, frames: u64) {
        add(&self.replayed_frames, frames);
    }

    pub(crate) fn replayed_from_memory(&self, frames: u64) {
        add(&self.replayed_from_memory, frames);
    }

    pub(crate) fn resume_hole(&self) {
        add(&self.resume_holes, 1);
    }

    pub(crate) fn resume_gap(&self) {
        add(&self.resume_gaps, 1);
    }

    /// Clients connected right now on this core.
    pub fn clients_connected(&self, kind: StreamKind) -> u64 {
        self.clients_connected[stream_index(kind)].get()
    }

    /// A plain copy of every counter, to send across cores or render.
    pub fn snapshot(&self) -> WsMetricsSnapshot {
        let get = |cells: &[Cell<u64>]| cells.iter().map(Cell::get).collect::<Vec<_>>();
        let mut snap = WsMetricsSnapshot::default();
        snap.clients_connected
            .copy_from_slice(&get(&self.clients_connected));
        snap.clients_accepted
            .copy_from_slice(&get(&self.clients_accepted));
        snap.protocol_connected
            .copy_from_slice(&get(&self.protocol_connected));
        snap.protocol_accepted
            .copy_from_slice(&get(&self.protocol_accepted));
        snap.frames_sent = self.frames_sent.get();
        snap.frames_dropped
            .copy_from_slice(&get(&self.frames_dropped));
        snap.clients_closed
            .copy_from_slice(&get(&self.clients_closed));
        snap.bytes_written = self.bytes_written.get();
        snap.writes = self.writes.get();
        snap.handshake_failures
            .copy_from_slice(&get(&self.handshake_failures));
        snap.http_responses
            .copy_from_slice(&get(&self.http_responses));
        snap.rate_limited = self.rate_limited.get();
        snap.resume = [
            self.replays_started.get(),
            self.replays_active.get(),
            self.replayed_frames.get(),
            self.resume_holes.get(),
            self.resume_gaps.get(),
            self.replayed_from_memory.get(),
        ];
        snap
    }
}

/// A `Send` copy of [`WsMetrics`] (plus hub gauges), summable across cores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WsMetricsSnapshot {
    pub clients_connected: [u64; 3],
    pub clients_accepted: [u64; 3],
    /// Connected clients and sessions ever opened, by protocol: WebSocket, SSE, NDJSON.
    pub protocol_connected: [u64; 3],
    pub protocol_accepted: [u64; 3],
    pub frames_sent: u64,
    pub frames_dropped: [u64; DropReason::ALL.len()],
    pub clients_closed: [u64; CloseReason::ALL.len()],
    pub bytes_written: u64,
    /// Sends issued by session writers; compare with `frames_sent` to see coalescing.
    pub writes: u64,
    pub handshake_failures: [u64; HandshakeFailure::ALL.len()],
    pub http_responses: [u64; HTTP_CODES.len()],
    /// Connections refused for their address's connection rate (`--connection-rate-per-ip`).
    pub rate_limited: u64,
    /// Entries ever published into the hub(s).
    pub hub_published: u64,
    /// Entries held in the hub history(ies) now.
    pub hub_history: u64,
    /// Replays started, replays running, frames replayed, live holes met, gaps reported,
    /// frames replayed from the store's memory tier.
    pub resume: [u64; 6],
    /// Frames not sent to clients that asked for `dedup=`: [same certificate, same issuance].
    pub dedup_suppressed: [u64; 2],
}

impl WsMetricsSnapshot {
    /// Clients connected to `kind`.
    pub fn clients(&self, kind: StreamKind) -> u64 {
        self.clients_connected[stream_index(kind)]
    }

    /// All connected clients.
    pub fn clients_total(&self) -> u64 {
        self.clients_connected.iter().sum()
    }

    /// Sessions that ended for `reason`.
    pub fn closed(&self, reason: CloseReason) -> u64 {
        self.clients_closed[reason.index()]
    }

    /// Frames dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.frames_dropped[reason as usize]
    }

    /// Connections that failed with `failure`.
    pub fn handshake_failures(&self, failure: HandshakeFailure) -> u64 {
        self.handshake_failures[failure as usize]
    }

    /// Responses sent with status `code` (0 for codes the server never sends).
    pub fn http_responses(&self, code: u16) -> u64 {
        HTTP_CODES
            .iter()
            .position(|&c| c == code)
            .map_or(0, |i| self.http_responses[i])
    }

    /// Adds another core's counters to these.
    pub fn merge(&mut self, other: &WsMetricsSnapshot) {
        fn sum<const N: usize>(a: &mut [u64; N], b: &[u64; N]) {
            a.iter_mut()
                .zip(b)
                .for_each(|(x, y)| *x = x.wrapping_add(*y));
        }
        sum(&mut self.clients_connected, &other.clients_connected);
        sum(&mut self.clients_accepted, &other.clients_accepted);
        sum(&mut self.protocol_connected, &other.protocol_connected);
        sum(&mut self.protocol_accepted, &other.protocol_accepted);
        self.frames_sent = self.frames_sent.wrapping_add(other.frames_sent);
        sum(&mut self.frames_dropped, &other.frames_dropped);
        sum(&mut self.clients_closed, &other.clients_closed);
        self.bytes_written = self.bytes_written.wrapping_add(other.bytes_written);
        self.writes = self.writes.wrapping_add(other.writes);
        sum(&mut self.handshake_failures, &other.handshake_failures);
        sum(&mut self.http_responses, &other.http_responses);
        self.rate_limited = self.rate_limited.wrapping_add(other.rate_limited);
        self.hub_published = self.hub_published.wrapping_add(other.hub_published);
        self.hub_history = self.hub_history.wrapping_add(other.hub_history);
        sum(&mut self.resume, &other.resume);
        sum(&mut self.dedup_suppressed, &other.dedup_suppressed);
    }

    /// The per-protocol client families (WebSocket, SSE, NDJSON).
    fn write_protocols(&self, out: &mut String) {
        let families = [
            (
                "certstream_clients",
                "gauge",
                "Connected stream clients, by protocol.",
                &self.protocol_connected,
            ),
            (
                "certstream_clients_accepted_total",
                "counter",
                "Stream sessions opened, by protocol.",
                &self.protocol_accepted,
            ),
        ];
        for (name, kind, help, values) in families {
            family(out, name, kind, help);
            for protocol in Protocol::ALL {
                let v = values[protocol.index()];
                let label = protocol.label();
                let _ = writeln!(out, "{name}{{protocol=\"{label}\"}} {v}");
            }
        }
    }

    /// Appends the Prometheus text exposition (format 0.0.4) of these counters to `out`.
    pub fn write_prometheus(&self, out: &mut String) {
        family(
            out,
            "certstream_ws_clients",
            "gauge",
            "Connected WebSocket clients.",
        );
        for kind in STREAMS {
            let v = self.clients_connected[stream_index(kind)];
            let _ = writeln!(
                out,
                "certstream_ws_clients{{stream=\"{}\"}} {v}",
                stream_label(kind)
            );
        }
        family(
            out,
            "certstream_ws_clients_accepted_total",
            "counter",
            "WebSocket upgrades.",
        );
        for kind in STREAMS {
            let v = self.clients_accepted[stream_index(kind)];
            let label = stream_label(kind);
            let _ = writeln!(
                out,
                "certstream_ws_clients_accepted_total{{stream=\"{label}\"}} {v}"
            );
        }
        self.write_protocols(out);
        family(
            out,
            "certstream_ws_clients_closed_total",
            "counter",
            "Sessions ended, by reason.",
        );
        for reason in CloseReason::ALL {
            let v = self.clients_closed[reason.index()];
            let label = reason.label();
            let _ = writeln!(
                out,
                "certstream_ws_clients_closed_total{{reason=\"{label}\"}} {v}"
            );
        }
        family(
            out,
            "certstream_ws_frames_sent_total",
            "counter",
            "Frames copied to clients.",
        );
        let _ = writeln!(out, "certstream_ws_frames_sent_total {}", self.frames_sent);
        family(
            out,
            "certstream_ws_frames_dropped_total",
            "counter",
            "Frames skipped, by reason.",
        );
        for reason in DropReason::ALL {
            let v = self.frames_dropped[reason as usize];
            let label = reason.label();
            let _ = writeln!(
                out,
                "certstream_ws_frames_dropped_total{{reason=\"{label}\"}} {v}"
            );
        }
        family(
            out,
            "certstream_ws_writes_total",
            "counter",
            "Socket sends by session writers.",
        );
        let _ = writeln!(out, "certstream_ws_writes_total {}", self.writes);
        family(
            out,
            "certstream_ws_bytes_written_total",
            "counter",
            "Bytes sent to clients.",
        );
        let _ = writeln!(
            out,
            "certstream_ws_bytes_written_total {}",
            self.bytes_written
        );
        self.write_handshake_and_hub(out);
    }

    fn write_handshake_and_hub(&self, out: &mut String) {
        let name = "certstream_ws_handshake_failures_total";
        family(
            out,
            name,
            "counter",
            "Connections rejected or abandoned before a session.",
        );
        for failure in HandshakeFailure::ALL {
            let v = self.handshake_failures[failure as usize];
            let _ = writeln!(out, "{name}{{reason=\"{}\"}} {v}", failure.label());
        }
        let name = "certstream_http_responses_total";
        family(out, name, "counter", "HTTP responses by status code.");
        for (code, v) in HTTP_CODES.iter().zip(self.http_responses) {
            let _ = writeln!(out, "{name}{{code=\"{code}\"}} {v}");
        }
        let name = "certstream_connections_rate_limited_total";
        family(
            out,
            name,
            "counter",
            "Connections refused (429) for their address's connection rate.",
        );
        let _ = writeln!(out, "{name} {}", self.rate_limited);
        let name = "certstream_hub_published_total";
        family(
            out,
            name,
            "counter",
            "Entries published into the per-core hubs.",
        );
        let _ = writeln!(out, "{name} {}", self.hub_published);
        let name = "certstream_hub_history_frames";
        family(
            out,
            name,
            "gauge",
            "Entries held in the per-core hub histories.",
        );
        let _ = writeln!(out, "{name} {}", self.hub_history);
        let name = "certstream_dedup_suppressed_total";
        family(
            out,
            name,
            "counter",
            "Duplicate certificates not sent to clients that asked for dedup, by reason.",
        );
        for (reason, v) in ["cert", "issuance"].iter().zip(self.dedup_suppressed) {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {v}");
        }
        self.write_resume(out);
    }

    fn write_resume(&self, out: &mut String) {
        let [started, active, frames, holes, gaps, from_memory] = self.resume;
        for (name, kind, help, v) in [
            ("certstream_replays_total", "counter", "Replays from the store started by resuming clients.", started),
            ("certstream_replays_active", "gauge", "Replays running now.", active),
            ("certstream_replayed_frames_total", "counter", "Frames sent from the replay store.", frames),
            ("certstream_replayed_from_memory_frames_total", "counter", "Frames of those sent from the store's memory tier (no disk read).", from_memory),
            ("certstream_resume_holes_total", "counter", "Holes in the live stream a resuming client filled from the store.", holes),
            ("certstream_resume_gaps_total", "counter", "Gap messages sent: entries a resuming client asked for that the store no longer holds.", gaps),
        ] {
            family(out, name, kind, help);
            let _ = writeln!(out, "{name} {v}");
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reason_index_matches_all_order() {
        for (i, reason) in CloseReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
        for (i, failure) in HandshakeFailure::ALL.iter().enumerate() {
            assert_eq!(*failure as usize, i);
        }
    }

    #[test]
    fn snapshot_merge_and_render() {
        let m = WsMetrics::default();
        m.session_opened(StreamKind::Full, Protocol::Sse);
        m.session_opened(StreamKind::Full, Protocol::WebSocket);
        m.session_closed(StreamKind::Full, Protocol::WebSocket, CloseReason::Lagging);
        m.frames_dropped(DropReason::ClientQueueFull, 7);
        m.wrote(100);
        m.http_response(404);
        let mut a = m.snapshot();
        assert_eq!(a.clients(StreamKind::Full), 1);
        assert_eq!(a.closed(CloseReason::Lagging), 1);
        a.merge(&m.snapshot());
        assert_eq!(a.clients(StreamKind::Full), 2);
        assert_eq!(a.dropped(DropReason::ClientQueueFull), 14);
        assert_eq!(a.http_responses(404), 2);
        let mut text = String::new();
        a.write_prometheus(&mut text);
        assert!(
            text.contains("certstream_ws_clients{stream=\"full\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("certstream_ws_clients_closed_total{reason=\"lagging\"} 2\n"));
        assert!(text.contains("certstream_ws_bytes_written_total 200\n"));
        assert!(
            text.contains("certstream_clients{protocol=\"sse\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("certstream_clients{protocol=\"websocket\"} 0\n"));
        assert!(text.contains("certstream_clients_accepted_total{protocol=\"websocket\"} 2\n"));
        assert!(text.contains("certstream_http_responses_total{code=\"404\"} 2\n"));
    }
}
