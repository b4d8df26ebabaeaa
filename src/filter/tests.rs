//! Matching semantics (label boundaries, wildcards, case, IDNs, regex bounds), query parsing,
//! the per-core registry's batched rebuilds and the dedup window.

use std::{rc::Rc, sync::Arc};

use super::{names::FactsInput, *};
use crate::frame::{EntryFacts, EntryMeta};

fn facts_with(names: &[&str], precert: bool, issuer_o: &str, log: (&str, &str)) -> EntryFacts {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let facts = names::facts(&FactsInput {
        names: &names,
        issuer_cn: Some("R11"),
        issuer_o: Some(issuer_o),
        precert,
        log_name: log.0,
        log_url: log.1,
        issuance_key: None,
    });
    Arc::unwrap_or_clone(facts)
}

fn facts(names: &[&str]) -> EntryFacts {
    facts_with(
        names,
        false,
        "Let's Encrypt",
        (
            "Google 'Argon2025h2' log",
            "https://ct.googleapis.com/logs/us1/argon2025h2/",
        ),
    )
}

/// Whether a client with query `q` gets a certificate with `f` (a one-client index).
fn passes(q: &str, f: &EntryFacts) -> bool {
    let spec = parse_query(q).unwrap().expect("a filter");
    Index::build(&[(0, Arc::new(spec))]).matches(f).contains(0)
}

fn refused(q: &str) -> FilterError {
    parse_query(q).expect_err(q)
}

#[test]
fn domain_matches_on_label_boundaries_only() {
    let q = "domain=example.com";
    assert!(passes(q, &facts(&["example.com"])));
    assert!(passes(q, &facts(&["a.example.com"])));
    assert!(passes(q, &facts(&["x.y.example.com"])));
    assert!(passes(q, &facts(&["*.example.com"])));
    assert!(passes(q, &facts(&["other.org", "www.example.com."])));
    assert!(!passes(q, &facts(&["badexample.com"])));
    assert!(!passes(q, &facts(&["example.com.evil.net"])));
    assert!(!passes(q, &facts(&["example.co"])));
    assert!(!passes(q, &facts(&["examplecom"])));
    assert!(!passes(q, &facts(&[])));
}

#[test]
fn wildcard_domain_matches_only_subdomains() {
    let q = "domain=*.example.com";
    assert!(!passes(q, &facts(&["example.com"])));
    assert!(passes(q, &facts(&["a.example.com"])));
    assert!(passes(q, &facts(&["*.example.com"])));
    assert!(!passes(q, &facts(&["a.badexample.com"])));
    // Both forms given by two clients of one core: each keeps its own meaning.
    let specs = [
        (
            0,
            Arc::new(parse_query("domain=example.com").unwrap().unwrap()),
        ),
        (1, Arc::new(parse_query(q).unwrap().unwrap())),
    ];
    let index = Index::build(&specs);
    let bare = index.matches(&facts(&["example.com"]));
    assert!(bare.contains(0) && !bare.contains(1));
    let sub = index.matches(&facts(&["www.example.com"]));
    assert!(sub.contains(0) && sub.contains(1));
}

#[test]
fn names_keywords_and_domains_are_case_insensitive() {
    assert!(passes(
        "keyword=PayPal",
        &facts(&["login.PAYPAL.com.verify.example"])
    ));
    assert!(passes("domain=Example.COM", &facts(&["WWW.EXAMPLE.COM"])));
    assert!(passes("regex=^WWW%5C.", &facts(&["www.example.com"])));
    assert!(!passes("keyword=paypal", &facts(&["pay-pal.example"])));
}

#[test]
fn idns_match_in_a_label_and_unicode_forms() {
    // bücher.example
    let f = facts(&["www.xn--bcher-kva.example"]);
    assert_eq!(&*f.alt_names, ["www.bücher.example".into()]);
    assert!(passes("keyword=bücher", &f));
    assert!(
        passes("keyword=B%C3%BCCHER", &f),
        "percent-encoded, upper case"
    );
    assert!(passes("keyword=xn--bcher", &f));
    assert!(
        passes("domain=bücher.example", &f),
        "Unicode domain → A-label"
    );
    assert!(passes("domain=xn--bcher-kva.example", &f));
    assert!(passes("regex=^www%5C.bü", &f));
    assert!(!passes("keyword=bucher", &f));
    // A Cyrillic look-alike of a Latin name is a different name.
    let cyrillic = facts(&["xn--pypal-4ve.com"]); // pаypal.com with a Cyrillic а
    assert!(!passes("domain=paypal.com", &cyrillic));
    assert!(passes("keyword=pаypal", &cyrillic));
}

