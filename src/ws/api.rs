//! `/api/stats`, `/api/logs` and `/api/cert/{hash}` over HTTP: routing, JSON errors, and the
//! asynchronous certificate lookup (the design is in [`crate::api`]). Auth is checked before
//! routing, as for the streams (`http::authorized`).

use std::{
    cell::Cell,
    collections::{hash_map::Entry, HashMap},
    rc::Rc,
};

use serde::Serialize;
use sonic_rs::JsonValueTrait;

use super::{
    http::{self, Response},
    resume::ReplayAccess,
    ServerContext,
};
use crate::{
    api::{self, CertHash, CertIndex, HashError, Position},
    frame, limits,
    replay::store::{LogReader, StoredEntry},
};

/// A request under `/api/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiRequest {
    Stats,
    Logs,
    /// `/api/cert/{hash}`, parsed (a malformed hash is answered with 400).
    Cert(Result<CertHash, HashError>),
}

impl ApiRequest {
    /// The API request at `path` (`None`: not an API path, or an unknown one: 404).
    pub(crate) fn from_path(path: &str) -> Option<ApiRequest> {
        match path {
            "/api/stats" => Some(ApiRequest::Stats),
            "/api/logs" => Some(ApiRequest::Logs),
            _ => path
                .strip_prefix("/api/cert/")
                .map(|hash| ApiRequest::Cert(CertHash::parse(hash))),
        }
    }
}

/// What the runtime plugs in: the two documents (rendered from every core's snapshot) and
/// this core's certificate index (`None` without a replay store).
pub struct ApiHooks {
    stats: Box<dyn Fn() -> String>,
    logs: Box<dyn Fn() -> String>,
    certs: Option<Rc<CertIndex>>,
    /// Lookups running on this core.
    lookups: Cell<u64>,
}

impl ApiHooks {
    pub fn new(
        stats: impl Fn() -> String + 'static,
        logs: impl Fn() -> String + 'static,
        certs: Option<Rc<CertIndex>>,
    ) -> ApiHooks {
        ApiHooks {
            stats: Box::new(stats),
            logs: Box::new(logs),
            certs,
            lookups: Cell::new(0),
        }
    }
}

impl std::fmt::Debug for ApiHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiHooks")
            .field("certs", &self.certs)
            .field("lookups", &self.lookups.get())
            .finish_non_exhaustive()
    }
}

/// The response to an API request.
pub(crate) async fn answer(request: ApiRequest, ctx: &ServerContext) -> Response {
    let Some(hooks) = &ctx.api else {
        return json_error(404, "this server has no API");
    };
    match request {
        ApiRequest::Stats => json(200, (hooks.stats)().into_bytes()),
        ApiRequest::Logs => json(200, (hooks.logs)().into_bytes()),
        ApiRequest::Cert(Err(why)) => json_error(400, &why.to_string()),
        ApiRequest::Cert(Ok(hash)) => lookup(hash, hooks, ctx.replay.as_deref()).await,
    }
}

fn json(code: u16, body: Vec<u8>) -> Response {
    Response::new(code, http::APPLICATION_JSON, body)
}

/// `{"error":"<why>"}` with `code`.
fn json_error(code: u16, why: &str) -> Response {
    #[derive(Serialize)]
    struct Error<'a> {
        error: &'a str,
    }
    let body = sonic_rs::to_vec(&Error { error: why }).unwrap_or_default();
    json(code, body)
}

/// Counts a running lookup for as long as it lives.
struct LookupSlot<'a>(&'a Cell<u64>);

impl Drop for LookupSlot<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

async fn lookup(hash: CertHash, hooks: &ApiHooks, replay: Option<&ReplayAccess>) -> Response {
    let (Some(certs), Some(replay)) = (&hooks.certs, replay) else {
        return json_error(404, "this server keeps no replay store (--replay-dir)");
    };
    if hooks.lookups.get() >= limits::API_CERT_LOOKUPS_MAX {
        return json_error(503, "too many certificate lookups at once; retry");
    }
    hooks.lookups.set(hooks.lookups.get() + 1);
    let _slot = LookupSlot(&hooks.lookups);
    let positions = certs.find(&hash, limits::API_CERT_POSITIONS_MAX);
    match find_held(&hash, positions, replay).await {
        Some(found) => json(200, found.body(replay).await),
        None => json_error(404, "not in the replay store's window"),
    }
}

