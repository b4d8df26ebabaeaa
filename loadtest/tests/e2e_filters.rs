//! End-to-end subscription filters and dedup: the simulator's logs hold a fixed set of entries
//! (generated names with known look-alikes among them, real certificates repeated across logs),
//! the server backfills them all, and each filtered client must get exactly the entries an
//! unfiltered client got that pass its filter, computed here independently of the server.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use common::{Collector, Server};
use loadtest::sim::{self, FaultSchedule, SimConfig};
use serde_json::Value;

const PER_LOG: u64 = 300;

/// Every message a collector received until `quiet` passed without one.
fn drain(c: &Collector, quiet: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(v) = c.rx.recv_timeout(quiet) {
        if v["message_type"] != "heartbeat" {
            out.push(v);
        }
    }
    out
}

/// `(source.url, cert_index)` of each certificate_update.
fn keys(messages: &[Value]) -> Vec<(String, u64)> {
    messages
        .iter()
        .map(|m| {
            assert_eq!(m["message_type"], "certificate_update", "{m}");
            let d = &m["data"];
            (
                d["source"]["url"].as_str().unwrap().to_owned(),
                d["cert_index"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn names(m: &Value) -> Vec<String> {
    m["data"]["leaf_cert"]["all_domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_lowercase())
        .collect()
}

/// Label-boundary domain match, written out here independently of the server.
fn under(name: &str, domain: &str) -> bool {
    name == domain || name.ends_with(&format!(".{domain}"))
}

/// Reads the unfiltered reference until every entry of every log arrived.
fn collect_reference(reference: &Collector, logs: &[String]) -> BTreeMap<(String, u64), Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut all = BTreeMap::new();
    let complete = |all: &BTreeMap<(String, u64), Value>| {
        logs.iter()
            .all(|url| (0..PER_LOG).all(|i| all.contains_key(&(url.clone(), i))))
    };
    while !complete(&all) {
        assert!(
            Instant::now() < deadline,
            "reference got {} entries",
            all.len()
        );
        if let Ok(v) = reference.rx.recv_timeout(Duration::from_millis(500)) {
            if v["message_type"] == "certificate_update" {
                let key = keys(std::slice::from_ref(&v)).remove(0);
                assert!(
                    all.insert(key, v).is_none(),
                    "unfiltered client got a repeat"
                );
            }
        }
    }
    all
}

type Pred = Box<dyn Fn(&Value) -> bool>;

/// Each filtered client's path and the test's own statement of what it must receive.
fn cases(first_log: &str) -> Vec<(String, Pred)> {
    let first_log = first_log.to_owned();
    vec![
        (
            "/?domain=example.com".into(),
            Box::new(|m| names(m).iter().any(|n| under(n, "example.com"))),
        ),
        (
            "/?domain=*.example.com".into(),
            Box::new(|m| names(m).iter().any(|n| n.ends_with(".example.com"))),
        ),
        (
            "/?keyword=PayPal".into(),
            Box::new(|m| names(m).iter().any(|n| n.contains("paypal"))),
        ),
        (
            // bücher, percent-encoded: matches xn--bcher-kva in its Unicode form.
            "/?keyword=b%C3%BCcher".into(),
            Box::new(|m| names(m).iter().any(|n| n.contains("xn--bcher-kva"))),
        ),
        (
            "/?regex=%5Ewww%5C.&domain=twitter.com,google.com".into(),
            Box::new(|m| {
                names(m).iter().any(|n| {
                    n.starts_with("www.") || under(n, "twitter.com") || under(n, "google.com")
                })
            }),
        ),
        (
            "/full-stream?update_type=PrecertLogEntry&domain=example.com".into(),
            Box::new(|m| {
                m["data"]["update_type"] == "PrecertLogEntry"
                    && names(m).iter().any(|n| under(n, "example.com"))
            }),
        ),
        (
            "/?issuer=digicert".into(),
            Box::new(|m| {
                let issuer = &m["data"]["leaf_cert"]["issuer"];
                ["CN", "O"].iter().any(|k| {
                    issuer[*k]
                        .as_str()
                        .is_some_and(|v| v.to_lowercase().contains("digicert"))
                })
            }),
        ),
        (
            format!("/?log={first_log}&keyword=shop"),
            Box::new(move |m| {
                m["data"]["source"]["url"] == first_log.as_str()
                    && names(m).iter().any(|n| n.contains("shop"))
            }),
        ),
    ]
}

#[test]
fn filtered_clients_get_exactly_the_matching_entries_and_dedup_removes_repeats() {
    filtered_run(FaultSchedule::default());
}

/// Transient faults on every log's entry endpoints while the server backfills: retried pages,
/// cut responses and short pages change nothing in what each filtered client gets.
const FAULTS: &str = r#"
[[rule]]
logs = "all"
endpoint = "entries"
until = 6.0
every = 3
fault = "status"
status = 503

[[rule]]
logs = "all"
endpoint = "entries"
until = 6.0
every = 4
fault = "reset"

[[rule]]
logs = "rfc6962"
endpoint = "entries"
until = 6.0
every = 2
fault = "short_page"
max_entries = 7

[[rule]]
logs = "static"
endpoint = "data"
until = 6.0
every = 2
fault = "truncate"
"#;

#[test]
fn filters_and_dedup_hold_under_faults() {
    filtered_run(FaultSchedule::from_toml(FAULTS).expect("a valid schedule"));
}

fn filtered_run(faults: FaultSchedule) {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 0.0,
        initial_entries: PER_LOG,
        real_share: 0.15,
        seed: 15,
        faults,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let logs: Vec<String> = sim.logs().iter().map(|l| l.listed_url.clone()).collect();
    let first_log = logs[0].clone();
    let server = Server::following(&sim.log_list_url, &["--backfill", "all"]);
    let cases = cases(&first_log);
    // Every filtered client connects before the reference: if the reference saw everything
    // (the fetchers start half a second after the listener), so could they.
    let filtered: Vec<Collector> = cases
        .iter()
        .map(|(path, _)| Collector::connect(&server.ws_url(path)))
        .collect();
    let domains_only = Collector::connect(&server.ws_url("/domains-only?keyword=paypal"));
    let dedup = Collector::connect(&server.ws_url("/?dedup=cert"));
    let reference = Collector::connect(&server.ws_url("/"));
    let all = collect_reference(&reference, &logs);
    let everything: Vec<&Value> = all.values().collect();

    for ((path, pred), client) in cases.iter().zip(&filtered) {
        let got = keys(&drain(client, Duration::from_secs(2)));
        let got_set: BTreeSet<_> = got.iter().cloned().collect();
        assert_eq!(got.len(), got_set.len(), "{path}: a repeat");
        let want: BTreeSet<_> = all
            .iter()
            .filter(|(_, m)| pred(m))
            .map(|(k, _)| k.clone())
            .collect();
        assert!(
            !want.is_empty(),
            "{path}: the simulator emits matching entries"
        );
        assert!(want.len() < all.len(), "{path}: and others");
        assert_eq!(got_set, want, "{path}");
    }

    check_domains_only(&domains_only, &everything);
    check_dedup(&dedup, &everything, &server);
    // Every fault rule of the schedule (if any) really fired during the run.
    let fired: Vec<u64> = sim.fault_counts().iter().map(|c| c.fired).collect();
    assert!(fired.iter().all(|&n| n > 0), "fault rules fired: {fired:?}");
}

/// `/domains-only` with a filter: the whole dns_entries message of each matching certificate.
fn check_domains_only(domains_only: &Collector, everything: &[&Value]) {
    let got: Vec<Vec<String>> = drain(domains_only, Duration::from_secs(1))
        .iter()
        .map(|m| {
            assert_eq!(m["message_type"], "dns_entries");
            let mut d: Vec<String> = m["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect();
            d.sort();
            d
        })
        .collect();
    let mut want: Vec<Vec<String>> = everything
        .iter()
        .filter(|m| names(m).iter().any(|n| n.contains("paypal")))
        .map(|m| {
            let mut d: Vec<String> = m["data"]["leaf_cert"]["all_domains"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect();
            d.sort();
            d
        })
        .collect();
    let mut got = got;
    got.sort();
    want.sort();
    assert_eq!(got, want, "/domains-only?keyword=paypal");
}

/// dedup=cert: one message per distinct leaf, whichever log it came from first; the others
/// are counted as suppressed.
fn check_dedup(dedup: &Collector, everything: &[&Value], server: &Server) {
    let got = drain(dedup, Duration::from_secs(1));
    let sha = |m: &Value| {
        m["data"]["leaf_cert"]["sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let got_shas: Vec<String> = got.iter().map(sha).collect();
    let distinct: BTreeSet<String> = everything.iter().map(|m| sha(m)).collect();
    assert!(
        distinct.len() < everything.len(),
        "the simulator repeats real certificates"
    );
    assert_eq!(
        got_shas.len(),
        distinct.len(),
        "one message per certificate"
    );
    assert_eq!(got_shas.into_iter().collect::<BTreeSet<_>>(), distinct);
    let want = (everything.len() - distinct.len()) as u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, metrics) = server.http_get("/metrics");
        let name = "certstream_dedup_suppressed_total{reason=\"cert\"}";
        if common::metric(&metrics, name) == want {
            break;
        }
        assert!(Instant::now() < deadline, "{want} suppressed: {metrics}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_invalid_filter_is_refused_with_400_before_the_upgrade() {
    let sim = sim::start(SimConfig {
        rate_per_sec: 0.0,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = Server::following(&sim.log_list_url, &[]);
    let url = server.ws_url("/full-stream?regex=%28a%7B200%7D%29%7B200%7D");
    match tungstenite::connect(url) {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body =
                String::from_utf8_lossy(response.body().as_deref().unwrap_or(&[])).into_owned();
            assert!(
                body.contains("`regex`") && body.contains("too costly"),
                "{body}"
            );
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    // Each core's counters reach /metrics within a snapshot interval (1 s).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, metrics) = server.http_get("/metrics");
        let name = "certstream_ws_handshake_failures_total{reason=\"bad_filter\"}";
        if common::metric(&metrics, name) == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