#[test]
fn regexes_are_bounded_and_refusals_say_why() {
    for costly in [r"\w{500}", "(a{200}){200}", "(.{100}){100}"] {
        let e = refused(&format!("regex={costly}"));
        assert_eq!(e.param, "regex");
        assert!(e.reason.contains("too costly"), "{costly}: {e}");
    }
    let nested = format!("regex={}a{}", "(".repeat(40), ")".repeat(40));
    assert_eq!(refused(&nested).param, "regex");
    let long = format!("regex={}", "a".repeat(limits::FILTER_REGEX_BYTES_MAX + 1));
    assert!(refused(&long).reason.contains("longer than"));
    let e = refused("regex=(unclosed");
    assert!(e.reason.contains("does not parse"), "{e}");
    assert!(refused("regex=").reason.contains("empty"));
    let many = (0..=limits::FILTER_REGEXES_MAX)
        .map(|i| format!("regex=a{i}"))
        .collect::<Vec<_>>()
        .join("&");
    assert!(refused(&many).reason.contains("regexes"));
    // An ordinary look-alike regex is fine.
    assert!(passes(
        r"regex=p[a4]yp[a4]l",
        &facts(&["secure-payp4l.example"])
    ));
}

#[test]
fn query_parsing_lists_encoding_and_errors() {
    let spec = parse_query("token=x&domain=a.com,b.org&domain=%2A.c.net&keyword=x,y&cb=1")
        .unwrap()
        .unwrap();
    let names: Vec<_> = spec
        .domains
        .iter()
        .map(|d| (d.name.as_str(), d.subdomains_only))
        .collect();
    assert_eq!(names, [("a.com", false), ("b.org", false), ("c.net", true)]);
    assert_eq!(spec.keywords, ["x", "y"]);
    assert_eq!(parse_query("token=abc&x=1").unwrap(), None, "no filter");
    assert_eq!(parse_query("").unwrap(), None);
    assert_eq!(refused("domain=").param, "domain");
    assert_eq!(refused("domain=a..b").param, "domain");
    assert_eq!(refused("domain=a.*.com").param, "domain");
    assert_eq!(refused("keyword=%zz").reason, "bad percent-encoding");
    assert_eq!(refused("keyword=%C3").reason, "bad percent-encoding");
    assert_eq!(refused("update_type=Cert").param, "update_type");
    assert_eq!(
        refused("update_type=X509LogEntry,PrecertLogEntry").param,
        "update_type"
    );
    assert_eq!(refused("dedup=yes").param, "dedup");
    let too_many = (0..=limits::FILTER_PATTERNS_MAX)
        .map(|i| format!("k{i}"))
        .collect::<Vec<_>>()
        .join(",");
    assert!(refused(&format!("keyword={too_many}"))
        .reason
        .contains("patterns"));
    let big = "k".repeat(200);
    let too_big = (0..50)
        .map(|_| format!("keyword={big}"))
        .collect::<Vec<_>>();
    assert!(refused(&too_big.join("&")).reason.contains("bytes"));
    let shown = refused("issuer=").to_string();
    assert_eq!(shown, "invalid filter parameter `issuer`: empty value");
}

#[test]
fn any_name_pattern_and_every_other_constraint() {
    let f = facts(&["shop.example.com"]);
    // Any name pattern: one of them suffices.
    assert!(passes("keyword=nomatch&domain=example.com", &f));
    assert!(!passes("keyword=nomatch&domain=other.com", &f));
    // Every other constraint must hold.
    assert!(passes("domain=example.com&issuer=encrypt", &f));
    assert!(!passes("domain=example.com&issuer=digicert", &f));
    assert!(passes("issuer=R11", &f), "CN, case-insensitive");
    assert!(
        passes("issuer=digicert&issuer=let's", &f),
        "one of several issuers"
    );
    assert!(passes("update_type=X509LogEntry", &f));
    assert!(!passes("update_type=PrecertLogEntry", &f));
    let pre = facts_with(&["a.example.com"], true, "X", ("n", "https://log.example/"));
    assert!(passes(
        "update_type=PrecertLogEntry&domain=example.com",
        &pre
    ));
    // Logs: by name (substring) or by URL prefix, scheme optional.
    assert!(passes("log=argon2025h2", &f));
    assert!(passes("log=https://ct.googleapis.com/logs/us1/", &f));
    assert!(passes("log=ct.googleapis.com/logs", &f));
    assert!(!passes("log=https://ct.googleapis.com/logs/eu1/", &f));
    assert!(!passes("log=xenon", &f));
    assert!(!passes("log=argon&domain=example.com&issuer=digicert", &f));
}

fn meta(names: &[&str], leaf: u8, issuance: Option<u8>, seen_secs: u64) -> EntryMeta {
    let mut f = facts(names);
    f.issuance_key = issuance.map(|b| [b; 32]);
    EntryMeta {
        leaf_sha256: [leaf; 32],
        seen_us: seen_secs * 1_000_000,
        facts: Arc::new(f),
        ..EntryMeta::default()
    }
}

