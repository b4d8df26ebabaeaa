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
        .args(["-c", "import certstream, websockets, pytest, httpx"])
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

/// Indices per `source.url` in the order the example wrote them.
fn written_indices(out: &Path) -> std::collections::BTreeMap<String, Vec<u64>> {
    let mut by_log: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    let text = std::fs::read_to_string(out).unwrap_or_default();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON message per line");
        assert_eq!(v["message_type"], "certificate_update", "{line}");
        let url = v["data"]["source"]["url"].as_str().unwrap().to_owned();
        by_log
            .entry(url)
            .or_default()
            .push(v["data"]["cert_index"].as_u64().unwrap());
    }
    by_log
}

#[test]
fn the_python_resume_example_killed_twice_writes_every_entry_once() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
    ensure_python_packages(&dir);
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 120.0,
        initial_entries: 0,
        seed: 4,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let work = std::env::temp_dir().join(format!("certstream-pyresume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let replay = work.join("replay");
    let server = Server::following(
        &sim.log_list_url,
        &["--replay-dir", replay.to_str().unwrap()],
    );
    let (cursor, out) = (work.join("cursor.txt"), work.join("out.jsonl"));
    let run = || {
        Command::new("python3")
            .arg(dir.join("resume_client.py"))
            .arg(server.ws_url("/"))
            .arg(&cursor)
            .arg(&out)
            .spawn()
            .expect("python3 runs the example")
    };
    std::thread::sleep(std::time::Duration::from_secs(1));
    for _ in 0..2 {
        let mut client = run();
        std::thread::sleep(std::time::Duration::from_millis(2500));
        client.kill().unwrap(); // SIGKILL, mid-stream
        let _ = client.wait();
        std::thread::sleep(std::time::Duration::from_millis(1500));
    }
    assert!(cursor.exists(), "the example saved a cursor");
    let mut client = run();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    sim.pause_growth();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let sizes: Vec<(String, u64)> = sim
        .logs()
        .iter()
        .map(|l| (l.listed_url.clone(), sim.tree_size(l.idx)))
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let done = |by: &std::collections::BTreeMap<String, Vec<u64>>| {
        sizes.iter().all(|(u, s)| {
            by.get(u)
                .and_then(|v| v.last())
                .is_some_and(|&i| i + 1 >= *s)
        })
    };
    while !done(&written_indices(&out)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    client.kill().unwrap();
    let _ = client.wait();
    let by_log = written_indices(&out);
    for (url, size) in &sizes {
        let got = by_log
            .get(url)
            .unwrap_or_else(|| panic!("nothing written for {url}"));
        let want: Vec<u64> = (got[0]..*size).collect();
        assert_eq!(
            got, &want,
            "{url}: every index once, in order, across two kill -9s"
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
