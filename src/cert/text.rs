//! Leaf conversions from DER primitives to the text forms of the wire format: hex, strings of
//! every ASN.1 string type, times, IP addresses. Pure functions, no allocation beyond the
//! returned or appended string.

use std::borrow::Cow;

use super::der::tag;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `bytes` as uppercase hex pairs joined by `:` (`84:E0:18`).
pub(crate) fn push_hex_colon(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 3);
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
    }
}

/// `bytes` as uppercase hex pairs joined by `:`.
pub(crate) fn hex_colon(bytes: &[u8]) -> String {
    let mut s = String::new();
    push_hex_colon(bytes, &mut s);
    s
}

/// Appends `bytes` as plain uppercase hex (`0498BD`).
pub(crate) fn push_hex(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
    }
}

/// The serial number: the minimal two's-complement bytes of the INTEGER as uppercase hex.
///
/// DER already requires the minimal form; stripping redundant sign octets here keeps the text
/// canonical for the non-minimal encodings some old CAs produced (`FF D5 …` → `D5…`).
pub(crate) fn serial_hex(contents: &[u8]) -> String {
    let mut bytes = contents;
    while let [first, second, ..] = bytes {
        let redundant = (*first == 0x00 && *second < 0x80) || (*first == 0xff && *second >= 0x80);
        if !redundant {
            break;
        }
        bytes = &bytes[1..];
    }
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut s);
    s
}

/// Converts the contents of an ASN.1 string of type `tag` to UTF-8. Bytes that are not valid in
/// the string's encoding become U+FFFD; nothing is dropped. Non-string values come out as
/// `#` + hex of the whole element, as OpenSSL and RFC 4514 print them.
pub(crate) fn asn1_string<'a>(tag_byte: u8, contents: &'a [u8], raw: &[u8]) -> Cow<'a, str> {
    match tag_byte {
        tag::BMP_STRING => Cow::Owned(utf16_be_lossy(contents)),
        tag::UNIVERSAL_STRING => Cow::Owned(utf32_be_lossy(contents)),
        // UTF8String, NumericString, PrintableString, TeletexString, VideotexString, IA5String,
        // GraphicString, VisibleString, GeneralString: ASCII-compatible 8-bit strings. Invalid
        // UTF-8 (also Latin-1 bytes in TeletexString) becomes U+FFFD.
        tag::UTF8_STRING | 0x12..=0x16 | 0x19..=0x1b => String::from_utf8_lossy(contents),
        _ => {
            let mut s = String::with_capacity(1 + raw.len() * 2);
            s.push('#');
            push_hex(raw, &mut s);
            Cow::Owned(s)
        }
    }
}

fn utf16_be_lossy(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    let mut s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    // An odd trailing byte cannot be a code unit.
    if bytes.len() % 2 == 1 {
        s.push(char::REPLACEMENT_CHARACTER);
    }
    s
}

fn utf32_be_lossy(bytes: &[u8]) -> String {
    bytes
        .chunks(4)
        .map(|c| match c {
            [a, b, c, d] => char::from_u32(u32::from_be_bytes([*a, *b, *c, *d]))
                .unwrap_or(char::REPLACEMENT_CHARACTER),
            _ => char::REPLACEMENT_CHARACTER,
        })
        .collect()
}

/// An iPAddress general name in OpenSSL's form: dotted quad for IPv4, eight uppercase hex
/// groups without zero compression for IPv6 (`2001:DB8:0:0:0:0:0:1`), `<invalid length=N>`
/// otherwise.
pub(crate) fn push_ip(bytes: &[u8], out: &mut String) {
    use std::fmt::Write as _;
    match bytes {
        [a, b, c, d] => {
            let _ = write!(out, "{a}.{b}.{c}.{d}");
        }
        _ if bytes.len() == 16 => {
            for (i, pair) in bytes.chunks(2).enumerate() {
                if i > 0 {
                    out.push(':');
                }
                let group = u16::from_be_bytes([pair[0], pair[1]]);
                let _ = write!(out, "{group:X}");
            }
        }
        _ => {
            let _ = write!(out, "<invalid length={}>", bytes.len());
        }
    }
}

