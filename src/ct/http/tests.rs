//! Integration tests: the client on a real glommio executor against tiny std-thread servers on
//! 127.0.0.1:0, speaking scripted HTTP/1.1 (and TLS with an rcgen CA).

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/loadtest/fixtures/ctdata");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn get_entries_fixture() -> Vec<u8> {
    fixture("rfc6962/navigli2025h2_get-entries_0-15.json")
}

fn data_tile_fixture() -> Vec<u8> {
    fixture("static-ct/navigli2025h2/tile/data/000")
}

fn run<T, Fut>(make: impl FnOnce() -> Fut + Send + 'static) -> T
where
    T: Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(make)
        .unwrap()
        .join()
        .unwrap()
}

fn plain_client() -> HttpClient {
    HttpClient::new(tls_config(None).unwrap())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A scripted server: `handle(connection_index, stream, requests)` runs for each of the first
/// `connections` accepted connections, in order.
struct TestServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start<H>(connections: usize, handle: H) -> TestServer
    where
        H: Fn(usize, std::net::TcpStream, &Mutex<Vec<String>>) + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (acc, reqs) = (accepted.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for index in 0..connections {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                acc.fetch_add(1, Ordering::SeqCst);
                handle(index, stream, &reqs);
            }
        });
        TestServer {
            addr,
            accepted,
            requests,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits for the script to finish (so its assertions are seen) and returns the accepts.
    fn finish(mut self) -> usize {
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Reads one request head; `None` when the peer closed first.
fn read_request(stream: &mut impl Read, log: &Mutex<Vec<String>>) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8(head).unwrap();
    log.lock().unwrap().push(text.clone());
    Some(text)
}

fn response_with_length(status: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        // Every other chunk carries an extension, which must be ignored.
        if i % 2 == 0 {
            out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        } else {
            out.extend_from_slice(format!("{n:X};ext=\"v\"\r\n").as_bytes());
        }
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    out
}

/// Serves `response` to every request on the connection until the client closes.
fn serve_forever(response: Vec<u8>) -> impl Fn(usize, std::net::TcpStream, &Mutex<Vec<String>>) {
    move |_, mut stream, log| {
        while read_request(&mut stream, log).is_some() {
            if stream.write_all(&response).is_err() {
                return;
            }
        }
    }
}

#[test]
fn content_length_body_and_request_headers() {
    let body = get_entries_fixture();
    let response = response_with_length("200 OK", "Content-Type: application/json\r\n", &body);
    let server = TestServer::start(1, serve_forever(response));
    let url = server.url("/ct/v1/get-entries?start=0&end=15");
    let got = run(move || async move { plain_client().get(&url).await.unwrap() });
    assert_eq!(got.status, 200);
    assert_eq!(got.body.as_ref(), body.as_slice());
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    let request = server.requests().remove(0);
    assert!(
        request.starts_with("GET /ct/v1/get-entries?start=0&end=15 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nHost: {}\r\n", server.addr)),
        "{request}"
    );
    assert!(request.contains(&format!("\r\nUser-Agent: {}\r\n", limits::USER_AGENT)));
    assert!(request.contains("\r\nAccept-Encoding: gzip\r\n"));
    assert!(request.contains("\r\nConnection: keep-alive\r\n"));
    server.finish();
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let body = get_entries_fixture();
    let mut response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    response.extend_from_slice(&chunked(&body, &[1, 7, 4096, 100, 30000]));
    let server = TestServer::start(1, serve_forever(response));
    let url = server.url("/ct/v1/get-entries?start=0&end=15");
    let got = run(move || async move { plain_client().get(&url).await.unwrap() });
    assert_eq!(got.body.len(), body.len());
    assert_eq!(got.body.as_ref(), body.as_slice());
    server.finish();
}

#[test]
fn gzip_when_asked_chunked() {
    let body = get_entries_fixture();
    let server = TestServer::start(1, move |_, mut stream, log| {
        while let Some(request) = read_request(&mut stream, log) {
            assert!(request.contains("Accept-Encoding: gzip"));
            let mut response =
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_vec();
            response.extend_from_slice(&chunked(&gzip(&body), &[999]));
            stream.write_all(&response).unwrap();
        }
    });
    let url = server.url("/ct/v1/get-entries?start=0&end=15");
    let expected = get_entries_fixture();
    let got = run(move || async move { plain_client().get(&url).await.unwrap() });
    assert_eq!(got.body.as_ref(), expected.as_slice());
    server.finish();
}

