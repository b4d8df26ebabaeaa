//! The TLS presentation language (RFC 8446 §3) as CT uses it: a bounded, zero-copy reader of
//! big-endian integers and length-prefixed vectors, and the structural error it reports.
//!
//! Shared by every decoder of TLS-encoded bytes: RFC 6962 leaves ([`super::leaf`]), Static CT
//! data tiles ([`super::static_ct`]) and `DigitallySigned` structs ([`super::sig`]). It depends on
//! nothing else in `ct`, so none of them import one another for it.
//!
//! # Invariants worth naming
//!
//! - Every read is bounds-checked and names the field being read; a failure is a [`TlsError`],
//!   never a panic or a guess.
//! - Every slice handed out is a sub-slice of the buffer the reader was created on, which is what
//!   makes [`bytes::Bytes::slice_ref`] on them safe.

use std::fmt;

use super::error::{DecodeFailure, DecodeKind};

/// A structural error in TLS-encoded bytes. `field` names the RFC 6962 / static-ct-api field
/// being read when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    /// The field needs more bytes than are left.
    Truncated {
        field: &'static str,
        needed: usize,
        available: usize,
    },
    /// A length prefix is below the field's declared minimum.
    TooShort {
        field: &'static str,
        len: usize,
        min: usize,
    },
    /// Bytes are left over after the last field of a struct or list.
    TrailingBytes { field: &'static str, count: usize },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Truncated {
                field,
                needed,
                available,
            } => {
                write!(
                    f,
                    "{field}: truncated, needs {needed} bytes but {available} are left"
                )
            }
            TlsError::TooShort { field, len, min } => {
                write!(f, "{field}: length {len} is below the minimum {min}")
            }
            TlsError::TrailingBytes { field, count } => {
                write!(f, "{field}: {count} unexpected bytes after the last field")
            }
        }
    }
}

impl std::error::Error for TlsError {}

impl DecodeFailure for TlsError {
    fn kind(&self) -> DecodeKind {
        match self {
            TlsError::Truncated { .. } => DecodeKind::Truncated,
            TlsError::TooShort { .. } | TlsError::TrailingBytes { .. } => DecodeKind::Malformed,
        }
    }
}

/// A bounds-checked cursor over TLS-encoded bytes. Every slice it returns is a sub-slice of the
/// buffer it was created on, which is what makes [`bytes::Bytes::slice_ref`] on them safe.
#[derive(Debug, Clone)]
pub struct TlsReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> TlsReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        TlsReader { data, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], TlsError> {
        let available = self.remaining();
        if n > available {
            return Err(TlsError::Truncated {
                field,
                needed: n,
                available,
            });
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], TlsError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, field)?);
        Ok(out)
    }

    /// A big-endian unsigned integer of `width` ≤ 8 bytes.
    fn uint(&mut self, width: usize, field: &'static str) -> Result<u64, TlsError> {
        debug_assert!(width <= 8);
        let raw = self.bytes(width, field)?;
        Ok(raw.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, TlsError> {
        Ok(self.bytes(1, field)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, TlsError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// A `uint24` (TLS length prefixes of `<..2^24-1>` vectors).
    pub fn u24(&mut self, field: &'static str) -> Result<u32, TlsError> {
        // Width 3 cannot exceed u32.
        Ok(self.uint(3, field)? as u32)
    }

    /// A `uint40` (the static-ct-api `leaf_index` extension).
    pub fn u40(&mut self, field: &'static str) -> Result<u64, TlsError> {
        self.uint(5, field)
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, TlsError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A vector with a `prefix_len`-byte length prefix and at least `min` bytes of content.
    fn vector(
        &mut self,
        prefix_len: usize,
        min: usize,
        field: &'static str,
    ) -> Result<&'a [u8], TlsError> {
        // A prefix of at most 3 bytes fits usize on every supported platform.
        let len = self.uint(prefix_len, field)? as usize;
        if len < min {
            return Err(TlsError::TooShort { field, len, min });
        }
        self.bytes(len, field)
    }

    /// `opaque field<min..2^8-1>`.
    pub fn opaque8(&mut self, min: usize, field: &'static str) -> Result<&'a [u8], TlsError> {
        self.vector(1, min, field)
    }

    /// `opaque field<min..2^16-1>`.
    pub fn opaque16(&mut self, min: usize, field: &'static str) -> Result<&'a [u8], TlsError> {
        self.vector(2, min, field)
    }

    /// `opaque field<min..2^24-1>`.
    pub fn opaque24(&mut self, min: usize, field: &'static str) -> Result<&'a [u8], TlsError> {
        self.vector(3, min, field)
    }

    /// Fails if any byte is left: TLS structs have no padding and no room for extras.
    pub fn finish(&self, field: &'static str) -> Result<(), TlsError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(TlsError::TrailingBytes { field, count }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_bounds() {
        let data = [0x01, 0x02, 0x03, 0x04, 0x05];
        let mut r = TlsReader::new(&data);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        assert_eq!(r.u24("b").unwrap(), 0x030405);
        assert!(r.is_empty());
        assert_eq!(
            r.u8("c"),
            Err(TlsError::Truncated {
                field: "c",
                needed: 1,
                available: 0
            })
        );
        let mut r = TlsReader::new(&[0, 0, 0, 0, 7]);
        assert_eq!(r.u40("i").unwrap(), 7);
        let mut r = TlsReader::new(&[0, 0]);
        assert_eq!(
            r.opaque16(1, "o"),
            Err(TlsError::TooShort {
                field: "o",
                len: 0,
                min: 1
            })
        );
        let mut r = TlsReader::new(&[0, 5, 1, 2]);
        assert!(matches!(
            r.opaque16(0, "o"),
            Err(TlsError::Truncated {
                needed: 5,
                available: 2,
                ..
            })
        ));
        let r = TlsReader::new(&[1]);
        assert_eq!(
            r.finish("s"),
            Err(TlsError::TrailingBytes {
                field: "s",
                count: 1
            })
        );
        let mut r = TlsReader::new(&[2, 9, 9, 3]);
        assert_eq!(r.opaque8(0, "o").unwrap(), &[9, 9]);
        assert_eq!(r.offset(), 3);
        assert_eq!(r.remaining(), 1);
    }
}
