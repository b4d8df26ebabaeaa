//! Real clients that no one here wrote: the PyPI `certstream` client and the `websockets`
//! package (loadtest/python/) against the server fed by the simulator, over ws:// and, from a
//! second server with a certificate of a test CA, over wss:// and https://.

mod common;

use std::{path::Path, process::Command};

use common::{tls::Pki, Server};
use loadtest::sim::{self, SimConfig};

/// Installs loadtest/python/requirements.txt when the packages are missing.
fn ensure_python_packages(dir: &Path) {
    let probe = Command::new("python3")
        .args(["-c", "import certstream, websockets, pytest"])
        .status();
    if matches!(probe, Ok(s) if s.success()) {
        return;
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(dir.join("requirements.txt"))
        .status()
        .expect("python3 is required for the client interoperability tests");
    assert!(
        status.success(),
        "pip install -r loadtest/python/requirements.txt failed"
    );
}

#[test]
fn python_clients_interoperate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
    ensure_python_packages(&dir);
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 50.0,
        initial_entries: 50,
        seed: 3,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = Server::following(&sim.log_list_url, &[]);
    let pki = Pki::new("python");
    let leaf = pki.leaf("server");
    let tls_server = Server::following(
        &sim.log_list_url,
        &[
            "--tls-cert",
            leaf.cert.to_str().unwrap(),
            "--tls-key",
            leaf.key.to_str().unwrap(),
        ],
    );
    let out = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&dir)
        .env("CERTSTREAM_ADDR", server.addr.to_string())
        // The certificate names localhost (and 127.0.0.1); clients verify it against the CA.
        .env(
            "CERTSTREAM_TLS_ADDR",
            format!("localhost:{}", tls_server.addr.port()),
        )
        .env("CERTSTREAM_TLS_CA", pki.write_ca_pem())
        .output()
        .expect("running pytest");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "python client tests failed:\n{text}");
    assert!(
        text.contains("passed") && !text.contains("failed"),
        "pytest ran tests: {text}"
    );
}
