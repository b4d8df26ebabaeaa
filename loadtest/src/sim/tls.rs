//! HTTPS material: a throwaway CA and a server certificate for 127.0.0.1/localhost, made with
//! rcgen at start. The CA PEM is written to a private temp dir so clients can trust it.

use std::{
    io,
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    sync::Arc,
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct TlsMaterial {
    pub ca_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

fn rc(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("rcgen: {e}"))
}

impl TlsMaterial {
    pub fn generate() -> io::Result<Self> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ctlog-sim test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(rc)?)
            .map_err(rc)?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(rc)?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let key = KeyPair::generate().map_err(rc)?;
        let cert = params.signed_by(&key, &ca).map_err(rc)?;
        Ok(TlsMaterial {
            ca_pem: ca.pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The server certificate as PEM (for a server under test that reads files).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The server's private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    pub fn acceptor(&self) -> io::Result<tokio_rustls::TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .map_err(io::Error::other)?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

/// Writes `ca.pem` into a fresh directory under the system temp dir and returns the directory.
pub fn write_temp_ca(pem: &str) -> io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("ctlog-sim-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("ca.pem"), pem)?;
    Ok(dir)
}
