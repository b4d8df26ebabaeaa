//! The decoded form of one CT log entry, shared by the RFC 6962 and Static CT paths.

use bytes::Bytes;

/// Which of the two RFC 6962 `LogEntryType`s an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// `x509_entry`: the leaf is a final certificate.
    X509,
    /// `precert_entry`: the leaf is the signed precertificate (poison extension present).
    Precert,
}

impl EntryKind {
    /// The certstream `update_type` string.
    pub fn update_type(self) -> &'static str {
        match self {
            EntryKind::X509 => "X509LogEntry",
            EntryKind::Precert => "PrecertLogEntry",
        }
    }
}

/// One log entry, ready to be turned into certstream JSON.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// The entry's leaf index in its log.
    pub index: u64,
    /// The entry's timestamp (milliseconds since the epoch), from the TimestampedEntry.
    pub timestamp_ms: u64,
    pub kind: EntryKind,
    /// DER of the published leaf: the certificate for x509 entries, the signed
    /// `pre_certificate` (not the TBS from leaf_input) for precert entries.
    pub leaf_der: Bytes,
    /// DER of each chain certificate, issuer first, in the order the log gives.
    pub chain: Vec<Bytes>,
}

/// Where an entry came from, as printed in `data.source` and `data.cert_link`.
#[derive(Debug, Clone)]
pub struct EntrySource<'a> {
    /// The log's id (carried in the frames' [`crate::frame::EntryMeta`], never printed).
    pub log_id: [u8; 32],
    /// The log's URL exactly as in the log list (`url`, or `monitoring_url` for tiled logs).
    pub url: &'a str,
    /// The log's description from the log list.
    pub name: &'a str,
    /// `<url>ct/v1/get-entries?start=N&end=N`, or the data tile URL for Static CT logs.
    pub cert_link: &'a str,
}
