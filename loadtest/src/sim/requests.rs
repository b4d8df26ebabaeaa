//! What the simulator saw on the wire: connections accepted and the heads of the last requests
//! read, so a client test can check the requests it sent (headers, targets, which connection
//! carried them) from the server's side.
//!
//! The log is bounded ([`REQUEST_LOG_MAX`], oldest dropped first): a long benchmark run keeps
//! only its tail, and recording costs one copy of a small head per request.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

/// Request heads kept; tests send a handful, benchmarks many more than anyone reads.
pub const REQUEST_LOG_MAX: usize = 1024;

/// One request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// The connection it came on: 1 for the first connection the simulator accepted (http and
    /// https counted together), 2 for the second, ...
    pub connection: u64,
    pub https: bool,
    /// The request line and header fields, exactly as received (CRLFs included, up to and
    /// including the blank line).
    pub head: String,
}

impl SeenRequest {
    /// The value of header field `name` (case-insensitive), trimmed; `None` when absent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The request line, e.g. `GET /ct/v1/get-sth HTTP/1.1`.
    pub fn request_line(&self) -> &str {
        self.head.split("\r\n").next().unwrap_or("")
    }
}

/// Connections and requests seen by one simulator (shared by its HTTP and HTTPS listeners).
#[derive(Default)]
pub struct RequestLog {
    connections: AtomicU64,
    requests: Mutex<VecDeque<SeenRequest>>,
}

impl RequestLog {
    /// Counts an accepted connection and returns its number (see [`SeenRequest::connection`]).
    pub fn connection_accepted(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn record(&self, connection: u64, https: bool, head: &[u8]) {
        let seen = SeenRequest {
            connection,
            https,
            head: String::from_utf8_lossy(head).into_owned(),
        };
        let mut log = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == REQUEST_LOG_MAX {
            log.pop_front();
        }
        log.push_back(seen);
    }

    /// The requests kept, oldest first.
    pub fn requests(&self) -> Vec<SeenRequest> {
        let log = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect()
    }
}
