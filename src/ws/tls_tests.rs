//! Server-level tests of TLS serving: a glommio executor serving 127.0.0.1:0 with a
//! self-signed certificate, std clients speaking TLS through rustls (trusting only that
//! certificate) on test threads.

use std::{
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpStream as StdStream},
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use rustls::{pki_types::ServerName, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use tungstenite::WebSocket;

use super::{
    tests::{batch, index_of, next_text, payload, quiet_config, TestServer, IO_TIMEOUT},
    *,
};
use crate::frame::{encode, Frames, OPCODE_TEXT};

type TlsClient = StreamOwned<ClientConnection, StdStream>;

/// A certificate and key on disk, the server settings serving them, and a client
/// configuration trusting exactly that certificate.
struct Pki {
    dir: PathBuf,
    cert_der: Vec<u8>,
    server: Arc<rustls::ServerConfig>,
    client: Arc<ClientConfig>,
}

impl Pki {
    fn generate(test: &str, name: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("certstream-wss-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = tls::tests::write_self_signed(&dir, name);
        let server = tls::server_config(&cert, &key).unwrap();
        let pem = std::fs::read(&cert).unwrap();
        let der = <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::from_pem_slice(&pem).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Pki {
            dir,
            cert_der: der.to_vec(),
            server,
            client: Arc::new(client),
        }
    }

    fn access(&self, tokens: &[&str]) -> AccessSettings {
        AccessSettings {
            auth_tokens: tokens.iter().map(|t| (*t).to_owned()).collect(),
            tls: Some(Arc::clone(&self.server)),
            ..AccessSettings::default()
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tls_connect(port: u16, client: &Arc<ClientConfig>) -> TlsClient {
    tls_connect_from(Ipv4Addr::LOCALHOST, port, client)
}

/// Connects from the loopback address `source`: per-IP connection counts are process-wide,
/// so a test that checks them uses an address no other test connects from.
fn tls_connect_from(source: Ipv4Addr, port: u16, client: &Arc<ClientConfig>) -> TlsClient {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    socket
        .connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
        .unwrap();
    let tcp = StdStream::from(socket);
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::clone(client), name).unwrap();
    StreamOwned::new(conn, tcp)
}

/// A wss client; `Err(status)` when the upgrade is refused.
fn wss(port: u16, path: &str, client: &Arc<ClientConfig>) -> Result<WebSocket<TlsClient>, u16> {
    wss_from(Ipv4Addr::LOCALHOST, port, path, client)
}

fn wss_from(
    source: Ipv4Addr,
    port: u16,
    path: &str,
    client: &Arc<ClientConfig>,
) -> Result<WebSocket<TlsClient>, u16> {
    let url = format!("wss://localhost:{port}{path}");
    match tungstenite::client(url.as_str(), tls_connect_from(source, port, client)) {
        Ok((ws, response)) => {
            assert_eq!(response.status(), 101);
            Ok(ws)
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            Err(r.status().as_u16())
        }
        Err(e) => panic!("wss handshake to {path} failed: {e}"),
    }
}

/// An https GET: (status, body).
fn https_get(port: u16, path: &str, client: &Arc<ClientConfig>) -> (u16, String) {
    let mut stream = tls_connect(port, client);
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("response ends with close_notify");
    let text = String::from_utf8(raw).unwrap();
    let code = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    (code, body)
}

fn peer_certificate(ws: &WebSocket<TlsClient>) -> Vec<u8> {
    ws.get_ref().conn.peer_certificates().unwrap()[0].to_vec()
}

fn start_tls(
    config: WsConfig,
    history: usize,
    access: AccessSettings,
) -> (TestServer, Arc<AccessSource>) {
    let source = AccessSource::new(access);
    let srv = TestServer::start_with_access(0, config, history, Arc::clone(&source));
    (srv, source)
}

#[test]
fn wss_clients_get_every_frame_in_order_with_coalesced_writes() {
    const CLIENTS: usize = 6;
    const FRAMES: usize = 1000;
    let pki = Pki::generate("order", "a");
    let (srv, _) = start_tls(
        quiet_config(),
        crate::limits::HUB_HISTORY_FRAMES,
        pki.access(&[]),
    );
    let readers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let path = ["/", "/full-stream", "/domains-only"][c % 3];
            let form = ["lite", "full", "domains"][c % 3];
            let mut ws = wss(srv.port, path, &pki.client).unwrap();
            thread::spawn(move || {
                for i in 0..FRAMES {
                    assert_eq!(next_text(&mut ws), payload(form, i, 200), "client {c}");
                }
            })
        })
        .collect();
    srv.wait_for("clients", |s| s.clients_total() == CLIENTS as u64);
    let before = srv.snapshot();
    srv.publish(batch(0..FRAMES, 200));
    for reader in readers {
        reader.join().unwrap();
    }
    let after = srv.wait_for("frames counted", |s| {
        s.frames_sent == (CLIENTS * FRAMES) as u64
    });
    let writes = after.writes - before.writes;
    // ~250 KB per client in one burst: a handful of sends each, never one per frame.
    assert!(
        writes <= (CLIENTS * 16) as u64,
        "{writes} sends for {} frames",
        CLIENTS * FRAMES
    );
    let plaintext = (FRAMES * payload("full", 0, 200).len()) as u64;
    let sent = after.bytes_written - before.bytes_written;
    assert!(sent > plaintext, "ciphertext counted: {sent} bytes");
}

#[test]
fn https_endpoints_work_and_a_plain_client_on_the_tls_port_is_refused_cleanly() {
    let pki = Pki::generate("https", "a");
    let (srv, _) = start_tls(quiet_config(), 64, pki.access(&[]));
    assert_eq!(
        https_get(srv.port, "/health", &pki.client),
        (200, "OK".to_owned())
    );
    assert_eq!(https_get(srv.port, "/nope", &pki.client).0, 404);
    let (code, metrics) = https_get(srv.port, "/metrics", &pki.client);
    assert_eq!(code, 200);
    assert!(metrics.contains("certstream_http_responses_total{code=\"200\"}"));

    let mut plain = StdStream::connect(("127.0.0.1", srv.port)).unwrap();
    plain.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    plain
        .read_to_end(&mut answer)
        .expect("closed, not reset or hung");
    assert!(
        !answer.starts_with(b"HTTP/"),
        "no plaintext answer on the TLS port"
    );
    assert_eq!(
        answer.first(),
        Some(&0x15),
        "a TLS alert record: {answer:?}"
    );
    srv.wait_for("tls failure counted", |s| {
        s.handshake_failures(HandshakeFailure::Tls) == 1
    });
    assert_eq!(
        https_get(srv.port, "/health", &pki.client).0,
        200,
        "still serving"
    );
}

#[test]
fn a_stalled_tls_handshake_is_dropped_at_its_deadline() {
    let pki = Pki::generate("stall", "a");
    let config = WsConfig {
        tls_handshake_timeout: Duration::from_millis(300),
        ..quiet_config()
    };
    let (srv, _) = start_tls(config, 64, pki.access(&[]));
    let mut stream = StdStream::connect(("127.0.0.1", srv.port)).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // The first bytes of a ClientHello record, and then nothing.
    stream.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let elapsed = started.elapsed();
    assert!(rest.is_empty(), "{rest:?}");
    assert!(
        elapsed >= Duration::from_millis(250),
        "closed too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "closed too late: {elapsed:?}"
    );
    srv.wait_for("timeout counted", |s| {
        s.handshake_failures(HandshakeFailure::Timeout) == 1
    });
}

#[test]
fn a_reload_swaps_certificate_and_tokens_for_new_connections_only() {
    const OLD: &str = "old-token-0123456789";
    const NEW: &str = "new-token-0123456789";
    let first = Pki::generate("reload-a", "a");
    let second = Pki::generate("reload-b", "b");
    let (srv, source) = start_tls(quiet_config(), 64, first.access(&[OLD]));
    let mut open = wss(srv.port, &format!("/?token={OLD}"), &first.client).unwrap();
    assert_eq!(peer_certificate(&open), first.cert_der);
    srv.wait_for("client", |s| s.clients_total() == 1);

    source.publish(second.access(&[NEW]));
    assert_eq!(
        wss(srv.port, &format!("/?token={OLD}"), &second.client).err(),
        Some(401)
    );
    let fresh = wss(srv.port, &format!("/?token={NEW}"), &second.client).unwrap();
    assert_eq!(
        peer_certificate(&fresh),
        second.cert_der,
        "new connections get the new certificate"
    );
    srv.publish(batch(0..3, 1));
    for i in 0..3 {
        assert_eq!(
            next_text(&mut open),
            payload("lite", i, 1),
            "the old connection keeps streaming"
        );
    }
}

#[test]
fn a_wss_client_that_never_reads_is_closed_while_a_reading_one_gets_everything() {
    const PAD: usize = 16 * 1024;
    const FRAMES_MAX: usize = 40_000;
    let pki = Pki::generate("slow", "a");
    let config = WsConfig {
        client_queue_frames_max: 256,
        client_lagging_close_after: Duration::from_millis(300),
        lag_check_interval: Duration::from_millis(20),
        ..quiet_config()
    };
    // Two places: the reading client and the one that never reads.
    let access = AccessSettings {
        connections_per_ip_max: 2,
        ..pki.access(&[])
    };
    let (srv, _) = start_tls(config, 1024, access);
    let received = Arc::new(AtomicU64::new(0));
    let source = Ipv4Addr::new(127, 0, 0, 77);
    let mut fast = wss_from(source, srv.port, "/", &pki.client).unwrap();
    let counter = Arc::clone(&received);
    let reader = thread::spawn(move || {
        let mut expected = 0;
        loop {
            let text = next_text(&mut fast);
            if text.starts_with("{\"end\"") {
                return (expected, fast);
            }
            assert_eq!(index_of(&text), expected, "lost or reordered a frame");
            expected += 1;
            counter.store(expected as u64, Ordering::Release);
        }
    });
    let _never_reads = wss_from(source, srv.port, "/full-stream", &pki.client).unwrap();
    srv.wait_for("both clients", |s| s.clients_total() == 2);
    let mut published = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while srv.snapshot().closed(CloseReason::Lagging) == 0 {
        let read = received.load(Ordering::Acquire) as usize;
        if published < read + 128 && published < FRAMES_MAX {
            srv.publish(batch(published..published + 32, PAD));
            published += 32;
        } else {
            thread::sleep(Duration::from_millis(1));
        }
        assert!(
            Instant::now() < deadline,
            "slow client never closed: {:?}",
            srv.snapshot()
        );
    }
    let end = encode(OPCODE_TEXT, b"{\"end\":true}");
    srv.publish(vec![Arc::new(Frames {
        lite: end.clone(),
        full: end.clone(),
        domains: end,
        meta: Default::default(),
    })]);
    let (got, _still_open) = reader.join().unwrap();
    assert_eq!(got, published, "the reading client missed frames");
    let snap = srv.snapshot();
    assert_eq!(snap.clients(StreamKind::Lite), 1);
    assert_eq!(snap.clients(StreamKind::Full), 0, "the slow client is gone");
    assert!(snap.dropped(DropReason::ClientQueueFull) > 0, "{snap:?}");
    // The closed client's socket is full, so no close_notify can be written: the server must
    // still let go of the connection (and its place) instead of waiting on that write.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match wss_from(source, srv.port, "/", &pki.client) {
            Ok(_) => break,
            Err(429) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            Err(code) => panic!("the slow client's place was never freed: {code}"),
        }
    }
}
