//! CT log keys and the signatures they make (RFC 6962 §2.1.4, §3.2, §3.5).
//!
//! A log is identified by its public key: the DER `SubjectPublicKeyInfo` as published in the log
//! list, and `log_id = SHA-256(SPKI)`. Everything a log signs (STHs, checkpoint signatures) is a
//! TLS `DigitallySigned` struct:
//!
//! ```text
//! u8 hash_algorithm (4 = SHA-256) | u8 signature_algorithm (1 = RSA, 3 = ECDSA) | u16 len | sig
//! ```
//!
//! RFC 6962 allows exactly two key types: ECDSA on NIST P-256 and RSA (≥ 2048 bits), both with
//! SHA-256. Verification is done with `ring`, which wants the raw key material rather than the
//! SPKI: the uncompressed EC point for ECDSA, the PKCS#1 `RSAPublicKey` for RSA. Both are the
//! contents of the SPKI's BIT STRING, extracted once when the key is loaded.
//!
//! # Invariants worth naming
//!
//! - A [`LogKey`] only exists for a key type we can verify with: unsupported keys are rejected
//!   when loaded ([`KeyError`]), never discovered at the first verification.
//! - [`verify_digitally_signed`] checks that the signature's declared algorithms match the key
//!   before calling `ring`, so an RSA signature is never "verified" against an ECDSA key.

use std::fmt;

use base64::Engine as _;
use ring::signature::{self, UnparsedPublicKey};
use x509_parser::{
    oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION},
    prelude::FromDer as _,
    public_key::PublicKey,
    x509::SubjectPublicKeyInfo,
};

use super::error::{DecodeFailure, DecodeKind};
use super::hash::sha256;
use super::tls_codec::{TlsError, TlsReader};

/// TLS `HashAlgorithm` value for SHA-256 (RFC 5246 §7.4.1.4.1), the only hash RFC 6962 allows.
const HASH_SHA256: u8 = 4;
/// TLS `SignatureAlgorithm` value for RSA (RFC 5246 §7.4.1.4.1).
const SIG_RSA: u8 = 1;
/// TLS `SignatureAlgorithm` value for ECDSA (RFC 5246 §7.4.1.4.1).
const SIG_ECDSA: u8 = 3;
/// Smallest RSA modulus accepted; RFC 6962 §2.1.4 requires at least 2048 bits, and `ring`'s
/// `RSA_PKCS1_2048_8192_SHA256` would reject smaller keys at every verification anyway.
const RSA_MODULUS_BITS_MIN: usize = 2048;
/// Largest RSA modulus `ring` verifies with `RSA_PKCS1_2048_8192_SHA256`.
const RSA_MODULUS_BITS_MAX: usize = 8192;
/// An uncompressed P-256 point: `04 || X (32) || Y (32)`.
const P256_POINT_LEN: usize = 65;

/// The signature scheme of a log key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA over NIST P-256 with SHA-256; signatures are DER `ECDSA-Sig-Value`.
    EcdsaP256Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
}

impl KeyAlgorithm {
    /// The TLS `SignatureAlgorithm` byte a `DigitallySigned` made with this key carries.
    fn tls_signature_byte(self) -> u8 {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => SIG_ECDSA,
            KeyAlgorithm::RsaPkcs1Sha256 => SIG_RSA,
        }
    }

    fn ring_algorithm(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyAlgorithm::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        }
    }
}