/// The newest held appearance's entry, and every appearance still held (newest first).
struct Found {
    entry: StoredEntry,
    positions: Vec<Position>,
}

/// Drops the positions retention deleted (below their log's first held index), then reads the
/// newest ones until one is the certificate asked for (at most [`limits::API_CERT_READS_MAX`]
/// reads); positions newer than it that were not are dropped too.
async fn find_held(
    hash: &CertHash,
    positions: Vec<Position>,
    replay: &ReplayAccess,
) -> Option<Found> {
    // `None`: the store holds no such log.
    let mut readers: HashMap<[u8; 8], Option<LogReader>> = HashMap::new();
    let mut held = Vec::with_capacity(positions.len());
    for p in positions {
        let reader = match readers.entry(p.log_key) {
            Entry::Occupied(open) => open.into_mut(),
            Entry::Vacant(slot) => slot.insert(replay.open(p.log_key).await),
        };
        let first = reader.as_ref().and_then(LogReader::first_index);
        if first.is_some_and(|f| f <= p.index) {
            held.push(p);
        }
    }
    for _ in 0..limits::API_CERT_READS_MAX.min(held.len()) {
        let p = held[0];
        let reader = readers.get_mut(&p.log_key)?.take()?;
        let (reader, read) = replay.read(reader, p.index, 1).await;
        readers.insert(p.log_key, Some(reader));
        let entry = read.ok().and_then(|e| e.into_iter().next());
        if let Some(entry) = entry.filter(|e| e.index == p.index && is_the_one(hash, e)) {
            return Some(Found {
                entry,
                positions: held,
            });
        }
        held.remove(0);
    }
    None
}

/// Whether the stored entry is the certificate of `hash` (the index matched 64 bits of it).
fn is_the_one(hash: &CertHash, entry: &StoredEntry) -> bool {
    match hash {
        CertHash::Sha256(h) => entry.leaf_sha256 == *h,
        CertHash::Sha1(h) => {
            let message = frame::payload(&entry.full);
            sonic_rs::get(message, &["data", "leaf_cert", "sha1"])
                .ok()
                .and_then(|v| v.as_str().map(|s| s == api::hex_colon(h)))
                .unwrap_or(false)
        }
    }
}

/// One appearance of a certificate in a lookup's answer.
#[derive(Debug, Serialize)]
struct SeenIn {
    /// `source.url` of the log (`null` if the store has no record of it).
    url: Option<String>,
    index: u64,
    /// When this server first saw it, Unix seconds (as `seen` in the messages).
    seen: f64,
}

impl Found {
    /// The answer, with the URL of each position's log from the store's records.
    async fn body(&self, replay: &ReplayAccess) -> Vec<u8> {
        if self
            .positions
            .iter()
            .any(|p| replay.url_of(&p.log_key).is_none())
        {
            // Learns the URLs of logs first stored since the last listing.
            replay.logs().await;
        }
        let seen_in: Vec<SeenIn> = self
            .positions
            .iter()
            .map(|p| SeenIn {
                url: replay.url_of(&p.log_key),
                index: p.index,
                seen: api::unix_secs(p.seen_us),
            })
            .collect();
        cert_body(&seen_in, frame::payload(&self.entry.full))
    }
}

