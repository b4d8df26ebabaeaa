//! The HTTP/1.1 side of a connection: reading the request head under its bounds, parsing it
//! with `httparse`, validating a WebSocket upgrade (RFC 6455 §4.2.1) and routing it.
//!
//! Everything here except [`read_head`] is pure, so routing and every status code are unit
//! tested without sockets. Responses always carry `Connection: close`: plain HTTP is only used
//! for a handful of tiny endpoints, so keep-alive buys nothing and costs a state machine.

use base64::Engine as _;
use futures_lite::AsyncReadExt;

use std::sync::Arc;

use super::{conn::Conn, http_stream::Protocol, metrics::HandshakeFailure};
use crate::{
    filter::{FilterError, FilterSpec},
    frame::StreamKind,
};

/// Why no usable request head was read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The deadline for the whole head passed (slowloris).
    Timeout,
    /// More than the byte bound arrived without the end of the head.
    TooLarge,
    /// The peer closed the connection before the head ended.
    Closed,
    /// The socket failed.
    Io(std::io::Error),
}

/// Reads from `stream` into `buf` until the head ends (`\r\n\r\n`), returning the head length.
/// Bytes after the head (a client that already sent WebSocket frames) stay in `buf`.
pub(crate) async fn read_head(
    stream: &mut Conn,
    buf: &mut Vec<u8>,
    head_bytes_max: usize,
) -> Result<usize, HeadError> {
    let mut chunk = [0u8; 1024];
    loop {
        let scan_from = buf.len().saturating_sub(3);
        let n = stream.read(&mut chunk).await.map_err(HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_head_end(buf, scan_from) {
            return if end > head_bytes_max {
                Err(HeadError::TooLarge)
            } else {
                Ok(end)
            };
        }
        if buf.len() >= head_bytes_max {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Index just past the first `\r\n\r\n` at or after `from`.
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| from + i + 4)
}

/// The parts of a request head the server looks at, copied out of the parse buffer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RequestHead {
    pub(crate) is_get: bool,
    /// Path without the query string.
    pub(crate) path: String,
    /// The query string (after `?`, may be empty), as sent: the stream filters, resume.
    pub(crate) query: String,
    /// HTTP/1.1 (upgrades need it).
    pub(crate) http11: bool,
    /// `Upgrade` lists the `websocket` token.
    pub(crate) upgrade_websocket: bool,
    /// `Connection` lists the `upgrade` token.
    pub(crate) connection_upgrade: bool,
    pub(crate) ws_key: Option<String>,
    pub(crate) ws_version: Option<String>,
    /// A header that must appear once (`Sec-WebSocket-Key`/`-Version`) appeared again.
    pub(crate) duplicate_ws_header: bool,
    /// Tokens offered: `Authorization: Bearer T` and `?token=T`.
    pub(crate) tokens: Vec<String>,
    /// `Accept` lists `text/html`: a browser asking for a page.
    pub(crate) accepts_html: bool,
    /// `Accept` lists `text/event-stream` (an `EventSource`) or `application/x-ndjson`.
    pub(crate) accepts_event_stream: bool,
    pub(crate) accepts_ndjson: bool,
    /// `Last-Event-ID`: the `id:` of the last SSE event a reconnecting client received.
    pub(crate) last_event_id: Option<String>,
}

/// Why a complete head could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// More headers than the bound: answered with 431.
    TooManyHeaders,
    /// Not HTTP/1.x: answered with 400.
    Malformed,
}