/// Unix seconds of a UTCTime or GeneralizedTime, or `None` when the value cannot be read.
///
/// Lenient where real certificates are sloppy: UTCTime without seconds (`0001010000Z`),
/// fractional seconds, and `+hhmm`/`-hhmm` offsets are accepted. UTCTime years 50–99 are 19xx
/// (RFC 5280 §4.1.2.5.1).
pub(crate) fn asn1_time(tag_byte: u8, contents: &[u8]) -> Option<i64> {
    let (year, rest) = match tag_byte {
        tag::UTC_TIME => {
            let yy = digits(contents, 0, 2)?;
            (
                if yy >= 50 { 1900 + yy } else { 2000 + yy },
                contents.get(2..)?,
            )
        }
        tag::GENERALIZED_TIME => (digits(contents, 0, 4)?, contents.get(4..)?),
        _ => return None,
    };
    let month = digits(rest, 0, 2)?;
    let day = digits(rest, 2, 2)?;
    let hour = digits(rest, 4, 2)?;
    let minute = digits(rest, 6, 2)?;
    let mut tail = rest.get(8..)?;
    let mut second = 0;
    if tail.first().is_some_and(u8::is_ascii_digit) {
        second = digits(tail, 0, 2)?;
        tail = tail.get(2..)?;
    }
    if tail.first() == Some(&b'.') || tail.first() == Some(&b',') {
        let frac = tail[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        tail = tail.get(1 + frac..)?;
    }
    let offset = zone_offset_secs(tail)?;
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60;
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second - offset)
}

/// Seconds east of UTC for a zone suffix: empty (treated as UTC) or `Z`, or `±hhmm`.
fn zone_offset_secs(tail: &[u8]) -> Option<i64> {
    match tail {
        [] | [b'Z'] => Some(0),
        [sign @ (b'+' | b'-'), ..] if tail.len() == 5 => {
            let secs = digits(tail, 1, 2)? * 3_600 + digits(tail, 3, 2)? * 60;
            Some(if *sign == b'+' { secs } else { -secs })
        }
        _ => None,
    }
}

/// The decimal number in `bytes[start..start + len]`, all digits required.
fn digits(bytes: &[u8], start: usize, len: usize) -> Option<i64> {
    let field = bytes.get(start..start.checked_add(len)?)?;
    field.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_match_known_instants() {
        assert_eq!(
            asn1_time(tag::UTC_TIME, b"130610000000Z"),
            Some(1_370_822_400)
        );
        assert_eq!(asn1_time(tag::UTC_TIME, b"0001010000Z"), Some(946_684_800));
        assert_eq!(
            asn1_time(tag::UTC_TIME, b"500101000000Z"),
            Some(-631_152_000)
        );
        assert_eq!(
            asn1_time(tag::GENERALIZED_TIME, b"99991231235959Z"),
            Some(253_402_300_799)
        );
        assert_eq!(
            asn1_time(tag::UTC_TIME, b"130610020000+0200"),
            Some(1_370_822_400)
        );
        assert_eq!(asn1_time(tag::UTC_TIME, b"19020701025736Z"), None);
        assert_eq!(asn1_time(tag::UTC_TIME, b"1306"), None);
        assert_eq!(asn1_time(tag::UTC_TIME, b"131310000000Z"), None);
    }

    #[test]
    fn serials_are_minimal_twos_complement() {
        assert_eq!(serial_hex(&[0x00, 0x00, 0x12, 0x34]), "1234");
        assert_eq!(serial_hex(&[0x00, 0x80]), "0080");
        assert_eq!(serial_hex(&[0xff, 0xd5, 0x01]), "D501");
        assert_eq!(serial_hex(&[0xff, 0x7f]), "FF7F");
        assert_eq!(serial_hex(&[0x00]), "00");
    }

    #[test]
    fn strings_convert_every_type() {
        assert_eq!(
            asn1_string(tag::BMP_STRING, &[0, b'O', 0x4e, 0x2d], &[]),
            "O中"
        );
        assert_eq!(
            asn1_string(tag::BMP_STRING, &[0, b'a', 0xd8], &[]),
            "a\u{fffd}"
        );
        assert_eq!(
            asn1_string(tag::UNIVERSAL_STRING, &[0, 0, 0, b'x', 0, 0x11, 0, 0], &[]),
            "x\u{fffd}"
        );
        assert_eq!(asn1_string(tag::UTF8_STRING, b"a\xffb", &[]), "a\u{fffd}b");
        assert_eq!(asn1_string(0x14, b"caf\xe9", &[]), "caf\u{fffd}");
        assert_eq!(asn1_string(0x02, &[1], &[0x02, 0x01, 0x01]), "#020101");
    }

    #[test]
    fn ips_use_openssl_forms() {
        let mut s = String::new();
        push_ip(&[192, 0, 2, 1], &mut s);
        s.push(' ');
        push_ip(
            &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            &mut s,
        );
        s.push(' ');
        push_ip(&[1, 2, 3, 4, 5, 6, 7, 8], &mut s);
        assert_eq!(s, "192.0.2.1 2001:DB8:0:0:0:0:0:1 <invalid length=8>");
    }

    #[test]
    fn hex_forms() {
        assert_eq!(hex_colon(&[0x84, 0xe0, 0x01]), "84:E0:01");
        assert_eq!(hex_colon(&[]), "");
    }
}
