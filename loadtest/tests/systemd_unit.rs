//! The shipped unit file passes `systemd-analyze verify` and scores 2.0 or better on
//! `systemd-analyze security --offline=yes`. Skipped (with a note) where systemd-analyze is
//! not installed.

use std::{path::PathBuf, process::Command};

/// The unit with ExecStart pointing at the binary built here (verify checks it exists).
fn unit_under_test() -> PathBuf {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../systemd/certstream.service"
    ))
    .expect("unit file");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/certstream "),
        "the unit runs the installed binary"
    );
    let unit = unit.replace(
        "/usr/local/bin/certstream",
        env!("CARGO_BIN_EXE_certstream-server"),
    );
    let dir = std::env::temp_dir().join(format!("certstream-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("certstream.service");
    std::fs::write(&path, unit).unwrap();
    path
}

fn systemd_analyze() -> bool {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("systemd-analyze not installed: unit checks skipped");
    }
    found
}

#[test]
fn unit_verifies_and_is_hardened() {
    if !systemd_analyze() {
        return;
    }
    let path = unit_under_test();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score in: {text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unparsable score line: {line}"));
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
