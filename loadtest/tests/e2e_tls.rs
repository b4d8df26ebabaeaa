//! TLS serving end to end: the server binary with `--tls-cert`/`--tls-key` (a CA and leaf
//! certificates generated here with rcgen), fed by the simulator; wss and https clients speak
//! rustls and trust only the generated CA. Also: SIGHUP reloads tokens, a connection limit
//! and the certificate from the `--config` file for new connections, keeps open ones, and
//! keeps everything when the new file is bad.

mod common;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::Path,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use base64::Engine as _;
use common::{
    colon_hex,
    tls::{Leaf, Pki},
    Server,
};
use loadtest::sim::{self, SimConfig, SimHandle};
use rustls::{
    pki_types::{CertificateDer, ServerName},
    ClientConfig, ClientConnection, StreamOwned,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

type TlsStream = StreamOwned<ClientConnection, TcpStream>;
type Wss = tungstenite::WebSocket<TlsStream>;

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn tls_connect(addr: SocketAddr, client: &Arc<ClientConfig>) -> TlsStream {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    StreamOwned::new(ClientConnection::new(client.clone(), name).unwrap(), tcp)
}

/// A wss connection to `path`, or the HTTP status that refused it.
fn wss(addr: SocketAddr, path: &str, client: &Arc<ClientConfig>) -> Result<Wss, u16> {
    let url = format!("wss://localhost:{}{path}", addr.port());
    match tungstenite::client(url.as_str(), tls_connect(addr, client)) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            Err(r.status().as_u16())
        }
        Err(e) => panic!("wss to {path}: {e}"),
    }
}

/// [`wss`], retrying while refused with 429: a refused or closed connection frees its place
/// only once the server has closed it (after its response and a short linger).
fn wss_once_a_place_is_free(
    addr: SocketAddr,
    path: &str,
    client: &Arc<ClientConfig>,
) -> Result<Wss, u16> {
    once_a_place_is_free(|| wss(addr, path, client).map_err(|code| (code, ())))
        .map_err(|(code, _)| code)
}

/// Runs `attempt` until it is not refused with 429 (for 10 s at most).
fn once_a_place_is_free<T, E>(
    mut attempt: impl FnMut() -> Result<T, (u16, E)>,
) -> Result<T, (u16, E)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match attempt() {
            Err((429, _)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => return other,
        }
    }
}

/// [`https_get`], retrying while refused with 429 (see [`wss_once_a_place_is_free`]).
fn https_get_once_a_place_is_free(
    addr: SocketAddr,
    path: &str,
    client: &Arc<ClientConfig>,
) -> (u16, String) {
    let result = once_a_place_is_free(|| match https_get(addr, path, client) {
        (200, body) => Ok(body),
        (code, body) => Err((code, body)),
    });
    result.map_or_else(|(code, body)| (code, body), |body| (200, body))
}

fn https_get(addr: SocketAddr, path: &str, client: &Arc<ClientConfig>) -> (u16, String) {
    let mut stream = tls_connect(addr, client);
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("a complete response");
    let text = String::from_utf8(raw).unwrap();
    let code = text[9..12].parse().unwrap();
    (code, text.split_once("\r\n\r\n").unwrap().1.to_owned())
}

fn peer_certificate(ws: &Wss) -> Vec<u8> {
    let certs: &[CertificateDer] = ws.get_ref().conn.peer_certificates().unwrap();
    certs[0].to_vec()
}

/// The next certificate_update (heartbeats skipped).
fn next_certificate(ws: &mut Wss) -> Value {
    loop {
        match ws.read().expect("the stream stays open") {
            tungstenite::Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                if v["message_type"] == "certificate_update" {
                    return v;
                }
            }
            _ => continue,
        }
    }
}

/// A full-stream message carries, for its log and index, the certificate the simulator put
/// there: its fingerprint, and DER that hashes to it.
fn assert_is_the_simulated_certificate(sim: &SimHandle, msg: &Value) {
    let data = &msg["data"];
    let url = data["source"]["url"].as_str().expect("source.url");
    let log = sim
        .logs()
        .into_iter()
        .find(|l| l.url == url)
        .unwrap_or_else(|| panic!("unknown log {url}"));
    let index = data["cert_index"].as_u64().expect("cert_index");
    let fingerprint = sim.entry_fingerprint(log.idx, index).expect("sequenced");
    let sha256 = colon_hex(data["leaf_cert"]["sha256"].as_str().expect("sha256"));
    assert_eq!(sha256, fingerprint, "{url} #{index}");
    let der = base64::engine::general_purpose::STANDARD
        .decode(data["leaf_cert"]["as_der"].as_str().expect("as_der"))
        .expect("as_der is base64");
    assert_eq!(Sha256::digest(&der).as_slice(), fingerprint.as_slice());
    assert!(data["leaf_cert"]["all_domains"].is_array(), "{msg}");
    assert!(data["seen"].as_f64().is_some(), "{msg}");
}

