//! The absolute `http`/`https` URLs a CT log is reached at, parsed strictly.
//!
//! Only what a CT client needs: scheme, host (DNS name, IPv4 or bracketed IPv6 literal), port
//! and the request target. Userinfo, whitespace, control and non-ASCII characters are refused:
//! the request target is copied verbatim into the request line, so anything that could split
//! or smuggle a request must never get that far.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use super::error::HttpError;

/// The two schemes a CT log can be reached over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A parsed absolute URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    /// Lower-cased DNS name or IP literal; IPv6 literals are stored WITHOUT brackets so the
    /// field can go straight to the resolver and to TLS SNI/verification.
    pub host: String,
    pub port: u16,
    /// The request target: path plus optional `?query`, always starting with `/`, fragment
    /// removed.
    pub path_and_query: String,
}

impl Url {
    /// Parses an absolute `http://` or `https://` URL.
    pub fn parse(input: &str) -> Result<Url, HttpError> {
        let invalid = |reason: &'static str| HttpError::InvalidUrl {
            url: truncate_for_error(input),
            reason,
        };
        let (scheme, rest) =
            split_scheme(input).ok_or_else(|| invalid("scheme must be http or https"))?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(authority_end);
        let (host, port) = parse_authority(authority, scheme).map_err(invalid)?;
        let path_and_query = parse_target(target).map_err(invalid)?;
        Ok(Url {
            scheme,
            host,
            port,
            path_and_query,
        })
    }

    /// Whether the host is an IP literal (no DNS lookup, TLS verifies an IP SAN).
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The value of the `Host` request header: brackets around IPv6 literals, port only when
    /// it is not the scheme's default (RFC 9110 §7.2).
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.host_header(),
            self.path_and_query
        )
    }
}

fn split_scheme(input: &str) -> Option<(Scheme, &str)> {
    let (scheme, rest) = input.split_once("://")?;
    if scheme.eq_ignore_ascii_case("https") {
        Some((Scheme::Https, rest))
    } else if scheme.eq_ignore_ascii_case("http") {
        Some((Scheme::Http, rest))
    } else {
        None
    }
}

fn parse_authority(authority: &str, scheme: Scheme) -> Result<(String, u16), &'static str> {
    if authority.contains('@') {
        return Err("credentials in URLs are not supported");
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (literal, after) = bracketed
            .split_once(']')
            .ok_or("unterminated IPv6 literal")?;
        let ip: Ipv6Addr = literal.parse().map_err(|_| "invalid IPv6 literal")?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or("junk after IPv6 literal")?),
        };
        (ip.to_string(), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        validate_host(host)?;
        (host.to_ascii_lowercase(), port)
    };
    Ok((host, parse_port(port, scheme)?))
}

fn validate_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("empty host");
    }
    if host.len() > 253 {
        return Err("host name longer than 253 bytes");
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    if !host.bytes().all(allowed) {
        return Err("host contains characters outside [A-Za-z0-9._-]");
    }
    Ok(())
}

fn parse_port(port: Option<&str>, scheme: Scheme) -> Result<u16, &'static str> {
    match port {
        // RFC 3986 allows an empty port, meaning the default.
        None | Some("") => Ok(scheme.default_port()),
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 5 => {
            match digits.parse::<u16>() {
                Ok(0) | Err(_) => Err("port out of range"),
                Ok(port) => Ok(port),
            }
        }
        Some(_) => Err("port is not a number"),
    }
}

fn parse_target(target: &str) -> Result<String, &'static str> {
    let without_fragment = target.split('#').next().unwrap_or("");
    // Printable ASCII only: the target is written verbatim into the request line.
    if !without_fragment.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("path contains whitespace, control or non-ASCII characters");
    }
    Ok(match without_fragment.as_bytes().first() {
        None => "/".to_owned(),
        Some(b'/') => without_fragment.to_owned(),
        Some(_) => format!("/{without_fragment}"),
    })
}

/// URLs from the network can be long; error messages keep only a prefix.
fn truncate_for_error(input: &str) -> String {
    const MAX: usize = 200;
    match input.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &input[..cut]),
        None => input.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn https_log_url_with_default_port() {
        let url = parse("https://ct.googleapis.com/logs/us1/argon2025h2/ct/v1/get-sth");
        assert_eq!(url.scheme, Scheme::Https);
        assert_eq!(url.host, "ct.googleapis.com");
        assert_eq!(url.port, 443);
        assert_eq!(url.path_and_query, "/logs/us1/argon2025h2/ct/v1/get-sth");
        assert_eq!(url.host_header(), "ct.googleapis.com");
    }

    #[test]
    fn http_with_port_query_and_fragment() {
        let url = parse("HTTP://Example.COM:8080/ct/v1/get-entries?start=0&end=255#frag");
        assert_eq!(url.scheme, Scheme::Http);
        assert_eq!(url.host, "example.com");
        assert_eq!(url.port, 8080);
        assert_eq!(url.path_and_query, "/ct/v1/get-entries?start=0&end=255");
        assert_eq!(url.host_header(), "example.com:8080");
        assert_eq!(
            url.to_string(),
            "http://example.com:8080/ct/v1/get-entries?start=0&end=255"
        );
    }

    #[test]
    fn empty_path_and_query_only() {
        assert_eq!(parse("https://log.example").path_and_query, "/");
        assert_eq!(parse("https://log.example?x=1").path_and_query, "/?x=1");
        assert_eq!(parse("http://log.example:/a").port, 80);
    }

    #[test]
    fn ipv4_and_ipv6_literals() {
        let v4 = parse("http://127.0.0.1:8443/x");
        assert_eq!(v4.host_ip(), Some("127.0.0.1".parse().unwrap()));
        let v6 = parse("https://[::1]:8443/ct/v1/");
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.port, 8443);
        assert_eq!(v6.host_header(), "[::1]:8443");
        let v6_default = parse("https://[2001:DB8::1]/");
        assert_eq!(v6_default.host, "2001:db8::1");
        assert_eq!(v6_default.host_header(), "[2001:db8::1]");
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "ftp://example.com/",
            "example.com/ct/v1/",
            "https://",
            "https:///path",
            "https://user:pw@example.com/",
            "https://example.com:0/",
            "https://example.com:65536/",
            "https://example.com:12a/",
            "https://exa mple.com/",
            "https://[::1/",
            "https://[zz::1]/",
            "https://[::1]x/",
            "https://example.com/a b",
            "https://example.com/a\r\nX-Evil: 1",
            "https://example.com/ü",
        ] {
            let err = Url::parse(bad).expect_err(bad);
            assert!(matches!(err, HttpError::InvalidUrl { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn error_names_the_url_and_reason() {
        let err = Url::parse("gopher://x/").unwrap_err().to_string();
        assert!(err.contains("gopher://x/"), "{err}");
        assert!(err.contains("scheme"), "{err}");
    }
}
