//! Client tests that need no server: a refused connection and requests refused before any I/O,
//! on a real glommio executor.
//!
//! Everything that needs a server (framing, gzip, keep-alive and the pool, conditional GETs,
//! size and time bounds, TLS) runs against the CT log simulator in
//! `loadtest/tests/http_client.rs`, whose fault schedule provides the misbehaving servers.

use std::future::Future;
use std::net::TcpListener;

use super::*;

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

#[test]
fn refused_connection_is_a_retryable_connect_error() {
    // A port that was just free: nothing listens there any more.
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