/// Parses a complete head (ending in `\r\n\r\n`) with room for `headers_max` headers.
pub(crate) fn parse_head(head: &[u8], headers_max: usize) -> Result<RequestHead, ParseError> {
    let mut headers = vec![httparse::EMPTY_HEADER; headers_max];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(ParseError::Malformed),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(_) => return Err(ParseError::Malformed),
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(ParseError::Malformed);
    };
    let mut out = RequestHead {
        is_get: method == "GET",
        path: target.split('?').next().unwrap_or("").to_owned(),
        http11: version == 1,
        ..RequestHead::default()
    };
    if let Some((_, query)) = target.split_once('?') {
        out.query = query.to_owned();
        out.tokens.extend(
            query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("token="))
                .map(str::to_owned),
        );
    }
    for header in req.headers.iter() {
        apply_header(&mut out, header.name, header.value);
    }
    Ok(out)
}

fn apply_header(out: &mut RequestHead, name: &str, value: &[u8]) {
    // Non-UTF-8 values cannot be any token we look for: treat them as absent.
    let Ok(value) = std::str::from_utf8(value) else {
        return;
    };
    let has_token = |token: &str| {
        value
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if name.eq_ignore_ascii_case("upgrade") {
        out.upgrade_websocket |= has_token("websocket");
    } else if name.eq_ignore_ascii_case("connection") {
        out.connection_upgrade |= has_token("upgrade");
    } else if name.eq_ignore_ascii_case("sec-websocket-key") {
        out.duplicate_ws_header |= out.ws_key.is_some();
        out.ws_key = Some(value.trim().to_owned());
    } else if name.eq_ignore_ascii_case("authorization") {
        if let Some(token) = value.trim().strip_prefix("Bearer ") {
            out.tokens.push(token.trim().to_owned());
        }
    } else if name.eq_ignore_ascii_case("accept") {
        let lists = |media: &str| {
            value.split(',').any(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case(media)
            })
        };
        out.accepts_html |= lists("text/html");
        out.accepts_event_stream |= lists("text/event-stream");
        out.accepts_ndjson |= lists("application/x-ndjson");
    } else if name.eq_ignore_ascii_case("last-event-id") {
        out.last_event_id = Some(value.trim().to_owned());
    } else if name.eq_ignore_ascii_case("sec-websocket-version") {
        out.duplicate_ws_header |= out.ws_version.is_some();
        out.ws_version = Some(value.trim().to_owned());
    }
}

/// A plain HTTP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    /// `/` (and the stream paths) without an upgrade: a short HTML page naming the endpoints.
    Index,
    /// `/` from a browser (`Accept: text/html`, no upgrade): the live page (`live.rs`).
    Live,
    /// `example.json` of one stream form.
    Example(StreamKind),
    /// `/latest.json`.
    Latest,
    Health,
    /// `/health/deep`: JSON with per-log state and lag, clients, uptime.
    HealthDeep,
    Metrics,
}

/// A request answered with an error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    NotFound,
    MethodNotAllowed,
    /// 400, with the handshake failure it counts as.
    BadRequest(HandshakeFailure),
    /// 426 with `Sec-WebSocket-Version: 13`.
    UpgradeRequired,
    /// 431.
    HeadTooLarge,
    /// 401: auth is on and no valid token was offered.
    Unauthorized,
}

/// What to do with a parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Stream `kind` over plain HTTP (SSE or NDJSON), a chunked 200.
    Stream {
        kind: StreamKind,
        protocol: Protocol,
        filter: Option<Arc<FilterSpec>>,
    },
    /// Switch to WebSocket on `kind` with this `Sec-WebSocket-Accept`.
    Upgrade {
        kind: StreamKind,
        accept: String,
        /// The client's filter, when its query string holds one.
        filter: Option<Arc<FilterSpec>>,
    },
    Page(Page),
    /// `/api/...` (see `api.rs`).
    Api(super::api::ApiRequest),
    Reject(Reject),
    /// 400 naming the filter parameter and why (before any upgrade).
    BadFilter(FilterError),
    /// 400 for an SSE/NDJSON request that cannot be served, and why.
    BadStream(&'static str),
}

