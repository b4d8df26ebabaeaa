//! Byte scans that pull the four fields the harness needs out of a certstream message without
//! parsing the JSON: `message_type`, `data.seen`, `data.cert_index` and `data.source.url`.
//!
//! Why this is sound for well-formed JSON: a key pattern such as `"seen":` starts and ends with
//! an unescaped quote, and a quote inside a JSON string value is always escaped (`\"`), so the
//! pattern can only match a real key. The certstream format has each of these keys once per
//! message (`seen`/`cert_index`/`source` live in `data`, beside the large `leaf_cert`).
//! Servers put them after `leaf_cert` (and `chain`), so each key is first looked for with a
//! SIMD forward search in the message's last [`TAIL_BYTES`] and only then in the whole
//! message. Whitespace after the colon is tolerated.

use memchr::memmem;
use std::sync::OnceLock;

/// What kind of message a frame carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A `certificate_update` with the fields we track.
    Cert(CertFields<'a>),
    /// A `certificate_update` whose `seen`/`cert_index`/`source.url` could not be found.
    CertMalformed,
    /// A `dns_entries` message (domains-only stream: no index, no `seen` in our format).
    Dns,
    /// A `heartbeat`.
    Heartbeat,
    /// Anything else.
    Other,
}

/// The per-message fields used for latency and loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertFields<'a> {
    /// `data.seen` in microseconds since the Unix epoch.
    pub seen_us: u64,
    /// `data.cert_index`.
    pub cert_index: u64,
    /// Raw bytes of `data.source.url` (still JSON-escaped, e.g. `\/`).
    pub url: &'a [u8],
}

/// Bytes at the end of a message searched first for the `data` scalars. A lite message ends
/// with about 250 bytes of `cert_index`, `cert_link`, `seen` and `source`.
pub const TAIL_BYTES: usize = 640;

struct Finders {
    message_type: memmem::Finder<'static>,
    seen: memmem::Finder<'static>,
    cert_index: memmem::Finder<'static>,
    source: memmem::Finder<'static>,
    url: memmem::Finder<'static>,
}

/// Byte frequencies for JSON. memchr's default ranking is tuned for prose, where `"` and `:`
/// are rare; in JSON they are the most common bytes, so its prefilter would stop on every key.
/// Ranking them (and digits) high makes the prefilter look for the key's letters instead.
struct JsonRank;

impl memchr::arch::all::packedpair::HeuristicFrequencyRank for JsonRank {
    fn rank(&self, byte: u8) -> u8 {
        match byte {
            b'"' | b':' | b',' | b'{' | b'}' | b'[' | b']' => 255,
            b'0'..=b'9' => 200,
            b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' => 150,
            b'a'..=b'z' | b'.' | b'/' | b' ' => 110,
            b'A'..=b'Z' => 80,
            _ => 40,
        }
    }
}

fn finder(needle: &'static [u8]) -> memmem::Finder<'static> {
    memmem::FinderBuilder::new().build_forward_with_ranker(JsonRank, needle)
}

fn finders() -> &'static Finders {
    static F: OnceLock<Finders> = OnceLock::new();
    F.get_or_init(|| Finders {
        message_type: finder(b"\"message_type\":"),
        seen: finder(b"\"seen\":"),
        cert_index: finder(b"\"cert_index\":"),
        source: finder(b"\"source\":"),
        url: finder(b"\"url\":"),
    })
}

/// Position just after `"cert_index":`, found by walking the tail's `_` bytes backwards:
/// `_` is rare near the end of a message, so this is a couple of `memrchr` steps, cheaper
/// than a forward substring search over the tail. `None` sends the caller to the full search.
fn cert_index_from_end(msg: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b"\"cert_index\":";
    const UNDERSCORE_AT: usize = 5;
    const _: () = assert!(KEY[UNDERSCORE_AT] == b'_');
    let tail = msg.len().saturating_sub(TAIL_BYTES);
    memchr::memrchr_iter(b'_', &msg[tail..])
        .map(|i| tail + i)
        .take(8)
        .find(|&p| p >= UNDERSCORE_AT && msg[p - UNDERSCORE_AT..].starts_with(KEY))
        .map(|p| p - UNDERSCORE_AT + KEY.len())
}

/// Position just after `key`: searched in the tail first, then in the whole message.
fn after_key(msg: &[u8], key: &memmem::Finder<'_>) -> Option<usize> {
    let tail = msg.len().saturating_sub(TAIL_BYTES);
    let at = match key.find(&msg[tail..]) {
        Some(i) => tail + i,
        None if tail > 0 => key.find(msg)?,
        None => return None,
    };
    Some(at + key.needle().len())
}

const FAST_PREFIX: &[u8] = b"{\"message_type\":\"certificate_update\"";

