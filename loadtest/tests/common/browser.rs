//! A real browser for the end-to-end tests: Debian's `chromium`, headless, driven over the
//! DevTools protocol (a WebSocket on 127.0.0.1) with a fresh profile each time.
//!
//! `--dump-dom` with `--virtual-time-budget` cannot observe a live stream (virtual time runs
//! ahead of the network), so the tests load a page, then evaluate JavaScript in it until what
//! they wait for is on screen.
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// The flags every run uses: no sandbox (root in CI), nothing fetched from the network.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
];

/// The chromium binary, installing Debian's package when it is missing and apt-get exists
/// (`.ci/run` installs it too). `Err` says why there is none: the only reason to skip.
pub fn chromium() -> Result<PathBuf, String> {
    let find = || {
        ["chromium", "chromium-browser"].iter().find_map(|name| {
            let out = Command::new("which").arg(name).output().ok()?;
            out.status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
    };
    match apt(&["update", "-qq"]).and_then(|_| {
        apt(&[
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "chromium",
        ])
    }) {
        Ok(true) => {
            find().ok_or_else(|| "apt-get installed chromium, but it is not on PATH".into())
        }
        Ok(false) => Err("`apt-get install chromium` failed".into()),
        Err(e) => Err(format!("no chromium and no apt-get to install it ({e})")),
    }
}

/// A headless chromium with one page, killed (and its profile removed) on drop.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    socket: Socket,
    next_id: u64,
}

impl Browser {
    /// Starts chromium with a `width`×`height` window and connects to its first page.
    pub fn start(binary: &std::path::Path, width: u32, height: u32) -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "certstream-chromium-{}-{:?}",
            std::process::id(),
            Instant::now()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let child = Command::new(binary)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromium");
        let port = devtools_port(&profile);
        let url = page_websocket_url(port);
        let (socket, _) = tungstenite::connect(url.as_str()).expect("DevTools WebSocket");
        Browser {
            child,
            profile,
            socket,
            next_id: 0,
        }
    }

    /// Sends one DevTools command and returns its `result` (events in between are dropped).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params});
        self.socket
            .send(tungstenite::Message::text(msg.to_string()))
            .expect("DevTools send");
        loop {
            let reply = self.socket.read().expect("DevTools read");
            let tungstenite::Message::Text(text) = reply else {
                continue;
            };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Opens `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.enable", json!({}));
        self.call("Page.navigate", json!({"url": url}));
    }

    /// Evaluates `expression` in the page and returns its value (JSON-serialisable).
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` every 200 ms until `done` accepts its value; panics with the
    /// last value after `limit`.
    pub fn wait_for(
        &mut self,
        expression: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.eval(expression);
            if done(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "still {v} after {limit:?}: {expression}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Emulates a device of `width`×`height` CSS pixels (`mobile`: a phone's viewport rules).
    pub fn set_viewport(&mut self, width: u32, height: u32, scale: f64, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile}),
        );
    }

    /// A PNG of the page as it is now.
    pub fn screenshot_png(&mut self) -> Vec<u8> {
        use base64::Engine as _;
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("screenshot is base64")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The port chromium chose, from the `DevToolsActivePort` file it writes into its profile.
fn devtools_port(profile: &std::path::Path) -> u16 {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(port) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse().ok())
        {
            return port;
        }
        assert!(
            Instant::now() < deadline,
            "chromium wrote no {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The DevTools WebSocket of the browser's page target (`/json/list`), once chromium lists it.
fn page_websocket_url(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(url) = list_page_target(port) {
            return url;
        }
        assert!(Instant::now() < deadline, "chromium lists no page target");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn list_page_target(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    // Chromium keeps the connection open whatever the request says: read Content-Length.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_len, body_len) = loop {
        let n = s.read(&mut chunk).ok().filter(|&n| n > 0)?;
        raw.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, _)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })?;
            break (head.len() + 4, length);
        }
    };
    while raw.len() < head_len + body_len {
        let n = s.read(&mut chunk).ok().filter(|&n| n > 0)?;
        raw.extend_from_slice(&chunk[..n]);
    }
    let targets: Vec<Value> = serde_json::from_slice(&raw[head_len..head_len + body_len]).ok()?;
    targets
        .iter()
        .find(|t| t["type"] == "page")
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .map(str::to_owned)
}
