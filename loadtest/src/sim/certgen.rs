//! Certificate material: a small CA hierarchy generated once per simulator (really signed with
//! ring), and leaf certificates / precertificates built from a template per entry.
//!
//! # Leaf signatures are well-formed but not valid
//! Every leaf is a pure function of `(seed, log, index, timestamp)`, so the simulator stores only
//! timestamps and leaf hashes and regenerates entry bytes on demand. ECDSA signing in ring is
//! randomized, so a real signature would change the bytes on every regeneration; instead the
//! leaf's `signatureValue` is a DER `ECDSA-Sig-Value` whose r and s are SHA-256 digests of the
//! TBS. Parsers accept it; signature verification against the issuer fails. CA certificates
//! (built once and stored) carry real signatures.
//!
//! # Distinctness
//! Serial = 8 pseudo-random bytes || log (u16) || index (u48) and the first SAN/CN embeds
//! `index` and `log`, so no two generated entries of one simulator share a serial or a name.
//! Real certificates reused from the fixtures (see `fixtures.rs`) repeat by design.

use std::sync::Arc;

use ring::{
    rand::SystemRandom,
    signature::{
        EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING,
        ECDSA_P384_SHA384_ASN1_SIGNING,
    },
};

use super::{
    der::{self, constructed, seq, tlv, uint},
    merkle::{sha256, Hash},
    rng::SplitMix,
};

pub const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
pub const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];
const OID_C: &[u8] = &[0x55, 0x04, 0x06];
const OID_SKI: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_KU: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
const OID_BC: &[u8] = &[0x55, 0x1d, 0x13];
const OID_CRLDP: &[u8] = &[0x55, 0x1d, 0x1f];
const OID_CP: &[u8] = &[0x55, 0x1d, 0x20];
const OID_AKI: &[u8] = &[0x55, 0x1d, 0x23];
const OID_EKU: &[u8] = &[0x55, 0x1d, 0x25];
const OID_AIA: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01];
const OID_OCSP: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
const OID_CA_ISSUERS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
const OID_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const OID_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
const OID_POLICY_DV: &[u8] = &[0x67, 0x81, 0x0c, 0x01, 0x02, 0x01];
const OID_POLICY_OV: &[u8] = &[0x67, 0x81, 0x0c, 0x01, 0x02, 0x02];
/// RFC 6962 §3.1 precertificate poison, 1.3.6.1.4.1.11129.2.4.3.
pub const OID_POISON: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03];
const OID_SCT_LIST: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];

const WORDS: &[&str] = &[
    "alpha", "amber", "apex", "aurora", "basil", "beacon", "birch", "bolt", "cedar", "cloud",
    "cobalt", "comet", "coral", "delta", "ember", "falcon", "fern", "forge", "garnet", "harbor",
    "indigo", "iris", "jade", "juniper", "kestrel", "lumen", "maple", "meadow", "nova", "onyx",
    "orbit", "pixel", "quartz", "raven", "sage", "shop", "sierra", "summit", "tango", "umber",
    "vertex", "willow", "xenon", "yarrow", "zephyr", "mail", "portal", "api", "cdn", "static",
];
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "dev", "de", "co.uk", "app", "shop", "xyz", "fr", "nl",
];

/// Errors while building the certificate hierarchy.
#[derive(Debug)]
pub enum CertGenError {
    /// ring refused to generate or load a key.
    Key(&'static str),
    /// ring failed to sign a CA certificate.
    Sign,
}

impl std::fmt::Display for CertGenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertGenError::Key(what) => write!(f, "key generation failed: {what}"),
            CertGenError::Sign => write!(f, "CA certificate signing failed"),
        }
    }
}

impl std::error::Error for CertGenError {}

/// A generated CA certificate and what leaves need from it.
pub struct CaCert {
    pub der: Arc<[u8]>,
    pub subject: Vec<u8>,
    pub spki: Vec<u8>,
    pub ski: [u8; 20],
    key: EcdsaKeyPair,
    sig_oid: &'static [u8],
}

