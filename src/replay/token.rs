//! Resume cursors: what a client has been sent, as a URL-safe token that outlives the server.
//!
//! # Format (version 1)
//!
//! The token is the unpadded base64url (RFC 4648 §5) encoding of:
//!
//! ```text
//! 0x01                      version
//! varint watermark_us       every entry of a log NOT listed below that the server first saw
//!                           at or after this time (µs since the Unix epoch) is still to send
//! varint n                  number of logs listed (at most limits::RESUME_TOKEN_LOGS_MAX)
//! n × ( key[8]              the first 8 bytes of SHA-256 of the log's `source.url`
//!       varint next )       the next `cert_index` to send for that log (last received + 1)
//! ```
//!
//! Varints are unsigned LEB128 (7 bits a byte, low bits first, at most 10 bytes). Keys are
//! listed in increasing byte order, each once. Everything in the token can be rebuilt from the
//! messages a client received (`data.source.url` and `data.cert_index`), so a client may keep
//! its own position per message instead of waiting for the server's `cursor` messages
//! (`loadtest/python/resume_client.py` shows both). The server's clock (`seen`) sets the
//! watermark: a client building a token itself uses the `seen` of the first message it got,
//! or the time it connected.
//!
//! Why per-log positions and not a sequence number: a log's `cert_index` is the one order that
//! exists before and after a restart of this server, on every node that follows the same log.

use std::collections::BTreeMap;

use base64::Engine;
use sha2::Digest;

use crate::limits;

/// A log as tokens and the replay store name it.
pub type LogKey = [u8; 8];

/// The key of the log whose entries carry `source.url == url`.
pub fn log_key(url: &str) -> LogKey {
    let digest = sha2::Sha256::digest(url.as_bytes());
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    key
}

const VERSION: u8 = 1;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What a client has been sent: per log the next index, and for every other log the time from
/// which it has seen nothing yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Entries of unlisted logs first seen at or after this time are still to send (µs).
    pub watermark_us: u64,
    /// Next index to send, per log.
    pub next: BTreeMap<LogKey, u64>,
}

/// Why a token was refused (answered with 400 and this text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError(pub String);

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Cursor {
    /// A cursor for a client that starts now: nothing sent, nothing owed before `now_us`.
    pub fn starting_at(now_us: u64) -> Self {
        Cursor {
            watermark_us: now_us,
            next: BTreeMap::new(),
        }
    }

    /// Records that `index` of `key` was sent.
    pub fn sent(&mut self, key: LogKey, index: u64) {
        let next = self.next.entry(key).or_insert(0);
        *next = (*next).max(index.saturating_add(1));
    }

    /// Whether `index` of `key` was already sent (or is before where the client resumes): the
    /// per-log filter that keeps a resumed stream free of repeats.
    pub fn already_sent(&self, key: &LogKey, index: u64, seen_us: u64) -> bool {
        match self.next.get(key) {
            Some(&next) => index < next,
            None => seen_us < self.watermark_us,
        }
    }

    /// The token of this cursor.
    pub fn encode(&self) -> String {
        let mut out = Vec::with_capacity(12 + self.next.len() * 12);
        out.push(VERSION);
        put_varint(&mut out, self.watermark_us);
        put_varint(&mut out, self.next.len() as u64);
        for (key, next) in &self.next {
            out.extend_from_slice(key);
            put_varint(&mut out, *next);
        }
        B64.encode(out)
    }

    /// Parses a token; every malformed input is an error naming what is wrong.
    pub fn decode(token: &str) -> Result<Cursor, TokenError> {
        let err = |what: &str| TokenError(format!("invalid resume token: {what}"));
        if token.len() > limits::RESUME_TOKEN_CHARS_MAX {
            return Err(err("too long"));
        }
        let bytes = B64
            .decode(token)
            .map_err(|_| err("not unpadded base64url"))?;
        let mut r = Reader(&bytes);
        if r.byte().ok_or_else(|| err("empty"))? != VERSION {
            return Err(err("unknown version"));
        }
        let watermark_us = r.varint().ok_or_else(|| err("bad watermark"))?;
        let n = r.varint().ok_or_else(|| err("bad log count"))?;
        if n > limits::RESUME_TOKEN_LOGS_MAX as u64 {
            return Err(err("too many logs"));
        }
        let mut next = BTreeMap::new();
        let mut previous: Option<LogKey> = None;
        for _ in 0..n {
            let key = r.key().ok_or_else(|| err("cut short"))?;
            if previous.is_some_and(|p| p >= key) {
                return Err(err("logs out of order or repeated"));
            }
            previous = Some(key);
            next.insert(key, r.varint().ok_or_else(|| err("bad index"))?);
        }
        if !r.0.is_empty() {
            return Err(err("trailing bytes"));
        }
        Ok(Cursor { watermark_us, next })
    }
}