/// A CT log's public key, ready to verify signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct LogKey {
    /// DER SubjectPublicKeyInfo exactly as published; the log ID is its hash.
    spki_der: Vec<u8>,
    /// `SHA-256(spki_der)`, computed once because checkpoint key IDs and dedupe need it.
    log_id: [u8; 32],
    algorithm: KeyAlgorithm,
    /// What `ring` verifies with: the raw EC point, or the PKCS#1 RSAPublicKey DER.
    raw_public_key: Vec<u8>,
}

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key bytes are noise in logs; the log ID is how operators name a log.
        let id = base64::engine::general_purpose::STANDARD.encode(self.log_id);
        f.debug_struct("LogKey")
            .field("log_id", &id)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// Why a public key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The base64 text of the key did not decode.
    Base64,
    /// The bytes are not a DER SubjectPublicKeyInfo (or have bytes after it).
    NotSpki,
    /// The key's BIT STRING has unused bits, which no EC or RSA key encoding produces.
    UnusedBits,
    /// An EC key on a curve other than P-256.
    UnsupportedCurve,
    /// The EC point is not an uncompressed 65-byte P-256 point.
    BadEcPoint,
    /// An RSA key whose modulus size is outside `ring`'s 2048..=8192 bits.
    RsaModulusSize { bits: usize },
    /// Neither `id-ecPublicKey` nor `rsaEncryption` (e.g. Ed25519, DSA).
    UnsupportedAlgorithm,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Base64 => write!(f, "public key is not valid base64"),
            KeyError::NotSpki => write!(f, "public key is not a DER SubjectPublicKeyInfo"),
            KeyError::UnusedBits => write!(f, "public key BIT STRING has unused bits"),
            KeyError::UnsupportedCurve => write!(f, "EC public key is not on P-256"),
            KeyError::BadEcPoint => write!(f, "EC public key is not an uncompressed P-256 point"),
            KeyError::RsaModulusSize { bits } => {
                write!(f, "RSA modulus of {bits} bits is outside 2048..=8192")
            }
            KeyError::UnsupportedAlgorithm => {
                write!(f, "public key algorithm is neither ECDSA P-256 nor RSA")
            }
        }
    }
}

impl std::error::Error for KeyError {}

impl DecodeFailure for KeyError {
    fn kind(&self) -> DecodeKind {
        match self {
            KeyError::Base64 | KeyError::NotSpki | KeyError::UnusedBits | KeyError::BadEcPoint => {
                DecodeKind::Malformed
            }
            KeyError::UnsupportedCurve
            | KeyError::RsaModulusSize { .. }
            | KeyError::UnsupportedAlgorithm => DecodeKind::Unsupported,
        }
    }
}

impl LogKey {
    /// Loads a key from its DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<LogKey, KeyError> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der).map_err(|_| KeyError::NotSpki)?;
        if !rest.is_empty() {
            return Err(KeyError::NotSpki);
        }
        if spki.subject_public_key.unused_bits != 0 {
            return Err(KeyError::UnusedBits);
        }
        let algorithm = key_algorithm(&spki)?;
        Ok(LogKey {
            spki_der: der.to_vec(),
            log_id: sha256(&[der]),
            algorithm,
            raw_public_key: spki.subject_public_key.data.to_vec(),
        })
    }

    /// Loads a key from the standard base64 of its DER SubjectPublicKeyInfo (the log list's
    /// `key` field).
    pub fn from_base64(text: &str) -> Result<LogKey, KeyError> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::Base64)?;
        LogKey::from_spki_der(&der)
    }

    /// `SHA-256` of the DER SubjectPublicKeyInfo (RFC 6962 §3.2).
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// The DER SubjectPublicKeyInfo the key was loaded from.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key's signature scheme.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }
}

/// Maps the SPKI's algorithm to one we can verify, checking the key material's shape.
fn key_algorithm(spki: &SubjectPublicKeyInfo<'_>) -> Result<KeyAlgorithm, KeyError> {
    let oid = &spki.algorithm.algorithm;
    if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        if curve != Some(OID_EC_P256) {
            return Err(KeyError::UnsupportedCurve);
        }
        let point = &spki.subject_public_key.data;
        if point.len() != P256_POINT_LEN || point[0] != 0x04 {
            return Err(KeyError::BadEcPoint);
        }
        return Ok(KeyAlgorithm::EcdsaP256Sha256);
    }
    if *oid == OID_PKCS1_RSAENCRYPTION {
        let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
            return Err(KeyError::NotSpki);
        };
        let bits = modulus_bits(rsa.modulus);
        if !(RSA_MODULUS_BITS_MIN..=RSA_MODULUS_BITS_MAX).contains(&bits) {
            return Err(KeyError::RsaModulusSize { bits });
        }
        return Ok(KeyAlgorithm::RsaPkcs1Sha256);
    }
    Err(KeyError::UnsupportedAlgorithm)
}