/// A chain as published in `extra_data` (issuer first); `issuer_key_hash` is SHA-256 of the
/// SPKI of `certs[0]`, the CA that signs leaves using this chain.
pub struct Chain {
    pub certs: Vec<Arc<[u8]>>,
    pub fingerprints: Vec<Hash>,
    pub issuer_key_hash: Hash,
    /// Index into [`Authority::cas`] of the leaf issuer; `None` for real chains from fixtures.
    pub issuer: Option<usize>,
}

impl Chain {
    pub fn new(certs: Vec<Arc<[u8]>>, issuer: Option<usize>, issuer_spki: &[u8]) -> Self {
        let fingerprints = certs.iter().map(|c| sha256(c)).collect();
        Chain {
            certs,
            fingerprints,
            issuer_key_hash: sha256(issuer_spki),
            issuer,
        }
    }
}

/// The sim's CA hierarchy: root (P-384) → sub-CA (P-384) and two leaf issuers (P-256).
pub struct Authority {
    pub cas: Vec<CaCert>,
    pub chains: Vec<Chain>,
}

/// Wraps an uncompressed EC point into a DER SubjectPublicKeyInfo.
pub fn ec_spki(point: &[u8], p384: bool) -> Vec<u8> {
    let curve = if p384 { OID_P384 } else { OID_P256 };
    let alg = seq(&[&tlv(der::OID, OID_EC_PUBLIC_KEY), &tlv(der::OID, curve)]);
    let mut bits = Vec::with_capacity(point.len() + 1);
    bits.push(0);
    bits.extend_from_slice(point);
    seq(&[&alg, &tlv(der::BIT_STRING, &bits)])
}

/// Generates a fresh ECDSA key pair with ring.
pub fn ecdsa_key(alg: &'static EcdsaSigningAlgorithm) -> Result<EcdsaKeyPair, CertGenError> {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|_| CertGenError::Key("generate"))?;
    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|_| CertGenError::Key("load"))
}

fn name(attrs: &[(&[u8], u8, &str)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attrs
        .iter()
        .map(|(oid, tag, value)| {
            let atv = seq(&[&tlv(der::OID, oid), &tlv(*tag, value.as_bytes())]);
            constructed(der::SET, &[&atv])
        })
        .collect();
    let parts: Vec<&[u8]> = rdns.iter().map(|r| r.as_slice()).collect();
    seq(&parts)
}

fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let oid = tlv(der::OID, oid);
    let value = tlv(der::OCTET_STRING, value);
    if critical {
        seq(&[&oid, &[der::BOOLEAN, 1, 0xff], &value])
    } else {
        seq(&[&oid, &value])
    }
}

/// Days since 1970-01-01 → (year, month, day) (H. Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// UTCTime for 1950..2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5).
pub fn x509_time(unix_secs: i64) -> Vec<u8> {
    let (y, mo, d) = civil_from_days(unix_secs.div_euclid(86_400));
    let secs = unix_secs.rem_euclid(86_400);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if (1950..2050).contains(&y) {
        let text = format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100);
        tlv(der::UTC_TIME, text.as_bytes())
    } else {
        let text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z");
        tlv(der::GENERALIZED_TIME, text.as_bytes())
    }
}

struct TbsParts<'a> {
    serial: &'a [u8],
    sig_oid: &'a [u8],
    issuer: &'a [u8],
    not_before: i64,
    not_after: i64,
    subject: &'a [u8],
    spki: &'a [u8],
    extensions: &'a [Vec<u8>],
}

fn tbs(p: &TbsParts<'_>) -> Vec<u8> {
    let version = [0xa0, 0x03, 0x02, 0x01, 0x02];
    let alg = seq(&[&tlv(der::OID, p.sig_oid)]);
    let validity = seq(&[&x509_time(p.not_before), &x509_time(p.not_after)]);
    let ext_refs: Vec<&[u8]> = p.extensions.iter().map(|e| e.as_slice()).collect();
    let exts = constructed(0xa3, &[&seq(&ext_refs)]);
    seq(&[
        &version,
        &uint(p.serial),
        &alg,
        p.issuer,
        &validity,
        p.subject,
        p.spki,
        &exts,
    ])
}

