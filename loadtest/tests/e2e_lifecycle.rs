//! The server's life as a user sees it: `--workers` above the CPU count is refused with the CPUs
//! named; a SIGTERM at any moment of the start (before, while and after the executors are
//! created and bind) ends the process promptly with status 0 and writes the state file. (That
//! an idle server burns no CPU is measured alone, in e2e_idle.rs.)

mod common;

use std::{
    io::Read,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use loadtest::sim::{self, SimConfig, SimHandle};

const EXE: &str = env!("CARGO_BIN_EXE_certstream-server");

/// The CPUs this process may run on (the server refuses more workers than that).
fn cpus_allowed() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn quiet_sim() -> SimHandle {
    sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 1,
        rate_per_sec: 20.0,
        initial_entries: 20,
        seed: 41,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("certstream-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits (bounded) for the child to exit; the exit status and how long it took.
fn wait_exit(child: &mut Child, within: Duration) -> Option<(std::process::ExitStatus, Duration)> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Ok(Some(status)) = child.try_wait() {
            return Some((status, start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut text);
    }
    text
}

#[test]
fn more_workers_than_cpus_is_refused_with_the_cpus_named() {
    let too_many = (cpus_allowed() + 1).to_string();
    for extra in [&[][..], &["--check-config"][..]] {
        let start = Instant::now();
        let out = Command::new(EXE)
            .args(["--workers", &too_many, "--listen", "127.0.0.1:0"])
            .args(extra)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} refused: {stderr}");
        assert!(
            stderr.contains(&format!("--workers {too_many} is more than the"))
                && stderr.contains("CPUs 0"),
            "{extra:?}: the message names the CPUs: {stderr}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "refused at once");
    }
}

#[test]
fn an_executor_that_cannot_be_created_fails_the_boot_at_once_with_the_fix() {
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let mut cmd = Command::new(EXE);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--log-list",
        "http://127.0.0.1:1/never-fetched.json",
    ]);
    // Below glommio's 512 KiB floor for its io_uring rings.
    let low = libc::rlimit {
        rlim_cur: 256 * 1024,
        rlim_max: 256 * 1024,
    };
    // SAFETY: setrlimit in the child between fork and exec touches only the child.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &low) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = cmd.output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("MemLockLimit") && stderr.contains("ulimit -l"),
        "says what is wrong and how to fix it: {stderr}"
    );
    assert!(start.elapsed() < Duration::from_secs(5), "within seconds");
}

/// Starts the server with every executor `k` created `k × 600 ms` late (the test-only hook),
/// sends SIGTERM after `after`, and checks the process ends within the stop deadline with
/// status 0 and wrote the state file.
fn stop_during_start(sim: &SimHandle, after: Duration) {
    let dir = temp_dir(&format!("startstop-{}", after.as_millis()));
    let state = dir.join("state.json");
    let mut child = Command::new(EXE)
        .args(["--log-list", &sim.log_list_url, "--listen", "127.0.0.1:0"])
        .args(["--workers", &cpus_allowed().min(2).to_string()])
        .args(["--state-file", state.to_str().unwrap()])
        .env("CERTSTREAM_TEST_EXECUTOR_START_DELAY_MS", "600")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    std::thread::sleep(after);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = certstream::limits::STOP_DEADLINE;
    let exited = wait_exit(&mut child, deadline);
    if exited.is_none() {
        let _ = child.kill();
    }
    let log = stderr_of(&mut child);
    let (status, took) = exited
        .unwrap_or_else(|| panic!("SIGTERM at {after:?}: no exit within {deadline:?}: {log}"));
    assert!(status.success(), "SIGTERM at {after:?}: {status}: {log}");
    assert!(
        state.exists(),
        "SIGTERM at {after:?}: the state file was written: {log}"
    );
    eprintln!("SIGTERM at {after:?}: exited in {took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_at_any_moment_of_the_start_ends_the_process_promptly() {
    let sim = quiet_sim();
    // Before main blocks signals (its first microseconds) is out of reach. From 15 ms on: while
    // the configuration loads, while executor 0 connects its rings and waits for executor 1,
    // while executor 1 is not yet created (it comes at 600 ms), just after it, and once the
    // server streams.
    for ms in [15, 40, 200, 550, 700, 1500] {
        stop_during_start(&sim, Duration::from_millis(ms));
    }
}
