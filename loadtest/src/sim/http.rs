//! Hand-written HTTP/1.1 server over tokio (plain TCP and rustls), keep-alive, GET only.
//!
//! Real CT front ends answer with either `Content-Length` or chunked bodies; get-entries is sent
//! chunked (as Go's net/http does for large streamed bodies), everything else with a length.
//! A response carrying a wire fault ([`Action`]: hang, reset, truncate, trickle) is sent with
//! a length, and broken on the way out as the fault says; a transport-shape fault
//! ([`Action::Shape`]) is sent by [`super::shapes`]. Every accepted connection and request head
//! is recorded in the simulator's [`super::requests::RequestLog`].
//!
//! A 304 carries the `Content-Length` of the representation it stands for and no body (RFC 9110
//! §8.6 allows that length), so a client that reads a body after a 304 desynchronises.

use std::{sync::Arc, time::Duration};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

use super::{
    faults::Action,
    message::{response_head, write_parts, write_response, After, Request, Response},
    requests::RequestLog,
    routes, shapes, Sim,
};

/// Largest request head accepted (requests are tiny GETs).
const REQUEST_HEAD_MAX: usize = 16 * 1024;
/// Idle keep-alive connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection that can be closed with a TCP reset instead of a clean FIN.
pub trait Abortable {
    /// Makes the next close send RST (SO_LINGER 0).
    fn reset_on_close(&self);
}

impl Abortable for TcpStream {
    fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(self).set_linger(Some(Duration::ZERO));
    }
}

impl Abortable for tokio_rustls::server::TlsStream<TcpStream> {
    fn reset_on_close(&self) {
        self.get_ref().0.reset_on_close();
    }
}

/// Accepts connections until `stop` flips; each connection runs on its own task.
pub async fn accept_loop(
    listener: TcpListener,
    sim: Arc<Sim>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            // Transient accept errors (EMFILE, aborted handshakes): back off briefly.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let sim = sim.clone();
        let tls = tls.clone();
        let connection = sim.seen.connection_accepted();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(IDLE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        serve(s, sim, true, connection).await;
                    }
                }
                None => serve(stream, sim, false, connection).await,
            }
        });
    }
}

/// Serves requests on one connection until close, error or idle timeout.
async fn serve<S>(mut stream: S, sim: Arc<Sim>, https: bool, connection: u64)
where
    S: AsyncRead + AsyncWrite + Unpin + Abortable,
{
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let seen = (&sim.seen, connection);
        let request = match read_request(&mut stream, &mut buf, https, seen).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(status) => {
                let _ =
                    write_response(&mut stream, &Response::text(status, "bad request\n"), false)
                        .await;
                return;
            }
        };
        let keep_alive = request.keep_alive;
        let sim2 = sim.clone();
        // Routing generates certificates and compresses: keep it off the async workers.
        let Ok(response) =
            tokio::task::spawn_blocking(move || routes::handle(&sim2, &request)).await
        else {
            return;
        };
        let after = match response.wire {
            Some(fault) => send_faulty(&mut stream, &response, keep_alive, fault).await,
            None => match write_response(&mut stream, &response, keep_alive).await {
                Ok(()) if keep_alive => After::KeepAlive,
                _ => After::Close,
            },
        };
        match after {
            After::KeepAlive => {}
            After::Close => {
                let _ = stream.shutdown().await;
                return;
            }
            After::Reset => {
                stream.reset_on_close();
                return; // dropping the stream closes it with RST
            }
        }
    }
}

/// Sends `r` broken as `fault` says.
async fn send_faulty<S>(stream: &mut S, r: &Response, keep_alive: bool, fault: Action) -> After
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = response_head(r, keep_alive);
    let overstated = match fault {
        Action::OverstatedLength { extra } => extra as usize,
        _ => 0,
    };
    head.push_str(&format!(
        "Content-Length: {}\r\n\r\n",
        r.body.len() + overstated
    ));
    let half = &r.body[..r.body.len() / 2];
    let sent = match fault {
        Action::Hang { secs } => {
            hold_unanswered(stream, Duration::from_secs_f64(secs)).await;
            return After::Close;
        }
        Action::Shape(shape) => return shapes::send(stream, r, keep_alive, shape).await,
        Action::Reset | Action::Truncate => write_parts(stream, &[head.as_bytes(), half]).await,
        Action::Trickle { delay_ms } => {
            let delay = Duration::from_millis(delay_ms);
            let mut result = Ok(());
            for byte in head.as_bytes().iter().chain(r.body.iter()) {
                result = write_parts(stream, &[std::slice::from_ref(byte)]).await;
                if result.is_err() {
                    break;
                }
                tokio::time::sleep(delay).await;
            }
            return if result.is_ok() && keep_alive {
                After::KeepAlive
            } else {
                After::Close
            };
        }
        // Content faults were applied by the routes; send the response as it is.
        _ => write_parts(stream, &[head.as_bytes(), &r.body]).await,
    };
    match (fault, sent) {
        (Action::Reset, _) => After::Reset,
        (Action::Truncate | Action::OverstatedLength { .. }, _) | (_, Err(_)) => After::Close,
        _ if keep_alive => After::KeepAlive,
        _ => After::Close,
    }
}

/// Leaves a request unanswered for `total`, or until the client gives up and closes.
async fn hold_unanswered<S: AsyncRead + Unpin>(stream: &mut S, total: Duration) {
    let deadline = tokio::time::Instant::now() + total;
    let mut sink = [0u8; 1024];
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
        if n == 0 {
            return;
        }
    }
}

/// Reads one request head and records it in `seen` (the log and this connection's number).
/// `Ok(None)` = clean EOF / idle timeout; `Err(status)` = reject.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    https: bool,
    seen: (&RequestLog, u64),
) -> Result<Option<Request>, u16> {
    loop {
        if let Some((request, used)) = parse_head(buf, https)? {
            seen.0.record(seen.1, https, &buf[..used]);
            buf.drain(..used);
            return Ok(Some(request));
        }
        if buf.len() >= REQUEST_HEAD_MAX {
            return Err(431);
        }
        let mut chunk = [0u8; 4096];
        let n = match tokio::time::timeout(IDLE_TIMEOUT, stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            _ => return Ok(None),
        };
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse_head(buf: &[u8], https: bool) -> Result<Option<(Request, usize)>, u16> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(400),
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let raw_header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let header = |name: &str| raw_header(name).map(|v| v.to_ascii_lowercase());
    let accept_gzip = header("accept-encoding").is_some_and(|v| v.contains("gzip"));
    let connection = header("connection").unwrap_or_default();
    let keep_alive = if req.version == Some(0) {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    if header("content-length").is_some_and(|v| v.trim() != "0")
        || header("transfer-encoding").is_some()
    {
        return Err(400); // request bodies are never needed; refusing avoids desync
    }
    Ok(Some((
        Request {
            method: req.method.unwrap_or("").to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            accept_gzip,
            keep_alive,
            https,
            if_modified_since: raw_header("if-modified-since"),
        },
        used,
    )))
}