fn certificate(tbs: &[u8], sig_oid: &[u8], signature: &[u8]) -> Vec<u8> {
    let alg = seq(&[&tlv(der::OID, sig_oid)]);
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0);
    bits.extend_from_slice(signature);
    seq(&[tbs, &alg, &tlv(der::BIT_STRING, &bits)])
}

/// Deterministic, well-formed, invalid ECDSA-Sig-Value (see module docs).
fn fake_signature(tbs: &[u8]) -> Vec<u8> {
    let digest = sha256(tbs);
    let r = sha256(&[&digest[..], b"r"].concat());
    let s = sha256(&[&digest[..], b"s"].concat());
    seq(&[&uint(&r), &uint(&s)])
}

struct CaSpec<'a> {
    cn: &'a str,
    p384: bool,
    parent: Option<&'a CaCert>,
    serial: u8,
}

fn make_ca(spec: &CaSpec<'_>) -> Result<CaCert, CertGenError> {
    let alg = if spec.p384 {
        &ECDSA_P384_SHA384_ASN1_SIGNING
    } else {
        &ECDSA_P256_SHA256_ASN1_SIGNING
    };
    let key = ecdsa_key(alg)?;
    let spki = ec_spki(key.public_key().as_ref(), spec.p384);
    let mut ski = [0u8; 20];
    ski.copy_from_slice(&sha256(&spki)[..20]);
    let subject = name(&[
        (OID_C, der::PRINTABLE_STRING, "ZZ"),
        (OID_O, der::UTF8_STRING, "(SIM) ctlog-sim Test CA"),
        (OID_CN, der::UTF8_STRING, spec.cn),
    ]);
    let (issuer_name, sig_oid, signer_ski) = match spec.parent {
        Some(p) => (p.subject.clone(), p.sig_oid, p.ski),
        None => (subject.clone(), signing_oid(spec.p384), ski),
    };
    let mut exts = vec![
        extension(OID_BC, true, &seq(&[&[der::BOOLEAN, 1, 0xff]])),
        extension(OID_KU, true, &[0x03, 0x02, 0x01, 0x86]),
        extension(OID_SKI, false, &tlv(der::OCTET_STRING, &ski)),
    ];
    if spec.parent.is_some() {
        exts.push(extension(OID_AKI, false, &seq(&[&tlv(0x80, &signer_ski)])));
    }
    let now = unix_now_secs();
    let tbs = tbs(&TbsParts {
        serial: &[0x5a, spec.serial, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
        sig_oid,
        issuer: &issuer_name,
        not_before: now - 365 * 86_400,
        not_after: now + 5 * 365 * 86_400,
        subject: &subject,
        spki: &spki,
        extensions: &exts,
    });
    let signer = spec.parent.map_or(&key, |p| &p.key);
    let sig = signer
        .sign(&SystemRandom::new(), &tbs)
        .map_err(|_| CertGenError::Sign)?;
    Ok(CaCert {
        der: certificate(&tbs, sig_oid, sig.as_ref()).into(),
        subject,
        spki,
        ski,
        key,
        sig_oid: signing_oid(spec.p384),
    })
}

fn signing_oid(p384: bool) -> &'static [u8] {
    if p384 {
        OID_ECDSA_SHA384
    } else {
        OID_ECDSA_SHA256
    }
}

pub fn unix_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Authority {
    /// Root (P-384) signs a sub-CA (P-384) and issuer E1 (P-256); the sub-CA signs E2 (P-256).
    /// Chains: `[E1]`, `[E1, root]`, `[E2, sub-CA, root]` — 1 to 3 certificates.
    pub fn generate() -> Result<Self, CertGenError> {
        let root = make_ca(&CaSpec {
            cn: "(SIM) Root X9",
            p384: true,
            parent: None,
            serial: 1,
        })?;
        let sub = make_ca(&CaSpec {
            cn: "(SIM) Cross Sub-CA Y2",
            p384: true,
            parent: Some(&root),
            serial: 2,
        })?;
        let e1 = make_ca(&CaSpec {
            cn: "(SIM) Issuer E7",
            p384: false,
            parent: Some(&root),
            serial: 3,
        })?;
        let e2 = make_ca(&CaSpec {
            cn: "(SIM) Issuer E8",
            p384: false,
            parent: Some(&sub),
            serial: 4,
        })?;
        let cas = vec![root, sub, e1, e2];
        let chains = vec![
            Chain::new(vec![cas[2].der.clone()], Some(2), &cas[2].spki),
            Chain::new(
                vec![cas[2].der.clone(), cas[0].der.clone()],
                Some(2),
                &cas[2].spki,
            ),
            Chain::new(
                vec![cas[3].der.clone(), cas[1].der.clone(), cas[0].der.clone()],
                Some(3),
                &cas[3].spki,
            ),
        ];
        Ok(Authority { cas, chains })
    }
}

