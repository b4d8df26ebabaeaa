//! SHA-256 as CT takes it: over the concatenation of a few parts (a log ID over the key's
//! SPKI, a Merkle leaf hash over `0x00 || leaf`, a signed-note key ID over name and log ID).
//! Its own module so that the decoders and [`super::sig`] share it without importing one another.

use sha2::{Digest as _, Sha256};

/// SHA-256 over the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_hash_as_their_concatenation() {
        assert_eq!(sha256(&[b"ab", b"", b"c"]), sha256(&[b"abc"]));
        assert_eq!(
            sha256(&[]),
            <[u8; 32]>::from(Sha256::digest(b"")),
            "no parts is the empty message"
        );
    }
}
