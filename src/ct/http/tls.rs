//! The rustls client configuration shared by every executor's [`super::HttpClient`].
//!
//! Trust = the webpki-roots Mozilla bundle plus, optionally, the certificates of one PEM file
//! (a private CA for test logs or a TLS-intercepting proxy). Built once at boot; a bad PEM file
//! is a boot error that names the file.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::error::HttpError;

/// Builds the client TLS configuration (ring provider, TLS 1.2 and 1.3, no ALPN: the client
/// speaks HTTP/1.1 only).
pub fn tls_config(extra_ca_pem: Option<&Path>) -> Result<Arc<ClientConfig>, HttpError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca_pem {
        add_pem_file(&mut roots, path)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Config(format!("TLS protocol versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Adds every certificate of the PEM file at `path` to `roots`; an unreadable file, bad PEM or
/// a file without certificates is an error that names the file.
pub fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), HttpError> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| HttpError::Config(format!("cannot read CA file {shown}: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| HttpError::Config(format!("CA file {shown} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(HttpError::Config(format!(
            "CA file {shown} contains no CERTIFICATE blocks"
        )));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| {
            HttpError::Config(format!("CA file {shown}: unusable certificate: {e}"))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA_DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/loadtest/fixtures/ctdata/certs"
    );

    fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("certstream-tls-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn roots_only() {
        assert!(tls_config(None).is_ok());
    }

    #[test]
    fn real_ca_pem_is_accepted() {
        let path = Path::new(CA_DIR).join("gct_ca-cert.pem");
        tls_config(Some(&path)).unwrap();
    }

    #[test]
    fn missing_file_is_named() {
        let err = tls_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(matches!(err, HttpError::Config(_)));
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn file_without_certificates_is_refused() {
        let path = temp_file("empty.pem", b"just some text, no PEM here\n");
        let err = tls_config(Some(&path)).unwrap_err().to_string();
        std::fs::remove_file(&path).ok();
        assert!(err.contains("no CERTIFICATE"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}
