//! The server speaks sd_notify: READY once it accepts connections, WATCHDOG while its executors
//! run, STOPPING on SIGTERM.

mod common;

use std::{os::unix::net::UnixDatagram, time::Duration};

use common::Server;
use loadtest::sim::{self, SimConfig};

fn next_state(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_watchdog_and_stopping_are_sent_to_the_notify_socket() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 0,
        rate_per_sec: 10.0,
        seed: 17,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let dir = std::env::temp_dir().join(format!("certstream-sdnotify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut server = Server::start_with_env(
        &["--log-list", &sim.log_list_url, "--workers", "2"],
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    assert!(next_state(&sock).starts_with("READY=1"), "READY first");
    assert_eq!(
        next_state(&sock),
        "WATCHDOG=1",
        "then watchdog pings while the executors beat"
    );
    assert!(server.terminate().expect("exits").success());
    let mut states = Vec::new();
    while let Ok(n) = {
        let mut buf = [0u8; 256];
        sock.recv(&mut buf)
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    } {
        states.push(n);
        if states.last().map(String::as_str) == Some("STOPPING=1") {
            break;
        }
    }
    assert_eq!(
        states.last().map(String::as_str),
        Some("STOPPING=1"),
        "{states:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
