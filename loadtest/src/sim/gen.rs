//! Entry generator: turns `(log, index, timestamp)` into entry bytes, deterministically for a
//! given simulator (seed + the CA/key material generated at start).

use std::sync::Arc;

use super::{
    certgen::{build_leaf, Authority, Chain, KeyPool, LeafInput},
    encode::{EntryBody, EntryBytes},
    fixtures::RealCert,
    merkle::Hash,
    rng::SplitMix,
};

/// What kind of certificate an entry carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Generated final certificate (x509_entry), distinct from every other generated entry.
    X509,
    /// Generated precertificate (precert_entry), distinct from every other generated entry.
    Precert,
    /// A real fixture certificate wrapped as x509_entry (`file` under fixtures/ctdata/certs);
    /// repeats of the same file are identical leaves.
    Real { file: &'static str },
    /// An entry of a replay log (bytes from the real fixtures).
    Replay { precert: bool },
}

/// One generated entry's certificate material.
pub struct Generated {
    pub kind: EntryKind,
    /// Published leaf DER: certificate or precertificate.
    pub cert: Arc<[u8]>,
    pub tbs_without_poison: Option<Vec<u8>>,
    pub chain: usize,
}

/// Share of precertificates among generated entries.
const PRECERT_SHARE: f64 = 0.5;
/// Share of RSA-2048 leaf keys.
const RSA_SHARE: f64 = 0.1;
/// P-256 leaf keys generated per simulator.
pub const EC_KEY_POOL: usize = 16;

pub struct Generator {
    seed: u64,
    authority: Authority,
    /// Authority chains first, then one chain per real certificate.
    chains: Vec<Chain>,
    keys: KeyPool,
    real: Vec<RealCert>,
    real_share: f64,
}

impl Generator {
    pub fn new(
        seed: u64,
        mut authority: Authority,
        keys: KeyPool,
        real: (Vec<RealCert>, Vec<Chain>),
        real_share: f64,
    ) -> Self {
        let (real, real_chains) = real;
        let mut chains = std::mem::take(&mut authority.chains);
        // Real chains were numbered from 0 by fixtures::real_certs; shift them past ours.
        let offset = chains.len();
        chains.extend(real_chains);
        let real = real
            .into_iter()
            .map(|r| RealCert {
                chain: r.chain + offset,
                ..r
            })
            .collect();
        Generator {
            seed,
            authority,
            chains,
            keys,
            real,
            real_share,
        }
    }

    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Deterministic content of entry `index` of log `log`.
    pub fn generate(&self, log: u32, index: u64, timestamp_ms: u64) -> Generated {
        let mut rng = SplitMix::from_words(&[self.seed, u64::from(log), index]);
        if !self.real.is_empty() && rng.chance(self.real_share) {
            let real = rng.pick(&self.real);
            return Generated {
                kind: EntryKind::Real { file: real.file },
                cert: real.der.clone(),
                tbs_without_poison: None,
                chain: real.chain,
            };
        }
        let precert = rng.chance(PRECERT_SHARE);
        // Chains [E1] 40 %, [E1, root] 40 %, [E2, sub-CA, root] 20 %.
        let chain = match rng.below(10) {
            0..=3 => 0,
            4..=7 => 1,
            _ => 2,
        };
        let issuer_idx = self.chains[chain].issuer.unwrap_or(2);
        let rsa = !self.keys.rsa.is_empty() && rng.chance(RSA_SHARE);
        let spki = if rsa {
            rng.pick(&self.keys.rsa)
        } else {
            rng.pick(&self.keys.ec)
        };
        let leaf = build_leaf(
            &mut rng,
            &LeafInput {
                log,
                index,
                timestamp_ms,
                precert,
                issuer: &self.authority.cas[issuer_idx],
                spki,
                rsa,
            },
        );
        Generated {
            kind: if precert {
                EntryKind::Precert
            } else {
                EntryKind::X509
            },
            cert: leaf.cert.into(),
            tbs_without_poison: leaf.tbs_without_poison,
            chain,
        }
    }

    /// Borrowed wire view of a generated entry.
    pub fn bytes<'a>(&'a self, g: &'a Generated, timestamp_ms: u64) -> EntryBytes<'a> {
        let chain = &self.chains[g.chain];
        let body = match &g.tbs_without_poison {
            Some(tbs) => EntryBody::Precert {
                issuer_key_hash: &chain.issuer_key_hash,
                tbs,
                pre_certificate: &g.cert,
            },
            None => EntryBody::X509 { cert: &g.cert },
        };
        EntryBytes {
            timestamp_ms,
            body,
            chain: &chain.certs,
            chain_fingerprints: &chain.fingerprints,
        }
    }

    /// Every certificate that can appear in a chain, by SHA-256 (for `issuer/<hex>`).
    pub fn issuers(&self) -> impl Iterator<Item = (Hash, Arc<[u8]>)> + '_ {
        self.chains
            .iter()
            .flat_map(|c| c.fingerprints.iter().copied().zip(c.certs.iter().cloned()))
    }
}