/// `{"seen_in":[{"url","index","seen"}...],"message":<message>}`: `seen_in[0]` is the
/// appearance `message` is; the stored message goes in as it is, never re-encoded.
fn cert_body(seen_in: &[SeenIn], message: &[u8]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Head<'a> {
        seen_in: &'a [SeenIn],
    }
    let mut body = sonic_rs::to_vec(&Head { seen_in }).unwrap_or_else(|_| b"{}".to_vec());
    body.pop(); // the closing brace
    if body.len() > 1 {
        body.push(b',');
    }
    body.extend_from_slice(b"\"message\":");
    body.extend_from_slice(message);
    body.push(b'}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_rs::JsonContainerTrait;

    #[test]
    fn api_paths_parse_their_hash_and_others_are_not_api() {
        assert_eq!(ApiRequest::from_path("/api/stats"), Some(ApiRequest::Stats));
        assert_eq!(ApiRequest::from_path("/api/logs"), Some(ApiRequest::Logs));
        let sha1 = "0F".repeat(20);
        assert_eq!(
            ApiRequest::from_path(&format!("/api/cert/{sha1}")),
            Some(ApiRequest::Cert(Ok(CertHash::Sha1([0x0f; 20]))))
        );
        assert_eq!(
            ApiRequest::from_path("/api/cert/xyz"),
            Some(ApiRequest::Cert(Err(HashError::NotHex)))
        );
        assert_eq!(
            ApiRequest::from_path("/api/cert/"),
            Some(ApiRequest::Cert(Err(HashError::Length(0))))
        );
        assert_eq!(ApiRequest::from_path("/api/other"), None);
        assert_eq!(ApiRequest::from_path("/api/stats/"), None);
        assert_eq!(ApiRequest::from_path("/stats"), None);
    }

    #[test]
    fn errors_are_json_with_their_status() {
        let response = json_error(400, "bad \"hash\"");
        assert_eq!(response.code, 400);
        let text = String::from_utf8(response.encode()).unwrap();
        assert!(text.contains("Content-Type: application/json"), "{text}");
        assert!(text.ends_with(r#"{"error":"bad \"hash\""}"#), "{text}");
    }

    #[test]
    fn the_answer_lists_positions_and_holds_the_stored_message_unchanged() {
        let message = br#"{"message_type":"certificate_update","data":{"seen":1.5}}"#;
        let seen_in = [
            SeenIn {
                url: Some("https://log.example/".to_owned()),
                index: 7,
                seen: 1.5,
            },
            SeenIn {
                url: None,
                index: 9,
                seen: 1.25,
            },
        ];
        let body = cert_body(&seen_in, message);
        let v: sonic_rs::Value = sonic_rs::from_slice(&body).expect("valid JSON");
        assert_eq!(
            v["seen_in"][0]["url"].as_str(),
            Some("https://log.example/")
        );
        assert_eq!(v["seen_in"][0]["index"].as_u64(), Some(7));
        assert_eq!(v["seen_in"][1]["seen"].as_f64(), Some(1.25));
        assert!(v["seen_in"][1]["url"].is_null());
        assert!(body.ends_with(&[&b"\"message\":"[..], message, b"}"].concat()));
    }

    /// A log's store holding entries 10..20; entry 15 is the certificate `cert`.
    async fn store_with(cfg: &crate::replay::store::StoreConfig, url: &str, cert: [u8; 32]) {
        use crate::replay::store::{LogAbout, LogWriter};
        let about = LogAbout::new(url, "a log", &[1; 32]);
        let key = crate::replay::token::log_key(url);
        let mut writer = LogWriter::open(cfg, key, &about).await.unwrap();
        let page: Vec<_> = (10..20u64)
            .map(|i| {
                let sha256 = if i == 15 { cert } else { [i as u8; 32] };
                let message = format!(
                    r#"{{"message_type":"certificate_update","data":{{"cert_index":{i},"leaf_cert":{{"sha1":"{}"}}}}}}"#,
                    api::hex_colon(&[i as u8; 20])
                );
                std::sync::Arc::new(frame::Frames {
                    lite: frame::encode(frame::OPCODE_TEXT, b"{}"),
                    full: frame::encode(frame::OPCODE_TEXT, message.as_bytes()),
                    domains: frame::encode(frame::OPCODE_TEXT, b"{}"),
                    meta: frame::EntryMeta {
                        log_key: key,
                        index: i,
                        seen_us: 1_000_000 * i,
                        leaf_sha256: sha256,
                        ..frame::EntryMeta::default()
                    },
                })
            })
            .collect();
        writer.append(&page).await.unwrap();
    }

    fn body_of(response: &Response) -> sonic_rs::Value {
        let bytes = response.encode();
        let text = String::from_utf8(bytes).unwrap();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        sonic_rs::from_str(body).unwrap()
    }

    /// Positions retention deleted, not written yet, or in a log the store lacks are left
    /// out; the answer is the newest held entry whose full hash matches.
    #[test]
    fn a_lookup_answers_with_the_newest_held_entry_of_the_full_hash() {
        glommio::LocalExecutorBuilder::default()
            .make()
            .unwrap()
            .run(async {
                let dir = std::env::temp_dir()
                    .join(format!("certstream-api-lookup-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                let cfg = crate::replay::store::StoreConfig::with_defaults(dir.clone());
                let (url, other) = ("https://a.example/log/", "https://b.example/log/");
                let mut cert = [0xc0; 32];
                cert[31] = 1;
                store_with(&cfg, url, cert).await;
                let index = CertIndex::new(100);
                let appearance = |log: &str, i: u64| frame::EntryMeta {
                    log_key: crate::replay::token::log_key(log),
                    index: i,
                    seen_us: 1_000_000 * i,
                    leaf_sha256: cert,
                    leaf_sha1: [15; 20],
                    ..frame::EntryMeta::default()
                };
                // Below the store's first index, held, in a log the store lacks, not written.
                for (log, i) in [(url, 3), (url, 15), (other, 4), (url, 25)] {
                    index.record(&appearance(log, i));
                }
                let hooks = ApiHooks::new(String::new, String::new, Some(Rc::new(index)));
                let replay = ReplayAccess::new(Rc::new(cfg), Rc::default(), 1);
                for hash in [CertHash::Sha256(cert), CertHash::Sha1([15; 20])] {
                    let response = lookup(hash, &hooks, Some(&replay)).await;
                    assert_eq!(response.code, 200, "{hash:?}");
                    let v = body_of(&response);
                    let seen_in = v["seen_in"].as_array().unwrap();
                    assert_eq!(seen_in.len(), 1, "{hash:?}: {v:?}");
                    assert_eq!(seen_in[0]["url"].as_str(), Some(url));
                    assert_eq!(seen_in[0]["index"].as_u64(), Some(15));
                    assert_eq!(seen_in[0]["seen"].as_f64(), Some(15.0));
                    assert_eq!(v["message"]["data"]["cert_index"].as_u64(), Some(15));
                }
                // Same 64-bit prefix, another certificate: the full hash decides.
                let mut twin = cert;
                twin[31] = 2;
                let response = lookup(CertHash::Sha256(twin), &hooks, Some(&replay)).await;
                assert_eq!(response.code, 404);
                let response = lookup(CertHash::Sha1([16; 20]), &hooks, Some(&replay)).await;
                assert_eq!(response.code, 404);
                let none = ApiHooks::new(String::new, String::new, None);
                let response = lookup(CertHash::Sha256(cert), &none, None).await;
                assert_eq!(response.code, 404);
                let _ = std::fs::remove_dir_all(&dir);
            });
    }

    #[test]
    fn a_sha1_lookup_checks_the_stored_message() {
        let der_sha1 = [0xab; 20];
        let message = format!(
            r#"{{"message_type":"certificate_update","data":{{"leaf_cert":{{"sha1":"{}"}}}}}}"#,
            api::hex_colon(&der_sha1)
        );
        let entry = StoredEntry {
            index: 1,
            seen_us: 1,
            leaf_sha256: [1; 32],
            lite: Default::default(),
            full: frame::encode(frame::OPCODE_TEXT, message.as_bytes()),
            domains: Default::default(),
        };
        assert!(is_the_one(&CertHash::Sha1(der_sha1), &entry));
        assert!(!is_the_one(&CertHash::Sha1([0xac; 20]), &entry));
        assert!(is_the_one(&CertHash::Sha256([1; 32]), &entry));
        assert!(!is_the_one(&CertHash::Sha256([2; 32]), &entry));
    }
}
