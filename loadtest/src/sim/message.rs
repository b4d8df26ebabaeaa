//! The simulator's HTTP messages and how they are written: [`Request`], [`Response`], what a
//! connection does after a response ([`After`]), the honest writer (`Content-Length` or
//! chunked), and RFC 9110 dates.
//!
//! It sits below the server loop ([`super::http`]), the routes and the transport shapes, so
//! that each of them uses it without importing another back.

use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::faults::Action;

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

pub(super) async fn write_parts<S: AsyncWrite + Unpin>(
    stream: &mut S,
    parts: &[&[u8]],
) -> std::io::Result<()> {
    for part in parts {
        stream.write_all(part).await?;
    }
    stream.flush().await
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
