//! A small HTTP/1.1 client for CT logs on glommio: keep-alive, TLS (rustls), chunked and gzip,
//! with every size and time bounded. No tokio, hyper or reqwest.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`HttpClient`] (pool, connect, retry, deadline), [`Response`] |
//! | `error.rs` | [`HttpError`]: what went wrong, whose fault it is and whether retrying helps |
//! | `url.rs` | [`Url`] parsing (http/https, IPv6 literals, strict request target) |
//! | `dns.rs` | per-executor DNS cache; getaddrinfo runs on glommio's blocking pool |
//! | `tls.rs` | [`tls_config`]: webpki-roots plus an optional PEM CA file, ring provider |
//! | `conn.rs` | one connection: TCP/TLS stream, buffered reading of one response |
//! | `body.rs` | sans-IO: response head, framing, chunked decoder, capped gunzip |
//!
//! # Invariants worth naming
//!
//! - One `HttpClient` per executor, used through `Rc`: it is `!Send` by construction (its pool
//!   and cache sit in `RefCell`s), and nothing here blocks the executor thread (DNS is on the
//!   blocking pool, decompression is capped).
//! - Every request ends within [`Timeouts::request`] (whole exchange), each wait for bytes
//!   within [`Timeouts::read`], each connect and TLS handshake within [`Timeouts::connect`].
//! - A connection is pooled only after its response was read completely, with no stray bytes
//!   behind it, and when the server did not ask to close; at most
//!   [`limits::POOL_IDLE_PER_HOST_MAX`] idle connections are kept per (scheme, host, port).
//! - A request is retried at most once, and only when a *pooled* connection failed before a
//!   single response byte arrived (the server closed it while idle). GET is idempotent, so
//!   this is safe.

mod body;
mod conn;
mod dns;
mod error;
mod tls;
mod url;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_lite::future;
use glommio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use crate::ct::pacing::RetryAfter;
use crate::limits;
use conn::{Conn, ConnError, Failure, Stream};
use dns::{DnsCache, Origin};

// The sans-IO response decoders, for `crate::fuzzing`.
pub(crate) use body::{
    gunzip_capped, parse_head as parse_response_head, BodyError, ChunkedDecoder, Framing,
};
pub use error::HttpError;
pub use tls::{add_pem_file, tls_config};
pub use url::{Scheme, Url};

/// A complete response. Non-2xx statuses are responses, not errors: the fetcher decides.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// `Retry-After`, parsed (both forms); `None` when absent or unparsable.
    pub retry_after: Option<RetryAfter>,
    pub content_type: Option<String>,
    pub last_modified: Option<String>,
    /// The body with any gzip content coding removed.
    pub body: Bytes,
}

impl Response {
    /// The `Retry-After` delay from `now`, capped by [`limits::RETRY_AFTER_MAX`].
    pub fn retry_after_delay(&self, now: SystemTime) -> Option<Duration> {
        self.retry_after.map(|r| r.delay(now))
    }
}

/// The client's time bounds; [`Default`] takes them from [`limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect, and separately the TLS handshake.
    pub connect: Duration,
    /// Each wait for bytes from (or room to write to) the server.
    pub read: Duration,
    /// The whole request: DNS, connect, TLS, request, head and body.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: limits::CONNECT_TIMEOUT,
            read: limits::READ_TIMEOUT,
            request: limits::REQUEST_TIMEOUT,
        }
    }
}

/// Connections are shared only between requests to the same origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    scheme: Scheme,
    host: String,
    port: u16,
}

impl PoolKey {
    fn of(url: &Url) -> Self {
        PoolKey {
            scheme: url.scheme,
            host: url.host.clone(),
            port: url.port,
        }
    }
}

/// The per-executor HTTP/1.1 client (see the module docs).
pub struct HttpClient {
    tls: futures_rustls::TlsConnector,
    dns: DnsCache,
    /// Idle connections per origin, oldest first.
    pool: RefCell<HashMap<PoolKey, Vec<Conn>>>,
    timeouts: Timeouts,
    body_max: usize,
    /// TCP connections opened so far (a metric; tests use it to prove keep-alive reuse).
    connections_opened: Cell<u64>,
}

impl HttpClient {
    /// A client with the [`limits`] timeouts.
    pub fn new(tls: Arc<ClientConfig>) -> Self {
        Self::with_timeouts(tls, Timeouts::default())
    }

    /// A client with explicit timeouts (tests, or a config override).
    pub fn with_timeouts(tls: Arc<ClientConfig>, timeouts: Timeouts) -> Self {
        HttpClient {
            tls: futures_rustls::TlsConnector::from(tls),
            dns: DnsCache::default(),
            pool: RefCell::new(HashMap::new()),
            timeouts,
            body_max: limits::RESPONSE_BYTES_MAX,
            connections_opened: Cell::new(0),
        }
    }

    /// TCP connections this client has opened.
    pub fn connections_opened(&self) -> u64 {
        self.connections_opened.get()
    }

