//! Process supervision: every child bench-run starts (the simulator, the server under test,
//! raw-fanout, ingest-bench) is started here, with its stderr and stdout in log files of the
//! results directory, and is wrapped in a [`ChildGuard`] that kills and reaps it on drop. Each
//! is spawned with `PR_SET_PDEATHSIG` so it dies with bench-run even on a crash. Every wait
//! for a child is bounded by [`CHILD_READY_TIMEOUT`].

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::commands::{
    parse_fanout_ready, parse_sim_ready, raw_fanout_args, server_command, sim_args, SimReady,
};
use super::plan::{BenchPlan, FanoutShape, ServerSpec, TlsFiles};
use crate::bench::limits::{CHILD_READY_TIMEOUT, READY_LINE_BYTES_MAX};

/// Kills and reaps its child on drop.
pub struct ChildGuard {
    name: String,
    child: Child,
}

impl ChildGuard {
    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Error when the child has exited.
    pub(super) fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(Some(st)) => bail!("{} exited early with {st}", self.name),
            Ok(None) => Ok(()),
            Err(e) => bail!("{}: {e}", self.name),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `program args…` with stderr to `log`, dying with us.
fn spawn(name: &str, mut cmd: Command, log: &Path, stdout: Stdio) -> anyhow::Result<ChildGuard> {
    let err = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    cmd.stdin(Stdio::null()).stdout(stdout).stderr(err);
    // SAFETY: prctl is async-signal-safe and touches only this (child) process.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
    Ok(ChildGuard {
        name: name.to_string(),
        child,
    })
}

/// Reads the child's first stdout line (bounded in bytes and time), then keeps draining
/// stdout into `log` so the child never blocks on a full pipe.
fn ready_line(g: &mut ChildGuard, log: PathBuf) -> anyhow::Result<String> {
    let out = g.child.stdout.take().context("child stdout not piped")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        let mut line = String::new();
        let got = (&mut r)
            .take(READY_LINE_BYTES_MAX as u64)
            .read_line(&mut line);
        let _ = tx.send(got.map(|_| line));
        if let Ok(mut f) = std::fs::File::create(log) {
            let _ = std::io::copy(&mut r, &mut f);
        }
    });
    match rx.recv_timeout(CHILD_READY_TIMEOUT) {
        Ok(Ok(l)) if !l.trim().is_empty() => Ok(l),
        Ok(Ok(_)) => {
            g.check_alive()?;
            bail!("{} closed stdout without a ready line", g.name)
        }
        Ok(Err(e)) => bail!("reading {} stdout: {e}", g.name),
        Err(_) => bail!(
            "{} printed no ready line in {CHILD_READY_TIMEOUT:?}",
            g.name
        ),
    }
}

/// A running simulator.
pub(super) struct Sim {
    pub(super) guard: ChildGuard,
    pub(super) ready: SimReady,
    pub(super) command: String,
}

/// Starts `ctlog-sim` at `rate` and waits for its ready line.
pub(super) fn start_sim(plan: &BenchPlan, rate: u64, dir: &Path, tag: &str) -> anyhow::Result<Sim> {
    let args = sim_args(plan, rate)?;
    let command = format!("{} {}", plan.bins.sim.display(), args.join(" "));
    let mut cmd = Command::new(&plan.bins.sim);
    cmd.args(&args);
    let mut guard = spawn(
        "ctlog-sim",
        cmd,
        &dir.join(format!("{tag}.sim.stderr.log")),
        Stdio::piped(),
    )?;
    let line = ready_line(&mut guard, dir.join(format!("{tag}.sim.stdout.log")))?;
    let ready = parse_sim_ready(&line)?;
    Ok(Sim {
        guard,
        ready,
        command,
    })
}

/// A free loopback port (bound then released; a small race we accept on a private machine).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// A running server under test.
pub(super) struct Server {
    pub(super) guard: ChildGuard,
    /// WebSocket base URL, without a trailing slash.
    pub(super) ws_base: String,
    pub(super) command: String,
}

/// Starts the server under test on a free port against `sim` and waits until it listens.
pub(super) fn start_server(
    spec: &ServerSpec,
    sim: &SimReady,
    tls: Option<&TlsFiles>,
    dir: &Path,
    tag: &str,
) -> anyhow::Result<Server> {
    let port = free_port()?;
    let planned = server_command(spec, sim, port, tls)?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("exec {}", planned.command));
    let log = dir.join(format!("{tag}.server.log"));
    let stdout = std::fs::File::create(dir.join(format!("{tag}.server.stdout.log")))?;
    let mut guard = spawn(&spec.name, cmd, &log, Stdio::from(stdout))?;
    wait_listening(&mut guard, port, &log)?;
    Ok(Server {
        guard,
        ws_base: planned.ws_base,
        command: planned.command,
    })
}

/// Polls until something accepts on 127.0.0.1:`port`, failing when the child exits first.
fn wait_listening(guard: &mut ChildGuard, port: u16, log: &Path) -> anyhow::Result<()> {
    let t0 = Instant::now();
    loop {
        guard
            .check_alive()
            .with_context(|| format!("see {}", log.display()))?;
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if t0.elapsed() > CHILD_READY_TIMEOUT {
            bail!(
                "{} did not listen on 127.0.0.1:{port} within {CHILD_READY_TIMEOUT:?}",
                guard.name
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running raw-fanout sender.
pub(super) struct Fanout {
    pub(super) guard: ChildGuard,
    /// Where it listens (`127.0.0.1:PORT`).
    pub(super) addr: String,
    pub(super) command: String,
}

/// Starts raw-fanout in `shape` and waits for its ready line.
pub(super) fn start_raw_fanout(
    plan: &BenchPlan,
    out_dir: &Path,
    shape: FanoutShape,
) -> anyhow::Result<Fanout> {
    let args = raw_fanout_args(plan, shape);
    let tag = shape.tag();
    let command = format!("{} {}", plan.bins.raw_fanout.display(), args.join(" "));
    let mut cmd = Command::new(&plan.bins.raw_fanout);
    cmd.args(&args);
    let mut guard = spawn(
        "raw-fanout",
        cmd,
        &out_dir.join(format!("{tag}.stderr.log")),
        Stdio::piped(),
    )?;
    let line = ready_line(&mut guard, out_dir.join(format!("{tag}.stdout.log")))?;
    let addr = parse_fanout_ready(&line)?;
    Ok(Fanout {
        guard,
        addr,
        command,
    })
}

/// Runs `bin` to completion and returns its stdout (or why it could not run).
pub(super) fn run_to_completion(bin: &Path) -> String {
    match Command::new(bin).stdin(Stdio::null()).output() {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!("failed to run: {e}"),
    }
}

/// `git rev-parse HEAD` in `dir`, and whether tracked files have uncommitted changes.
pub(super) fn git_commit(dir: &Path) -> (String, bool) {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = run(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    (commit, dirty)
}