fn simulator(seed: u64) -> SimHandle {
    sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 1,
        rate_per_sec: 40.0,
        seed,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

/// Waits for a log line containing `text` that was not there before (`seen` lines).
fn wait_for_log(server: &Server, seen: usize, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = server.log_lines();
        if let Some(line) = lines.iter().skip(seen).find(|l| l.contains(text)) {
            return line.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {text:?}: {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn wss_streams_real_certificates_https_serves_endpoints_and_plain_clients_fail_cleanly() {
    let sim = simulator(61);
    let pki = Pki::new("serve");
    let leaf = pki.leaf("server");
    let server = Server::following(
        &sim.log_list_url,
        &[
            "--tls-cert",
            path_str(&leaf.cert),
            "--tls-key",
            path_str(&leaf.key),
        ],
    );
    let mut ws = wss(server.addr, "/full-stream", &pki.client).expect("wss upgrade");
    assert_eq!(peer_certificate(&ws), leaf.der);
    for _ in 0..3 {
        assert_is_the_simulated_certificate(&sim, &next_certificate(&mut ws));
    }
    assert_eq!(
        https_get(server.addr, "/health", &pki.client),
        (200, "OK".to_owned())
    );
    let (code, latest) = https_get(server.addr, "/latest.json", &pki.client);
    assert_eq!(code, 200);
    let latest: Value = serde_json::from_str(&latest).expect("/latest.json is JSON");
    assert!(!latest["messages"].as_array().unwrap().is_empty());

    // Plain clients on the TLS port: an error, promptly, and the server carries on.
    let started = Instant::now();
    assert!(
        tungstenite::connect(server.ws_url("/")).is_err(),
        "ws:// on the TLS port"
    );
    assert_eq!(server.http_get("/health").0, 0, "no plaintext HTTP answer");
    assert!(started.elapsed() < Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, metrics) = https_get(server.addr, "/metrics", &pki.client);
        assert_eq!(code, 200);
        let failures = metrics
            .lines()
            .find(|l| l.starts_with("certstream_ws_handshake_failures_total{reason=\"tls\"}"))
            .and_then(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .expect("tls handshake failures are exported");
        if failures >= 2 {
            assert!(metrics.contains("certstream_log_lag_seconds{"));
            break;
        }
        // Counters of the other core arrive with its next snapshot (every second).
        assert!(Instant::now() < deadline, "tls failures = {failures}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_is_the_simulated_certificate(&sim, &next_certificate(&mut ws));
}

fn write_config(path: &Path, leaf: &Leaf, key: &Path, token: &str, per_ip: usize) {
    let toml = format!(
        "tls_cert = {:?}\ntls_key = {:?}\nauth_tokens = [{token:?}]\nmax_connections_per_ip = {per_ip}\n",
        path_str(&leaf.cert),
        path_str(key),
    );
    std::fs::write(path, toml).unwrap();
}

#[test]
fn sighup_reloads_tokens_limit_and_certificate_for_new_connections_and_keeps_open_ones() {
    const OLD: &str = "old-token-0123456789abc";
    const NEW: &str = "new-token-0123456789abc";
    let sim = simulator(67);
    let pki = Pki::new("reload");
    let (first, second) = (pki.leaf("first"), pki.leaf("second"));
    let config = pki.dir.join("certstream.toml");
    write_config(&config, &first, &first.key, OLD, 2);
    let server = Server::following(&sim.log_list_url, &["--config", path_str(&config)]);
    let old_path = format!("/?token={OLD}");
    let new_path = format!("/?token={NEW}");

    let mut open = wss(server.addr, &old_path, &pki.client).expect("old token accepted");
    assert_eq!(peer_certificate(&open), first.der);
    let second_conn = wss(server.addr, &old_path, &pki.client).expect("second connection");
    assert_eq!(
        wss(server.addr, &old_path, &pki.client).err(),
        Some(429),
        "per-IP limit 2"
    );
    next_certificate(&mut open);

    write_config(&config, &second, &second.key, NEW, 3);
    let seen = server.log_lines().len();
    let reloaded_at = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    server.hup();
    wait_for_log(&server, seen, "configuration reloaded");
    assert_eq!(
        wss(server.addr, &old_path, &pki.client).err(),
        Some(401),
        "old token refused"
    );
    // The refused connection holds its place until the server has closed it.
    let fresh = wss_once_a_place_is_free(server.addr, &new_path, &pki.client)
        .expect("new token, third place");
    assert_eq!(
        peer_certificate(&fresh),
        second.der,
        "new certificate for new connections"
    );
    assert_eq!(
        wss(server.addr, &new_path, &pki.client).err(),
        Some(429),
        "per-IP limit 3"
    );
    // The connection opened before the reload keeps streaming what is published after it.
    loop {
        let msg = next_certificate(&mut open);
        if msg["data"]["seen"].as_f64().unwrap() > reloaded_at.as_secs_f64() {
            break;
        }
    }
    assert_eq!(peer_certificate(&open), first.der);

    // A bad file changes nothing: same certificate, same token, never open.
    let missing = pki.dir.join("missing.key");
    write_config(&config, &first, &missing, NEW, 3);
    let seen = server.log_lines().len();
    server.hup();
    let line = wait_for_log(&server, seen, "configuration reload failed");
    assert!(
        line.contains("ERROR") && line.contains("missing.key"),
        "{line}"
    );
    drop(second_conn);
    let no_token = wss_once_a_place_is_free(server.addr, "/", &pki.client);
    assert_eq!(no_token.err(), Some(401), "still guarded");
    let metrics = https_get_once_a_place_is_free(server.addr, "/metrics", &pki.client);
    assert_eq!(metrics.0, 401);
    let again = wss_once_a_place_is_free(server.addr, &new_path, &pki.client)
        .expect("the new token still works");
    assert_eq!(
        peer_certificate(&again),
        second.der,
        "the certificate in force stays"
    );
    next_certificate(&mut open);
}
