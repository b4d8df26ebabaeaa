//! A minimal, lenient DER reader: just enough TLV walking to split a certificate into its
//! fields without trusting any length. Every function returns `None` instead of panicking on
//! short, overlong or indefinite-length input.
//!
//! Only the low tag numbers (< 31) that X.509 uses are supported; a high-tag-number identifier
//! makes the element unreadable, which callers treat like any other malformed field.

/// Universal tags and context tags used by the certificate walker.
pub(crate) mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[0] EXPLICIT` (TBSCertificate.version).
    pub const CONTEXT_0: u8 = 0xa0;
    /// `[3] EXPLICIT` (TBSCertificate.extensions).
    pub const CONTEXT_3: u8 = 0xa3;
}

/// One decoded element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// The whole identifier octet (class, constructed bit, number).
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// Identifier, length and contents together (what x509-parser's `from_der` wants).
    pub raw: &'a [u8],
}

/// Reads one element from the front of `input`, returning it and the rest.
pub(crate) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, after_tag) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, after_len) = after_tag.split_first()?;
    let (len, header_rest) = if first < 0x80 {
        (usize::from(first), after_len)
    } else {
        // 0x80 is BER's indefinite form (not DER); more than 4 length octets cannot describe
        // anything that fits in a CT response anyway.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (len_bytes, rest) = (after_len.get(..count)?, after_len.get(count..)?);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let value = header_rest.get(..len)?;
    let rest = header_rest.get(len..)?;
    let header_len = input.len() - header_rest.len();
    let raw = input.get(..header_len + len)?;
    Some((Tlv { tag, value, raw }, rest))
}

/// Reads one element and requires its tag to be `expected`.
pub(crate) fn read_tagged(input: &[u8], expected: u8) -> Option<(Tlv<'_>, &[u8])> {
    let (tlv, rest) = read(input)?;
    (tlv.tag == expected).then_some((tlv, rest))
}

/// Iterates over the elements of a constructed value's contents; stops at the first element
/// that cannot be read.
pub(crate) fn elements(contents: &[u8]) -> Elements<'_> {
    Elements { rest: contents }
}

/// See [`elements`].
pub(crate) struct Elements<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Elements<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        match read(self.rest) {
            Some((tlv, rest)) => {
                self.rest = rest;
                Some(tlv)
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

/// Appends the dotted-decimal form of an OBJECT IDENTIFIER's contents to `out`. Returns false
/// (leaving `out` possibly partly written) when the encoding is truncated or an arc overflows.
pub(crate) fn write_oid(contents: &[u8], out: &mut String) -> bool {
    use std::fmt::Write as _;
    let mut arc: u64 = 0;
    let mut first = true;
    let mut pending = false;
    for &b in contents {
        if arc > (u64::MAX >> 7) {
            return false;
        }
        arc = (arc << 7) | u64::from(b & 0x7f);
        pending = true;
        if b & 0x80 != 0 {
            continue;
        }
        if first {
            // The first subidentifier packs the first two arcs (X.690 §8.19.4).
            let (a, b) = match arc {
                0..=39 => (0, arc),
                40..=79 => (1, arc - 40),
                _ => (2, arc - 80),
            };
            let _ = write!(out, "{a}.{b}");
            first = false;
        } else {
            let _ = write!(out, ".{arc}");
        }
        arc = 0;
        pending = false;
    }
    !first && !pending
}

/// The dotted form of an OID, or `None` when malformed.
pub(crate) fn oid_string(contents: &[u8]) -> Option<String> {
    let mut s = String::with_capacity(contents.len() * 3);
    write_oid(contents, &mut s).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let (t, rest) = read(&[0x04, 0x02, 0xaa, 0xbb, 0xff]).unwrap();
        assert_eq!(
            (t.tag, t.value, rest),
            (0x04, &[0xaa, 0xbb][..], &[0xff][..])
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let (t, rest) = read(&long).unwrap();
        assert_eq!((t.value.len(), t.raw.len(), rest.len()), (0x80, 0x83, 0));
    }

    #[test]
    fn rejects_truncated_indefinite_and_high_tags() {
        assert!(read(&[]).is_none());
        assert!(read(&[0x30]).is_none());
        assert!(read(&[0x30, 0x05, 0x00]).is_none());
        assert!(read(&[0x30, 0x80, 0x00, 0x00]).is_none());
        assert!(read(&[0x1f, 0x01, 0x00]).is_none());
        assert!(read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
    }

    #[test]
    fn formats_oids() {
        assert_eq!(
            oid_string(&[0x55, 0x1d, 0x11]).as_deref(),
            Some("2.5.29.17")
        );
        assert_eq!(
            oid_string(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03]).as_deref(),
            Some("1.3.6.1.4.1.11129.2.4.3")
        );
        assert_eq!(oid_string(&[0x2b, 0x86]), None);
        assert_eq!(oid_string(&[]), None);
    }
}