#[test]
fn gzip_unasked_tile_with_content_length() {
    // Static CT tiles are stored gzipped and served with Content-Encoding: gzip regardless.
    let tile = data_tile_fixture();
    let response = response_with_length(
        "200 OK",
        "Content-Encoding: gzip\r\nContent-Type: application/octet-stream\r\n",
        &gzip(&tile),
    );
    let server = TestServer::start(1, serve_forever(response));
    let url = server.url("/tile/data/000");
    let got = run(move || async move { plain_client().get(&url).await.unwrap() });
    assert_eq!(got.body.len(), 408_365);
    assert_eq!(got.body.as_ref(), tile.as_slice());
    server.finish();
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let response = response_with_length("200 OK", "", b"{\"tree_size\":1}");
    // The server accepts only ONE connection: a second one would never be answered.
    let server = TestServer::start(1, serve_forever(response));
    let (sth, entries) = (
        server.url("/ct/v1/get-sth"),
        server.url("/ct/v1/get-entries"),
    );
    let opened = run(move || async move {
        let client = plain_client();
        for url in [&sth, &entries, &sth] {
            let got = client.get(url).await.unwrap();
            assert_eq!(got.body.as_ref(), b"{\"tree_size\":1}");
        }
        client.connections_opened()
    });
    assert_eq!(opened, 1);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests[1].starts_with("GET /ct/v1/get-entries "));
    assert_eq!(server.finish(), 1);
}

#[test]
fn idle_pool_is_bounded_per_host() {
    // A server answering each connection on its own thread, so requests run concurrently.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let concurrent = limits::POOL_IDLE_PER_HOST_MAX + 2;
    let server = std::thread::spawn(move || {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for _ in 0..concurrent {
            let (stream, _) = listener.accept().unwrap();
            let log = log.clone();
            threads.push(std::thread::spawn(move || {
                let response = response_with_length("200 OK", "", b"x");
                serve_forever(response)(0, stream, &log);
            }));
        }
        threads.into_iter().for_each(|t| t.join().unwrap());
    });
    let url = format!("http://{addr}/");
    let (opened, idle) = run(move || async move {
        let client = std::rc::Rc::new(plain_client());
        let tasks: Vec<_> = (0..concurrent)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                glommio::spawn_local(async move { client.get(&url).await.unwrap() })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.body.as_ref(), b"x");
        }
        let idle: usize = client.pool.borrow().values().map(Vec::len).sum();
        let opened = client.connections_opened();
        drop(client); // closes the pooled connections so the server threads end
        (opened, idle)
    });
    assert_eq!(opened, concurrent as u64);
    assert_eq!(idle, limits::POOL_IDLE_PER_HOST_MAX);
    server.join().unwrap();
}

#[test]
fn server_closing_pooled_connection_is_retried() {
    let server = TestServer::start(2, |index, mut stream, log| {
        read_request(&mut stream, log).unwrap();
        let body = format!("conn{index}");
        stream
            .write_all(&response_with_length("200 OK", "", body.as_bytes()))
            .unwrap();
        if index == 1 {
            // Keep serving on the second connection.
            while read_request(&mut stream, log).is_some() {
                stream
                    .write_all(&response_with_length("200 OK", "", b"again"))
                    .unwrap();
            }
        }
        // Connection 0 is dropped here: closed while the client holds it in its pool.
    });
    let url = server.url("/checkpoint");
    let (bodies, opened) = run(move || async move {
        let client = plain_client();
        let first = client.get(&url).await.unwrap();
        glommio::timer::sleep(Duration::from_millis(50)).await; // let the FIN arrive
        let second = client.get(&url).await.unwrap();
        let third = client.get(&url).await.unwrap();
        (
            vec![first.body, second.body, third.body],
            client.connections_opened(),
        )
    });
    assert_eq!(bodies, vec![&b"conn0"[..], &b"conn1"[..], &b"again"[..]]);
    assert_eq!(opened, 2);
    assert_eq!(server.requests().len(), 3);
    assert_eq!(server.finish(), 2);
}

