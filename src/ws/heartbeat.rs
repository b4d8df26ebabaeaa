//! The periodic JSON heartbeat and WebSocket ping every client receives.
//!
//! One task per core builds the heartbeat once per interval and publishes it into the hub as
//! a broadcast entry, so it travels through the same coalesced write as the certificates and
//! costs nothing per session. Clients are never closed for being silent: the ping only keeps
//! middleboxes from dropping idle connections; the answering pong is read and ignored.

use std::{
    rc::Rc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;

use super::Hub;
use crate::frame::{self, OPCODE_TEXT};

/// Opcode of a ping frame (RFC 6455 §5.5.2).
pub(crate) const OPCODE_PING: u8 = 0x9;

/// The heartbeat JSON text frame followed by an empty ping frame, for `now`.
pub fn heartbeat_bytes(now: SystemTime) -> Bytes {
    // TODO(cert): use cert::encode_heartbeat once it exists, so the JSON has one owner.
    // Integer seconds and micros are formatted separately: an f64 of Unix seconds does not
    // hold six exact decimals.
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let json = format!(
        "{{\"message_type\":\"heartbeat\",\"timestamp\":{}.{:06}}}",
        since_epoch.as_secs(),
        since_epoch.subsec_micros()
    );
    let mut out = Vec::with_capacity(frame::header_len(json.len()) + json.len() + 2);
    frame::write_header(&mut out, OPCODE_TEXT, json.len());
    out.extend_from_slice(json.as_bytes());
    frame::write_header(&mut out, OPCODE_PING, 0);
    Bytes::from(out)
}

/// Publishes a heartbeat into `hub` every `interval`, forever.
pub async fn run_heartbeat(hub: Rc<Hub>, interval: Duration) {
    loop {
        glommio::timer::sleep(interval).await;
        hub.publish_heartbeat(heartbeat_bytes(SystemTime::now()));
        hub.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_is_a_text_frame_then_an_empty_ping() {
        let at = UNIX_EPOCH + Duration::from_micros(1_732_233_600_000_042);
        let bytes = heartbeat_bytes(at);
        let want = br#"{"message_type":"heartbeat","timestamp":1732233600.000042}"#;
        assert_eq!(bytes[0], 0x81);
        assert_eq!(usize::from(bytes[1]), want.len());
        assert_eq!(&bytes[2..2 + want.len()], want);
        assert_eq!(&bytes[2 + want.len()..], &[0x89, 0x00]);
    }
}
