//! raw-fanout: the machine's baseline for the fan-out work, with no server logic.
//!
//! It accepts WebSocket clients (server side of the handshake), makes realistic ~1.5 KB lite
//! `certificate_update` frames (real `seen`, increasing `cert_index` per source URL) and sends
//! every frame to every client. Like a good server it serializes each frame once and, per
//! client, coalesces every pending frame into one vectored write.
//!
//! # Layout
//!
//! - An acceptor thread hands accepted sockets round-robin to `threads` worker threads.
//! - Each worker runs a current-thread tokio runtime with a [`Hub`]: a bounded queue of
//!   immutable batches (`Rc<Batch>`, each a run of complete frames) with sequence numbers, a
//!   generator task that appends batches, and one task per client that keeps a cursor into the
//!   queue and writes everything between its cursor and the head with one `writev`.
//! - Fixed rate (`rate = Some(R)`): every [`FANOUT_TICK`] the generator appends the frames due
//!   (R per second per stream). As fast as possible (`rate = None`): it appends a batch of
//!   [`FANOUT_BATCH_FRAMES`] whenever every reading client is within
//!   [`FANOUT_AHEAD_BATCHES`] of the head, so the sender runs at its slowest reader's pace.
//!
//! # Invariants
//!
//! - Memory is bounded: at most [`FANOUT_HISTORY_BATCHES`] batches are kept; a client that
//!   falls further behind skips to the oldest kept batch and the skipped frames are counted as
//!   dropped (never silently).
//! - All clients of one worker see the same frames in the same order; each worker has its own
//!   generator, so the per-URL index sequences are contiguous for every client.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{IoSlice, Write as _};
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use super::limits::{
    FANOUT_AHEAD_BATCHES, FANOUT_BATCH_FRAMES, FANOUT_HISTORY_BATCHES, FANOUT_IOV_MAX,
    FANOUT_STALLED_AFTER, FANOUT_TICK, FANOUT_TICK_FRAMES_MAX, HANDSHAKE_HEAD_BYTES_MAX,
    HEARTBEAT_INTERVAL, RUN_DURATION_MAX,
};
use super::sys::{now_unix_us, process_cpu};
use super::ws;

/// What to send.
#[derive(Debug, Clone)]
pub struct FanoutConfig {
    /// Messages per second in the stream (every client gets all of them); `None` = as fast as
    /// the slowest reading client takes them.
    pub rate: Option<u64>,
    /// Worker threads.
    pub threads: usize,
    /// How long to serve.
    pub duration: Duration,
    /// Distinct `source.url` values (logs) the frames rotate over.
    pub logs: usize,
    /// Interval of the fixed-rate generator: every tick it appends the frames due. 1 ms makes
    /// a smooth stream; the steady-500 shape (a log's new entries arrive together when its
    /// tree head moves, ~once a second per log) is `1 s / logs`, bursts of `R / logs` frames.
    pub tick: Duration,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            rate: None,
            threads: 2,
            duration: Duration::from_secs(60),
            logs: 16,
            tick: FANOUT_TICK,
        }
    }
}

/// Sender-side figures (the delivered rate is measured by the clients).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FanoutReport {
    /// Clients that completed the handshake.
    pub clients: usize,
    /// Certificate frames generated (summed over workers).
    pub frames_generated: u64,
    /// Certificate frames fully written to clients (summed over clients).
    pub frames_written: u64,
    /// Bytes written to clients.
    pub bytes_written: u64,
    /// Frames skipped for clients that fell behind the kept history.
    pub frames_dropped: u64,
    /// Serving time, s.
    pub duration_s: f64,
    /// `frames_written / duration_s`.
    pub written_msgs_per_s: f64,
    /// Process CPU over the run, percent of one core.
    pub cpu_pct: f64,
    /// Clients that went away before the end.
    pub clients_closed: usize,
    /// Failed handshakes.
    pub errors: u64,
}

