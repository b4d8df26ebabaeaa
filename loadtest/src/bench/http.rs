//! A tiny blocking HTTP/1.1 GET for control-plane requests to loopback services (the
//! simulator's `/sim/state`). Not on any measured path, so simplicity beats speed; responses are
//! bounded by [`HTTP_RESPONSE_BYTES_MAX`] and every step has a timeout.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context};

use super::limits::{HANDSHAKE_HEADERS_MAX, HTTP_RESPONSE_BYTES_MAX};

/// Splits `http://host:port/path` into (`host:port`, `/path`).
pub fn split_http_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("only http:// URLs are supported: {url}"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() {
        bail!("URL has no host: {url}");
    }
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    Ok((host, path.to_string()))
}

/// GETs `url`, returning the status and the (de-chunked) body.
pub fn get(url: &str, timeout: Duration) -> anyhow::Result<(u16, Vec<u8>)> {
    let (host, path) = split_http_url(url)?;
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("no address for {host}"))?;
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connect {url}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    // One write: a server that answers after the first segment must see the whole request.
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.take(HTTP_RESPONSE_BYTES_MAX as u64 + 1)
        .read_to_end(&mut raw)
        .with_context(|| format!("reading {url}"))?;
    if raw.len() > HTTP_RESPONSE_BYTES_MAX {
        bail!("response from {url} is over {HTTP_RESPONSE_BYTES_MAX} bytes");
    }
    parse_response(&raw).with_context(|| format!("response from {url}"))
}

/// Parses a complete `Connection: close` response.
pub fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut headers = [httparse::EMPTY_HEADER; HANDSHAKE_HEADERS_MAX];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(raw)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => bail!("truncated HTTP head"),
    };
    let code = resp.code.unwrap_or(0);
    let chunked = resp.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && h.value
                .to_ascii_lowercase()
                .windows(7)
                .any(|w| w == b"chunked")
    });
    let len = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    let body = &raw[head..];
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = len {
        body.get(..n)
            .context("body shorter than Content-Length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok((code, body))
}

fn dechunk(mut b: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line")?;
        let size_str = std::str::from_utf8(&b[..eol])?;
        let size_str = size_str.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_str, 16).context("chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(b.get(..size).context("truncated chunk")?);
        b = b.get(size + 2..).context("truncated chunk end")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (h, p) = split_http_url("http://127.0.0.1:8080/sim/state").unwrap();
        assert_eq!((h.as_str(), p.as_str()), ("127.0.0.1:8080", "/sim/state"));
        let (h, p) = split_http_url("http://localhost").unwrap();
        assert_eq!((h.as_str(), p.as_str()), ("localhost:80", "/"));
        assert!(split_http_url("https://x/").is_err());
        assert!(split_http_url("http:///x").is_err());
    }

    #[test]
    fn content_length_and_chunked_bodies() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(parse_response(r).unwrap(), (200, b"hello".to_vec()));
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n";
        assert_eq!(parse_response(r).unwrap(), (200, b"hello".to_vec()));
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n";
        assert!(parse_response(r).is_err());
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nhello";
        assert!(parse_response(r).is_err());
    }

    #[test]
    fn get_from_local_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
        });
        let (code, body) = get(
            &format!("http://127.0.0.1:{port}/x"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!((code, body.as_slice()), (200, &b"{}"[..]));
        t.join().unwrap();
    }
}