/// Leaf public keys: a pool of P-256 SPKIs generated once plus RSA-2048 SPKIs borrowed from
/// real fixture certificates (ring cannot generate RSA keys, and leaf private keys are never
/// used, so a real public key is all a leaf needs).
pub struct KeyPool {
    pub ec: Vec<Vec<u8>>,
    pub rsa: Vec<Vec<u8>>,
}

impl KeyPool {
    pub fn generate(ec_count: usize, rsa: Vec<Vec<u8>>) -> Result<Self, CertGenError> {
        let ec = (0..ec_count)
            .map(|_| {
                let key = ecdsa_key(&ECDSA_P256_SHA256_ASN1_SIGNING)?;
                Ok(ec_spki(key.public_key().as_ref(), false))
            })
            .collect::<Result<Vec<_>, CertGenError>>()?;
        Ok(KeyPool { ec, rsa })
    }
}

/// The two DER forms a generated entry needs.
pub struct LeafDer {
    /// Final certificate (x509 entry) or precertificate with poison (precert entry).
    pub cert: Vec<u8>,
    /// Precert only: the same TBSCertificate without the poison extension.
    pub tbs_without_poison: Option<Vec<u8>>,
}

/// Per-entry inputs to [`build_leaf`].
pub struct LeafInput<'a> {
    pub log: u32,
    pub index: u64,
    pub timestamp_ms: u64,
    pub precert: bool,
    pub issuer: &'a CaCert,
    pub spki: &'a [u8],
    pub rsa: bool,
}

