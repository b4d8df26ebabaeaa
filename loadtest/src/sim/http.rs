//! Hand-written HTTP/1.1 server over tokio (plain TCP and rustls), keep-alive, GET only.
//!
//! Real CT front ends answer with either `Content-Length` or chunked bodies; get-entries is sent
//! chunked (as Go's net/http does for large streamed bodies), everything else with a length.
//! A response carrying a wire fault ([`Action`]: hang, reset, truncate, trickle) is sent with
//! a length, and broken on the way out as the fault says; a transport-shape fault
//! ([`Action::Shape`]) is sent by [`super::shapes`]. Every accepted connection and request head
//! is recorded in the simulator's [`super::requests::RequestLog`].
//!
//! A 304 carries the `Content-Length` of the representation it stands for and no body (RFC 9110
//! §8.6 allows that length), so a client that reads a body after a 304 desynchronises.

use std::{sync::Arc, time::Duration};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

use super::{faults::Action, requests::RequestLog, routes, shapes, Sim};

/// Largest request head accepted (requests are tiny GETs).
const REQUEST_HEAD_MAX: usize = 16 * 1024;
/// Idle keep-alive connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Chunk size for chunked transfer encoding.
const CHUNK_SIZE: usize = 16 * 1024;

/// A parsed request: only what routing needs.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub accept_gzip: bool,
    pub keep_alive: bool,
    pub https: bool,
    /// The `If-Modified-Since` value, as sent.
    pub if_modified_since: Option<String>,
}

/// A response; `gzipped` means `body` is already gzip-compressed.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Arc<[u8]>,
    pub gzipped: bool,
    pub chunked: bool,
    pub cache_control: Option<&'static str>,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
    /// `Retry-After` as the HTTP-date of these unix seconds.
    pub retry_after_date: Option<u64>,
    /// `Last-Modified`, unix seconds.
    pub last_modified: Option<i64>,
    /// A fault in how the response is sent (hang, reset, truncate, trickle, a transport shape).
    pub wire: Option<Action>,
    /// Further headers, sent as given (e.g. a `Retry-After` date).
    pub extra_headers: Vec<(&'static str, String)>,
    /// get-entries: the indices served (inclusive), for the request log.
    pub entries: Option<(u64, u64)>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Arc<[u8]>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
            gzipped: false,
            chunked: false,
            cache_control: None,
            retry_after: None,
            retry_after_date: None,
            last_modified: None,
            wire: None,
            extra_headers: Vec::new(),
            entries: None,
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", body.as_bytes())
    }

    pub fn not_found() -> Self {
        Response::text(404, "404 page not found\n")
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Internal Server Error",
    }
}

/// A connection that can be closed with a TCP reset instead of a clean FIN.
pub trait Abortable {
    /// Makes the next close send RST (SO_LINGER 0).
    fn reset_on_close(&self);
}

impl Abortable for TcpStream {
    fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(self).set_linger(Some(Duration::ZERO));
    }
}

impl Abortable for tokio_rustls::server::TlsStream<TcpStream> {
    fn reset_on_close(&self) {
        self.get_ref().0.reset_on_close();
    }
}

/// Accepts connections until `stop` flips; each connection runs on its own task.
pub async fn accept_loop(
    listener: TcpListener,
    sim: Arc<Sim>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            // Transient accept errors (EMFILE, aborted handshakes): back off briefly.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let sim = sim.clone();
        let tls = tls.clone();
        let connection = sim.seen.connection_accepted();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(IDLE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        serve(s, sim, true, connection).await;
                    }
                }
                None => serve(stream, sim, false, connection).await,
            }
        });
    }
}

/// What to do with the connection after a response.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum After {
    /// Read the next request.
    KeepAlive,
    /// Close cleanly.
    Close,
    /// Close with a reset.
    Reset,
}