/// Whether the request may proceed: auth off, `/health`, or one offered token equals one
/// configured token (compared in constant time, so timing does not reveal a prefix).
pub(crate) fn authorized(head: &RequestHead, tokens: &[String]) -> bool {
    if tokens.is_empty() || head.path == "/health" {
        return true;
    }
    let mut ok = false;
    for offered in &head.tokens {
        for expected in tokens {
            ok |= constant_time_eq(offered.as_bytes(), expected.as_bytes());
        }
    }
    ok
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Routes a parsed request. Method first (405 for anything but GET), then path.
pub(crate) fn route(head: &RequestHead) -> Route {
    if !head.is_get {
        return Route::Reject(Reject::MethodNotAllowed);
    }
    let path = head.path.as_str();
    if path == "/sse" {
        return match sse_stream_kind(&head.query) {
            Some(kind) => http_stream(head, kind, Protocol::Sse),
            None => Route::BadStream("stream: expected lite, full or domains\n"),
        };
    }
    if let Some(kind) = stream_for_path(path) {
        if !head.upgrade_websocket {
            if let Some(protocol) = http_stream_protocol(head) {
                return http_stream(head, kind, protocol);
            }
            let live = path == "/" && head.accepts_html;
            return Route::Page(if live { Page::Live } else { Page::Index });
        }
        let accept = match accept_key(head) {
            Ok(accept) => accept,
            Err(reject) => return Route::Reject(reject),
        };
        return match crate::filter::parse_query(&head.query) {
            Ok(filter) => Route::Upgrade {
                kind,
                accept,
                filter: filter.map(Arc::new),
            },
            Err(err) => Route::BadFilter(err),
        };
    }
    if let Some(request) = super::api::ApiRequest::from_path(path) {
        return Route::Api(request);
    }
    match path {
        "/example.json" => Route::Page(Page::Example(StreamKind::Lite)),
        "/full-stream/example.json" => Route::Page(Page::Example(StreamKind::Full)),
        "/domains-only/example.json" => Route::Page(Page::Example(StreamKind::Domains)),
        "/latest.json" => Route::Page(Page::Latest),
        "/health" => Route::Page(Page::Health),
        "/health/deep" => Route::Page(Page::HealthDeep),
        "/metrics" => Route::Page(Page::Metrics),
        _ => Route::Reject(Reject::NotFound),
    }
}

/// The plain-HTTP protocol a GET of a stream path asks for: `?format=ndjson|sse`, else its
/// `Accept` (an `EventSource` sends `text/event-stream`); `None`: the page.
fn http_stream_protocol(head: &RequestHead) -> Option<Protocol> {
    match query_value(&head.query, "format") {
        Some("ndjson") => return Some(Protocol::Ndjson),
        Some("sse") => return Some(Protocol::Sse),
        _ => {}
    }
    if head.accepts_event_stream {
        Some(Protocol::Sse)
    } else if head.accepts_ndjson {
        Some(Protocol::Ndjson)
    } else {
        None
    }
}

/// The stream form of `/sse`: `?stream=` lite (the default), `full` or `domains`.
fn sse_stream_kind(query: &str) -> Option<StreamKind> {
    match query_value(query, "stream") {
        None | Some("lite") => Some(StreamKind::Lite),
        Some("full") => Some(StreamKind::Full),
        Some("domains") => Some(StreamKind::Domains),
        Some(_) => None,
    }
}

/// The raw value of the first `key=` in `query`.
fn query_value<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// An SSE or NDJSON stream of `kind`, with the filter of the query (parsed as for upgrades).
/// Chunked bodies need HTTP/1.1.
fn http_stream(head: &RequestHead, kind: StreamKind, protocol: Protocol) -> Route {
    if !head.http11 {
        return Route::BadStream("SSE and NDJSON streams need HTTP/1.1 (chunked)\n");
    }
    match crate::filter::parse_query(&head.query) {
        Ok(filter) => Route::Stream {
            kind,
            protocol,
            filter: filter.map(Arc::new),
        },
        Err(err) => Route::BadFilter(err),
    }
}

fn stream_for_path(path: &str) -> Option<StreamKind> {
    match path {
        "/" => Some(StreamKind::Lite),
        "/full-stream" | "/full-stream/" => Some(StreamKind::Full),
        "/domains-only" | "/domains-only/" => Some(StreamKind::Domains),
        _ => None,
    }
}

/// Validates the upgrade headers and derives `Sec-WebSocket-Accept`.
fn accept_key(head: &RequestHead) -> Result<String, Reject> {
    let bad = Err(Reject::BadRequest(HandshakeFailure::BadUpgrade));
    if !head.http11 || !head.connection_upgrade || head.duplicate_ws_header {
        return bad;
    }
    match head.ws_version.as_deref() {
        None => return bad,
        Some("13") => {}
        Some(_) => return Err(Reject::UpgradeRequired),
    }
    let Some(key) = head.ws_key.as_deref() else {
        return bad;
    };
    // RFC 6455 §4.1: the key is 16 random bytes, base64-encoded.
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(raw) if raw.len() == 16 => Ok(tungstenite::handshake::derive_accept_key(key.as_bytes())),
        _ => bad,
    }
}