/// Where a client asked to start (`?since=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// After what a token says was sent.
    Token(Cursor),
    /// Everything first seen at or after this time (µs since the epoch).
    Time(u64),
}

/// Parses `?since=`: an RFC 3339 time (it starts with four digits and a dash) or a token.
pub fn parse_since(value: &str) -> Result<Since, TokenError> {
    let looks_like_time = value.len() > 5
        && value.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && value.as_bytes()[4] == b'-';
    if !looks_like_time {
        return Cursor::decode(value).map(Since::Token);
    }
    let at = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|e| TokenError(format!("invalid since time (RFC 3339 expected): {e}")))?;
    let us = at.unix_timestamp_nanos() / 1000;
    u64::try_from(us)
        .map(Since::Time)
        .map_err(|_| TokenError("since time is before 1970".into()))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn key(&mut self) -> Option<LogKey> {
        let key = self.0.get(..8)?.try_into().ok()?;
        self.0 = &self.0[8..];
        Some(key)
    }

    /// LEB128, at most 10 bytes, no bits past 64.
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return None;
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_stay_url_safe() {
        let mut c = Cursor::starting_at(1_733_000_000_123_456);
        c.sent(log_key("https://ct.example/log1/"), 41);
        c.sent(log_key("https://ct.example/log2/"), u64::MAX - 1);
        c.sent(log_key("https://ct.example/log1/"), 7); // never goes back
        let token = c.encode();
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let back = Cursor::decode(&token).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.next[&log_key("https://ct.example/log1/")], 42);
    }

    #[test]
    fn already_sent_uses_the_log_position_or_the_watermark() {
        let mut c = Cursor::starting_at(1000);
        let a = log_key("a");
        c.sent(a, 9);
        assert!(c.already_sent(&a, 9, 5000));
        assert!(!c.already_sent(&a, 10, 0));
        let b = log_key("b");
        assert!(c.already_sent(&b, 0, 999));
        assert!(!c.already_sent(&b, 0, 1000));
    }

    #[test]
    fn a_hand_built_token_matches_the_documented_layout() {
        // version 1, watermark 300 (0xAC 0x02), one log, next index 5.
        let key = log_key("https://ct.example/log/");
        let mut raw = vec![1, 0xAC, 0x02, 1];
        raw.extend_from_slice(&key);
        raw.push(5);
        let c = Cursor::decode(&B64.encode(raw)).unwrap();
        assert_eq!(c.watermark_us, 300);
        assert_eq!(c.next.get(&key), Some(&5));
    }

    #[test]
    fn malformed_tokens_are_refused_with_a_reason() {
        let good = Cursor::starting_at(5).encode();
        let key = [3u8; 8];
        let twice = {
            let mut raw = vec![1, 0, 2];
            raw.extend_from_slice(&key);
            raw.push(1);
            raw.extend_from_slice(&key);
            raw.push(2);
            B64.encode(raw)
        };
        for (token, why) in [
            ("", "empty"),
            ("!!!", "base64url"),
            (&B64.encode([2u8, 0, 0]), "version"),
            (&B64.encode([1u8, 0x80]), "watermark"),
            (&B64.encode([1u8, 0, 1, 1, 2]), "cut short"),
            (&B64.encode([1u8, 0, 0, 9]), "trailing"),
            (&B64.encode([1u8, 0, 0xFF, 0xFF, 0x7F]), "too many"),
            (twice.as_str(), "order"),
            (&format!("{good}="), "base64url"),
            (&"A".repeat(limits::RESUME_TOKEN_CHARS_MAX + 1), "too long"),
        ] {
            let e = Cursor::decode(token).unwrap_err();
            assert!(e.0.contains(why), "{token:?}: {e} (wanted {why})");
        }
        // Eleven-byte and overflowing varints.
        assert!(Cursor::decode(
            &B64.encode([1u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0])
        )
        .is_err());
    }

    #[test]
    fn since_takes_a_time_or_a_token() {
        assert_eq!(
            parse_since("2026-12-03T10:00:00Z").unwrap(),
            Since::Time(1_796_292_000_000_000)
        );
        assert_eq!(
            parse_since("2026-12-03T11:00:00.5+01:00").unwrap(),
            Since::Time(1_796_292_000_500_000)
        );
        assert!(parse_since("2026-13-03T10:00:00Z")
            .unwrap_err()
            .0
            .contains("RFC 3339"));
        assert!(parse_since("1969-12-31T23:59:59Z")
            .unwrap_err()
            .0
            .contains("1970"));
        let c = Cursor::starting_at(77);
        assert_eq!(parse_since(&c.encode()).unwrap(), Since::Token(c));
    }
}
