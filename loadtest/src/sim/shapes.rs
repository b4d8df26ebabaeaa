//! The transport-shape faults ([`Shape`]): an honest response framed or broken on the wire the
//! way some HTTP servers, CDNs and proxies do it, for testing a client's HTTP/1.1 reader. The
//! faults table in [`super::faults`] says what each sends.

use std::io::Write;

use flate2::{write::GzEncoder, Compression};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    faults::Shape,
    message::{response_head, write_parts, write_response, After, Response},
};

/// Chunk sizes of the `chunked` shape, cycled: a 1-byte chunk, sizes that split reads
/// mid-chunk, and one larger than a typical read.
const CHUNK_SIZES: [usize; 5] = [1, 7, 4096, 100, 30_000];

/// Sends `r` in `shape`; says what to do with the connection afterwards.
pub(super) async fn send<S>(stream: &mut S, r: &Response, keep_alive: bool, shape: Shape) -> After
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let kept = |sent: std::io::Result<()>| match sent {
        Ok(()) if keep_alive => After::KeepAlive,
        _ => After::Close,
    };
    match shape {
        Shape::Chunked => {
            let head = format!(
                "{}Transfer-Encoding: chunked\r\n\r\n",
                response_head(r, keep_alive)
            );
            kept(
                write_parts(
                    stream,
                    &[head.as_bytes(), &chunked_with_extensions(&r.body)],
                )
                .await,
            )
        }
        Shape::CloseDelimited => {
            // No Connection header: an HTTP/1.0 response is not persistent by default.
            let head = response_head(r, true).replacen("HTTP/1.1 ", "HTTP/1.0 ", 1);
            let _ = write_parts(stream, &[head.as_bytes(), b"\r\n", &r.body]).await;
            After::Close
        }
        Shape::Continue => {
            let interim = write_parts(stream, &[b"HTTP/1.1 100 Continue\r\n\r\n"]).await;
            match interim {
                Ok(()) => kept(write_response(stream, r, keep_alive).await),
                Err(_) => After::Close,
            }
        }
        Shape::Close => {
            let _ = write_response(stream, r, false).await;
            After::Close
        }
        Shape::IdleClose => {
            let _ = write_response(stream, r, true).await;
            After::Close
        }
        Shape::TruncateChunked => {
            let head = format!(
                "{}Transfer-Encoding: chunked\r\n\r\n",
                response_head(r, keep_alive)
            );
            let _ = write_parts(stream, &[head.as_bytes(), &truncated_chunks(&r.body)]).await;
            After::Close
        }
        Shape::OversizeHead { bytes } => {
            let head = oversize_head(r, bytes as usize);
            let _ = write_parts(stream, &[head.as_bytes(), &r.body]).await;
            After::Close
        }
        Shape::OversizeBody { bytes } => {
            let head = format!("{}Content-Length: {bytes}\r\n\r\n", response_head(r, false));
            let _ = write_parts(stream, &[head.as_bytes()]).await;
            After::Close
        }
        Shape::GzipBomb { bytes } => {
            let mut bomb = Response::new(r.status, r.content_type, gzipped_zeros(bytes));
            bomb.gzipped = true;
            kept(write_response(stream, &bomb, keep_alive).await)
        }
    }
}

/// `body` in chunks of [`CHUNK_SIZES`]; every other chunk carries an extension and an upper-case
/// hex size, and a trailer field follows the last chunk.
fn chunked_with_extensions(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 8 + 64);
    let mut rest = body;
    for (i, size) in CHUNK_SIZES.iter().cycle().enumerate() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).min(rest.len()));
        let line = if i % 2 == 0 {
            format!("{:x}\r\n", chunk.len())
        } else {
            format!("{:X};ext=\"v\"\r\n", chunk.len())
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    out
}

/// The first half of `body` as one chunk, then a chunk announcing the rest of which only half
/// follows.
fn truncated_chunks(body: &[u8]) -> Vec<u8> {
    let (first, rest) = body.split_at(body.len() / 2);
    let mut out = format!("{:x}\r\n", first.len()).into_bytes();
    out.extend_from_slice(first);
    out.extend_from_slice(format!("\r\n{:x}\r\n", rest.len().max(2)).as_bytes());
    out.extend_from_slice(&rest[..rest.len() / 2]);
    out
}

/// The head of `r` with one padding header line making it longer than `bytes`, then a
/// `Content-Length` and the blank line.
fn oversize_head(r: &Response, bytes: usize) -> String {
    let mut head = response_head(r, false);
    let pad = bytes.saturating_sub(head.len()) + 1;
    head.reserve(pad + 64);
    head.push_str("X-Padding: ");
    head.extend(std::iter::repeat_n('a', pad));
    head.push_str(&format!("\r\nContent-Length: {}\r\n\r\n", r.body.len()));
    head
}

/// gzip of `bytes` zero bytes, compressed in pieces so the zeros are never all in memory.
fn gzipped_zeros(bytes: u64) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let piece = [0u8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(piece.len() as u64) as usize;
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(&piece[..n]);
        left -= n as u64;
    }
    encoder.finish().unwrap_or_default()
}