/// Serves `listener` until `cfg.duration` passes or `stop` is set.
pub fn serve(
    cfg: &FanoutConfig,
    listener: TcpListener,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<FanoutReport> {
    if cfg.threads == 0 || cfg.threads > 64 {
        bail!("threads must be 1..=64");
    }
    if cfg.logs == 0 || cfg.logs > 4096 {
        bail!("logs must be 1..=4096");
    }
    if cfg.duration > RUN_DURATION_MAX {
        bail!("duration is over {RUN_DURATION_MAX:?}");
    }
    listener
        .set_nonblocking(true)
        .context("listener non-blocking")?;
    let deadline = Instant::now() + cfg.duration;
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for w in 0..cfg.threads {
        let (tx, rx) = mpsc::unbounded_channel::<std::net::TcpStream>();
        senders.push(tx);
        let (cfg, stop) = (cfg.clone(), stop.clone());
        let h = std::thread::Builder::new()
            .name(format!("fanout-{w}"))
            .spawn(move || worker_main(cfg, rx, deadline, stop))
            .context("spawning a fanout worker")?;
        handles.push(h);
    }
    let mut next = 0usize;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((s, _)) => {
                // A send fails only if that worker already ended; the socket is then dropped.
                let _ = senders[next % senders.len()].send(s);
                next += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    stop.store(true, Ordering::Relaxed);
    drop(senders);
    let mut rep = FanoutReport::default();
    for h in handles {
        let s = h
            .join()
            .map_err(|_| anyhow::anyhow!("a fanout worker panicked"))?;
        rep.clients += s.clients;
        rep.frames_generated += s.frames_generated;
        rep.frames_written += s.frames_written;
        rep.bytes_written += s.bytes_written;
        rep.frames_dropped += s.frames_dropped;
        rep.clients_closed += s.clients_closed;
        rep.errors += s.errors;
    }
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    rep.duration_s = secs;
    rep.written_msgs_per_s = rep.frames_written as f64 / secs;
    rep.cpu_pct = process_cpu().saturating_sub(cpu0).as_secs_f64() / secs * 100.0;
    Ok(rep)
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    clients: usize,
    frames_generated: u64,
    frames_written: u64,
    bytes_written: u64,
    frames_dropped: u64,
    clients_closed: usize,
    errors: u64,
}

/// A run of complete frames, shared by every client of a worker.
struct Batch {
    bytes: Vec<u8>,
    frames: u64,
    /// Number of the first frame, counting every certificate frame this worker made.
    first_frame: u64,
}

struct Cursor {
    seq: Cell<u64>,
    /// Number of the first frame of batch `seq` (what a skip-ahead must account for).
    next_frame: Cell<u64>,
    last_progress: Cell<Instant>,
}

struct Hub {
    batches: RefCell<VecDeque<Rc<Batch>>>,
    /// Sequence number of `batches[0]`.
    base: Cell<u64>,
    /// Sequence number the next batch will get.
    head: Cell<u64>,
    /// Certificate frames made so far (the next batch's `first_frame`).
    frames_made: Cell<u64>,
    new_batch: Notify,
    progress: Notify,
    cursors: RefCell<Vec<Rc<Cursor>>>,
    stats: RefCell<Stats>,
}

impl Hub {
    fn new() -> Self {
        Hub {
            batches: RefCell::new(VecDeque::new()),
            base: Cell::new(0),
            head: Cell::new(0),
            frames_made: Cell::new(0),
            new_batch: Notify::new(),
            progress: Notify::new(),
            cursors: RefCell::new(Vec::new()),
            stats: RefCell::new(Stats::default()),
        }
    }

    fn push(&self, mut b: Batch) {
        b.first_frame = self.frames_made.get();
        self.frames_made.set(b.first_frame + b.frames);
        self.stats.borrow_mut().frames_generated += b.frames;
        self.batches.borrow_mut().push_back(Rc::new(b));
        self.head.set(self.head.get() + 1);
        self.trim();
        self.new_batch.notify_waiters();
    }

    /// Drops batches every client has written, and the oldest beyond the history bound.
    fn trim(&self) {
        let min_seq = self
            .cursors
            .borrow()
            .iter()
            .map(|c| c.seq.get())
            .min()
            .unwrap_or(self.head.get());
        let mut batches = self.batches.borrow_mut();
        while !batches.is_empty()
            && (self.base.get() < min_seq || batches.len() > FANOUT_HISTORY_BATCHES)
        {
            batches.pop_front();
            self.base.set(self.base.get() + 1);
        }
    }

    /// True when the fast generator may add a batch: it has clients and each one is close to
    /// the head or has stalled.
    fn gate_open(&self) -> bool {
        let cursors = self.cursors.borrow();
        if cursors.is_empty() {
            return false;
        }
        let head = self.head.get();
        let now = Instant::now();
        cursors.iter().all(|c| {
            head - c.seq.get() <= FANOUT_AHEAD_BATCHES
                || now.duration_since(c.last_progress.get()) > FANOUT_STALLED_AFTER
        })
    }
}

fn worker_main(
    cfg: FanoutConfig,
    mut rx: mpsc::UnboundedReceiver<std::net::TcpStream>,
    deadline: Instant,
    stop: Arc<AtomicBool>,
) -> Stats {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Stats {
            errors: 1,
            ..Default::default()
        };
    };
    let hub = Rc::new(Hub::new());
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        tokio::task::spawn_local(generator(hub.clone(), cfg.clone()));
        let deadline = tokio::time::Instant::from_std(deadline);
        loop {
            tokio::select! {
                s = rx.recv() => match s {
                    Some(s) => { tokio::task::spawn_local(client(hub.clone(), s)); }
                    None => break,
                },
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    if stop.load(Ordering::Relaxed) { break; }
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
    });
    drop(local);
    let s = *hub.stats.borrow();
    s
}

async fn generator(hub: Rc<Hub>, cfg: FanoutConfig) {
    let mut gen = FrameGen::new(cfg.logs);
    let mut last_heartbeat = Instant::now();
    let mut heartbeat = |out: &mut Vec<u8>| {
        if last_heartbeat.elapsed() >= HEARTBEAT_INTERVAL {
            last_heartbeat = Instant::now();
            ws::encode_server_frame(out, ws::OP_TEXT, &heartbeat_json());
        }
    };
    match cfg.rate {
        Some(rate) => {
            let t0 = Instant::now();
            let mut produced = 0u64;
            let mut tick = tokio::time::interval(cfg.tick);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let due = (t0.elapsed().as_secs_f64() * rate as f64) as u64;
                let n = due
                    .saturating_sub(produced)
                    .min(FANOUT_TICK_FRAMES_MAX as u64);
                // Frames beyond the per-tick cap are not owed later: the rate is then unreachable.
                produced = due;
                if n > 0 {
                    let mut b = gen.batch(n as usize);
                    heartbeat(&mut b.bytes);
                    hub.push(b);
                }
            }
        }
        None => loop {
            loop {
                let progressed = hub.progress.notified();
                if hub.gate_open() {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(20), progressed).await;
            }
            let mut b = gen.batch(FANOUT_BATCH_FRAMES);
            heartbeat(&mut b.bytes);
            hub.push(b);
            // Let client tasks run between batches (the gate may stay open for a few batches).
            tokio::task::yield_now().await;
        },
    }
}