/// Classifies a complete message and extracts the tracked fields.
pub fn classify(msg: &[u8]) -> Kind<'_> {
    let f = finders();
    let is_cert = if msg.starts_with(FAST_PREFIX) {
        true
    } else {
        match message_type(msg, f) {
            Some(b"certificate_update") => true,
            Some(b"heartbeat") => return Kind::Heartbeat,
            Some(b"dns_entries") => return Kind::Dns,
            _ => return Kind::Other,
        }
    };
    debug_assert!(is_cert);
    match cert_fields(msg, f) {
        Some(c) => Kind::Cert(c),
        None => Kind::CertMalformed,
    }
}

fn message_type<'a>(msg: &'a [u8], f: &Finders) -> Option<&'a [u8]> {
    let at = f.message_type.find(msg)? + f.message_type.needle().len();
    string_at(msg, at)
}

fn cert_fields<'a>(msg: &'a [u8], f: &Finders) -> Option<CertFields<'a>> {
    let idx_at = match cert_index_from_end(msg) {
        Some(at) => at,
        None => after_key(msg, &f.cert_index)?,
    };
    let cert_index = parse_u64(value_start(msg, idx_at)?)?;
    // `seen` and `source` follow `cert_index` in every known server's output: look there first.
    let near = |key: &memmem::Finder<'_>| match key.find(&msg[idx_at..]) {
        Some(i) => Some(idx_at + i + key.needle().len()),
        None => after_key(msg, key),
    };
    let seen_us = parse_seconds_us(value_start(msg, near(&f.seen)?)?)?;
    let src_at = near(&f.source)?;
    let url_at = src_at + f.url.find(&msg[src_at..])? + f.url.needle().len();
    let url = string_at(msg, url_at)?;
    Some(CertFields {
        seen_us,
        cert_index,
        url,
    })
}

/// The rest of `msg` from `at`, after JSON whitespace.
fn value_start(msg: &[u8], at: usize) -> Option<&[u8]> {
    let rest = msg.get(at..)?;
    let skip = rest
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))?;
    Some(&rest[skip..])
}

/// The raw (escaped) contents of the JSON string starting at `at` (after whitespace).
fn string_at(msg: &[u8], at: usize) -> Option<&[u8]> {
    let v = value_start(msg, at)?;
    let body = v.strip_prefix(b"\"")?;
    let mut from = 0;
    loop {
        let q = from + memchr::memchr(b'"', &body[from..])?;
        // A quote preceded by an odd number of backslashes is escaped.
        let slashes = body[..q].iter().rev().take_while(|&&b| b == b'\\').count();
        if slashes % 2 == 0 {
            return Some(&body[..q]);
        }
        from = q + 1;
    }
}

/// Parses a non-negative JSON integer prefix.
fn parse_u64(v: &[u8]) -> Option<u64> {
    let (n, digits) = digits_prefix(v);
    if digits == 0 || digits > 19 {
        let more = v.get(20).is_some_and(u8::is_ascii_digit);
        return if digits == 20 && !more {
            parse_u64_checked(&v[..20])
        } else {
            None
        };
    }
    Some(n)
}

