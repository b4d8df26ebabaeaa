//! TLS serving (`--tls-cert`/`--tls-key`): the rustls server configuration loaded from PEM
//! files, the handshake under its deadline, and `TlsStream`, one client's TLS state shared by
//! its reader and writer tasks.
//!
//! rustls is used sans-IO (`read_tls`/`process_new_packets`/`write_tls`) over the same
//! `SharedStream` the plain path uses, so the session writer can keep its shape: per wake it
//! hands every pending frame to rustls in one vectored write (rustls packs them into records of
//! up to 16 KiB that span frames), drains the ciphertext into one buffer and sends it with one
//! non-blocking `sendmsg`; only what the kernel did not take is sent with an awaited write.
//! (futures-rustls would write each record with its own syscall and copy every frame twice.)
//!
//! # Invariants worth naming
//!
//! - During a session only the writer sends ciphertext; records the reader's processing
//!   produces (a TLS 1.3 KeyUpdate reply) stay queued in rustls until the writer drains them,
//!   so records always leave in sequence order.
//! - The buffered [`AsyncWrite`] path (responses, the 101, close_notify) reports a write only
//!   once its ciphertext is fully on the socket, so the writer never starts behind it.

use std::{
    cell::{RefCell, RefMut},
    io::{self, IoSlice, Read as _, Write as _},
    path::Path,
    pin::Pin,
    rc::Rc,
    sync::Arc,
    task::{ready, Context, Poll},
};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    ServerConfig, ServerConnection,
};

use super::stream::SharedStream;
use crate::limits;

/// Builds the server TLS configuration from a PEM certificate chain (leaf first) and a PEM
/// private key (PKCS#8, PKCS#1 or SEC1). Errors name the file and what is wrong with it.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain = read_cert_chain(cert_path)?;
    let key = read_private_key(key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            format!(
                "TLS certificate {} and key {} cannot be used together: {e}",
                cert_path.display(),
                key_path.display()
            )
        })?;
    // No session resumption: rustls's resumption cache is one Mutex shared by every core,
    // and firehose clients connect once and stay, so resumption would buy nothing.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

fn read_cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read TLS certificate file {shown}: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("TLS certificate file {shown} is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate file {shown} contains no CERTIFICATE block"
        ));
    }
    Ok(chain)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read TLS key file {shown}: {e}"))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            format!("TLS key file {shown} contains no private key block (PKCS#8, PKCS#1 or SEC1)")
        }
        other => format!("TLS key file {shown} is not valid PEM: {other}"),
    })
}

/// Why a TLS handshake did not complete.
#[derive(Debug)]
pub(crate) enum AcceptError {
    /// The client closed the connection during the handshake.
    Closed,
    /// The socket failed.
    Io(io::Error),
    /// Not TLS, or TLS we do not speak (a plain HTTP request lands here).
    Tls(io::Error),
}

impl std::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcceptError::Closed => f.write_str("closed during the TLS handshake"),
            AcceptError::Io(e) => write!(f, "TLS handshake I/O: {e}"),
            AcceptError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
        }
    }
}

/// Runs the server side of a TLS handshake on `socket`. The caller bounds it with a deadline.
/// On a TLS error the alert rustls prepared is sent (best effort) before returning.
pub(crate) async fn accept(
    socket: SharedStream,
    config: Arc<ServerConfig>,
) -> Result<TlsStream, AcceptError> {
    let conn = ServerConnection::new(config)
        .map_err(|e| AcceptError::Tls(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    let stream = TlsStream(Rc::new(Shared {
        socket,
        state: RefCell::new(State {
            conn,
            outgoing: Vec::new(),
            sent: 0,
            accepted_plain: 0,
            close_notify_queued: false,
        }),
    }));
    stream.handshake().await?;
    Ok(stream)
}

/// One client's TLS connection; clones share it (reader and writer tasks).
#[derive(Clone)]
pub(crate) struct TlsStream(Rc<Shared>);

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream").finish_non_exhaustive()
    }
}

struct Shared {
    socket: SharedStream,
    state: RefCell<State>,
}

struct State {
    conn: ServerConnection,
    /// Ciphertext of the buffered write path, not yet (fully) on the socket.
    outgoing: Vec<u8>,
    /// Bytes of `outgoing` already sent.
    sent: usize,
    /// Plaintext bytes behind `outgoing`, reported once it is all sent.
    accepted_plain: usize,
    /// close_notify is in `outgoing` or sent: a retried close does not queue another.
    close_notify_queued: bool,
}

impl State {
    /// Feeds received ciphertext to rustls. A `data` of zero length tells it the peer closed.
    fn feed(&mut self, mut data: &[u8]) -> io::Result<()> {
        loop {
            let took = self.conn.read_tls(&mut data)?;
            if took == 0 && !data.is_empty() {
                return Err(io::Error::other("TLS input not consumed"));
            }
            self.conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if data.is_empty() {
                return Ok(());
            }
        }
    }