fn heartbeat_json() -> Vec<u8> {
    let us = now_unix_us();
    format!(
        "{{\"message_type\":\"heartbeat\",\"timestamp\":{}.{:06}}}",
        us / 1_000_000,
        us % 1_000_000
    )
    .into_bytes()
}

async fn handshake(s: &mut TcpStream) -> anyhow::Result<()> {
    let mut buf = vec![0u8; HANDSHAKE_HEAD_BYTES_MAX];
    let mut filled = 0;
    let req = loop {
        if filled == buf.len() {
            bail!("request head over {HANDSHAKE_HEAD_BYTES_MAX} bytes");
        }
        let n = s.read(&mut buf[filled..]).await?;
        if n == 0 {
            bail!("client closed during the handshake");
        }
        filled += n;
        if let Some(req) = ws::parse_request(&buf[..filled])? {
            break req;
        }
    };
    let mut out = ws::server_response(&req.key).into_bytes();
    // Like real servers: a heartbeat right after the upgrade.
    ws::encode_server_frame(&mut out, ws::OP_TEXT, &heartbeat_json());
    s.write_all(&out).await?;
    Ok(())
}

async fn client(hub: Rc<Hub>, s: std::net::TcpStream) {
    let setup = async {
        s.set_nonblocking(true)?;
        s.set_nodelay(true)?;
        let mut s = TcpStream::from_std(s)?;
        tokio::time::timeout(Duration::from_secs(10), handshake(&mut s)).await??;
        anyhow::Ok(s)
    };
    let mut stream = match setup.await {
        Ok(s) => s,
        Err(_) => {
            hub.stats.borrow_mut().errors += 1;
            return;
        }
    };
    let cursor = Rc::new(Cursor {
        seq: Cell::new(hub.head.get()),
        next_frame: Cell::new(hub.frames_made.get()),
        last_progress: Cell::new(Instant::now()),
    });
    hub.cursors.borrow_mut().push(cursor.clone());
    hub.stats.borrow_mut().clients += 1;
    // The loop only ends when the client goes away (write error); that is normal at the end
    // of a run, so it is counted apart from handshake errors.
    let _ = send_loop(&hub, &cursor, &mut stream).await;
    hub.stats.borrow_mut().clients_closed += 1;
    hub.cursors.borrow_mut().retain(|c| !Rc::ptr_eq(c, &cursor));
    hub.progress.notify_one();
}

