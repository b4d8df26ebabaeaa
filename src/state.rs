//! The saved per-log cursors (`--state-file`): where each log resumes after a restart.
//!
//! The file is JSON, rewritten atomically (temporary file in the same directory, fsync, rename,
//! fsync of the directory) every [`crate::limits::STATE_SAVE_INTERVAL`] from each log's
//! [`crate::ct::poller::LogProgress`] (read directly on core 0, through the executors' counter
//! snapshots for the other cores), and once more at shutdown with the exact cursors every
//! executor had when it stopped publishing. A cursor is the next index to stream: every entry below it was
//! published (or could never be decoded). After a clean stop nothing is lost or repeated; after
//! a crash the entries published since the last save are streamed again, none is lost.
//! Logs that left the list are kept for [`crate::limits::STATE_RETAIN_GONE`].

use std::{
    io::{self, Write},
    path::Path,
};

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Format version written to the file; a file with another version is refused.
const VERSION: u32 = 1;

/// One log's saved position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedLog {
    /// Base64 of the log id (SHA-256 of its key), as in the log list.
    pub log_id: String,
    /// The log's URL, for people reading the file.
    pub url: String,
    /// Next index to stream.
    pub cursor: u64,
    /// When this log was last followed (Unix ms): logs gone from the list are pruned by it.
    pub last_seen_ms: u64,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub saved_at_ms: u64,
    pub logs: Vec<SavedLog>,
}

/// A log's current position, from the executor that owns it.
#[derive(Debug, Clone)]
pub struct Position {
    pub log_id: [u8; 32],
    pub url: String,
    pub cursor: u64,
}

impl State {
    /// Reads `path`: `Ok(None)` when it does not exist, an error naming the file when it
    /// cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Option<State>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read state file {}: {e}", path.display())),
        };
        let state: State = sonic_rs::from_str(&text)
            .map_err(|e| format!("state file {} is corrupt: {e}", path.display()))?;
        if state.version != VERSION {
            return Err(format!(
                "state file {} has version {}, this server writes version {VERSION}",
                path.display(),
                state.version
            ));
        }
        Ok(Some(state))
    }

    /// The saved cursor of a log.
    pub fn cursor(&self, log_id: &[u8; 32]) -> Option<u64> {
        let id = encode_id(log_id);
        self.logs.iter().find(|l| l.log_id == id).map(|l| l.cursor)
    }

    /// Records current positions (a cursor never moves backwards), then forgets logs not
    /// followed for `retain_ms`.
    pub fn record(&mut self, positions: &[Position], now_ms: u64, retain_ms: u64) {
        for p in positions {
            let id = encode_id(&p.log_id);
            match self.logs.iter_mut().find(|l| l.log_id == id) {
                Some(l) => {
                    l.cursor = l.cursor.max(p.cursor);
                    l.url.clone_from(&p.url);
                    l.last_seen_ms = now_ms;
                }
                None => self.logs.push(SavedLog {
                    log_id: id,
                    url: p.url.clone(),
                    cursor: p.cursor,
                    last_seen_ms: now_ms,
                }),
            }
        }
        self.logs
            .retain(|l| now_ms.saturating_sub(l.last_seen_ms) <= retain_ms);
        self.logs.sort_by(|a, b| a.url.cmp(&b.url));
        self.version = VERSION;
        self.saved_at_ms = now_ms;
    }

    /// Writes the file atomically: a reader (or a crash) sees the old file or the new one.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp"));
        let body = sonic_rs::to_string_pretty(self).map_err(io::Error::other)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

fn encode_id(log_id: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(log_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("certstream-state-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("state.json")
    }

    #[test]
    fn saves_and_loads_cursors_atomically() {
        let path = temp("roundtrip");
        assert_eq!(
            State::load(&path).unwrap(),
            None,
            "a missing file is a fresh start"
        );
        let mut s = State::default();
        let pos = |id: u8, cursor| Position {
            log_id: [id; 32],
            url: format!("https://log{id}/"),
            cursor,
        };
        s.record(&[pos(1, 10), pos(2, 20)], 1_000, 60_000);
        s.save(&path).unwrap();
        let loaded = State::load(&path).unwrap().unwrap();
        assert_eq!(loaded.cursor(&[1; 32]), Some(10));
        assert_eq!(loaded.cursor(&[2; 32]), Some(20));
        assert_eq!(loaded.cursor(&[3; 32]), None);
        let mut again = loaded.clone();
        again.record(&[pos(1, 5)], 2_000, 60_000);
        assert_eq!(
            again.cursor(&[1; 32]),
            Some(10),
            "a cursor never moves backwards"
        );
        again.record(&[pos(1, 11)], 100_000, 60_000);
        assert_eq!(
            again.cursor(&[2; 32]),
            None,
            "a log gone longer than the retention is forgotten"
        );
        assert!(
            !path.with_file_name(".state.json.tmp").exists(),
            "no temporary file is left behind"
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_an_error_naming_it() {
        let path = temp("corrupt");
        std::fs::write(&path, b"{\"version\": 1, \"logs\": [tru").unwrap();
        let err = State::load(&path).unwrap_err();
        assert!(
            err.contains(path.to_str().unwrap()) && err.contains("corrupt"),
            "{err}"
        );
        std::fs::write(&path, br#"{"version": 7, "saved_at_ms": 0, "logs": []}"#).unwrap();
        assert!(State::load(&path).unwrap_err().contains("version 7"));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