    /// Moves every record rustls has queued to the end of `out`.
    fn drain_records(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(out)?;
        }
        Ok(())
    }

    /// Sends the rest of `outgoing`; ready once all of it is on the socket.
    fn poll_send_outgoing(
        &mut self,
        socket: &SharedStream,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let n = ready!(socket.poll_write_ref(cx, &self.outgoing[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.outgoing.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl TlsStream {
    /// The plain socket under the TLS layer (the session writer sends ciphertext on it).
    pub(crate) fn socket(&self) -> &SharedStream {
        &self.0.socket
    }

    fn state(&self) -> io::Result<RefMut<'_, State>> {
        // Like SharedStream: a busy state can only mean a re-entrant poll; report, never panic.
        self.0
            .state
            .try_borrow_mut()
            .map_err(|_| io::Error::other("TLS state used re-entrantly"))
    }

    async fn handshake(&self) -> Result<(), AcceptError> {
        let mut socket = self.0.socket.clone();
        let mut chunk = vec![0u8; limits::CLIENT_READ_CHUNK_BYTES];
        loop {
            self.send_queued_records().await?;
            if !self.state().map_err(AcceptError::Io)?.conn.is_handshaking() {
                return Ok(());
            }
            let n = socket.read(&mut chunk).await.map_err(AcceptError::Io)?;
            if n == 0 {
                return Err(AcceptError::Closed);
            }
            let fed = self.state().map_err(AcceptError::Io)?.feed(&chunk[..n]);
            if let Err(e) = fed {
                // Tell the client why (a TLS alert), then give up.
                let _ = self.send_queued_records().await;
                return Err(AcceptError::Tls(e));
            }
        }
    }

    /// Writes whatever records rustls has queued (handshake flights, alerts) with awaited writes.
    async fn send_queued_records(&self) -> Result<(), AcceptError> {
        let mut out = Vec::new();
        self.state()
            .and_then(|mut s| s.drain_records(&mut out))
            .map_err(AcceptError::Io)?;
        if out.is_empty() {
            return Ok(());
        }
        let mut socket = self.0.socket.clone();
        socket.write_all(&out).await.map_err(AcceptError::Io)
    }

    /// Encrypts `parts` in order and appends the resulting records (and any record rustls had
    /// queued before) to `out`. One vectored write lets rustls pack small frames into full
    /// records; rustls buffers at most 64 KiB, so the loop drains as it goes.
    pub(crate) fn seal(&self, parts: &[&[u8]], out: &mut Vec<u8>) -> io::Result<()> {
        let mut state = self.state()?;
        state.drain_records(out)?;
        let mut slices: Vec<IoSlice<'_>> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| IoSlice::new(p))
            .collect();
        let mut pending = &mut slices[..];
        while !pending.is_empty() {
            let taken = state.conn.writer().write_vectored(pending)?;
            state.drain_records(out)?;
            if taken == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut pending, taken);
        }
        Ok(())
    }

    /// Whether rustls holds records to send (a reply the reader's processing produced).
    pub(crate) fn wants_write(&self) -> bool {
        self.0
            .state
            .try_borrow()
            .is_ok_and(|s| s.conn.wants_write())
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.state()?;
        loop {
            match state.conn.reader().read(buf) {
                // 0: the client sent close_notify.
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let mut chunk = [0u8; limits::CLIENT_READ_CHUNK_BYTES];
            let n = ready!(self.0.socket.poll_read_ref(cx, &mut chunk))?;
            state.feed(&chunk[..n])?;
        }
    }
}

impl AsyncWrite for TlsStream {
    /// Encrypts up to one record of `buf` and reports it written once its ciphertext is on the
    /// socket. A caller retrying after `Pending` passes the same bytes (the `AsyncWrite`
    /// contract), so the plaintext is encrypted exactly once.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.state()?;
        if state.outgoing.is_empty() {
            let chunk = &buf[..buf.len().min(limits::TLS_WRITE_CHUNK_BYTES)];
            let n = state.conn.writer().write(chunk)?;
            let State { conn, outgoing, .. } = &mut *state;
            while conn.wants_write() {
                conn.write_tls(outgoing)?;
            }
            state.accepted_plain = n;
        }
        ready!(state.poll_send_outgoing(&self.0.socket, cx))?;
        Poll::Ready(Ok(std::mem::take(&mut state.accepted_plain)))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.state()?;
        ready!(state.poll_send_outgoing(&self.0.socket, cx))?;
        self.0.socket.poll_flush_ref(cx)
    }

    /// Sends close_notify (once), then half-closes the socket.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.state()?;
        if !state.close_notify_queued {
            state.close_notify_queued = true;
            state.conn.send_close_notify();
            let State { conn, outgoing, .. } = &mut *state;
            while conn.wants_write() {
                conn.write_tls(outgoing)?;
            }
        }
        ready!(state.poll_send_outgoing(&self.0.socket, cx))?;
        self.0.socket.poll_close_ref(cx)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Writes a fresh self-signed certificate for `localhost`/127.0.0.1 and its key as
    /// `{name}.crt` and `{name}.key` into `dir`; returns their paths.
    pub(crate) fn write_self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    fn temp_dir(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("certstream-tls-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_matching_certificate_and_key_load() {
        let dir = temp_dir("good");
        let (cert, key) = write_self_signed(&dir, "a");
        assert!(server_config(&cert, &key).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pem_errors_name_the_file_and_the_problem() {
        let dir = temp_dir("errors");
        let (cert, key) = write_self_signed(&dir, "a");
        let (_, other_key) = write_self_signed(&dir, "b");
        let text = dir.join("text.pem");
        std::fs::write(&text, "no PEM here\n").unwrap();
        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.join("missing.pem");
        let err = |c: &Path, k: &Path| server_config(c, k).unwrap_err();
        let cases = [
            (
                err(&missing, &key),
                "cannot read TLS certificate file",
                &missing,
            ),
            (err(&text, &key), "contains no CERTIFICATE block", &text),
            (err(&broken, &key), "is not valid PEM", &broken),
            (err(&cert, &missing), "cannot read TLS key file", &missing),
            (err(&cert, &cert), "contains no private key block", &cert),
            (
                err(&cert, &other_key),
                "cannot be used together",
                &other_key,
            ),
        ];
        for (message, problem, file) in cases {
            assert!(message.contains(problem), "{message}");
            assert!(message.contains(&file.display().to_string()), "{message}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