/// Writes everything between the cursor and the head, one `writev` per wake-up.
async fn send_loop(hub: &Hub, cursor: &Cursor, stream: &mut TcpStream) -> std::io::Result<()> {
    let mut offset = 0usize; // bytes of the cursor's batch already written
    let mut pending: Vec<Rc<Batch>> = Vec::with_capacity(FANOUT_IOV_MAX);
    loop {
        let arrived = hub.new_batch.notified();
        if cursor.seq.get() == hub.head.get() {
            cursor.last_progress.set(Instant::now());
            arrived.await;
            continue;
        }
        skip_dropped(hub, cursor, &mut offset);
        pending.clear();
        {
            let batches = hub.batches.borrow();
            let from = (cursor.seq.get() - hub.base.get()) as usize;
            pending.extend(batches.iter().skip(from).take(FANOUT_IOV_MAX).cloned());
        }
        let n = {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(pending.len());
            for (i, b) in pending.iter().enumerate() {
                slices.push(IoSlice::new(if i == 0 {
                    &b.bytes[offset..]
                } else {
                    &b.bytes
                }));
            }
            stream.write_vectored(&slices).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        advance(hub, cursor, &pending, &mut offset, n);
    }
}

/// A client behind the kept history jumps to the oldest kept batch; count what it missed.
fn skip_dropped(hub: &Hub, cursor: &Cursor, offset: &mut usize) {
    let base = hub.base.get();
    if cursor.seq.get() >= base {
        return;
    }
    let oldest = hub.batches.borrow().front().map(|b| b.first_frame);
    let resume_at = oldest.unwrap_or_else(|| hub.frames_made.get());
    hub.stats.borrow_mut().frames_dropped += resume_at.saturating_sub(cursor.next_frame.get());
    cursor.seq.set(base);
    cursor.next_frame.set(resume_at);
    *offset = 0;
}

fn advance(hub: &Hub, cursor: &Cursor, pending: &[Rc<Batch>], offset: &mut usize, mut n: usize) {
    let mut stats = hub.stats.borrow_mut();
    stats.bytes_written += n as u64;
    for b in pending {
        let left = b.bytes.len() - *offset;
        if n >= left {
            n -= left;
            *offset = 0;
            cursor.seq.set(cursor.seq.get() + 1);
            cursor.next_frame.set(b.first_frame + b.frames);
            stats.frames_written += b.frames;
        } else {
            *offset += n;
            break;
        }
    }
    cursor.last_progress.set(Instant::now());
    drop(stats);
    hub.progress.notify_one();
}

/// Makes certstream-like lite frames.
pub struct FrameGen {
    logs: Vec<String>,
    next_index: Vec<u64>,
    rr: usize,
    payload: Vec<u8>,
}

impl FrameGen {
    /// A generator rotating over `logs` source URLs.
    pub fn new(logs: usize) -> Self {
        FrameGen {
            logs: (0..logs)
                .map(|i| format!("http://127.0.0.1/raw-fanout/log{i:02}/"))
                .collect(),
            next_index: vec![0; logs],
            rr: 0,
            payload: Vec::with_capacity(2048),
        }
    }

    fn batch(&mut self, frames: usize) -> Batch {
        let seen = now_unix_us();
        let mut bytes = Vec::with_capacity(frames * 1600);
        for _ in 0..frames {
            self.push_frame(&mut bytes, seen);
        }
        Batch {
            bytes,
            frames: frames as u64,
            first_frame: 0,
        }
    }

    /// Appends one complete text frame.
    pub fn push_frame(&mut self, out: &mut Vec<u8>, seen_us: u64) {
        let log = self.rr % self.logs.len();
        self.rr = self.rr.wrapping_add(1);
        let idx = self.next_index[log];
        self.next_index[log] += 1;
        self.payload.clear();
        lite_json(&mut self.payload, &self.logs[log], log, idx, seen_us);
        ws::encode_server_frame(out, ws::OP_TEXT, &self.payload);
    }
}

/// A realistic lite message (~1.5 KB, the size of a typical Let's Encrypt leaf).
fn lite_json(out: &mut Vec<u8>, url: &str, log: usize, idx: u64, seen_us: u64) {
    let host = format!("host-{idx}.log{log}.example.test");
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        concat!(
            r#"{{"message_type":"certificate_update","data":{{"update_type":"X509LogEntry","leaf_cert":{{"#,
            r#""subject":{{"aggregated":"/CN={host}","C":null,"ST":null,"L":null,"O":null,"OU":null,"CN":"{host}","emailAddress":null}},"#,
            r#""issuer":{{"aggregated":"/C=US/O=Let's Encrypt/CN=R11","C":"US","ST":null,"L":null,"O":"Let's Encrypt","OU":null,"CN":"R11","emailAddress":null}},"#,
            r#""extensions":{{"keyUsage":"Digital Signature, Key Encipherment","extendedKeyUsage":"TLS Web Server Authentication","#,
            r#""basicConstraints":"CA:FALSE","subjectKeyIdentifier":"3F:1A:9C:27:55:0B:E4:8D:61:C2:7A:90:0E:3B:44:D8:A1:5F:72:C6","#,
            r#""authorityKeyIdentifier":"keyid:C5:CF:46:A4:EA:F4:C3:C0:7A:6C:95:C4:2D:B0:5E:92:2F:26:E3:B9","#,
            r#""authorityInfoAccess":"CA Issuers - URI:http://r11.i.lencr.org/\n","#,
            r#""subjectAltName":"DNS:{host}, DNS:www.{host}","certificatePolicies":"Policy: 2.23.140.1.2.1\n"}},"#,
            r#""not_before":1732233600,"not_after":1740009599,"serial_number":"04A1B2C3D4E5F60718293A4B5C6D7E8F9012","#,
            r#""fingerprint":"84:E0:18:01:52:93:08:E0:BC:1C:DA:C8:B4:48:64:76:8A:61:56:32","#,
            r#""sha1":"84:E0:18:01:52:93:08:E0:BC:1C:DA:C8:B4:48:64:76:8A:61:56:32","#,
            r#""sha256":"F0:E2:02:3B:9A:11:5C:7E:2D:88:41:06:B3:C9:7F:10:6A:5D:E8:24:91:3C:0B:F7:D6:52:AE:18:65:C3:40:DE","#,
            r#""signature_algorithm":"sha256, rsa","is_ca":false,"all_domains":["{host}","www.{host}"]}},"#,
            r#""cert_index":{idx},"cert_link":"{url}ct/v1/get-entries?start={idx}&end={idx}","#,
            r#""seen":{secs}.{micros:06},"source":{{"url":"{url}","name":"raw-fanout log {log}"}}}}}}"#
        ),
        host = host,
        idx = idx,
        url = url,
        log = log,
        secs = seen_us / 1_000_000,
        micros = seen_us % 1_000_000,
    );
}