    /// The client with a lower cap on response bodies (raw and decoded) than
    /// [`limits::RESPONSE_BYTES_MAX`]; tests use it to reach the cap with small bodies.
    pub fn with_body_max(mut self, body_max: usize) -> Self {
        self.body_max = body_max;
        self
    }

    /// Idle connections in the pool, over all origins (tests check the per-host bound).
    pub fn idle_connections(&self) -> usize {
        self.pool.borrow().values().map(Vec::len).sum()
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<Response, HttpError> {
        self.get_with_headers(url, &[]).await
    }

    /// `GET url` with extra request headers (e.g. `If-Modified-Since`). Framing headers (Host,
    /// Connection, Content-Length, Transfer-Encoding) are the client's and are refused.
    pub async fn get_with_headers(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, HttpError> {
        let url = Url::parse(url)?;
        let request = build_request(&url, headers)?;
        let deadline = async {
            glommio::timer::sleep(self.timeouts.request).await;
            Err(HttpError::Timeout {
                host: url.host.clone(),
                phase: "request",
            })
        };
        // If the deadline wins, the exchange future is dropped with its connection, which is
        // thereby closed and never pooled.
        future::or(self.exchange_with_retry(&url, &request), deadline).await
    }

    async fn exchange_with_retry(&self, url: &Url, request: &[u8]) -> Result<Response, HttpError> {
        let key = PoolKey::of(url);
        if let Some(conn) = self.take_idle(&key) {
            match self.exchange(conn, &key, request).await {
                Ok(response) => return Ok(response),
                Err(failure) if is_stale_connection(&failure) => {
                    tracing::debug!(host = %url.host, "pooled connection was closed; retrying");
                }
                Err(failure) => return Err(failure_to_error(failure, &url.host, self.body_max)),
            }
        }
        let conn = self.connect(url).await?;
        self.exchange(conn, &key, request)
            .await
            .map_err(|failure| failure_to_error(failure, &url.host, self.body_max))
    }

    /// Sends the request, reads and decodes the response, pools the connection if reusable.
    async fn exchange(
        &self,
        mut conn: Conn,
        key: &PoolKey,
        request: &[u8],
    ) -> Result<Response, Failure> {
        conn.send(request).await?;
        let raw = conn.read_response(self.body_max).await?;
        let reusable = raw.head.keep_alive && conn.is_clean();
        let body = if raw.head.gzip && !raw.body.is_empty() {
            gunzip_capped(&raw.body, self.body_max).map_err(|e| Failure {
                error: ConnError::Body(e),
                before_response: false,
            })?
        } else {
            raw.body
        };
        if reusable {
            self.put_idle(key.clone(), conn);
        }
        Ok(Response {
            status: raw.head.status,
            retry_after: raw.head.retry_after,
            content_type: raw.head.content_type,
            last_modified: raw.head.last_modified,
            body: Bytes::from(body),
        })
    }

    /// The freshest idle connection to `key`; idle-expired ones are closed on the way.
    fn take_idle(&self, key: &PoolKey) -> Option<Conn> {
        let mut pool = self.pool.borrow_mut();
        let idle = pool.get_mut(key)?;
        let now = Instant::now();
        idle.retain(|c| now.saturating_duration_since(c.idle_since) < limits::POOL_IDLE_TIMEOUT);
        let conn = idle.pop();
        if idle.is_empty() {
            pool.remove(key);
        }
        conn
    }

    fn put_idle(&self, key: PoolKey, mut conn: Conn) {
        conn.idle_since = Instant::now();
        let mut pool = self.pool.borrow_mut();
        let idle = pool.entry(key).or_default();
        if idle.len() >= limits::POOL_IDLE_PER_HOST_MAX {
            idle.remove(0); // the oldest is the likeliest to be closed by the server soon
        }
        idle.push(conn);
    }

    /// A new connection: resolve, TCP connect (re-resolving once if a cached answer failed),
    /// then TLS for https.
    async fn connect(&self, url: &Url) -> Result<Conn, HttpError> {
        let (addrs, origin) = self.dns.resolve(&url.host, url.port).await?;
        let tcp = match self.connect_any(&url.host, &addrs).await {
            Ok(tcp) => tcp,
            Err(e) if origin == Origin::Cache => {
                self.dns.forget(&url.host);
                let (fresh, _) = self.dns.resolve(&url.host, url.port).await?;
                if fresh == addrs {
                    return Err(e);
                }
                self.connect_any(&url.host, &fresh).await?
            }
            Err(e) => {
                self.dns.forget(&url.host);
                return Err(e);
            }
        };
        self.connections_opened
            .set(self.connections_opened.get() + 1);
        let io_error = |e: io::Error| io_to_error(&e, &url.host, "read");
        tcp.set_nodelay(true).map_err(|e| io_error(e.into()))?;
        tcp.set_read_timeout(Some(self.timeouts.read))
            .map_err(|e| io_error(e.into()))?;
        tcp.set_write_timeout(Some(self.timeouts.read))
            .map_err(|e| io_error(e.into()))?;
        let stream = match url.scheme {
            Scheme::Http => Stream::Plain(tcp),
            Scheme::Https => Stream::Tls(Box::new(self.handshake(&url.host, tcp).await?)),
        };
        Ok(Conn::new(stream))
    }

    async fn connect_any(&self, host: &str, addrs: &[SocketAddr]) -> Result<TcpStream, HttpError> {
        let mut last_error = None;
        for addr in addrs.iter().take(limits::CONNECT_ADDRS_MAX) {
            match TcpStream::connect_timeout(*addr, self.timeouts.connect).await {
                Ok(tcp) => return Ok(tcp),
                Err(e) => last_error = Some((*addr, io::Error::from(e))),
            }
        }
        Err(match last_error {
            Some((_, e)) if e.kind() == io::ErrorKind::TimedOut => HttpError::Timeout {
                host: host.to_owned(),
                phase: "connect",
            },
            Some((addr, e)) => HttpError::Connect {
                host: host.to_owned(),
                detail: format!("{addr}: {e}"),
            },
            None => HttpError::Dns {
                host: host.to_owned(),
                detail: "no addresses".into(),
            },
        })
    }

    async fn handshake(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> Result<futures_rustls::client::TlsStream<TcpStream>, HttpError> {
        let name = ServerName::try_from(host.to_owned()).map_err(|e| HttpError::Tls {
            host: host.to_owned(),
            detail: format!("invalid server name: {e}"),
        })?;
        let connect = async {
            self.tls
                .connect(name, tcp)
                .await
                .map_err(|e| io_to_error(&e, host, "TLS handshake"))
        };
        let deadline = async {
            glommio::timer::sleep(self.timeouts.connect).await;
            Err(HttpError::Timeout {
                host: host.to_owned(),
                phase: "TLS handshake",
            })
        };
        future::or(connect, deadline).await
    }
}

/// A pooled connection the server had closed while idle: it died writing the request or
/// reading the first byte, without timing out.
fn is_stale_connection(failure: &Failure) -> bool {
    failure.before_response
        && match &failure.error {
            ConnError::Closed(_) => true,
            ConnError::Io(e) => e.kind() != io::ErrorKind::TimedOut,
            ConnError::Body(_) => false,
        }
}

fn failure_to_error(failure: Failure, host: &str, body_max: usize) -> HttpError {
    let host_owned = || host.to_owned();
    match failure.error {
        ConnError::Io(e) => io_to_error(&e, host, "read"),
        ConnError::Closed(detail) => HttpError::Closed {
            host: host_owned(),
            detail,
        },
        ConnError::Body(BodyError::TooLarge(what)) => HttpError::TooLarge {
            host: host_owned(),
            what,
            limit: match what {
                "response header count" => limits::RESPONSE_HEADERS_MAX,
                _ if what.contains("head") || what.contains("trailer") => {
                    limits::RESPONSE_HEAD_BYTES_MAX
                }
                _ => body_max,
            },
        },
        ConnError::Body(BodyError::Malformed(detail)) => HttpError::MalformedResponse {
            host: host_owned(),
            detail,
        },
        ConnError::Body(BodyError::Decode(detail)) => HttpError::Decode {
            host: host_owned(),
            detail,
        },
    }
}

/// Maps an I/O error: timeouts by phase, rustls errors (certificate, protocol) to `Tls`.
fn io_to_error(e: &io::Error, host: &str, phase: &'static str) -> HttpError {
    let host = host.to_owned();
    if e.kind() == io::ErrorKind::TimedOut {
        return HttpError::Timeout { host, phase };
    }
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return HttpError::Tls {
            host,
            detail: tls.to_string(),
        };
    }
    HttpError::Io {
        host,
        detail: format!("{phase}: {e}"),
    }
}

/// The request head. Values are validated: a CR or LF in them would split the request.
fn build_request(url: &Url, headers: &[(&str, &str)]) -> Result<Vec<u8>, HttpError> {
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\n\
         Accept-Encoding: gzip\r\nConnection: keep-alive\r\n",
        url.path_and_query,
        url.host_header(),
        limits::USER_AGENT,
    );
    for (name, value) in headers {
        validate_header(name, value)?;
        request.push_str(name);
        request.push_str(": ");
        request.push_str(value);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    Ok(request.into_bytes())
}

fn validate_header(name: &str, value: &str) -> Result<(), HttpError> {
    let invalid = |reason| HttpError::InvalidHeader {
        name: name.chars().take(64).collect(),
        reason,
    };
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(invalid("name is not an HTTP token"));
    }
    if !value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Err(invalid("value contains control or non-ASCII characters"));
    }
    const RESERVED: [&str; 5] = [
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "accept-encoding",
    ];
    if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
        return Err(invalid("set by the client itself"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