/// Value and length of the leading run of at most 19 ASCII digits (19 digits cannot overflow
/// u64); a 20th digit makes the length 20 and the value meaningless.
fn digits_prefix(v: &[u8]) -> (u64, usize) {
    let mut n = 0u64;
    let mut i = 0;
    while i < v.len() && i < 20 {
        let d = v[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if i < 19 {
            n = n * 10 + u64::from(d);
        }
        i += 1;
    }
    (n, i)
}

fn parse_u64_checked(v: &[u8]) -> Option<u64> {
    v.iter().try_fold(0u64, |acc, &b| {
        acc.checked_mul(10)?
            .checked_add(u64::from(b.checked_sub(b'0')?))
    })
}

/// Parses a JSON number of seconds (`1732233600.123456`) into whole microseconds. The common
/// form (digits, optional fraction) is done with integer arithmetic; exponents fall back to f64.
pub fn parse_seconds_us(v: &[u8]) -> Option<u64> {
    let (secs, int_len) = digits_prefix(v);
    if int_len == 0 || int_len > 12 {
        return parse_seconds_slow(v);
    }
    let mut us = 0u64;
    let mut end = int_len;
    if v.get(int_len) == Some(&b'.') {
        let frac = &v[int_len + 1..];
        let (f, frac_len) = digits_prefix(frac);
        if frac_len == 0 {
            return None;
        }
        if frac_len > 6 {
            // Keep microseconds: re-read only the first six digits.
            us = digits_prefix(&frac[..6]).0;
            end = int_len + 1 + frac.iter().take_while(|b| b.is_ascii_digit()).count();
        } else {
            us = f * 10u64.pow(6 - frac_len as u32);
            end = int_len + 1 + frac_len;
        }
    }
    if matches!(v.get(end), Some(b'e' | b'E')) {
        return parse_seconds_slow(v);
    }
    secs.checked_mul(1_000_000)?.checked_add(us)
}

fn parse_seconds_slow(v: &[u8]) -> Option<u64> {
    let len = v
        .iter()
        .take_while(|b| matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
        .count();
    let s: f64 = std::str::from_utf8(&v[..len]).ok()?.parse().ok()?;
    if !(0.0..1e12).contains(&s) {
        return None;
    }
    Some((s * 1e6).round() as u64)
}

/// Decodes the JSON escapes a URL may carry (`\/`, `\\`, `\"`) for display and for matching
/// against URLs from the simulator. Other escapes are kept verbatim.
pub fn unescape_url(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter().copied().peekable();
    while let Some(b) = it.next() {
        if b == b'\\' {
            if let Some(&n) = it.peek() {
                if matches!(n, b'/' | b'\\' | b'"') {
                    out.push(n);
                    it.next();
                    continue;
                }
            }
        }
        out.push(b);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LITE: &str = r#"{"message_type":"certificate_update","data":{"update_type":"X509LogEntry","leaf_cert":{"subject":{"CN":"a \"seen\": b","aggregated":"/CN=x"},"all_domains":["x.test"]},"cert_index":1234567,"cert_link":"http://l/ct/v1/get-entries?start=1234567&end=1234567","seen":1732233600.123456,"source":{"url":"https://ct.example.net/log2026h1/","name":"Example"}}}"#;

    #[test]
    fn extracts_fields_from_lite_message() {
        let Kind::Cert(c) = classify(LITE.as_bytes()) else {
            panic!("not a cert")
        };
        assert_eq!(c.seen_us, 1_732_233_600_123_456);
        assert_eq!(c.cert_index, 1_234_567);
        assert_eq!(c.url, b"https://ct.example.net/log2026h1/");
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let m = r#"{ "data": { "source": { "name": "n", "url": "http:\/\/h\/x\/" }, "seen": 17.5,
            "cert_index": 9 }, "message_type": "certificate_update" }"#;
        let Kind::Cert(c) = classify(m.as_bytes()) else {
            panic!("not a cert")
        };
        assert_eq!((c.seen_us, c.cert_index), (17_500_000, 9));
        assert_eq!(unescape_url(c.url), "http://h/x/");
    }

    #[test]
    fn other_kinds() {
        let hb = br#"{"message_type":"heartbeat","timestamp":1732233600.1}"#;
        assert_eq!(classify(hb), Kind::Heartbeat);
        let dns = br#"{"message_type":"dns_entries","data":["a.com"]}"#;
        assert_eq!(classify(dns), Kind::Dns);
        assert_eq!(classify(b"{}"), Kind::Other);
        assert_eq!(classify(b"\xff\xfe"), Kind::Other);
        let broken = br#"{"message_type":"certificate_update","data":{"seen":"x"}}"#;
        assert_eq!(classify(broken), Kind::CertMalformed);
    }

    #[test]
    fn seconds_parsing() {
        assert_eq!(parse_seconds_us(b"1.5,"), Some(1_500_000));
        assert_eq!(parse_seconds_us(b"12}"), Some(12_000_000));
        assert_eq!(parse_seconds_us(b"1.1234567"), Some(1_123_456));
        assert_eq!(parse_seconds_us(b"1.7e1"), Some(17_000_000));
        assert_eq!(parse_seconds_us(b"1."), None);
        assert_eq!(parse_seconds_us(b"-1"), None);
        assert_eq!(parse_seconds_us(b"x"), None);
        assert_eq!(
            parse_seconds_us(b"1732233600.12"),
            Some(1_732_233_600_120_000)
        );
        assert_eq!(
            parse_seconds_us(b"5.1234567890123456789012"),
            Some(5_123_456)
        );
    }

    #[test]
    fn integers() {
        assert_eq!(parse_u64(b"0,"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615}"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"123456789012345678901"), None);
        assert_eq!(parse_u64(b"-3"), None);
    }

    #[test]
    fn truncated_messages_never_panic() {
        let b = LITE.as_bytes();
        for cut in 0..b.len() {
            let _ = classify(&b[..cut]);
        }
        assert_eq!(classify(&b[..b.len() - 40]), Kind::CertMalformed);
    }

    #[test]
    fn escaped_quote_inside_url() {
        let m = br#"{"message_type":"certificate_update","data":{"seen":1,"cert_index":2,"source":{"url":"a\\\"b\\"}}}"#;
        let Kind::Cert(c) = classify(m) else {
            panic!("not a cert")
        };
        assert_eq!(c.url, br#"a\\\"b\\"#);
    }
}