#[test]
fn connection_close_is_not_pooled() {
    let response = response_with_length("200 OK", "Connection: close\r\n", b"bye");
    let server = TestServer::start(2, move |_, mut stream, log| {
        read_request(&mut stream, log).unwrap();
        stream.write_all(&response).unwrap();
    });
    let url = server.url("/");
    let opened = run(move || async move {
        let client = plain_client();
        assert_eq!(client.get(&url).await.unwrap().body.as_ref(), b"bye");
        assert_eq!(client.get(&url).await.unwrap().body.as_ref(), b"bye");
        client.connections_opened()
    });
    assert_eq!(opened, 2);
    assert_eq!(server.finish(), 2);
}

#[test]
fn close_delimited_body() {
    let body = get_entries_fixture();
    let mut response = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n".to_vec();
    response.extend_from_slice(&body);
    let server = TestServer::start(1, move |_, mut stream, log| {
        read_request(&mut stream, log).unwrap();
        stream.write_all(&response).unwrap();
    });
    let url = server.url("/x");
    let got = run(move || async move { plain_client().get(&url).await.unwrap() });
    assert_eq!(got.body.as_ref(), body.as_slice());
    server.finish();
}

#[test]
fn if_modified_since_and_304_then_reuse() {
    let server = TestServer::start(1, |_, mut stream, log| {
        let request = read_request(&mut stream, log).unwrap();
        assert!(request.contains("\r\nIf-Modified-Since: Tue, 15 Nov 1994 12:45:26 GMT\r\n"));
        // A 304 carries no body even with a Content-Length.
        stream
            .write_all(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n")
            .unwrap();
        read_request(&mut stream, log).unwrap();
        stream
            .write_all(&response_with_length(
                "200 OK",
                "Last-Modified: Wed, 16 Nov 1994 00:00:00 GMT\r\n",
                b"new",
            ))
            .unwrap();
    });
    let url = server.url("/log.v3.json");
    let (first, second, opened) = run(move || async move {
        let client = plain_client();
        let header = [("If-Modified-Since", "Tue, 15 Nov 1994 12:45:26 GMT")];
        let first = client.get_with_headers(&url, &header).await.unwrap();
        let second = client.get(&url).await.unwrap();
        (first, second, client.connections_opened())
    });
    assert_eq!(first.status, 304);
    assert!(first.body.is_empty());
    assert_eq!(second.body.as_ref(), b"new");
    assert_eq!(
        second.last_modified.as_deref(),
        Some("Wed, 16 Nov 1994 00:00:00 GMT")
    );
    assert_eq!(opened, 1);
    server.finish();
}

#[test]
fn interim_100_continue_is_skipped() {
    let mut response = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    response.extend_from_slice(&response_with_length("200 OK", "", b"ok"));
    let server = TestServer::start(1, serve_forever(response));
    let url = server.url("/");
    let got = run(move || async move { plain_client().get(&url).await.unwrap() });
    assert_eq!((got.status, got.body.as_ref()), (200, &b"ok"[..]));
    server.finish();
}

#[test]
fn truncated_bodies_are_errors() {
    let server = TestServer::start(2, |index, mut stream, log| {
        read_request(&mut stream, log).unwrap();
        let response: &[u8] = if index == 0 {
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly a few bytes"
        } else {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              10\r\nsixteen bytes!!!\r\n20\r\nshort"
        };
        stream.write_all(response).unwrap();
    });
    let url = server.url("/");
    let errors = run(move || async move {
        let client = plain_client();
        [
            client.get(&url).await.unwrap_err(),
            client.get(&url).await.unwrap_err(),
        ]
    });
    for err in &errors {
        assert!(matches!(err, HttpError::Closed { .. }), "{err}");
        assert!(err.is_retryable());
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
    }
    assert!(
        errors[0].to_string().contains("16 of 1000"),
        "{}",
        errors[0]
    );
    server.finish();
}

#[test]
fn oversize_bodies_and_heads_are_refused() {
    let server = TestServer::start(4, |index, mut stream, log| {
        read_request(&mut stream, log).unwrap();
        let response: Vec<u8> = match index {
            // Declared too large: refused before reading it.
            0 => format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                limits::RESPONSE_BYTES_MAX + 1
            )
            .into_bytes(),
            // Chunked past the (test-lowered) cap.
            1 => [
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                &chunked(&[b'a'; 5000], &[1000]),
            ]
            .concat(),
            // A gzip bomb: small on the wire, huge decoded.
            2 => response_with_length(
                "200 OK",
                "Content-Encoding: gzip\r\n",
                &gzip(&vec![0u8; 1 << 20]),
            ),
            // An endless head.
            _ => {
                let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
                while head.len() <= limits::RESPONSE_HEAD_BYTES_MAX {
                    head.extend_from_slice(
                        b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
                    );
                }
                head
            }
        };
        let _ = stream.write_all(&response);
    });
    let url = server.url("/");
    let errors = run(move || async move {
        let mut client = plain_client();
        let first = client.get(&url).await.unwrap_err();
        client.body_max = 4096;
        let mut errors = vec![first];
        for _ in 0..3 {
            errors.push(client.get(&url).await.unwrap_err());
        }
        errors
    });
    for err in &errors {
        assert!(matches!(err, HttpError::TooLarge { .. }), "{err}");
        assert!(!err.is_retryable());
    }
    assert!(
        errors[2].to_string().contains("decompressed"),
        "{}",
        errors[2]
    );
    assert!(errors[3].to_string().contains("head"), "{}", errors[3]);
    server.finish();
}