fn spec(q: &str) -> Arc<FilterSpec> {
    Arc::new(parse_query(q).unwrap().unwrap())
}

#[test]
fn a_core_matches_new_clients_at_once_and_after_the_batched_rebuild() {
    let core = Rc::new(CoreFilters::default());
    assert!(
        core.route(&meta(&["a.com"], 1, None, 0)).is_none(),
        "no client: no work"
    );
    let a = core.register(spec("domain=a.com"));
    let b = core.register(spec("keyword=shop"));
    let check = |core: &CoreFilters| {
        let r = core.route(&meta(&["shop.a.com"], 1, None, 0)).unwrap();
        assert!(a.wants(Some(&r)) && b.wants(Some(&r)));
        let r = core.route(&meta(&["a.org"], 2, None, 0)).unwrap();
        assert!(!a.wants(Some(&r)) && !b.wants(Some(&r)));
        let r = core.route(&meta(&["x.a.com"], 3, None, 0)).unwrap();
        assert!(a.wants(Some(&r)) && !b.wants(Some(&r)));
    };
    check(&core); // from the recent index
    core.rebuild_now();
    assert!(core.state.borrow().recent_slots.is_empty());
    check(&core); // from the main index
                  // A released slot is not reused before the main index forgot it.
    let slot_b = b.slot;
    drop(b);
    let c = core.register(spec("keyword=zzz"));
    assert_ne!(c.slot, slot_b);
    let r = core.route(&meta(&["shop.example"], 4, None, 0)).unwrap();
    assert!(!c.wants(Some(&r)));
    core.rebuild_now();
    let d = core.register(spec("keyword=zzz"));
    assert_eq!(d.slot, slot_b, "reused once rebuilt without it");
    let r = core.route(&meta(&["shop.example"], 5, None, 0)).unwrap();
    assert!(!d.wants(Some(&r)), "the old client's keyword is gone");
    // Entries published before any filter existed are not wanted by a filter.
    assert!(!a.wants(None));
}

#[test]
fn dedup_suppresses_per_reason_and_only_for_clients_that_ask() {
    let core = Rc::new(CoreFilters::default());
    let plain = core.register(spec("domain=a.com"));
    let by_cert = core.register(spec("dedup=cert"));
    let by_issuance = core.register(spec("dedup=issuance&domain=a.com"));
    let wants = |r: &Routing| {
        (
            plain.wants(Some(r)),
            by_cert.wants(Some(r)),
            by_issuance.wants(Some(r)),
        )
    };
    // A precert, the same precert in another log, then its final certificate.
    let first = core.route(&meta(&["a.com"], 1, Some(9), 100)).unwrap();
    assert_eq!(wants(&first), (true, true, true));
    let again = core.route(&meta(&["a.com"], 1, Some(9), 101)).unwrap();
    assert_eq!(wants(&again), (true, false, false));
    let final_cert = core.route(&meta(&["a.com"], 2, Some(9), 102)).unwrap();
    assert_eq!(wants(&final_cert), (true, true, false));
    assert_eq!(core.suppressed(), (2, 1));
    // Past the window the same certificate is new again.
    core.set_dedup_window(std::time::Duration::from_secs(60));
    let later = core
        .route(&meta(&["a.com"], 1, Some(9), 100 + 3600))
        .unwrap();
    assert_eq!(wants(&later), (true, true, true));
}

#[test]
fn dedup_window_is_bounded_and_expires_in_order() {
    let mut w = dedup::DedupWindow::new(10, 4);
    for i in 0..4u8 {
        assert_eq!(w.observe(&[i; 32], None, 0), Dup::default());
    }
    assert_eq!(w.len(), 4);
    // A fifth key pushes the oldest out: it is no longer a duplicate.
    assert_eq!(w.observe(&[4; 32], None, 0), Dup::default());
    assert_eq!(w.len(), 4);
    assert!(!w.observe(&[0; 32], None, 0).cert);
    assert!(w.observe(&[4; 32], None, 0).cert);
    // Everything older than the window goes.
    assert!(!w.observe(&[4; 32], None, 11).cert);
    assert_eq!(w.len(), 1);
    assert!(w.heap_bytes() > 0);
}

#[test]
fn label_suffixes_cut_at_dots() {
    let got: Vec<_> = names::label_suffixes("a.b.c").collect();
    assert_eq!(got, ["a.b.c", "b.c", "c"]);
    let got: Vec<_> = names::label_suffixes("a.").collect();
    assert_eq!(got, ["a."]);
}