/// Bit length of a big-endian unsigned integer (DER INTEGERs carry a leading zero byte when the
/// top bit is set, which must not count).
fn modulus_bits(modulus: &[u8]) -> usize {
    let start = modulus
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(modulus.len());
    match modulus.get(start) {
        None => 0,
        Some(&top) => (modulus.len() - start) * 8 - top.leading_zeros() as usize,
    }
}

/// The 50-byte `TreeHeadSignature` an STH signature covers (RFC 6962 §3.5):
/// `version v1 (0) | signature_type tree_hash (1) | u64 timestamp | u64 tree_size | root`.
pub fn tree_head_signed_data(timestamp_ms: u64, tree_size: u64, root: &[u8; 32]) -> [u8; 50] {
    let mut out = [0u8; 50];
    out[0] = 0; // Version v1
    out[1] = 1; // SignatureType tree_hash
    out[2..10].copy_from_slice(&timestamp_ms.to_be_bytes());
    out[10..18].copy_from_slice(&tree_size.to_be_bytes());
    out[18..50].copy_from_slice(root);
    out
}

/// Why a `DigitallySigned` did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigError {
    /// The `DigitallySigned` bytes are truncated, or have bytes after the signature.
    Malformed(TlsError),
    /// The hash algorithm byte is not SHA-256 (4).
    UnsupportedHash(u8),
    /// The signature algorithm byte does not match the key (e.g. RSA signature, ECDSA key).
    AlgorithmMismatch {
        key: KeyAlgorithm,
        signature_byte: u8,
    },
    /// Well-formed, but the signature does not verify with this key over these bytes.
    BadSignature,
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigError::Malformed(e) => write!(f, "malformed DigitallySigned: {e}"),
            SigError::UnsupportedHash(h) => {
                write!(f, "DigitallySigned hash algorithm {h} is not SHA-256 (4)")
            }
            SigError::AlgorithmMismatch {
                key,
                signature_byte,
            } => write!(
                f,
                "DigitallySigned signature algorithm {signature_byte} does not match the \
                 {key:?} key"
            ),
            SigError::BadSignature => write!(f, "signature does not verify with the log key"),
        }
    }
}

impl std::error::Error for SigError {}

/// Every way a signature fails to verify, a malformed `DigitallySigned` included, is a bad
/// signature: the log's word cannot be taken for what it signed.
impl DecodeFailure for SigError {
    fn kind(&self) -> DecodeKind {
        DecodeKind::BadSignature
    }
}

impl From<TlsError> for SigError {
    fn from(e: TlsError) -> Self {
        SigError::Malformed(e)
    }
}

/// Verifies a TLS `DigitallySigned` (`digitally_signed`, exactly one struct, nothing after it)
/// made by `key` over `signed`.
pub fn verify_digitally_signed(
    key: &LogKey,
    signed: &[u8],
    digitally_signed: &[u8],
) -> Result<(), SigError> {
    let mut r = TlsReader::new(digitally_signed);
    let hash = r.u8("DigitallySigned.hash_algorithm")?;
    let sig_alg = r.u8("DigitallySigned.signature_algorithm")?;
    let sig = r.opaque16(1, "DigitallySigned.signature")?;
    r.finish("DigitallySigned")?;
    if hash != HASH_SHA256 {
        return Err(SigError::UnsupportedHash(hash));
    }
    if sig_alg != key.algorithm.tls_signature_byte() {
        return Err(SigError::AlgorithmMismatch {
            key: key.algorithm,
            signature_byte: sig_alg,
        });
    }
    UnparsedPublicKey::new(key.algorithm.ring_algorithm(), &key.raw_public_key)
        .verify(signed, sig)
        .map_err(|_| SigError::BadSignature)
}

