//! Per-core cache of serialized chain elements.
//!
//! Chain certificates are a few dozen intermediates and roots repeated in every entry of a log,
//! so each one is parsed, hashed and serialized (with its `as_der`) once per core and its JSON
//! reused for every later entry that carries it. This removes most of the encoding cost of the
//! full stream (see the ingest bench).
//!
//! # Invariants
//!
//! - Lookups compare the whole DER, never just the key, so a key collision cannot substitute
//!   another certificate.
//! - At most [`limits::CHAIN_CACHE_CERTS_MAX`] DERs are cached; when full the cache is emptied
//!   and refills with what the logs currently send.
//! - Per-core (`thread_local!` + `RefCell`), never shared between executors.

use std::{cell::RefCell, collections::HashMap, rc::Rc};

use super::{CertInfo, CertJson, EncodeError};
use crate::limits;

struct Cached {
    der: Box<[u8]>,
    json: Rc<str>,
}

#[derive(Default)]
struct ChainCache {
    by_key: HashMap<u64, Vec<Cached>>,
    certs: usize,
}

thread_local! {
    static CACHE: RefCell<ChainCache> = RefCell::new(ChainCache::default());
}

/// The JSON object of the chain element `der` (cert object fields plus `as_der`).
pub(super) fn element_json(der: &[u8]) -> Result<Rc<str>, EncodeError> {
    let key = cache_key(der);
    let hit = CACHE.with(|c| {
        c.borrow()
            .by_key
            .get(&key)
            .and_then(|list| list.iter().find(|e| *e.der == *der))
            .map(|e| Rc::clone(&e.json))
    });
    if let Some(json) = hit {
        return Ok(json);
    }
    let info = CertInfo::lenient(der);
    let json = sonic_rs::to_string(&CertJson {
        cert: &info,
        with_der: true,
    })
    .map_err(|e| EncodeError::Serialize {
        form: "chain",
        message: e.to_string(),
    })?;
    let json: Rc<str> = Rc::from(json);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.certs >= limits::CHAIN_CACHE_CERTS_MAX {
            c.by_key.clear();
            c.certs = 0;
        }
        c.certs += 1;
        let entry = Cached {
            der: der.into(),
            json: Rc::clone(&json),
        };
        c.by_key.entry(key).or_default().push(entry);
    });
    Ok(json)
}

/// The length and the last eight bytes: the end of a certificate is its signature, which is
/// as good as random, so this separates real certificates without hashing the whole DER.
fn cache_key(der: &[u8]) -> u64 {
    let mut tail = [0u8; 8];
    let n = der.len().min(8);
    tail[8 - n..].copy_from_slice(&der[der.len() - n..]);
    u64::from_le_bytes(tail) ^ (der.len() as u64).rotate_left(48)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_return_the_same_json_and_compare_whole_ders() {
        let a = element_json(b"\x30\x03\x02\x01\x05").unwrap();
        let again = element_json(b"\x30\x03\x02\x01\x05").unwrap();
        assert!(Rc::ptr_eq(&a, &again));
        // Same length and tail, different DER: must not share the entry.
        let b = element_json(b"\x31\x03\x02\x01\x05").unwrap();
        assert_ne!(a, b);
    }
}