/// Builds one leaf deterministically from `rng` (seeded from seed/log/index by the caller).
pub fn build_leaf(rng: &mut SplitMix, input: &LeafInput<'_>) -> LeafDer {
    let mut serial = [0u8; 16];
    serial[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    serial[0] = (serial[0] & 0x7f).max(1);
    serial[8..10].copy_from_slice(&(input.log as u16).to_be_bytes());
    serial[10..].copy_from_slice(&input.index.to_be_bytes()[2..]);
    let names = dns_names(rng, input.log, input.index);
    let (subject, san_critical, ov) = subject_for(rng, &names[0]);
    let mut exts = common_extensions(rng, input, &names, san_critical, ov);
    let not_before = (input.timestamp_ms / 1000) as i64 - 3600;
    let tbs_with = |extensions: &[Vec<u8>]| {
        tbs(&TbsParts {
            serial: &serial,
            sig_oid: OID_ECDSA_SHA256,
            issuer: &input.issuer.subject,
            not_before,
            not_after: not_before + 90 * 86_400 - 1,
            subject: &subject,
            spki: input.spki,
            extensions,
        })
    };
    if input.precert {
        let without = tbs_with(&exts);
        exts.push(extension(OID_POISON, true, &[der::NULL, 0]));
        let with = tbs_with(&exts);
        LeafDer {
            cert: certificate(&with, OID_ECDSA_SHA256, &fake_signature(&with)),
            tbs_without_poison: Some(without),
        }
    } else {
        exts.push(extension(
            OID_SCT_LIST,
            false,
            &tlv(der::OCTET_STRING, &fake_sct_list(rng)),
        ));
        let t = tbs_with(&exts);
        LeafDer {
            cert: certificate(&t, OID_ECDSA_SHA256, &fake_signature(&t)),
            tbs_without_poison: None,
        }
    }
}

/// `<word>-<index>-<log>.<word>.<tld>`: digits only appear in the index/log fields, so the
/// name is unique per (log, index). 2% of entries get 20–50 SANs, otherwise 1–3.
fn dns_names(rng: &mut SplitMix, log: u32, index: u64) -> Vec<String> {
    let base = format!(
        "{}-{index}-{log}.{}.{}",
        rng.pick(WORDS),
        rng.pick(WORDS),
        rng.pick(TLDS)
    );
    let mut names = Vec::with_capacity(4);
    if rng.chance(0.08) {
        names.push(format!("*.{base}"));
    }
    names.push(base.clone());
    if rng.chance(0.02) {
        let extra = 20 + rng.below(31) as usize;
        for k in 0..extra {
            names.push(format!("{}{k}.{base}", rng.pick(WORDS)));
        }
    } else {
        for _ in 0..rng.below(3) {
            names.push(format!("{}.{base}", rng.pick(WORDS)));
        }
    }
    names.extend(lookalike_name(log, index));
    names.dedup();
    names
}

/// Names subscription filters must tell apart (label boundaries, wildcards, case, IDNs in both
/// forms, look-alikes of a brand). One of them is added as an extra SAN to
/// [`LOOKALIKE_SHARE`] of generated entries; the choice draws on its own generator, so every
/// other byte of an entry is what it was before they existed.
pub const LOOKALIKE_NAMES: &[&str] = &[
    "example.com",
    "shop.example.com",
    "*.example.com",
    "badexample.com",
    "example.com.evil.test",
    "Login.PayPal.com.verify-account.test",
    "paypal-secure-login.test",
    "xn--pypal-4ve.com",
    "xn--bcher-kva.example",
    "www.xn--bcher-kva.example",
];
/// Share of generated entries carrying one of [`LOOKALIKE_NAMES`].
pub const LOOKALIKE_SHARE: f64 = 0.1;

fn lookalike_name(log: u32, index: u64) -> Option<String> {
    let mut rng = SplitMix::from_words(&[0x100c_a11e, u64::from(log), index]);
    rng.chance(LOOKALIKE_SHARE)
        .then(|| rng.pick(LOOKALIKE_NAMES).to_string())
}

/// Returns (subject DER, whether SAN must be critical, is OV).
fn subject_for(rng: &mut SplitMix, cn: &str) -> (Vec<u8>, bool, bool) {
    let roll = rng.below(100);
    if roll < 3 {
        // Empty subject (SAN-only certificates exist in real logs; RFC 5280 then requires a
        // critical SAN).
        return (seq(&[]), true, false);
    }
    if roll < 18 {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        let org = format!("{} Holdings Ltd", capitalize(word));
        let subject = name(&[
            (OID_C, der::PRINTABLE_STRING, "DE"),
            (OID_O, der::UTF8_STRING, &org),
            (OID_CN, der::UTF8_STRING, cn),
        ]);
        return (subject, false, true);
    }
    (name(&[(OID_CN, der::UTF8_STRING, cn)]), false, false)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

fn common_extensions(
    rng: &mut SplitMix,
    input: &LeafInput<'_>,
    names: &[String],
    san_critical: bool,
    ov: bool,
) -> Vec<Vec<u8>> {
    let ku: &[u8] = if input.rsa {
        &[0x03, 0x02, 0x05, 0xa0]
    } else {
        &[0x03, 0x02, 0x07, 0x80]
    };
    let eku = seq(&[
        &tlv(der::OID, OID_SERVER_AUTH),
        &tlv(der::OID, OID_CLIENT_AUTH),
    ]);
    let mut ski = [0u8; 20];
    for chunk in ski.chunks_mut(8) {
        let bytes = rng.next_u64().to_be_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    let host = format!("{}.sim.test", hex_lower(&input.issuer.ski[..3]));
    let aia = seq(&[
        &seq(&[
            &tlv(der::OID, OID_OCSP),
            &tlv(0x86, format!("http://o.{host}").as_bytes()),
        ]),
        &seq(&[
            &tlv(der::OID, OID_CA_ISSUERS),
            &tlv(0x86, format!("http://i.{host}/").as_bytes()),
        ]),
    ]);
    let sans: Vec<Vec<u8>> = names.iter().map(|n| tlv(0x82, n.as_bytes())).collect();
    let san_refs: Vec<&[u8]> = sans.iter().map(|s| s.as_slice()).collect();
    let policy = if ov { OID_POLICY_OV } else { OID_POLICY_DV };
    let mut exts = vec![
        extension(OID_KU, true, ku),
        extension(OID_EKU, false, &eku),
        extension(OID_BC, true, &seq(&[])),
        extension(OID_SKI, false, &tlv(der::OCTET_STRING, &ski)),
        extension(OID_AKI, false, &seq(&[&tlv(0x80, &input.issuer.ski)])),
        extension(OID_AIA, false, &aia),
        extension(OID_SAN, san_critical, &seq(&san_refs)),
        extension(OID_CP, false, &seq(&[&seq(&[&tlv(der::OID, policy)])])),
    ];
    if rng.chance(0.5) {
        let uri = tlv(
            0x86,
            format!("http://c.{host}/{}.crl", rng.below(128)).as_bytes(),
        );
        let dp = seq(&[&constructed(0xa0, &[&constructed(0xa0, &[&uri])])]);
        exts.push(extension(OID_CRLDP, false, &seq(&[&dp])));
    }
    exts
}

/// Two SCTs (RFC 6962 §3.2 SignedCertificateTimestampList) with random log IDs/signatures.
fn fake_sct_list(rng: &mut SplitMix) -> Vec<u8> {
    let mut list = Vec::with_capacity(2 * 120);
    for _ in 0..2 {
        let mut sct = Vec::with_capacity(118);
        sct.push(0); // v1
        for _ in 0..4 {
            sct.extend_from_slice(&rng.next_u64().to_be_bytes()); // log id
        }
        sct.extend_from_slice(&(1_700_000_000_000u64 + rng.below(1 << 36)).to_be_bytes());
        sct.extend_from_slice(&[0, 0, 4, 3]); // no extensions; SHA-256/ECDSA
        let r: [u8; 32] = sha256(&rng.next_u64().to_be_bytes());
        let s: [u8; 32] = sha256(&rng.next_u64().to_be_bytes());
        let sig = seq(&[&uint(&r), &uint(&s)]);
        sct.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        sct.extend_from_slice(&sig);
        list.extend_from_slice(&(sct.len() as u16).to_be_bytes());
        list.extend_from_slice(&sct);
    }
    let mut out = Vec::with_capacity(list.len() + 2);
    out.extend_from_slice(&(list.len() as u16).to_be_bytes());
    out.extend_from_slice(&list);
    out
}

pub fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_encode_like_openssl() {
        assert_eq!(x509_time(0), tlv(der::UTC_TIME, b"700101000000Z"));
        // 2026-01-20T12:54:10Z
        assert_eq!(
            x509_time(1_768_913_650),
            tlv(der::UTC_TIME, b"260120125410Z")
        );
        assert_eq!(
            x509_time(2_524_608_000),
            tlv(der::GENERALIZED_TIME, b"20500101000000Z")
        );
    }

    #[test]
    fn precert_tbs_differs_exactly_by_the_poison_extension() {
        let auth = Authority::generate().unwrap();
        let keys = KeyPool::generate(1, vec![]).unwrap();
        let input = LeafInput {
            log: 1,
            index: 42,
            timestamp_ms: 1_768_913_650_000,
            precert: true,
            issuer: &auth.cas[2],
            spki: &keys.ec[0],
            rsa: false,
        };
        let leaf = build_leaf(&mut SplitMix::from_words(&[1]), &input);
        let fields = der::cert_fields(&leaf.cert).unwrap();
        let without = leaf.tbs_without_poison.unwrap();
        // 21-byte poison extension; the extensions' SEQUENCE and [3] headers may also grow.
        let diff = fields.tbs.len() - without.len();
        assert!((21..=25).contains(&diff), "diff {diff}");
        let poison = [
            0x30, 0x13, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03,
            0x01, 0x01, 0xff, 0x04, 0x02, 0x05, 0x00,
        ];
        assert!(fields.tbs.windows(21).any(|w| w == poison));
        assert!(!without.windows(21).any(|w| w == poison));
    }
}
