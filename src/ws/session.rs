//! One WebSocket client after the 101: a writer (the connection's own task) and a reader task.
//!
//! # Writer
//!
//! Holds a cursor into the hub. Each time it wakes it copies the pending control frames and
//! every hub entry from its cursor to the head (its stream's form; with a filter, only the
//! entries the hub matched for it, see `crate::filter`) into ONE reusable buffer,
//! bounded by `client_write_bytes_max`, and sends that buffer. Syscalls per client, not bytes,
//! are the cost of fan-out, so a burst of N frames costs one send per client instead of N.
//!
//! Over TLS the batch goes through rustls instead (one vectored write, see `tls.rs`), and the
//! resulting ciphertext buffer is sent the same way: one non-blocking send, then awaited sends
//! of the rest under the same lag policy.
//!
//! Lag policy, applied whenever a batch is built and, while a send is blocked on a full socket,
//! every `lag_check_interval`:
//! - backlog (`head - cursor`) over `client_queue_frames_max`: the oldest frames are skipped
//!   and counted (`client_queue_full`);
//! - over the bound continuously for `client_lagging_close_after`: the client is closed with
//!   1008 (if a send is stuck half-way, the TCP connection is simply dropped: a close frame
//!   cannot be spliced into a partly sent frame);
//! - cursor fell out of the history while a send was stuck: dropped (`history_overrun`). A
//!   writer that was only asleep when one producer burst outran the history skips instead;
//! - no byte accepted by the socket for `client_write_stall_timeout`: dropped.
//!
//! # Reader
//!
//! Feeds socket bytes to a sans-IO `tungstenite` `WebSocketContext` through [`MemIo`]. Client
//! messages are ignored; the pongs and close replies tungstenite produces are queued for the
//! writer. Protocol errors end the session with the matching close code (1002, 1007, 1009).
//! The reader never closes a client for silence.
//!
//! # Invariants worth naming
//!
//! - Only the writer writes to the socket, so frames are never interleaved; a close frame is
//!   always the last thing written.
//! - Queued control bytes stay under `CLIENT_CONTROL_BYTES_MAX` plus one read's worth of
//!   replies: past it the reader stops reading, pushing back on the client through TCP.
//! - Per-session memory is bounded: the write buffer (at most `client_write_bytes_max` plus one
//!   frame, shrunk back after bursts), tungstenite's buffer (one message at most
//!   `client_message_bytes_max`), and the control queue.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    io::{self, Read, Write},
    pin::Pin,
    rc::Rc,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Instant,
};

use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use tungstenite::{
    error::{Error as WsError, ProtocolError},
    protocol::{Role, WebSocketConfig, WebSocketContext},
};

use super::{
    conn::Conn,
    http_stream::{ChunkHead, Protocol},
    hub::WriterSignal,
    metrics::{CloseReason, DropReason},
    stream::SharedStream,
    tls::TlsStream,
    ServerContext,
};
use crate::{filter, frame, frame::StreamKind, limits, replay::token::Cursor};

mod replay;

use super::resume::Resume;
pub(crate) use super::resume::ResumeRequest;