#[test]
fn slow_trickle_hits_the_request_deadline() {
    let server = TestServer::start(1, |_, mut stream, log| {
        read_request(&mut stream, log).unwrap();
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        // One byte every 20 ms: never idle long enough for the read timeout.
        for _ in 0..200 {
            if stream.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let url = server.url("/");
    let (err, elapsed) = run(move || async move {
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
            request: Duration::from_millis(300),
        };
        let client = HttpClient::with_timeouts(tls_config(None).unwrap(), timeouts);
        let started = Instant::now();
        let err = client.get(&url).await.unwrap_err();
        (err, started.elapsed())
    });
    assert_eq!(
        err,
        HttpError::Timeout {
            host: "127.0.0.1".into(),
            phase: "request"
        }
    );
    assert!(err.is_retryable());
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    server.finish();
}

#[test]
fn silent_server_hits_the_read_timeout() {
    let server = TestServer::start(1, |_, mut stream, log| {
        read_request(&mut stream, log).unwrap();
        // Say nothing until the client gives up and closes.
        let _ = stream.read(&mut [0u8; 1]);
    });
    let url = server.url("/");
    let err = run(move || async move {
        let timeouts = Timeouts {
            read: Duration::from_millis(200),
            ..Timeouts::default()
        };
        HttpClient::with_timeouts(tls_config(None).unwrap(), timeouts)
            .get(&url)
            .await
            .unwrap_err()
    });
    assert_eq!(
        err,
        HttpError::Timeout {
            host: "127.0.0.1".into(),
            phase: "read"
        }
    );
    server.finish();
}

#[test]
fn too_many_requests_surfaces_retry_after() {
    let server = TestServer::start(1, |_, mut stream, log| {
        read_request(&mut stream, log).unwrap();
        stream
            .write_all(&response_with_length(
                "429 Too Many Requests",
                "Retry-After: 30\r\n",
                b"slow down",
            ))
            .unwrap();
        read_request(&mut stream, log).unwrap();
        stream
            .write_all(&response_with_length(
                "503 Service Unavailable",
                "Retry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
                b"",
            ))
            .unwrap();
    });
    let url = server.url("/ct/v1/get-entries?start=0&end=255");
    let (first, second) = run(move || async move {
        let client = plain_client();
        (
            client.get(&url).await.unwrap(),
            client.get(&url).await.unwrap(),
        )
    });
    assert_eq!(first.status, 429);
    assert_eq!(first.retry_after, Some(RetryAfter::Seconds(30)));
    assert_eq!(
        first.retry_after_delay(SystemTime::now()),
        Some(Duration::from_secs(30))
    );
    assert_eq!(first.body.as_ref(), b"slow down");
    assert_eq!(second.status, 503);
    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(second.retry_after, Some(RetryAfter::Date(date)));
    server.finish();
}

#[test]
fn refused_connection_is_a_retryable_connect_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = run(move || async move {
        plain_client()
            .get(&format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap_err()
    });
    assert!(matches!(err, HttpError::Connect { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}

#[test]
fn bad_urls_and_headers_are_refused_before_any_io() {
    let (url_err, header_err) = run(|| async {
        let client = plain_client();
        let url_err = client.get("ftp://example.com/").await.unwrap_err();
        let header_err = client
            .get_with_headers("http://127.0.0.1:1/", &[("X-Evil", "a\r\nHost: b")])
            .await
            .unwrap_err();
        (url_err, header_err)
    });
    assert!(matches!(url_err, HttpError::InvalidUrl { .. }));
    assert!(matches!(header_err, HttpError::InvalidHeader { .. }));
    assert!(!header_err.is_retryable());
}

// ---- TLS ---------------------------------------------------------------------------------------

struct TestPki {
    ca_pem: String,
    leaf_der: rustls::pki_types::CertificateDer<'static>,
    leaf_key_der: Vec<u8>,
}

fn test_pki() -> TestPki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "certstream test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        leaf_der: leaf.der().clone(),
        leaf_key_der: leaf_key.serialize_der(),
    }
}

/// A TLS server on a std thread (rustls `ServerConnection` + `StreamOwned`) answering every
/// request on each accepted connection with `body`.
fn start_tls_server(pki: &TestPki, connections: usize, body: Vec<u8>) -> TestServer {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.leaf_key_der.clone()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![pki.leaf_der.clone()], key)
        .unwrap();
    let config = Arc::new(config);
    let response = response_with_length("200 OK", "Content-Type: application/json\r\n", &body);
    TestServer::start(connections, move |_, stream, log| {
        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, stream);
        while read_request(&mut tls, log).is_some() {
            if tls.write_all(&response).and_then(|()| tls.flush()).is_err() {
                return;
            }
        }
    })
}

fn write_temp(name: &str, contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("certstream-http-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn https_with_extra_ca_and_keep_alive() {
    let pki = test_pki();
    let ca_path = write_temp("ca.pem", &pki.ca_pem);
    let body = fixture("rfc6962/argon2020_get-sth.json");
    let server = start_tls_server(&pki, 1, body.clone());
    let port = server.addr.port();
    let tls = tls_config(Some(&ca_path)).unwrap();
    std::fs::remove_file(&ca_path).ok();
    let (bodies, opened) = run(move || async move {
        let client = HttpClient::new(tls);
        let mut bodies = Vec::new();
        // By name: resolved once, then from the DNS cache; the second request reuses the
        // pooled TLS connection.
        for url in [
            format!("https://localhost:{port}/ct/v1/get-sth"),
            format!("https://localhost:{port}/ct/v1/get-sth"),
        ] {
            bodies.push(client.get(&url).await.unwrap().body);
        }
        (bodies, client.connections_opened())
    });
    assert!(bodies.iter().all(|b| b.as_ref() == body.as_slice()));
    assert_eq!(opened, 1);
    let request = server.requests().remove(0);
    assert!(
        request.contains(&format!("\r\nHost: localhost:{port}\r\n")),
        "{request}"
    );
    assert_eq!(server.finish(), 1);
}

#[test]
fn https_to_ip_literal() {
    let pki = test_pki();
    let ca_path = write_temp("ca-ip.pem", &pki.ca_pem);
    let server = start_tls_server(&pki, 1, b"{}".to_vec());
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    let tls = tls_config(Some(&ca_path)).unwrap();
    std::fs::remove_file(&ca_path).ok();
    let got = run(move || async move { HttpClient::new(tls).get(&url).await.unwrap() });
    assert_eq!(got.body.as_ref(), b"{}");
    server.finish();
}

#[test]
fn https_without_the_ca_fails_verification() {
    let pki = test_pki();
    let server = start_tls_server(&pki, 1, b"{}".to_vec());
    let url = format!("https://localhost:{}/ct/v1/get-sth", server.addr.port());
    let err = run(move || async move { plain_client().get(&url).await.unwrap_err() });
    assert!(matches!(err, HttpError::Tls { .. }), "{err}");
    assert!(
        err.to_string().contains("UnknownIssuer") || err.to_string().contains("unknown issuer"),
        "{err}"
    );
    assert!(err.to_string().contains("localhost"), "{err}");
    assert!(!err.is_retryable());
    assert!(server.requests().is_empty());
    server.finish();
}