/// Serves requests on one connection until close, error or idle timeout.
async fn serve<S>(mut stream: S, sim: Arc<Sim>, https: bool, connection: u64)
where
    S: AsyncRead + AsyncWrite + Unpin + Abortable,
{
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let seen = (&sim.seen, connection);
        let request = match read_request(&mut stream, &mut buf, https, seen).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(status) => {
                let _ =
                    write_response(&mut stream, &Response::text(status, "bad request\n"), false)
                        .await;
                return;
            }
        };
        let keep_alive = request.keep_alive;
        let sim2 = sim.clone();
        // Routing generates certificates and compresses: keep it off the async workers.
        let Ok(response) =
            tokio::task::spawn_blocking(move || routes::handle(&sim2, &request)).await
        else {
            return;
        };
        let after = match response.wire {
            Some(fault) => send_faulty(&mut stream, &response, keep_alive, fault).await,
            None => match write_response(&mut stream, &response, keep_alive).await {
                Ok(()) if keep_alive => After::KeepAlive,
                _ => After::Close,
            },
        };
        match after {
            After::KeepAlive => {}
            After::Close => {
                let _ = stream.shutdown().await;
                return;
            }
            After::Reset => {
                stream.reset_on_close();
                return; // dropping the stream closes it with RST
            }
        }
    }
}

/// Sends `r` broken as `fault` says.
async fn send_faulty<S>(stream: &mut S, r: &Response, keep_alive: bool, fault: Action) -> After
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = response_head(r, keep_alive);
    let overstated = match fault {
        Action::OverstatedLength { extra } => extra as usize,
        _ => 0,
    };
    head.push_str(&format!(
        "Content-Length: {}\r\n\r\n",
        r.body.len() + overstated
    ));
    let half = &r.body[..r.body.len() / 2];
    let sent = match fault {
        Action::Hang { secs } => {
            hold_unanswered(stream, Duration::from_secs_f64(secs)).await;
            return After::Close;
        }
        Action::Shape(shape) => return shapes::send(stream, r, keep_alive, shape).await,
        Action::Reset | Action::Truncate => write_parts(stream, &[head.as_bytes(), half]).await,
        Action::Trickle { delay_ms } => {
            let delay = Duration::from_millis(delay_ms);
            let mut result = Ok(());
            for byte in head.as_bytes().iter().chain(r.body.iter()) {
                result = write_parts(stream, &[std::slice::from_ref(byte)]).await;
                if result.is_err() {
                    break;
                }
                tokio::time::sleep(delay).await;
            }
            return if result.is_ok() && keep_alive {
                After::KeepAlive
            } else {
                After::Close
            };
        }
        // Content faults were applied by the routes; send the response as it is.
        _ => write_parts(stream, &[head.as_bytes(), &r.body]).await,
    };
    match (fault, sent) {
        (Action::Reset, _) => After::Reset,
        (Action::Truncate | Action::DropConnection | Action::OverstatedLength { .. }, _)
        | (_, Err(_)) => After::Close,
        _ if keep_alive => After::KeepAlive,
        _ => After::Close,
    }
}

pub(super) async fn write_parts<S: AsyncWrite + Unpin>(
    stream: &mut S,
    parts: &[&[u8]],
) -> std::io::Result<()> {
    for part in parts {
        stream.write_all(part).await?;
    }
    stream.flush().await
}

/// Leaves a request unanswered for `total`, or until the client gives up and closes.
async fn hold_unanswered<S: AsyncRead + Unpin>(stream: &mut S, total: Duration) {
    let deadline = tokio::time::Instant::now() + total;
    let mut sink = [0u8; 1024];
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
        if n == 0 {
            return;
        }
    }
}