/// Where a resuming client's cursor starts: at its token, or (a time, or `?resume` alone) with
/// nothing sent and nothing owed before that time (now for `?resume`).
fn starting_cursor(since: Option<&crate::replay::token::Since>) -> Cursor {
    use crate::replay::token::Since;
    match since {
        Some(Since::Token(cursor)) => cursor.clone(),
        Some(Since::Time(us)) => Cursor::starting_at(*us),
        None => Cursor::starting_at(now_us()),
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What a client subscribed to beyond its stream form: a filter (`?domain=…`, `?dedup=…`) or
/// a resume (`?resume`, `?since=`). The two are not combined (refused before the upgrade).
#[derive(Debug, Default)]
pub(crate) struct Subscription {
    pub(crate) filter: Option<Arc<filter::FilterSpec>>,
    pub(crate) resume: Option<ResumeRequest>,
}

/// Opcode of a close frame (RFC 6455 §5.5.1).
const OPCODE_CLOSE: u8 = 0x8;

/// Close codes the server sends (RFC 6455 §7.4.1).
const CLOSE_PROTOCOL_ERROR: u16 = 1002;
const CLOSE_INVALID_PAYLOAD: u16 = 1007;
const CLOSE_POLICY_VIOLATION: u16 = 1008;
const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;

/// Appends a close frame with `code` and a short `reason` to `out`.
fn push_close_frame(out: &mut Vec<u8>, code: u16, reason: &str) {
    // Control frame payloads are at most 125 bytes: 2 for the code, the rest for the reason.
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    frame::write_header(out, OPCODE_CLOSE, 2 + reason.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason);
}

/// State both tasks of one session share.
struct Session {
    ctx: Rc<ServerContext>,
    kind: StreamKind,
    /// Wakes the writer; registered with the hub while the writer sleeps.
    signal: Rc<WriterSignal>,
    /// Encoded control frames (pong, close) waiting for the writer.
    control: RefCell<Vec<u8>>,
    /// Set once by the reader when the session must end; the writer sends what is queued
    /// and stops.
    closing: Cell<Option<CloseReason>>,
    /// The reader, parked while the control queue is over its bound.
    reader_waker: RefCell<Option<Waker>>,
    /// The TLS layer, when the client connected over TLS.
    tls: Option<TlsStream>,
    /// What a resuming client (`?resume`, `?since=`) was sent, per log.
    resume: Option<Resume>,
    /// The client's filter (`?domain=…`, `?dedup=…`), registered with this core's hub.
    filter: Option<filter::Subscription>,
    /// How frames go on the wire: WebSocket, or SSE/NDJSON around the same payloads.
    protocol: Protocol,
    /// An SSE/NDJSON body was ended (the server going away): nothing more may be written.
    body_ended: Cell<bool>,
}

impl Session {
    /// Calls `f` with the next batch of frames from `cursor` (borrowed from the hub) and says
    /// how many hub entries it consumed. A resuming session picks entry by entry (skipping
    /// what its client has, stopping at a hole) and ends the batch with a cursor message when
    /// one is due.
    fn with_batch<R>(&self, cursor: u64, f: impl FnOnce(&[&[u8]]) -> R) -> (R, u64, u64) {
        let hub = &self.ctx.hub;
        let bytes_max = self.ctx.config.client_write_bytes_max;
        let count_max = self.protocol.frames_per_send_max();
        let mut sent = 0;
        let Some(resume) = &self.resume else {
            let filter = self.filter.as_ref();
            let (r, consumed) =
                hub.with_frames_since(self.kind, cursor, bytes_max, count_max, filter, |frames| {
                    sent = frames.len() as u64;
                    f(frames)
                });
            return (r, consumed, sent);
        };
        let pick = |frames: Option<&frame::Frames>| resume.pick(frames);
        // One frame less: the cursor frame may follow, and the send stays within IOV_MAX.
        let count_max = count_max.saturating_sub(1).max(1);
        let (r, consumed) =
            hub.with_picked_since(self.kind, cursor, bytes_max, count_max, pick, |frames| {
                sent = frames.len() as u64;
                match resume.cursor_frame_if_due(Instant::now()) {
                    Some(cursor_frame) => {
                        let mut with_cursor = frames.to_vec();
                        with_cursor.push(&cursor_frame);
                        f(&with_cursor)
                    }
                    None => f(frames),
                }
            });
        (r, consumed, sent)
    }

    /// The slices that carry `frames` in this session's protocol, after `control` (already
    /// on the wire's terms) when it holds anything. `head` holds an HTTP chunk header.
    fn wire_slices<'a>(
        &self,
        control: &'a [u8],
        frames: &[&'a [u8]],
        head: &'a mut ChunkHead,
    ) -> Vec<&'a [u8]> {
        let per_frame = match self.protocol {
            Protocol::WebSocket => 1,
            Protocol::Sse | Protocol::Ndjson => 3,
        };
        let mut slices: Vec<&[u8]> = Vec::with_capacity(per_frame * frames.len() + 4);
        if !control.is_empty() {
            slices.push(control);
        }
        if !self.body_ended.get() && self.protocol.frame_into(frames, head, &mut slices) {
            self.body_ended.set(true);
        }
        slices
    }

    fn has_work(&self, cursor: u64) -> bool {
        self.closing.get().is_some()
            || !self.control.borrow().is_empty()
            || self.ctx.hub.head_seq() > cursor
            || self.tls_records_queued()
            || self
                .resume
                .as_ref()
                .and_then(Resume::cursor_due_at)
                .is_some_and(|due| due <= Instant::now())
    }

    /// Whether rustls queued records of its own (a KeyUpdate reply) for the writer to send.
    fn tls_records_queued(&self) -> bool {
        self.tls.as_ref().is_some_and(TlsStream::wants_write)
    }

    /// Moves the queued control frames into `out` and lets a parked reader continue.
    fn take_control_into(&self, out: &mut Vec<u8>) {
        let mut control = self.control.borrow_mut();
        if control.is_empty() {
            return;
        }
        out.extend_from_slice(&control);
        control.clear();
        let reader = self.reader_waker.borrow_mut().take();
        if let Some(waker) = reader {
            waker.wake();
        }
    }

    fn queue_control(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.control.borrow_mut().extend_from_slice(bytes);
        self.signal.wake();
    }

    /// Ends the session from the reader side: `close` (if any) is the last frame written.
    fn finish(&self, reason: CloseReason, close: Option<(u16, &str)>) {
        let mut control = self.control.borrow_mut();
        match (reason, close) {
            // Nobody is left to read anything.
            (CloseReason::Disconnected | CloseReason::IoError, _) => control.clear(),
            (_, Some((code, text))) => push_close_frame(&mut control, code, text),
            _ => {}
        }
        drop(control);
        self.closing.set(Some(reason));
        self.signal.wake();
    }
}

/// Runs a session on `stream` until it ends; `leftover` is what the client sent after its
/// request head. Returns once the socket may be closed.
pub(crate) async fn run(
    stream: Conn,
    ctx: Rc<ServerContext>,
    (kind, protocol): (StreamKind, Protocol),
    subscription: Subscription,
    leftover: Vec<u8>,
) {
    ctx.metrics.session_opened(kind, protocol);
    let Subscription { filter, resume } = subscription;
    // Registered before the writer takes its cursor: every entry it will read was matched.
    let filter = filter.map(|spec| filter::subscribe(ctx.hub.filters(), spec));
    let since = resume.as_ref().and_then(|r| r.since.clone());
    let resume = resume.map(|_| Resume::new(starting_cursor(since.as_ref()), since.is_some()));
    let session = Rc::new(Session {
        ctx: Rc::clone(&ctx),
        kind,
        signal: Rc::new(WriterSignal::default()),
        control: RefCell::new(Vec::new()),
        closing: Cell::new(None),
        reader_waker: RefCell::new(None),
        tls: stream.tls().cloned(),
        resume,
        filter,
        protocol,
        body_ended: Cell::new(false),
    });
    let reader = match protocol {
        Protocol::WebSocket => {
            glommio::spawn_local(read_loop(Rc::clone(&session), stream.clone(), leftover))
        }
        Protocol::Sse | Protocol::Ndjson => {
            glommio::spawn_local(watch_for_close(Rc::clone(&session), stream.clone()))
        }
    };
    let mut writer = Writer::new(&session, stream.socket().clone(), since.is_some());
    let reason = match since {
        Some(_) => match writer.replay(replay::Start::Since).await {
            Ok(()) => writer.run().await,
            Err(reason) => reason,
        },
        None => writer.run().await,
    };
    reader.cancel().await;
    // The filter's slot is released with the session; a batched rebuild forgets its patterns.
    drop(session);
    filter::schedule_rebuild(ctx.hub.filters());
    ctx.metrics.session_closed(kind, protocol, reason);
    tracing::debug!(stream = ?kind, reason = reason.label(), "session ended");
    match reason {
        CloseReason::Disconnected | CloseReason::IoError => {}
        // The writer may have stopped inside a TLS record: no close_notify after it, a plain
        // half-close ends the connection.
        CloseReason::Lagging | CloseReason::HistoryOverrun | CloseReason::WriteStalled => {
            super::linger_close(Conn::Plain(stream.socket().clone())).await;
        }
        _ => super::linger_close(stream).await,
    }
}

// ---- writer -----------------------------------------------------------------------------

/// Resolves when the writer has something to do; otherwise registers for the next flush.
struct WaitForWork<'a> {
    session: &'a Session,
    cursor: u64,
}

