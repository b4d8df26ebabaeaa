//! [`Conn`]: one client connection, the plain [`SharedStream`] or the [`TlsStream`] over it.
//!
//! It sits above both layers so that neither imports the other's file back: TLS is built on the
//! shared socket, and this enum picks between them.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use futures_lite::{AsyncRead, AsyncWrite};

use super::{stream::SharedStream, tls::TlsStream};

/// One client connection: the plain socket, or TLS over it (`--tls-cert`). Reads and the
/// buffered writes (responses, the 101, close) go through it; the session writer takes the
/// socket and, for TLS, the [`TlsStream`] to seal its batches with.
#[derive(Debug, Clone)]
pub(crate) enum Conn {
    Plain(SharedStream),
    Tls(TlsStream),
}

impl Conn {
    /// The plain socket (under the TLS layer, if any).
    pub(crate) fn socket(&self) -> &SharedStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => t.socket(),
        }
    }

    pub(crate) fn tls(&self) -> Option<&TlsStream> {
        match self {
            Conn::Plain(_) => None,
            Conn::Tls(t) => Some(t),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => s.poll_read_ref(cx, buf),
            Conn::Tls(t) => Pin::new(t).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => s.poll_write_ref(cx, buf),
            Conn::Tls(t) => Pin::new(t).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => s.poll_flush_ref(cx),
            Conn::Tls(t) => Pin::new(t).poll_flush(cx),
        }
    }

    /// Plain: half-close. TLS: close_notify, then half-close.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => s.poll_close_ref(cx),
            Conn::Tls(t) => Pin::new(t).poll_close(cx),
        }
    }
}
