//! One HTTP/1.1 connection (plain TCP or TLS over glommio's `TcpStream`) and the reading of
//! one response from it.
//!
//! # Invariants worth naming
//!
//! - `buf` holds bytes read from the socket but not yet consumed. A connection goes back to
//!   the pool only with an empty `buf` after a fully read body: a server that sent more than
//!   the response it was asked for is not trusted with a second request.
//! - Every read is bounded: the head by [`limits::RESPONSE_HEAD_BYTES_MAX`], the raw body by
//!   the cap passed in (the client passes [`limits::RESPONSE_BYTES_MAX`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::TcpStream;

use super::body::{parse_head, BodyError, ChunkedDecoder, Framing, ResponseHead};

use crate::limits::HTTP_READ_CHUNK_BYTES as READ_CHUNK_BYTES;

/// A TCP or TLS byte stream.
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<futures_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

/// Why an exchange on a connection failed.
#[derive(Debug)]
pub(super) enum ConnError {
    Io(io::Error),
    /// The peer closed the connection before the response was complete.
    Closed(String),
    Body(BodyError),
}

/// A failed exchange, with whether any byte of the response had arrived (a pooled connection
/// that dies before that is retried on a fresh one: the server probably closed it while idle).
#[derive(Debug)]
pub(super) struct Failure {
    pub error: ConnError,
    pub before_response: bool,
}

/// A response as read off the wire: head and still content-encoded body.
pub(super) struct RawResponse {
    pub head: ResponseHead,
    pub body: Vec<u8>,
}

pub(super) struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    /// Bytes read for the response in progress (tells "died idle" from "died mid-response").
    response_bytes: usize,
    /// When the connection was last returned to the pool.
    pub idle_since: Instant,
}

impl Conn {
    pub fn new(stream: Stream) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
            response_bytes: 0,
            idle_since: Instant::now(),
        }
    }

    /// No unconsumed bytes: safe to send another request.
    pub fn is_clean(&self) -> bool {
        self.buf.is_empty()
    }

    /// Writes a whole request (and flushes TLS records).
    pub async fn send(&mut self, request: &[u8]) -> Result<(), Failure> {
        self.response_bytes = 0;
        let result = async {
            self.stream.write_all(request).await?;
            self.stream.flush().await
        }
        .await;
        result.map_err(|e| Failure {
            error: ConnError::Io(e),
            before_response: true,
        })
    }

    /// Reads one complete response, skipping interim 1xx responses.
    pub async fn read_response(&mut self, body_max: usize) -> Result<RawResponse, Failure> {
        let head = self.read_head().await?;
        let body = match head.framing {
            Framing::Empty => Ok(Vec::new()),
            Framing::Length(length) => self.read_length(length, body_max).await,
            Framing::Chunked => self.read_chunked(body_max).await,
            Framing::UntilClose => self.read_until_close(body_max).await,
        };
        let body = body.map_err(|error| self.failure(error))?;
        Ok(RawResponse { head, body })
    }

    async fn read_head(&mut self) -> Result<ResponseHead, Failure> {
        loop {
            let parsed = parse_head(&self.buf).map_err(|e| self.failure(ConnError::Body(e)))?;
            match parsed {
                Some((head, len)) => {
                    self.buf.drain(..len);
                    if head.status == 101 {
                        let e = BodyError::Malformed("unexpected 101 Switching Protocols".into());
                        return Err(self.failure(ConnError::Body(e)));
                    }
                    if (100..200).contains(&head.status) {
                        continue; // interim response; the real one follows
                    }
                    return Ok(head);
                }
                None => {
                    if self.fill().await.map_err(|e| self.failure(e))? == 0 {
                        let e =
                            ConnError::Closed("connection closed before the response head".into());
                        return Err(self.failure(e));
                    }
                }
            }
        }
    }

    async fn read_length(&mut self, length: u64, body_max: usize) -> Result<Vec<u8>, ConnError> {
        let length = usize::try_from(length)
            .ok()
            .filter(|&l| l <= body_max)
            .ok_or(ConnError::Body(BodyError::TooLarge("response body")))?;
        while self.buf.len() < length {
            let want = (length - self.buf.len()).min(READ_CHUNK_BYTES);
            if self.fill_up_to(want).await? == 0 {
                let got = self.buf.len();
                return Err(ConnError::Closed(format!(
                    "connection closed after {got} of {length} body bytes"
                )));
            }
        }
        let rest = self.buf.split_off(length);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    async fn read_chunked(&mut self, body_max: usize) -> Result<Vec<u8>, ConnError> {
        let mut decoder = ChunkedDecoder::new(body_max);
        let mut out = Vec::new();
        loop {
            let used = decoder
                .decode(&self.buf, &mut out)
                .map_err(ConnError::Body)?;
            self.buf.drain(..used);
            if decoder.is_done() {
                return Ok(out);
            }
            if self.fill().await? == 0 {
                return Err(ConnError::Closed(format!(
                    "connection closed inside a chunked body after {} bytes",
                    out.len()
                )));
            }
        }
    }

    async fn read_until_close(&mut self, body_max: usize) -> Result<Vec<u8>, ConnError> {
        loop {
            if self.buf.len() > body_max {
                return Err(ConnError::Body(BodyError::TooLarge("response body")));
            }
            match self.fill().await {
                Ok(0) => return Ok(std::mem::take(&mut self.buf)),
                // Many servers close TLS without close_notify. For a close-delimited body
                // that is indistinguishable from a truncation; accept it like browsers and
                // Go do, since the JSON/tile decoders reject a cut-off body anyway.
                Err(ConnError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(std::mem::take(&mut self.buf))
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }

    async fn fill(&mut self) -> Result<usize, ConnError> {
        self.fill_up_to(READ_CHUNK_BYTES).await
    }

    /// Reads at most `want` more bytes into `buf`; 0 means the peer closed.
    async fn fill_up_to(&mut self, want: usize) -> Result<usize, ConnError> {
        let start = self.buf.len();
        self.buf.resize(start + want.max(1), 0);
        let result = self.stream.read(&mut self.buf[start..]).await;
        let read = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(start + read);
        self.response_bytes += read;
        result.map_err(ConnError::Io)
    }

    fn failure(&self, error: ConnError) -> Failure {
        Failure {
            error,
            before_response: self.response_bytes == 0,
        }
    }
}