impl Future for WaitForWork<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.session.has_work(self.cursor) {
            return Poll::Ready(());
        }
        self.session.signal.set_waker(cx.waker());
        self.session.ctx.hub.register(&self.session.signal);
        Poll::Pending
    }
}

struct Writer<'a> {
    session: &'a Session,
    stream: SharedStream,
    /// Sequence number of the next hub entry to send.
    cursor: u64,
    /// When the backlog was first seen over the queue bound in the current lagging streak.
    lagging_since: Option<Instant>,
    /// Control frames, and whatever the kernel did not take of a vectored send. Over TLS:
    /// plaintext control frames until sealed, then the ciphertext being sent.
    buf: Vec<u8>,
    /// Over TLS, the buffer the next batch is sealed into (swapped with `buf`).
    sealed: Vec<u8>,
    /// Replaying from the store: the live backlog is not lag (it is skipped, and refilled
    /// from the store by log index, when the replay ends).
    replaying: bool,
}

impl<'a> Writer<'a> {
    /// `replaying`: the client resumes from a position, and the live stream must be held from
    /// before it connected (see [`Hub::attach_at`](super::hub::Hub::attach_at)).
    fn new(session: &'a Session, stream: SharedStream, replaying: bool) -> Self {
        // New clients start at the head: they get what is published after they connect.
        let hub = &session.ctx.hub;
        let from = if replaying {
            hub.oldest_seq()
        } else {
            hub.head_seq()
        };
        hub.attach_at(&session.signal, from);
        let cursor = from.clamp(hub.oldest_seq(), hub.head_seq());
        Self {
            session,
            stream,
            cursor,
            lagging_since: None,
            buf: Vec::new(),
            sealed: Vec::new(),
            replaying: false,
        }
    }