/// Reads one request head and records it in `seen` (the log and this connection's number).
/// `Ok(None)` = clean EOF / idle timeout; `Err(status)` = reject.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    https: bool,
    seen: (&RequestLog, u64),
) -> Result<Option<Request>, u16> {
    loop {
        if let Some((request, used)) = parse_head(buf, https)? {
            seen.0.record(seen.1, https, &buf[..used]);
            buf.drain(..used);
            return Ok(Some(request));
        }
        if buf.len() >= REQUEST_HEAD_MAX {
            return Err(431);
        }
        let mut chunk = [0u8; 4096];
        let n = match tokio::time::timeout(IDLE_TIMEOUT, stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            _ => return Ok(None),
        };
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse_head(buf: &[u8], https: bool) -> Result<Option<(Request, usize)>, u16> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(400),
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let raw_header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let header = |name: &str| raw_header(name).map(|v| v.to_ascii_lowercase());
    let accept_gzip = header("accept-encoding").is_some_and(|v| v.contains("gzip"));
    let connection = header("connection").unwrap_or_default();
    let keep_alive = if req.version == Some(0) {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    if header("content-length").is_some_and(|v| v.trim() != "0")
        || header("transfer-encoding").is_some()
    {
        return Err(400); // request bodies are never needed; refusing avoids desync
    }
    Ok(Some((
        Request {
            method: req.method.unwrap_or("").to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            accept_gzip,
            keep_alive,
            https,
            if_modified_since: raw_header("if-modified-since"),
        },
        used,
    )))
}

/// The status line and headers of `r`, without the framing header and the blank line.
pub(super) fn response_head(r: &Response, keep_alive: bool) -> String {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nDate: {}\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        http_date(),
    );
    if r.gzipped {
        head.push_str("Content-Encoding: gzip\r\n");
    }
    if let Some(cc) = r.cache_control {
        head.push_str(&format!("Cache-Control: {cc}\r\n"));
    }
    if let Some(secs) = r.retry_after {
        head.push_str(&format!("Retry-After: {secs}\r\n"));
    }
    if let Some(secs) = r.retry_after_date {
        let date = http_date_of(i64::try_from(secs).unwrap_or(i64::MAX));
        head.push_str(&format!("Retry-After: {date}\r\n"));
    }
    if let Some(secs) = r.last_modified {
        head.push_str(&format!("Last-Modified: {}\r\n", http_date_of(secs)));
    }
    for (name, value) in &r.extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head
}

pub(super) async fn write_response<S: AsyncWrite + Unpin>(
    stream: &mut S,
    r: &Response,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut head = response_head(r, keep_alive);
    if r.status == 304 {
        // The length of the representation, and no body (see the module docs).
        head.push_str(&format!("Content-Length: {}\r\n\r\n", r.body.len()));
        stream.write_all(head.as_bytes()).await?;
    } else if r.chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        for chunk in r.body.chunks(CHUNK_SIZE) {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            stream.write_all(chunk).await?;
            stream.write_all(b"\r\n").await?;
        }
        stream.write_all(b"0\r\n\r\n").await?;
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", r.body.len()));
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&r.body).await?;
    }
    stream.flush().await
}

/// RFC 9110 IMF-fixdate of now.
fn http_date() -> String {
    http_date_of(super::certgen::unix_now_secs())
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) of unix seconds `secs`.
pub(super) fn http_date_of(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let time = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// Unix seconds of an IMF-fixdate; `None` for anything else (the obsolete RFC 850 and asctime
/// forms included: a client of this simulator sends what it was sent).
pub(super) fn parse_http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [weekday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    if weekday.len() != 4 || !weekday.ends_with(',') || day.len() != 2 || year.len() != 4 {
        return None;
    }
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// (year, month 1-12, day 1-31) of days since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(http_date_of(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date_of(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date_of(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        for secs in [0, 784_111_777, 951_782_400, 1_767_225_599, 4_102_444_800] {
            assert_eq!(parse_http_date(&http_date_of(secs)), Some(secs), "{secs}");
        }
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(http_date_of(1_767_229_323), "Thu, 01 Jan 2026 01:02:03 GMT");
        assert_eq!(http_date_of(1_709_164_800), "Thu, 29 Feb 2024 00:00:00 GMT");
    }
}
