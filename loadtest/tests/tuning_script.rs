//! `tuning/host.sh` shows without changing anything, and refuses unknown arguments.

use std::process::Command;

fn host_sh(args: &[&str]) -> std::process::Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tuning/host.sh");
    Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("bash runs tuning/host.sh")
}

#[test]
fn show_lists_every_knob_of_the_tuning_guide() {
    let out = host_sh(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for knob in [
        "net.core.somaxconn",
        "net.ipv4.tcp_max_syn_backlog",
        "net.core.netdev_max_backlog",
        "net.ipv4.tcp_wmem",
        "net.ipv4.ip_local_port_range",
        "kernel.io_uring_disabled",
        "ulimit -l",
        "ulimit -n",
        "transparent_hugepage",
        "isolated CPUs",
    ] {
        assert!(text.contains(knob), "{knob} missing from:\n{text}");
    }
    // Every knob shown is also explained in the guide.
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tuning/README.md"))
            .unwrap();
    for knob in [
        "somaxconn",
        "tcp_wmem",
        "netdev_max_backlog",
        "ip_local_port_range",
    ] {
        assert!(
            guide.contains(knob),
            "{knob} not explained in tuning/README.md"
        );
    }
}

#[test]
fn unknown_arguments_are_refused_without_applying_anything() {
    let out = host_sh(&["--aply"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    let out = host_sh(&["--apply", "--persit"]);
    assert_eq!(out.status.code(), Some(2));
}