    async fn run(mut self) -> CloseReason {
        loop {
            if let Err(reason) = self.fill_hole().await {
                return reason;
            }
            self.wait_for_work().await;
            if let Some(reason) = self.session.closing.get() {
                return self.send_last(reason).await;
            }
            self.buf.clear();
            self.session.take_control_into(&mut self.buf);
            if let Err(reason) = self.police(Instant::now(), false) {
                match self.session.protocol {
                    Protocol::WebSocket => {
                        push_close_frame(&mut self.buf, CLOSE_POLICY_VIOLATION, "client too slow");
                    }
                    http => http.push_too_slow(&mut self.buf),
                }
                let _ = self.send_control().await;
                return reason;
            }
            if let Err(reason) = self.send_pending().await {
                return reason;
            }
            self.shrink_buffer();
        }
    }

    /// Waits until there is something to send; a resuming session also wakes when a cursor
    /// message comes due.
    async fn wait_for_work(&self) {
        let wait = WaitForWork {
            session: self.session,
            cursor: self.cursor,
        };
        let due = self.session.resume.as_ref().and_then(Resume::cursor_due_at);
        match due {
            None => wait.await,
            Some(due) => {
                let until_due = due.saturating_duration_since(Instant::now());
                future::or(wait, glommio::timer::sleep(until_due)).await;
            }
        }
    }

    /// A resuming session that met a hole in the live stream fills it from the replay store
    /// (or reports it with a `gap` message) before it goes on.
    async fn fill_hole(&mut self) -> Result<(), CloseReason> {
        let Some(hole) = self.session.resume.as_ref().and_then(Resume::take_hole) else {
            return Ok(());
        };
        self.replay(replay::Start::Hole(hole)).await?;
        let resume = self
            .session
            .resume
            .as_ref()
            .expect("a hole means a resuming session");
        self.session.ctx.metrics.resume_hole();
        if let Some(gap) = resume.settle(hole) {
            self.session.ctx.metrics.resume_gap();
            self.session.queue_control(&gap);
        }
        Ok(())
    }

    /// Sends the pending control bytes (`buf`) and every hub frame from the cursor: first with
    /// one non-blocking vectored send straight from the shared frames (no copy, one syscall: the
    /// common case of a client that keeps up); whatever the kernel did not take is copied into
    /// `buf` and sent with the awaited (policed) path.
    async fn send_pending(&mut self) -> Result<(), CloseReason> {
        let session = self.session;
        if let Some(tls) = session.tls.as_ref() {
            return self.send_pending_tls(tls).await;
        }
        let Self {
            session,
            stream,
            buf,
            cursor,
            ..
        } = self;
        let (outcome, frames, sent) = session.with_batch(*cursor, |frames| {
            let mut head = ChunkHead::default();
            let slices = session.wire_slices(buf, frames, &mut head);
            try_send_all(stream, &slices)
        });
        *cursor += frames;
        session.ctx.metrics.frames_sent(sent);
        session.signal.set_cursor(*cursor);
        match outcome {
            Sent::All(n) => {
                if n > 0 {
                    session.ctx.metrics.wrote(n);
                }
                buf.clear();
                Ok(())
            }
            Sent::Partial(n, rest) => {
                if n > 0 {
                    session.ctx.metrics.wrote(n);
                }
                *buf = rest;
                self.send().await
            }
            Sent::Failed(reason) => Err(reason),
        }
    }