/// A complete HTTP response; encoded once and written with a single send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) code: u16,
    content_type: &'static str,
    /// Extra header lines, each ending in `\r\n`.
    extra_headers: &'static str,
    body: Vec<u8>,
}

impl Response {
    pub(crate) fn new(code: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            code,
            content_type,
            extra_headers: "",
            body,
        }
    }

    /// The same response with extra header lines (each ending in `\r\n`).
    pub(crate) fn with_headers(self, extra_headers: &'static str) -> Self {
        Self {
            extra_headers,
            ..self
        }
    }

    /// The response for a rejected request.
    pub(crate) fn reject(reject: Reject) -> Self {
        let text = |code, body: &str| Response::new(code, TEXT_PLAIN, body.as_bytes().to_vec());
        match reject {
            Reject::NotFound => text(404, "not found\n"),
            Reject::MethodNotAllowed => Response {
                extra_headers: "Allow: GET\r\n",
                ..text(405, "only GET is supported\n")
            },
            Reject::BadRequest(_) => text(400, "bad request\n"),
            Reject::UpgradeRequired => Response {
                extra_headers: "Sec-WebSocket-Version: 13\r\n",
                ..text(426, "WebSocket version 13 required\n")
            },
            Reject::HeadTooLarge => text(431, "request head too large\n"),
            Reject::Unauthorized => Response {
                extra_headers: "WWW-Authenticate: Bearer\r\n",
                ..text(
                    401,
                    "a valid token is required (Authorization: Bearer, or ?token=)\n",
                )
            },
        }
    }

    /// Status line, headers and body, ready to send.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.code,
            reason_phrase(self.code),
            self.content_type,
            self.body.len(),
            self.extra_headers,
        );
        let mut out = Vec::with_capacity(head.len() + self.body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

pub(crate) const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
pub(crate) const TEXT_HTML: &str = "text/html; charset=utf-8";
pub(crate) const APPLICATION_JSON: &str = "application/json";
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn reason_phrase(code: u16) -> &'static str {
    match code {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// The 101 answer to a valid upgrade. No subprotocol or extension is negotiated, so clients
/// must send plain frames (RSV bits clear).
pub(crate) fn switching_protocols(accept: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// The HTML page served on `GET /` without an upgrade.
pub(crate) const INDEX_HTML: &str = "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
<title>certstream</title></head><body>\n<h1>certstream</h1>\n\
<p>Certificate Transparency updates over WebSocket.</p>\n<ul>\n\
<li><code>ws://HOST/</code>: certificate_update (lite)</li>\n\
<li><code>ws://HOST/full-stream</code>: certificate_update with as_der and chain</li>\n\
<li><code>ws://HOST/domains-only</code>: dns_entries</li>\n\
<li><code>http://HOST/sse</code> (<code>?stream=full</code>, <code>?stream=domains</code>): \
the same as Server-Sent Events; <code>?format=ndjson</code> on a stream path: NDJSON</li>\n\
<li><a href=\"/example.json\">/example.json</a>, \
<a href=\"/full-stream/example.json\">/full-stream/example.json</a>, \
<a href=\"/domains-only/example.json\">/domains-only/example.json</a></li>\n\
<li><a href=\"/latest.json\">/latest.json</a>, <a href=\"/health\">/health</a>, \
<a href=\"/metrics\">/metrics</a></li>\n</ul>\n</body></html>\n";

#[cfg(test)]
mod tests {

    #[test]
    fn tokens_come_from_the_header_or_the_query_and_compare_exactly() {
        let tokens = vec!["0123456789abcdef".to_owned()];
        let head = |raw: &str| parse_head(raw.as_bytes(), 32).unwrap();
        let bearer = head("GET / HTTP/1.1\r\nAuthorization: Bearer 0123456789abcdef\r\n\r\n");
        let query = head("GET /full-stream?x=1&token=0123456789abcdef HTTP/1.1\r\n\r\n");
        let wrong = head("GET / HTTP/1.1\r\nAuthorization: Bearer 0123456789abcdeF\r\n\r\n");
        let prefix = head("GET /?token=0123456789abcde HTTP/1.1\r\n\r\n");
        let none = head("GET /metrics HTTP/1.1\r\n\r\n");
        let health = head("GET /health HTTP/1.1\r\n\r\n");
        assert!(authorized(&bearer, &tokens));
        assert!(authorized(&query, &tokens));
        assert_eq!(query.path, "/full-stream");
        assert!(!authorized(&wrong, &tokens));
        assert!(!authorized(&prefix, &tokens));
        assert!(!authorized(&none, &tokens));
        assert!(authorized(&health, &tokens), "/health stays open");
        assert!(authorized(&none, &[]), "no tokens configured: auth is off");
        assert_eq!(Response::reject(Reject::Unauthorized).code, 401);
    }
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn upgrade_head(path: &str, extra: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, \
             Upgrade\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    fn route_of(head: &[u8]) -> Route {
        route(&parse_head(head, 32).unwrap())
    }

    #[test]
    fn head_end_is_found_across_scan_boundaries() {
        let buf = b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest";
        assert_eq!(find_head_end(buf, 0), Some(buf.len() - 4));
        assert_eq!(find_head_end(buf, 20), Some(buf.len() - 4));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r", 0), None);
        assert_eq!(find_head_end(b"ab", 10), None);
    }

    #[test]
    fn rfc6455_sample_key_gives_the_rfc_accept() {
        let head = upgrade_head(
            "/",
            &format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"),
        );
        let want = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        assert_eq!(
            route_of(&head),
            Route::Upgrade {
                kind: StreamKind::Lite,
                accept: want.into(),
                filter: None,
            }
        );
    }

    #[test]
    fn stream_paths_with_and_without_trailing_slash() {
        let extra = format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n");
        for (path, kind) in [
            ("/", StreamKind::Lite),
            ("/full-stream", StreamKind::Full),
            ("/full-stream/", StreamKind::Full),
            ("/domains-only", StreamKind::Domains),
            ("/domains-only/?x=1", StreamKind::Domains),
        ] {
            match route_of(&upgrade_head(path, &extra)) {
                Route::Upgrade { kind: got, .. } => assert_eq!(got, kind, "{path}"),
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn stream_filters_ride_the_upgrade_or_are_refused_before_it() {
        let extra = format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n");
        let path = "/domains-only/?domain=example.com&keyword=shop&token=t";
        match route_of(&upgrade_head(path, &extra)) {
            Route::Upgrade {
                kind: StreamKind::Domains,
                filter: Some(filter),
                ..
            } => {
                assert_eq!(filter.domains[0].name, "example.com");
                assert_eq!(filter.keywords, ["shop"]);
            }
            other => panic!("{other:?}"),
        }
        match route_of(&upgrade_head("/full-stream?regex=(a{200}){200}", &extra)) {
            Route::BadFilter(err) => assert_eq!(err.param, "regex"),
            other => panic!("{other:?}"),
        }
        // Without an upgrade the query changes nothing: the index page.
        let plain = route_of(b"GET /?regex=( HTTP/1.1\r\n\r\n");
        assert_eq!(plain, Route::Page(Page::Index));
    }

    #[test]
    fn upgrade_errors_map_to_400_and_426() {
        let bad = Route::Reject(Reject::BadRequest(HandshakeFailure::BadUpgrade));
        let v13 = "Sec-WebSocket-Version: 13\r\n";
        // Missing key, short key, non-base64 key.
        assert_eq!(route_of(&upgrade_head("/", v13)), bad);
        let short = format!("{v13}Sec-WebSocket-Key: AAAA\r\n");
        assert_eq!(route_of(&upgrade_head("/", &short)), bad);
        let junk = format!("{v13}Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!\r\n");
        assert_eq!(route_of(&upgrade_head("/", &junk)), bad);
        // Wrong version → 426; missing version → 400.
        let v8 = format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n");
        assert_eq!(
            route_of(&upgrade_head("/", &v8)),
            Route::Reject(Reject::UpgradeRequired)
        );
        let nov = format!("Sec-WebSocket-Key: {KEY}\r\n");
        assert_eq!(route_of(&upgrade_head("/", &nov)), bad);
        // Connection without the upgrade token.
        let head = format!(
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n\
             Sec-WebSocket-Key: {KEY}\r\n{v13}\r\n"
        );
        assert_eq!(route_of(head.as_bytes()), bad);
        // HTTP/1.0 cannot upgrade.
        let head = format!(
            "GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\n{v13}\r\n"
        );
        assert_eq!(route_of(head.as_bytes()), bad);
        // Two keys.
        let two = format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Key: {KEY}\r\n{v13}");
        assert_eq!(route_of(&upgrade_head("/", &two)), bad);
    }

    #[test]
    fn plain_endpoints_and_errors() {
        let get =
            |path: &str| route_of(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(get("/"), Route::Page(Page::Index));
        assert_eq!(get("/full-stream"), Route::Page(Page::Index));
        let browser = |path: &str, accept: &str| {
            route_of(format!("GET {path} HTTP/1.1\r\nAccept: {accept}\r\n\r\n").as_bytes())
        };
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(browser("/", chrome), Route::Page(Page::Live));
        assert_eq!(
            browser("/?token=x", "TEXT/HTML; q=1"),
            Route::Page(Page::Live)
        );
        assert_eq!(browser("/", "*/*"), Route::Page(Page::Index), "curl");
        assert_eq!(browser("/full-stream", chrome), Route::Page(Page::Index));
        assert_eq!(
            get("/example.json"),
            Route::Page(Page::Example(StreamKind::Lite))
        );
        assert_eq!(
            get("/full-stream/example.json"),
            Route::Page(Page::Example(StreamKind::Full))
        );
        assert_eq!(
            get("/domains-only/example.json"),
            Route::Page(Page::Example(StreamKind::Domains))
        );
        assert_eq!(get("/latest.json?n=3"), Route::Page(Page::Latest));
        assert_eq!(get("/health"), Route::Page(Page::Health));
        assert_eq!(get("/metrics"), Route::Page(Page::Metrics));
        assert_eq!(get("/nope"), Route::Reject(Reject::NotFound));
        assert_eq!(get("/example.json/"), Route::Reject(Reject::NotFound));
        let post = route_of(b"POST /health HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(post, Route::Reject(Reject::MethodNotAllowed));
    }

    #[test]
    fn sse_and_ndjson_routes_by_path_query_and_accept() {
        let get = |target: &str, headers: &str| {
            route_of(format!("GET {target} HTTP/1.1\r\n{headers}\r\n").as_bytes())
        };
        let stream = |kind, protocol| Route::Stream {
            kind,
            protocol,
            filter: None,
        };
        let sse = "Accept: text/event-stream\r\n";
        let nd = "Accept: application/x-ndjson; q=1\r\n";
        assert_eq!(get("/sse", ""), stream(StreamKind::Lite, Protocol::Sse));
        assert_eq!(
            get("/sse?stream=lite", ""),
            stream(StreamKind::Lite, Protocol::Sse)
        );
        assert_eq!(
            get("/sse?stream=full", ""),
            stream(StreamKind::Full, Protocol::Sse)
        );
        assert_eq!(
            get("/sse?token=t&stream=domains", ""),
            stream(StreamKind::Domains, Protocol::Sse)
        );
        assert!(matches!(get("/sse?stream=x", ""), Route::BadStream(_)));
        assert_eq!(get("/", sse), stream(StreamKind::Lite, Protocol::Sse));
        assert_eq!(
            get("/full-stream/", sse),
            stream(StreamKind::Full, Protocol::Sse)
        );
        assert_eq!(
            get("/domains-only", nd),
            stream(StreamKind::Domains, Protocol::Ndjson)
        );
        assert_eq!(
            get("/domains-only?format=ndjson", ""),
            stream(StreamKind::Domains, Protocol::Ndjson)
        );
        assert_eq!(
            get("/?format=sse", ""),
            stream(StreamKind::Lite, Protocol::Sse)
        );
        // A browser's EventSource wins over the page; a plain browser GET is still the page.
        let both = "Accept: text/html, text/event-stream\r\n";
        assert_eq!(get("/", both), stream(StreamKind::Lite, Protocol::Sse));
        assert_eq!(get("/", "Accept: text/html\r\n"), Route::Page(Page::Live));
        assert_eq!(get("/?format=xml", ""), Route::Page(Page::Index));
        assert!(matches!(
            route_of(b"GET /?format=ndjson HTTP/1.0\r\n\r\n"),
            Route::BadStream(_)
        ));
        // Filters parse as for an upgrade.
        match get("/sse?stream=full&domain=example.com", "") {
            Route::Stream {
                filter: Some(filter),
                ..
            } => assert_eq!(filter.domains[0].name, "example.com"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            get("/?format=ndjson&regex=(", ""),
            Route::BadFilter(_)
        ));
        let head = parse_head(b"GET /sse HTTP/1.1\r\nLast-Event-ID: abc \r\n\r\n", 8).unwrap();
        assert_eq!(head.last_event_id.as_deref(), Some("abc"));
    }

    #[test]
    fn parse_errors() {
        let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            parse_head(head.as_bytes(), 32),
            Err(ParseError::TooManyHeaders)
        );
        assert_eq!(
            parse_head(b"\x00\x01 garbage\r\n\r\n", 32),
            Err(ParseError::Malformed)
        );
        assert_eq!(
            parse_head(b"GET / SPDY/3\r\n\r\n", 32),
            Err(ParseError::Malformed)
        );
    }

    #[test]
    fn responses_carry_their_required_headers() {
        let r = String::from_utf8(Response::reject(Reject::UpgradeRequired).encode()).unwrap();
        assert!(r.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{r}");
        assert!(r.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        let r = String::from_utf8(Response::reject(Reject::MethodNotAllowed).encode()).unwrap();
        assert!(r.contains("\r\nAllow: GET\r\n"));
        let body = b"{}".to_vec();
        let r = String::from_utf8(Response::new(200, APPLICATION_JSON, body).encode()).unwrap();
        assert!(
            r.contains("Content-Length: 2\r\n") && r.ends_with("\r\n\r\n{}"),
            "{r}"
        );
    }
}