/// Binds `127.0.0.1:port` (0 = any free port).
pub fn bind_loopback(port: u16) -> anyhow::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("binding 127.0.0.1:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scan::{classify, Kind};

    fn batch_of(frames: u64) -> Batch {
        Batch {
            bytes: vec![0; 10],
            frames,
            first_frame: 0,
        }
    }

    #[test]
    fn lagging_client_skips_ahead_and_counts_exact_drops() {
        let hub = Hub::new();
        let c = Rc::new(Cursor {
            seq: Cell::new(0),
            next_frame: Cell::new(0),
            last_progress: Cell::new(Instant::now()),
        });
        hub.cursors.borrow_mut().push(c.clone());
        for _ in 0..FANOUT_HISTORY_BATCHES + 3 {
            hub.push(batch_of(2));
        }
        assert_eq!(hub.batches.borrow().len(), FANOUT_HISTORY_BATCHES);
        assert_eq!(hub.base.get(), 3);
        let mut offset = 5;
        skip_dropped(&hub, &c, &mut offset);
        assert_eq!(hub.stats.borrow().frames_dropped, 6);
        assert_eq!((c.seq.get(), c.next_frame.get(), offset), (3, 6, 0));
        // Writing one whole batch advances the cursor and its frame number.
        let pending = vec![hub.batches.borrow()[0].clone()];
        advance(&hub, &c, &pending, &mut offset, 10);
        assert_eq!((c.seq.get(), c.next_frame.get()), (4, 8));
        assert_eq!(hub.stats.borrow().frames_written, 2);
    }

    #[test]
    fn fast_gate_waits_for_readers_but_not_stalled_ones() {
        let hub = Hub::new();
        assert!(!hub.gate_open(), "no clients, no batches");
        let c = Rc::new(Cursor {
            seq: Cell::new(0),
            next_frame: Cell::new(0),
            last_progress: Cell::new(Instant::now()),
        });
        hub.cursors.borrow_mut().push(c.clone());
        for _ in 0..=FANOUT_AHEAD_BATCHES {
            assert!(hub.gate_open());
            hub.push(batch_of(1));
        }
        assert!(!hub.gate_open(), "the reader is too far behind");
        c.last_progress
            .set(Instant::now() - FANOUT_STALLED_AFTER - Duration::from_millis(1));
        assert!(
            hub.gate_open(),
            "a stalled reader no longer paces the sender"
        );
    }

    #[test]
    fn frames_are_realistic_and_scannable() {
        let mut g = FrameGen::new(3);
        let mut out = Vec::new();
        for _ in 0..7 {
            g.push_frame(&mut out, 1_732_233_600_123_456);
        }
        let mut pos = 0;
        let mut seen = Vec::new();
        while pos < out.len() {
            let h = ws::parse_head(&out[pos..], 1 << 20).unwrap().unwrap();
            let payload = &out[pos + h.header_len..pos + h.total_len()];
            assert!(
                (1300..1800).contains(&payload.len()),
                "payload is {} bytes",
                payload.len()
            );
            let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
            let Kind::Cert(f) = classify(payload) else {
                panic!("not a cert")
            };
            assert_eq!(f.seen_us, 1_732_233_600_123_456);
            assert_eq!(v["data"]["cert_index"].as_u64(), Some(f.cert_index));
            assert_eq!(
                v["data"]["source"]["url"].as_str().unwrap().as_bytes(),
                f.url
            );
            seen.push((String::from_utf8(f.url.to_vec()).unwrap(), f.cert_index));
            pos += h.total_len();
        }
        // Round-robin over logs, indexes increasing per log.
        assert_eq!(seen[0].1, 0);
        assert_eq!(seen[3], (seen[0].0.clone(), 1));
        assert_eq!(seen[6], (seen[0].0.clone(), 2));
        assert_ne!(seen[0].0, seen[1].0);
    }
}
