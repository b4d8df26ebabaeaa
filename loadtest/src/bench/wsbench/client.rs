//! One client's task: connect ([`super::connect`], one of `connect_concurrency` permits),
//! then either hold the socket unread until the run stops (a slow client) or read until the
//! connection ends, decoding what arrives with [`super::reader`]. Everything it learns goes
//! into its [`ClientState`] and its worker's [`WorkerShared`].

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::connect::{connect, ClientStream, WsTarget};
use super::control::{Control, Phase};
use super::reader::{compact, process_buffer, Reader};
use super::state::{ClientState, End, WorkerShared};
use crate::bench::limits::CONNECT_TIMEOUT;
use crate::bench::sys::now_unix_us;
use crate::bench::ws;

/// What a client task needs: the run's control plane, where to connect, and the state it
/// shares with its worker.
pub(super) struct ClientCtx {
    pub(super) ctl: Arc<Control>,
    pub(super) target: WsTarget,
    pub(super) shared: Rc<RefCell<WorkerShared>>,
    pub(super) state: Rc<RefCell<ClientState>>,
    pub(super) read_buf: usize,
}

/// Connects, then holds or reads until the connection or the run ends; records how it ended.
pub(super) async fn client_task(c: ClientCtx) {
    let (connected, elapsed) = {
        let _permit = c.ctl.connect_permits.acquire().await;
        // Timed from the permit: the per-client figure excludes queueing behind other connects
        // (the run's `connect_all_ms` covers that).
        let t0 = Instant::now();
        let r = tokio::time::timeout(CONNECT_TIMEOUT, connect(&c.target)).await;
        (r, t0.elapsed())
    };
    let (stream, leftover) = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return connect_failed(&c, format!("connect: {e:#}")),
        Err(_) => {
            return connect_failed(&c, format!("connect: timed out after {CONNECT_TIMEOUT:?}"))
        }
    };
    let us = elapsed.as_micros() as u64;
    c.shared
        .borrow_mut()
        .connect_us
        .saturating_record(us.max(1));
    c.state.borrow_mut().connected = true;
    c.ctl.connected.fetch_add(1, Ordering::AcqRel);
    let slow = c.state.borrow().slow;
    let end = if slow {
        hold_slow(&c, stream).await
    } else {
        read_loop(&c, stream, leftover).await
    };
    if let Some(End::Error(e)) = &end {
        c.shared.borrow_mut().error(e.clone());
    }
    c.state.borrow_mut().ended = end;
}

/// Counts a client that never connected, so the controller stops waiting for it.
fn connect_failed(c: &ClientCtx, e: String) {
    c.shared.borrow_mut().error(e);
    c.ctl.failed.fetch_add(1, Ordering::AcqRel);
}

/// A slow client: holds the socket unread until Stop, then checks whether the server closed it.
async fn hold_slow(c: &ClientCtx, mut stream: ClientStream) -> Option<End> {
    let mut rx = c.ctl.phase_tx.subscribe();
    while *rx.borrow_and_update() != Phase::Stop {
        if rx.changed().await.is_err() {
            break;
        }
    }
    // Drain what is queued (bounded in bytes and time); EOF or reset means the server closed us.
    let mut buf = vec![0u8; 256 * 1024];
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut total = 0usize;
    while Instant::now() < deadline && total < 512 * 1024 * 1024 {
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(End::Eof),
            Ok(Ok(n)) => total += n,
            // Nothing queued and no EOF: the server kept this client.
            Err(_) => return None,
        }
    }
    None
}

/// Reads and decodes until the server closes, the connection fails, or the task is cancelled
/// at stop; control-frame replies are written after each decoded batch.
async fn read_loop(c: &ClientCtx, mut stream: ClientStream, leftover: Vec<u8>) -> Option<End> {
    let mut r = Reader::new(c.read_buf, &leftover);
    loop {
        let need = match decode_buffered(c, &mut r) {
            Ok(need) => need,
            Err(e) => return Some(End::Error(format!("protocol: {e}"))),
        };
        if !r.out.is_empty() {
            if let Err(e) = stream.write_all(&r.out).await {
                return Some(End::Error(format!("write: {e}")));
            }
            r.out.clear();
        }
        if r.closed {
            return Some(End::ServerClose);
        }
        compact(&mut r, need);
        match stream.read(&mut r.buf[r.filled..]).await {
            Ok(0) => return Some(End::Eof),
            Ok(n) => {
                r.filled += n;
                if c.ctl.measuring() {
                    c.shared.borrow_mut().bytes += n as u64;
                }
            }
            Err(e) => return Some(End::Error(format!("read: {e}"))),
        }
    }
}

/// Decodes what `r` holds, accounting messages to this client and its worker.
fn decode_buffered(c: &ClientCtx, r: &mut Reader) -> Result<usize, ws::WsError> {
    let now = now_unix_us();
    let measuring = c.ctl.measuring();
    let mut sh = c.shared.borrow_mut();
    let mut st = c.state.borrow_mut();
    process_buffer(r, now, measuring, &mut sh, &mut st)
}