/// Real log keys shared by the `ct` tests (base64 DER SPKI).
#[cfg(test)]
pub(crate) mod test_keys {
    /// Google 'Argon2020' (ct-go's sample log list; no longer in v81.14).
    pub(crate) const ARGON2020: &str = concat!(
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE6Tx2p1yKY4015NyIYvdrk36es0uA",
        "c1zA4PQ+TGRY+3ZjUTIYY9Wyu+3q/147JG4vNVKLtDWarZwVqGkg6lAYzA==",
    );
    pub(crate) const ARGON2020_LOG_ID: &str = "sh4FzIuizYogTodm+Su5iiUgZ2va+nDnsklTLe+LkF4=";
    /// Google 'Argon2025h2' (v81.14).
    pub(crate) const ARGON2025H2: &str = concat!(
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEr+TzlCzfpie1/rJhgxnIITojqKk9",
        "VK+8MZoc08HjtsLzD8e5yjsdeWVhIiWCVk6Y6KomKTYeKGBv6xVu93zQug==",
    );
    /// Navigli2025h2 (static-ct/navigli2025h2/log-key.pem).
    pub(crate) const NAVIGLI2025H2: &str = concat!(
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4i7AmqGoGHsorn/eyclTMjrAnM0J",
        "UUbyGJUxXqq1AjQ4qBC77wXkWt7s/HA8An2vrEBKIGQzqTjV8QIHrmpd4w==",
    );
    pub(crate) const NAVIGLI2025H2_LOG_ID: &str = "5Pt3SiEkxYZAsYMvUKv63ISjiu1xke62aSI3ksv2KJE=";
}

