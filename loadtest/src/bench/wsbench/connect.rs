//! A client's connection: the target parsed from a `ws://` or `wss://` URL ([`WsTarget`]),
//! the TLS client that trusts only the benchmark's CA, and [`connect`] (TCP, TLS, then the
//! RFC 6455 handshake of [`crate::bench::ws`]). The stream it returns goes to
//! [`super::client`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bench::limits::HANDSHAKE_HEAD_BYTES_MAX;
use crate::bench::ws;

/// Where to connect.
#[derive(Clone)]
pub struct WsTarget {
    /// TLS client for `wss://` targets (`None`: plain `ws://`).
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// Resolved address.
    pub addr: SocketAddr,
    /// `host:port` for the Host header.
    pub host_port: String,
    /// Request path.
    pub path: String,
}

impl std::fmt::Debug for WsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsTarget")
            .field("tls", &self.tls.is_some())
            .field("addr", &self.addr)
            .field("host_port", &self.host_port)
            .field("path", &self.path)
            .finish()
    }
}

/// Parses `ws://host:port/path` or `wss://host:port/path`; a `wss://` target trusts only the
/// CA in `ca_file`.
pub fn parse_ws_url(url: &str, ca_file: Option<&std::path::Path>) -> anyhow::Result<WsTarget> {
    let (rest, default_port, tls) = if let Some(rest) = url.strip_prefix("ws://") {
        (rest, 80, None)
    } else if let Some(rest) = url.strip_prefix("wss://") {
        let ca = ca_file.with_context(|| format!("{url}: wss:// needs a CA file (--ca-file)"))?;
        (rest, 443, Some(tls_connector(ca)?))
    } else {
        bail!("only ws:// and wss:// URLs are supported: {url}");
    };
    let (host_port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:{default_port}")
    };
    let addr = host_port
        .to_socket_addrs()
        .with_context(|| format!("resolving {host_port}"))?
        .next()
        .with_context(|| format!("no address for {host_port}"))?;
    Ok(WsTarget {
        tls,
        addr,
        host_port,
        path: path.to_string(),
    })
}

/// A TLS client trusting only the CA certificates in the PEM file `ca_file`.
fn tls_connector(ca_file: &std::path::Path) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    certstream::ct::http::add_pem_file(&mut roots, ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A client's connection: a TCP socket, or TLS over one.
pub trait ClientIo: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> ClientIo for T {}

pub type ClientStream = Box<dyn ClientIo>;

/// TCP connect, TLS handshake for `wss://`, then the WebSocket handshake; returns the stream
/// and any frame bytes that followed the 101 head in the same read.
pub async fn connect(target: &WsTarget) -> anyhow::Result<(ClientStream, Vec<u8>)> {
    let tcp = TcpStream::connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    let mut s: ClientStream = match &target.tls {
        None => Box::new(tcp),
        Some(tls) => {
            let host = target.host_port.rsplit_once(':').map_or("", |(h, _)| h);
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .with_context(|| format!("TLS server name {host}"))?;
            Box::new(tls.connect(name, tcp).await.context("TLS handshake")?)
        }
    };
    let key = ws::random_key();
    s.write_all(ws::client_request(&target.host_port, &target.path, &key).as_bytes())
        .await?;
    let mut buf = vec![0u8; HANDSHAKE_HEAD_BYTES_MAX];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            bail!("handshake response head over {HANDSHAKE_HEAD_BYTES_MAX} bytes");
        }
        let n = s.read(&mut buf[filled..]).await?;
        if n == 0 {
            bail!("server closed during the handshake");
        }
        filled += n;
        if let Some(head) = ws::check_response(&buf[..filled], &key)? {
            return Ok((s, buf[head..filled].to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_urls() {
        let t = parse_ws_url("ws://127.0.0.1:8080/full-stream", None).unwrap();
        assert_eq!(
            (t.host_port.as_str(), t.path.as_str()),
            ("127.0.0.1:8080", "/full-stream")
        );
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(parse_ws_url("ws://127.0.0.1:9", None).unwrap().path, "/");
        assert!(
            parse_ws_url("wss://127.0.0.1:9/", None).is_err(),
            "wss needs a CA"
        );
        assert!(parse_ws_url("http://127.0.0.1:9/", None).is_err());
    }
}