#[test]
fn dedup_memory_per_key_stays_near_the_documented_figure() {
    // 2^17 keys: the set's table and the ring are at the same fill as at the 4 Mi bound.
    let keys = 1 << 17;
    let mut w = dedup::DedupWindow::new(3600, keys);
    for i in 0..(keys as u64 + 1000) {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&i.to_le_bytes());
        w.observe(&hash, None, 0);
    }
    assert_eq!(w.len(), keys);
    let per_key = w.heap_bytes() as f64 / keys as f64;
    assert!((24.0..=40.0).contains(&per_key), "{per_key} bytes per key");
}

/// The per-certificate matching cost and the rebuild cost, printed (not asserted: speed is the
/// benchmarks' business). Run in release:
/// `cargo test -p certstream --release --lib filter::tests::matching_cost_report -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, run by hand in release"]
fn matching_cost_report() {
    use std::time::Instant;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut word = |len: usize| -> String {
        (0..len)
            .map(|_| char::from(b'a' + (next() % 26) as u8))
            .collect()
    };
    let names: Vec<EntryFacts> = (0..20_000)
        .map(|i| {
            let base = format!("{}-{i}-1.{}.com", word(6), word(5));
            let mut n = vec![base.clone()];
            for _ in 0..(i % 3) {
                n.push(format!("{}.{base}", word(4)));
            }
            let refs: Vec<&str> = n.iter().map(String::as_str).collect();
            facts(&refs)
        })
        .collect();
    for clients in [10usize, 100, 500] {
        let specs: Vec<(Slot, Arc<FilterSpec>)> = (0..clients)
            .map(|c| {
                let keywords: Vec<String> = (0..50).map(|_| word(7)).collect();
                let domains: Vec<String> = (0..5).map(|j| format!("brand{c}x{j}.com")).collect();
                let only = std::env::var("COST_ONLY").unwrap_or_default();
                let q = match only.as_str() {
                    "keyword" => format!("keyword={}", keywords.join(",")),
                    "domain" => format!("domain={}", domains.join(",")),
                    "regex" => format!("regex=%5Elogin%5C.{}%5Cd%2B", word(5)),
                    _ => format!(
                        "keyword={}&domain={}&regex=%5Elogin%5C.{}%5Cd%2B",
                        keywords.join(","),
                        domains.join(","),
                        word(5)
                    ),
                };
                (c as Slot, Arc::new(parse_query(&q).unwrap().unwrap()))
            })
            .collect();
        let t = Instant::now();
        let index = Index::build(&specs);
        let build = t.elapsed();
        let t = Instant::now();
        let mut hits = 0usize;
        for f in &names {
            hits += usize::from(!index.matches(f).is_empty());
        }
        let per_cert = t.elapsed() / names.len() as u32;
        println!(
            "{clients} clients ({} patterns): build {build:?}, match {per_cert:?} per \
             certificate ({hits} matched)",
            clients * 56
        );
    }
}

#[test]
fn on_an_executor_the_batched_rebuild_runs_off_the_core_and_is_swapped_in() {
    glommio::LocalExecutorBuilder::default()
        .spawn(|| async {
            let core = Rc::new(CoreFilters::default());
            let a = subscribe(&core, spec("domain=a.com"));
            let b = subscribe(&core, spec("keyword=shop"));
            assert_eq!(core.state.borrow().recent_slots.len(), 2);
            // Waits for the rebuild (FILTER_REBUILD_DELAY, then the blocking thread) and for the
            // task to find nothing more to do, bounded.
            for _ in 0..100 {
                if core.state.borrow().recent_slots.is_empty() && !core.rebuilder.get() {
                    break;
                }
                glommio::timer::sleep(std::time::Duration::from_millis(50)).await;
            }
            {
                let st = core.state.borrow();
                assert!(
                    st.recent_slots.is_empty() && st.recent.is_empty(),
                    "folded in"
                );
                assert!(!st.main.is_empty() && !st.rebuilding);
            }
            assert!(
                !core.rebuilder.get(),
                "the rebuild task ended with nothing pending"
            );
            let r = core.route(&meta(&["shop.a.com"], 1, None, 0)).unwrap();
            assert!(a.wants(Some(&r)) && b.wants(Some(&r)));
            // A client that leaves: the next rebuild forgets its patterns and frees its slot.
            drop(b);
            schedule_rebuild(&core);
            for _ in 0..100 {
                if core.state.borrow().retired.is_empty() && !core.rebuilder.get() {
                    break;
                }
                glommio::timer::sleep(std::time::Duration::from_millis(50)).await;
            }
            assert_eq!(core.state.borrow().free.len(), 1, "the slot is free again");
            let r = core.route(&meta(&["shop.b.org"], 2, None, 0)).unwrap();
            assert!(r.matched.is_empty(), "the keyword left with its client");
        })
        .unwrap()
        .join()
        .unwrap();
}