#[cfg(test)]
mod tests {
    use x509_parser::pem::parse_x509_pem;

    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        crate::ct::ctdata(rel)
    }

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    /// DER of the first certificate in a PEM fixture.
    fn pem_cert(rel: &str) -> Vec<u8> {
        let pem = fixture(rel);
        let (_, pem) = parse_x509_pem(&pem).unwrap();
        pem.contents
    }

    fn spki_of(cert_der: &[u8]) -> Vec<u8> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der).unwrap();
        cert.tbs_certificate.subject_pki.raw.to_vec()
    }

    use super::test_keys::{ARGON2020 as ARGON2020_KEY, ARGON2020_LOG_ID};

    #[test]
    fn log_id_is_sha256_of_spki() {
        let key = LogKey::from_base64(ARGON2020_KEY).unwrap();
        assert_eq!(key.log_id().to_vec(), b64(ARGON2020_LOG_ID));
        assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256Sha256);
        assert_eq!(key.spki_der(), b64(ARGON2020_KEY).as_slice());
    }

    #[test]
    fn navigli_pem_key_matches_sources_log_id() {
        let pem = String::from_utf8(fixture("static-ct/navigli2025h2/log-key.pem")).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let key = LogKey::from_base64(&body).unwrap();
        assert_eq!(
            key.log_id().to_vec(),
            b64(super::test_keys::NAVIGLI2025H2_LOG_ID)
        );
    }

    #[test]
    fn tree_head_signed_data_layout() {
        let root = [0xabu8; 32];
        let d = tree_head_signed_data(0x0102030405060708, 0x1112131415161718, &root);
        assert_eq!(&d[..2], &[0, 1]);
        assert_eq!(&d[2..10], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            &d[10..18],
            &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
        );
        assert_eq!(&d[18..], &root);
    }

    /// The real Argon2020 STH signature (see rfc6962::tests for the full get-sth path).
    #[test]
    fn ecdsa_sth_signature_verifies_and_detects_tampering() {
        let key = LogKey::from_base64(ARGON2020_KEY).unwrap();
        let root: [u8; 32] = b64("AWxD3p811N3m4WTinWRXPvBZHfT9IR9g/R4C7SKLPiU=")
            .try_into()
            .unwrap();
        let signed = tree_head_signed_data(1726494206646, 961984011, &root);
        let ds = b64(concat!(
            "BAMASDBGAiEAhgLgYXQHUc0ct9yTdrlh/3wGJoUt19FVi4Snx6OXepICIQDqxvQH",
            "jeARt1eTqRKFxt3c8ZRpObexaNJEyth4j9tJDg=="
        ));
        verify_digitally_signed(&key, &signed, &ds).unwrap();

        let other = tree_head_signed_data(1726494206646, 961984012, &root);
        assert_eq!(
            verify_digitally_signed(&key, &other, &ds),
            Err(SigError::BadSignature)
        );

        let mut wrong_hash = ds.clone();
        wrong_hash[0] = 2;
        assert_eq!(
            verify_digitally_signed(&key, &signed, &wrong_hash),
            Err(SigError::UnsupportedHash(2))
        );

        let mut rsa_claim = ds.clone();
        rsa_claim[1] = SIG_RSA;
        assert!(matches!(
            verify_digitally_signed(&key, &signed, &rsa_claim),
            Err(SigError::AlgorithmMismatch {
                signature_byte: 1,
                ..
            })
        ));

        let mut trailing = ds.clone();
        trailing.push(0);
        assert!(matches!(
            verify_digitally_signed(&key, &signed, &trailing),
            Err(SigError::Malformed(_))
        ));
        assert!(matches!(
            verify_digitally_signed(&key, &signed, &ds[..ds.len() - 1]),
            Err(SigError::Malformed(_))
        ));
    }

    /// RSA path, with real data: the 2020 precertificate is signed (sha256WithRSAEncryption) by
    /// the GTS CA 1D2 intermediate, an RSA-2048 key. A CT log's RSA signature is the same
    /// PKCS#1 v1.5 SHA-256 signature, so wrapping it in a DigitallySigned exercises our RSA path.
    #[test]
    fn rsa_pkcs1_sha256_verifies() {
        let issuer = pem_cert("certs/azul_real-precert-intermediate.pem");
        let key = LogKey::from_spki_der(&spki_of(&issuer)).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::RsaPkcs1Sha256);

        let leaf = pem_cert("certs/azul_real-precert-with-eku.pem");
        let (_, cert) = x509_parser::parse_x509_certificate(&leaf).unwrap();
        assert_eq!(
            cert.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.113549.1.1.11"
        );
        let sig = cert.signature_value.data.to_vec();
        let mut ds = vec![HASH_SHA256, SIG_RSA];
        ds.extend_from_slice(&u16::try_from(sig.len()).unwrap().to_be_bytes());
        ds.extend_from_slice(&sig);
        let tbs = cert.tbs_certificate.as_ref();
        verify_digitally_signed(&key, tbs, &ds).unwrap();

        let mut flipped = tbs.to_vec();
        flipped[10] ^= 1;
        assert_eq!(
            verify_digitally_signed(&key, &flipped, &ds),
            Err(SigError::BadSignature)
        );
    }

    #[test]
    fn unsupported_keys_are_rejected_when_loaded() {
        // RSA-1024 (ct test CA), P-384 (LE staging E5), Ed25519 (pyca vector).
        let rsa1024 = spki_of(&pem_cert("certs/gct_ca-cert.pem"));
        assert_eq!(
            LogKey::from_spki_der(&rsa1024),
            Err(KeyError::RsaModulusSize { bits: 1024 })
        );
        let p384 = spki_of(&fixture(
            "static-ct/navigli2025h2/issuer/\
             8dbfd9adf53278fccfee54d18d60c1639986ee288f45ceaf6e27d33a3fed0842",
        ));
        assert_eq!(
            LogKey::from_spki_der(&p384),
            Err(KeyError::UnsupportedCurve)
        );
        let ed = spki_of(&pem_cert("certs/pyca_server-ed25519-cert.pem"));
        assert_eq!(
            LogKey::from_spki_der(&ed),
            Err(KeyError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn malformed_key_bytes_are_rejected() {
        // ct-go's sample "Racketeer" key is a bare 64-byte point, not an SPKI.
        let racketeer = concat!(
            "Hy2TPTZ2yq9ASMmMZiB9SZEUx5WNH5G0Ft5Tm9vKMcPXA+ic/Ap3gg6fXzBJR8zL",
            "kt5lQjvKMdbHYMGv7yrsZg=="
        );
        assert_eq!(LogKey::from_base64(racketeer), Err(KeyError::NotSpki));
        assert_eq!(LogKey::from_base64("not base64!"), Err(KeyError::Base64));
        let mut der = b64(ARGON2020_KEY);
        der.push(0);
        assert_eq!(LogKey::from_spki_der(&der), Err(KeyError::NotSpki));
        let der = b64(ARGON2020_KEY);
        for cut in 0..der.len() {
            assert!(
                LogKey::from_spki_der(&der[..cut]).is_err(),
                "prefix {cut} accepted"
            );
        }
    }

    #[test]
    fn modulus_bits_ignores_leading_zero_bytes() {
        assert_eq!(modulus_bits(&[]), 0);
        assert_eq!(modulus_bits(&[0, 0]), 0);
        assert_eq!(modulus_bits(&[0, 0x80, 0]), 16);
        assert_eq!(modulus_bits(&[0x01, 0xff]), 9);
    }
}
