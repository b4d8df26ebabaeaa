//! The command-line entry point shared by the `certstream` binary (and the copy of it that the
//! loadtest crate builds for its end-to-end tests): parse the configuration, set up logging, run
//! the executors until SIGINT or SIGTERM. The signal thread holds the server's
//! [`runtime::ServerControl`]: a signal is a stop or reload message to that one server, at any
//! moment of its life (a stop during startup ends the start). With `--config`, a thread watching
//! the file ([`crate::config::watch`]) sends the same reload message when its content changes.

use crate::{
    config::{Config, LogFormat},
    runtime,
};

/// Runs the server as the `certstream` command.
pub fn main() {
    // First of all, so that a stop signal at any moment of the start is a requested stop
    // (exit 0, state saved), never the default action that kills the process.
    let signals = block_stop_signals();
    let config = match Config::load_from(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("certstream: {e}");
            std::process::exit(2);
        }
    };
    init_logging(config.log_format);
    if let Err(e) = config.validate() {
        eprintln!("certstream: {e}");
        std::process::exit(2);
    }
    if config.check_config {
        check_config_and_exit(&config);
    }
    let control = runtime::ServerControl::new();
    let for_signals = control.clone();
    std::thread::Builder::new()
        .name("certstream-signals".into())
        .spawn(move || wait_for_signals(signals, &for_signals))
        .expect("spawning the signal thread");
    if let Some(path) = config.config.clone() {
        watch_config_file(path, control.clone());
    }
    if let Err(e) = runtime::run(config, control) {
        tracing::error!("{e}");
        eprintln!("certstream: {e}");
        std::process::exit(1);
    }
}

/// `--check-config`: the checks a start makes before it creates anything ([`runtime::check`]:
/// `--workers` against the CPUs, each log list file, the TLS certificate and key), then prints the
/// settings and exits.
fn check_config_and_exit(config: &Config) -> ! {
    if let Err(e) = runtime::check(config) {
        eprintln!("certstream: {e}");
        std::process::exit(2);
    }
    let mut shown = config.clone();
    shown.auth_tokens = shown
        .auth_tokens
        .iter()
        .map(|_| "<redacted>".to_owned())
        .collect();
    println!("configuration OK: {shown:#?}");
    std::process::exit(0);
}

/// A change of the `--config` file's content reloads like SIGHUP (the configuration loaded
/// again from the same command line, environment and file; the log list fetched again).
/// Without inotify the server still starts, and SIGHUP still reloads.
fn watch_config_file(path: std::path::PathBuf, control: runtime::ServerControl) {
    let shown = path.display().to_string();
    let reload = move || control.reload(Config::load_from(std::env::args_os()));
    match crate::config::watch::spawn(path, reload) {
        Ok(()) => tracing::info!("watching {shown}: a change reloads it, like SIGHUP"),
        Err(e) => tracing::warn!("cannot watch {shown} ({e}); SIGHUP still reloads it"),
    }
}

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread before any executor thread exists, so every thread
/// inherits the mask and only the signal thread receives them (with sigwait).
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-set manipulation on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// SIGHUP reloads the live settings (tokens, connection limits, TLS certificate: the
/// configuration is loaded again from the same command line, environment and `--config` file)
/// and the log list; SIGTERM and SIGINT stop the server. The thread keeps taking signals after
/// a stop, so a second one is answered (the stop already runs, bounded) rather than ignored.
fn wait_for_signals(set: libc::sigset_t, control: &runtime::ServerControl) {
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait on a set blocked in every thread.
        unsafe { libc::sigwait(&set, &mut sig) };
        if sig == libc::SIGHUP {
            tracing::info!("SIGHUP: reloading the configuration and the log list");
            control.reload(Config::load_from(std::env::args_os()));
        } else if control.is_stopped() {
            tracing::info!(signal = sig, "stop already under way");
        } else {
            tracing::info!(signal = sig, "stop requested; closing clients and stopping");
            control.stop();
        }
    }
}