    /// The TLS form of [`Self::send_pending`]: the control bytes (`buf`) and every hub frame
    /// from the cursor go into rustls with one vectored write; the records come out in one
    /// buffer, sent with one non-blocking send; the rest goes with the awaited (policed) path.
    async fn send_pending_tls(&mut self, tls: &TlsStream) -> Result<(), CloseReason> {
        let Self {
            session,
            buf,
            sealed,
            cursor,
            ..
        } = self;
        sealed.clear();
        let (outcome, frames, sent) = session.with_batch(*cursor, |frames| {
            let mut head = ChunkHead::default();
            let parts = session.wire_slices(buf, frames, &mut head);
            tls.seal(&parts, sealed)
        });
        *cursor += frames;
        session.ctx.metrics.frames_sent(sent);
        session.signal.set_cursor(*cursor);
        // A connection rustls refuses to encrypt for is broken for good.
        outcome.map_err(|e| io_close_reason(&e))?;
        std::mem::swap(buf, sealed);
        self.send_sealed_fast().await
    }

    /// Sends the ciphertext in `buf`: one non-blocking send, then awaited sends of the rest.
    async fn send_sealed_fast(&mut self) -> Result<(), CloseReason> {
        if self.buf.is_empty() {
            return Ok(());
        }
        match self.stream.try_send_vectored(&[&self.buf]) {
            Ok(n) => {
                if n > 0 {
                    self.session.ctx.metrics.wrote(n);
                }
                self.buf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(io_close_reason(&e)),
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        self.send().await
    }

    /// Sends the control frames in `buf` (sealed first over TLS) with the awaited path.
    async fn send_control(&mut self) -> Result<(), CloseReason> {
        let session = self.session;
        if let Some(tls) = session.tls.as_ref() {
            self.sealed.clear();
            tls.seal(&[&self.buf], &mut self.sealed)
                .map_err(|e| io_close_reason(&e))?;
            std::mem::swap(&mut self.buf, &mut self.sealed);
        }
        self.send().await
    }

    /// Sends the control frames queued by the reader (ending with its close frame, if any).
    async fn send_last(&mut self, reason: CloseReason) -> CloseReason {
        self.buf.clear();
        self.session.take_control_into(&mut self.buf);
        if !self.buf.is_empty() {
            // Best effort: the session ends either way, with the reader's reason.
            let _ = self.send_control().await;
        }
        reason
    }

    /// Applies the lag policy at `now`: skips frames over the queue bound, and says when the
    /// client must be closed. `send_blocked`: called while a send waits on a full socket.
    fn police(&mut self, now: Instant, send_blocked: bool) -> Result<(), CloseReason> {
        let hub = &self.session.ctx.hub;
        let config = &self.session.ctx.config;
        let oldest = hub.oldest_seq();
        if self.cursor < oldest && send_blocked && !self.replaying {
            // Stuck on a full socket while a whole history went by. A writer that was merely
            // asleep when one producer burst overran the history only skips below: the burst
            // is the producer's doing, not the client's.
            return Err(CloseReason::HistoryOverrun);
        }
        let keep_from = hub
            .head_seq()
            .saturating_sub(config.client_queue_frames_max as u64)
            .max(oldest);
        if self.replaying {
            // Nothing of the live stream is lost to a replaying client: what it skips here it
            // reads from the store (the live stream then has a hole, which sends it there).
            self.cursor = self.cursor.max(keep_from);
            self.session.signal.set_cursor(self.cursor);
            return Ok(());
        }
        if self.cursor >= keep_from {
            self.lagging_since = None;
            return Ok(());
        }
        let skipped = keep_from - self.cursor;
        self.cursor = keep_from;
        self.session.signal.set_cursor(self.cursor);
        let metrics = &self.session.ctx.metrics;
        metrics.frames_dropped(DropReason::ClientQueueFull, skipped);
        let since = *self.lagging_since.get_or_insert(now);
        if now.duration_since(since) >= config.client_lagging_close_after {
            return Err(CloseReason::Lagging);
        }
        Ok(())
    }

    /// Writes the whole buffer. While the socket is full, wakes every `lag_check_interval` to
    /// apply the lag policy and the stall timeout, so a client that stopped reading is still
    /// skipped and closed on time.
    async fn send(&mut self) -> Result<(), CloseReason> {
        let config = &self.session.ctx.config;
        let metrics = &self.session.ctx.metrics;
        let mut written = 0;
        let mut last_progress = Instant::now();
        while written < self.buf.len() {
            let pending = &self.buf[written..];
            let stream = &mut self.stream;
            let step = future::or(async { Some(stream.write(pending).await) }, async {
                glommio::timer::sleep(config.lag_check_interval).await;
                None
            })
            .await;
            match step {
                Some(Ok(0)) => return Err(CloseReason::Disconnected),
                Some(Ok(n)) => {
                    metrics.wrote(n);
                    written += n;
                    last_progress = Instant::now();
                }
                Some(Err(err)) => return Err(io_close_reason(&err)),
                None => {
                    let now = Instant::now();
                    self.police(now, true)?;
                    if now.duration_since(last_progress) >= config.client_write_stall_timeout {
                        return Err(CloseReason::WriteStalled);
                    }
                }
            }
        }
        Ok(())
    }

    /// A burst may have grown the buffers to the write bound; give the memory back.
    fn shrink_buffer(&mut self) {
        for buf in [&mut self.buf, &mut self.sealed] {
            if buf.capacity() > limits::CLIENT_WRITE_BUFFER_RETAIN_BYTES {
                buf.clear();
                buf.shrink_to(limits::CLIENT_WRITE_BUFFER_RETAIN_BYTES);
            }
        }
    }
}

/// What one non-blocking vectored send achieved.
enum Sent {
    /// Everything (this many bytes).
    All(usize),
    /// This many bytes; the rest, copied, still to send.
    Partial(usize, Vec<u8>),
    Failed(CloseReason),
}

fn try_send_all(stream: &SharedStream, slices: &[&[u8]]) -> Sent {
    let total: usize = slices.iter().map(|s| s.len()).sum();
    if total == 0 {
        return Sent::All(0);
    }
    match stream.try_send_vectored(slices) {
        Ok(n) if n == total => Sent::All(n),
        Ok(n) => Sent::Partial(n, remainder(slices, n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Sent::Partial(0, remainder(slices, 0)),
        Err(e) => Sent::Failed(io_close_reason(&e)),
    }
}

/// The bytes of `slices` after the first `skip`, in one buffer.
fn remainder(slices: &[&[u8]], mut skip: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        slices
            .iter()
            .map(|s| s.len())
            .sum::<usize>()
            .saturating_sub(skip),
    );
    for s in slices {
        if skip >= s.len() {
            skip -= s.len();
            continue;
        }
        out.extend_from_slice(&s[skip..]);
        skip = 0;
    }
    out
}

fn io_close_reason(err: &io::Error) -> CloseReason {
    match err.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof => CloseReason::Disconnected,
        _ => CloseReason::IoError,
    }
}

// ---- reader -----------------------------------------------------------------------------

/// In-memory transport for the sans-IO `WebSocketContext`: reads drain `input` (then
/// `WouldBlock`, or EOF once the socket said so); writes collect replies in `output`.
#[derive(Debug, Default)]
struct MemIo {
    input: Vec<u8>,
    read_pos: usize,
    eof: bool,
    output: Vec<u8>,
}

impl MemIo {
    fn unread(&self) -> &[u8] {
        &self.input[self.read_pos..]
    }
}

impl Read for MemIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let unread = self.unread();
        if unread.is_empty() {
            return if self.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = unread.len().min(buf.len());
        buf[..n].copy_from_slice(&unread[..n]);
        self.read_pos += n;
        if self.read_pos == self.input.len() {
            self.input.clear();
            self.read_pos = 0;
        }
        Ok(n)
    }
}

impl Write for MemIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where the reader stands after feeding tungstenite everything it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadOutcome {
    /// Needs more bytes from the socket.
    NeedMore,
    /// The session ends, with an optional close frame (code, reason) to send last.
    End(CloseReason, Option<(u16, &'static str)>),
}

fn ws_config(message_bytes_max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(limits::CLIENT_READ_CHUNK_BYTES)
        .max_message_size(Some(message_bytes_max))
        .max_frame_size(Some(message_bytes_max))
}

/// Lets tungstenite consume all buffered input. Messages are ignored: clients have nothing to
/// say to us, and pings are answered by tungstenite itself (the pong lands in `io.output`).
fn drive(ws: &mut WebSocketContext, io: &mut MemIo) -> ReadOutcome {
    loop {
        match ws.read(io) {
            Ok(_message) => continue,
            Err(err) => return classify(err),
        }
    }
}

/// Maps a tungstenite read error to the session's fate.
fn classify(err: WsError) -> ReadOutcome {
    use ReadOutcome::{End, NeedMore};
    match err {
        WsError::Io(e) if e.kind() == io::ErrorKind::WouldBlock => NeedMore,
        // The close handshake completed: tungstenite already queued its reply.
        WsError::ConnectionClosed | WsError::AlreadyClosed => End(CloseReason::ClientClose, None),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            End(CloseReason::Disconnected, None)
        }
        WsError::Io(_) => End(CloseReason::IoError, None),
        WsError::Capacity(_) => End(
            CloseReason::MessageTooBig,
            Some((CLOSE_MESSAGE_TOO_BIG, "message too big")),
        ),
        WsError::Utf8(_) => End(
            CloseReason::InvalidUtf8,
            Some((CLOSE_INVALID_PAYLOAD, "invalid utf-8")),
        ),
        _ => End(
            CloseReason::ProtocolError,
            Some((CLOSE_PROTOCOL_ERROR, "protocol error")),
        ),
    }
}

/// Parks the reader while the control queue is over its bound.
struct ControlRoom<'a>(&'a Session);

impl Future for ControlRoom<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.control.borrow().len() <= limits::CLIENT_CONTROL_BYTES_MAX {
            return Poll::Ready(());
        }
        *self.0.reader_waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

async fn read_loop(session: Rc<Session>, mut stream: Conn, leftover: Vec<u8>) {
    let config = ws_config(session.ctx.config.client_message_bytes_max);
    let mut ws = WebSocketContext::from_partially_read(leftover, Role::Server, Some(config));
    let mut io = MemIo::default();
    loop {
        let outcome = drive(&mut ws, &mut io);
        session.queue_control(&io.output);
        io.output.clear();
        if let ReadOutcome::End(reason, close) = outcome {
            session.finish(reason, close);
            return;
        }
        ControlRoom(&session).await;
        // Read straight into MemIo's buffer. `drive` stops only once tungstenite drained it,
        // so `start` is 0 and the buffer stays one chunk long.
        io.input.drain(..io.read_pos);
        io.read_pos = 0;
        let start = io.input.len();
        io.input.resize(start + limits::CLIENT_READ_CHUNK_BYTES, 0);
        let read = stream.read(&mut io.input[start..]).await;
        io.input.truncate(start + *read.as_ref().unwrap_or(&0));
        if session.tls_records_queued() {
            session.signal.wake();
        }
        match read {
            Ok(0) => io.eof = true,
            Ok(_) => {}
            Err(err) => {
                session.finish(io_close_reason(&err), None);
                return;
            }
        }
    }
}

/// The reader of an SSE or NDJSON session: nothing a client sends after its request head
/// means anything, so its bytes are read and dropped (never buffered) until the client leaves.
async fn watch_for_close(session: Rc<Session>, mut stream: Conn) {
    let mut chunk = [0u8; 256];
    loop {
        let read = stream.read(&mut chunk).await;
        if session.tls_records_queued() {
            session.signal.wake();
        }
        match read {
            Ok(0) => return session.finish(CloseReason::Disconnected, None),
            Ok(_) => {}
            Err(err) => return session.finish(io_close_reason(&err), None),
        }
    }
}

/// How a replayed client byte stream left the reader (see [`replay_client_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replay {
    /// Why the session ended and the close frame (code, reason) the writer would send last;
    /// `None` when it still wanted bytes after EOF (which would make `read_loop` spin).
    pub(crate) end: Option<(CloseReason, Option<(u16, &'static str)>)>,
    /// Every control frame (pong, close reply) tungstenite queued for the writer.
    pub(crate) control: Vec<u8>,
}

/// The reader without its socket, for the fuzz targets: `leftover` is what arrived with the
/// request head, `reads` what each later socket read returned (an empty one is EOF), then
/// EOF. Same `WebSocketContext` setup, [`MemIo`], [`drive`] and error mapping as `read_loop`;
/// only the back-pressure wait (which changes no byte) is left out.
pub(crate) fn replay_client_bytes<'a>(
    message_bytes_max: usize,
    leftover: Vec<u8>,
    reads: impl IntoIterator<Item = &'a [u8]>,
) -> Replay {
    let config = ws_config(message_bytes_max);
    let mut ws = WebSocketContext::from_partially_read(leftover, Role::Server, Some(config));
    let mut io = MemIo::default();
    let mut control = Vec::new();
    let mut reads = reads.into_iter();
    loop {
        let outcome = drive(&mut ws, &mut io);
        control.append(&mut io.output);
        if let ReadOutcome::End(reason, close) = outcome {
            return Replay {
                end: Some((reason, close)),
                control,
            };
        }
        if io.eof {
            return Replay { end: None, control };
        }
        io.input.drain(..io.read_pos);
        io.read_pos = 0;
        // As on the socket, an empty read is EOF.
        match reads.next() {
            Some(bytes) if !bytes.is_empty() => io.input.extend_from_slice(bytes),
            _ => io.eof = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ws::tests::client_frame;

    fn feed(bytes: &[u8]) -> (ReadOutcome, Vec<u8>) {
        let mut ws = WebSocketContext::new(Role::Server, Some(ws_config(64 * 1024)));
        let mut io = MemIo {
            input: bytes.to_vec(),
            ..MemIo::default()
        };
        let outcome = drive(&mut ws, &mut io);
        (outcome, io.output)
    }

    #[test]
    fn ping_is_answered_with_a_pong_carrying_its_payload() {
        let (outcome, out) = feed(&client_frame(0x9, true, b"abc"));
        assert_eq!(outcome, ReadOutcome::NeedMore);
        assert_eq!(out, [0x8a, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn close_is_answered_and_ends_the_session() {
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        let (outcome, out) = feed(&client_frame(0x8, true, &close));
        assert_eq!(outcome, ReadOutcome::End(CloseReason::ClientClose, None));
        assert_eq!(&out[..4], &[0x88, 5, 0x03, 0xe8]);
    }

    #[test]
    fn protocol_violations_map_to_their_close_codes() {
        let mut unmasked = vec![0x81, 2];
        unmasked.extend_from_slice(b"hi");
        assert!(matches!(
            feed(&unmasked).0,
            ReadOutcome::End(CloseReason::ProtocolError, Some((1002, _)))
        ));
        let big = client_frame(0x2, true, &vec![0u8; 64 * 1024 + 1]);
        assert!(matches!(
            feed(&big).0,
            ReadOutcome::End(CloseReason::MessageTooBig, Some((1009, _)))
        ));
        let bad_utf8 = client_frame(0x1, true, &[0xff, 0xfe]);
        assert!(matches!(
            feed(&bad_utf8).0,
            ReadOutcome::End(CloseReason::InvalidUtf8, Some((1007, _)))
        ));
        // Two fragments of 40 KiB: each frame is fine, the message is over the bound.
        let mut frags = client_frame(0x2, false, &vec![1u8; 40 * 1024]);
        frags.extend(client_frame(0x0, true, &vec![1u8; 40 * 1024]));
        assert!(matches!(
            feed(&frags).0,
            ReadOutcome::End(CloseReason::MessageTooBig, _)
        ));
    }

    #[test]
    fn fragmented_and_binary_messages_are_accepted_and_ignored() {
        let mut bytes = client_frame(0x1, false, b"hel");
        bytes.extend(client_frame(0x9, true, b"p")); // a ping between fragments is legal
        bytes.extend(client_frame(0x0, true, b"lo"));
        bytes.extend(client_frame(0x2, true, &[0, 1, 2]));
        let (outcome, out) = feed(&bytes);
        assert_eq!(outcome, ReadOutcome::NeedMore);
        assert_eq!(out, [0x8a, 1, b'p']);
    }

    #[test]
    fn eof_without_close_is_a_disconnect() {
        let mut ws = WebSocketContext::new(Role::Server, Some(ws_config(1024)));
        let mut io = MemIo {
            eof: true,
            ..MemIo::default()
        };
        assert_eq!(
            drive(&mut ws, &mut io),
            ReadOutcome::End(CloseReason::Disconnected, None)
        );
    }

    #[test]
    fn close_frame_encoding_is_bounded() {
        let mut out = Vec::new();
        push_close_frame(&mut out, 1008, &"x".repeat(300));
        assert_eq!(out[0], 0x88);
        assert_eq!(usize::from(out[1]), 125);
        assert_eq!(out.len(), 127);
    }
}
