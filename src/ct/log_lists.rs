//! Several log lists as one (`--log-list` given more than once; by default Google's and
//! Apple's): the logs of every list in force, each once, with the lists it came from.
//!
//! # Rules
//!
//! - **Identity.** A log is its `log_id` (SHA-256 of its key, checked by the parser): the same
//!   log in two lists is followed once. [`LogInfo::lists`] names the lists it is followed for
//!   (those that have it usable, qualified or readonly), in the order the lists were given;
//!   for a log no list polls, every list that has it.
//! - **State.** A log is followed when any list has it usable, qualified or readonly: a log
//!   trusted by one browser is part of "every trusted log". When lists give it different
//!   states the merged state is the most live one (usable, then qualified, then readonly with
//!   the larger final tree size; a log no list polls keeps the first list's state), so a log
//!   one list has frozen is still followed past that point while another calls it usable. The
//!   difference is reported as a [`Disagreement::State`].
//! - **Conflict.** The same `log_id` with a different kind, URL or submission URL in a later
//!   list: the first list given wins (its entry is followed as it lists it) and the difference
//!   is reported as a [`Disagreement::Conflict`]. A different key under the same `log_id`
//!   cannot get this far (the parser refuses a `log_id` that is not the key's hash). Two
//!   different logs at one URL cannot both verify: the later listing is left out
//!   ([`Disagreement::UrlTaken`]).

use std::{collections::HashMap, fmt, sync::Arc};

use super::log_list::{LogInfo, LogKind, LogList, LogState};

/// One list in force: the name it is known by (its `--log-list` source) and its logs.
pub type NamedList<'a> = (&'a Arc<str>, &'a LogList);

/// Something the lists say differently about one log; the merge has settled it as its
/// [`Display`](fmt::Display) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disagreement {
    /// The lists give the log different states: each list's, and the state followed.
    State {
        log: String,
        states: Vec<(Arc<str>, LogState)>,
        merged: LogState,
    },
    /// Another list has the log (same `log_id`) with a different `field`; `kept` (the first
    /// list given that has the log) wins.
    Conflict {
        log: String,
        field: &'static str,
        kept: (Arc<str>, String),
        other: (Arc<str>, String),
    },
    /// `list` has a log at a URL where an earlier list has another log: left out.
    UrlTaken {
        log: String,
        list: Arc<str>,
        url: String,
        holder: String,
    },
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disagreement::State {
                log,
                states,
                merged,
            } => {
                write!(f, "log lists disagree on the state of {log:?}:")?;
                for (list, state) in states {
                    write!(f, " {} in {list},", state_name(*state))?;
                }
                let outcome = if is_polled(*merged) {
                    "followed"
                } else {
                    "not followed"
                };
                write!(f, " {outcome} as {}", state_name(*merged))
            }
            Disagreement::Conflict {
                log,
                field,
                kept,
                other,
            } => write!(
                f,
                "log list conflict on {log:?}: {field} {:?} in {} but {:?} in {}; following \
                 the first list's",
                kept.1, kept.0, other.1, other.0
            ),
            Disagreement::UrlTaken {
                log,
                list,
                url,
                holder,
            } => write!(
                f,
                "log {log:?} of {list} is left out: its URL {url} belongs to {holder:?} in an \
                 earlier list"
            ),
        }
    }
}

/// The logs of every list, merged, and what the lists disagreed on.
#[derive(Debug, Default)]
pub struct Merged {
    /// Each log once: the first list's logs in its order, then each later list's new ones.
    pub logs: Vec<LogInfo>,
    pub disagreements: Vec<Disagreement>,
}

fn is_polled(state: LogState) -> bool {
    matches!(
        state,
        LogState::Usable | LogState::Qualified | LogState::Readonly { .. }
    )
}

fn state_name(state: LogState) -> String {
    match state {
        LogState::Pending => "pending".into(),
        LogState::Qualified => "qualified".into(),
        LogState::Usable => "usable".into(),
        LogState::Readonly { final_tree_size } => format!("readonly at {final_tree_size}"),
        LogState::Retired => "retired".into(),
        LogState::Rejected => "rejected".into(),
        LogState::Unknown => "without a state".into(),
    }
}

/// How live a polled state is (higher wins); `None` for a state no list polls.
fn liveness(state: LogState) -> Option<(u8, u64)> {
    match state {
        LogState::Usable => Some((3, 0)),
        LogState::Qualified => Some((2, 0)),
        LogState::Readonly { final_tree_size } => Some((1, final_tree_size)),
        _ => None,
    }
}

/// The state a log is followed in: the most live polled state, else the first list's.
fn merged_state(states: &[(Arc<str>, LogState)]) -> LogState {
    let first = states.first().map_or(LogState::Unknown, |(_, s)| *s);
    states
        .iter()
        .filter_map(|(_, s)| liveness(*s).map(|rank| (rank, *s)))
        .max_by_key(|(rank, _)| *rank)
        .map_or(first, |(_, s)| s)
}

fn kind_name(kind: LogKind) -> String {
    match kind {
        LogKind::Rfc6962 => "rfc6962".into(),
        LogKind::StaticCt => "static".into(),
    }
}

/// The fields that must agree for two listings to be the same log to poll.
fn conflicts(kept: &LogInfo, other: &LogInfo) -> Vec<(&'static str, String, String)> {
    let mut found = Vec::new();
    if kept.kind != other.kind {
        found.push(("kind", kind_name(kept.kind), kind_name(other.kind)));
    }
    if kept.url != other.url {
        found.push(("url", kept.url.clone(), other.url.clone()));
    }
    if kept.submission_url != other.submission_url {
        let text = |u: &Option<String>| u.clone().unwrap_or_default();
        found.push((
            "submission_url",
            text(&kept.submission_url),
            text(&other.submission_url),
        ));
    }
    found
}

/// A log being merged: its entry (the first list's) and each list's state for it.
struct Entry {
    info: LogInfo,
    states: Vec<(Arc<str>, LogState)>,
}

/// Merges `lists` (in the order given, which decides conflicts) by the rules above.
pub fn merge(lists: &[NamedList<'_>]) -> Merged {
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_id: HashMap<[u8; 32], usize> = HashMap::new();
    let mut by_url: HashMap<String, usize> = HashMap::new();
    let mut disagreements = Vec::new();
    for (name, list) in lists {
        for log in &list.logs {
            if let Some(&i) = by_id.get(&log.log_id) {
                let entry = &mut entries[i];
                for (field, kept, other) in conflicts(&entry.info, log) {
                    disagreements.push(Disagreement::Conflict {
                        log: entry.info.description.clone(),
                        field,
                        kept: (entry.info.lists[0].clone(), kept),
                        other: ((*name).clone(), other),
                    });
                }
                if !entry.info.lists.contains(name) {
                    entry.info.lists.push((*name).clone());
                }
                entry.states.push(((*name).clone(), log.state));
                continue;
            }
            if let Some(&holder) = by_url.get(&log.url) {
                disagreements.push(Disagreement::UrlTaken {
                    log: log.description.clone(),
                    list: (*name).clone(),
                    url: log.url.clone(),
                    holder: entries[holder].info.description.clone(),
                });
                continue;
            }
            let mut info = log.clone();
            info.lists = vec![(*name).clone()];
            by_id.insert(info.log_id, entries.len());
            by_url.insert(info.url.clone(), entries.len());
            entries.push(Entry {
                states: vec![((*name).clone(), log.state)],
                info,
            });
        }
    }
    let logs = entries
        .into_iter()
        .map(|e| settle(e, &mut disagreements))
        .collect();
    Merged {
        logs,
        disagreements,
    }
}

/// A log as followed: its merged state, and the lists it is followed for. A difference of
/// state between the lists is added to `disagreements`.
fn settle(entry: Entry, disagreements: &mut Vec<Disagreement>) -> LogInfo {
    let Entry { mut info, states } = entry;
    info.state = merged_state(&states);
    let polled_in: Vec<Arc<str>> = states
        .iter()
        .filter(|(_, s)| is_polled(*s))
        .map(|(name, _)| name.clone())
        .collect();
    if !polled_in.is_empty() {
        info.lists = polled_in;
    }
    if states.iter().any(|(_, s)| *s != states[0].1) {
        disagreements.push(Disagreement::State {
            log: info.description.clone(),
            states,
            merged: info.state,
        });
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct::{
        log_list::{parse_log_list, EMBEDDED_APPLE_LOG_LIST, EMBEDDED_LOG_LIST},
        sig::{
            test_keys::{ARGON2020, ARGON2025H2, NAVIGLI2025H2},
            LogKey,
        },
    };

    fn info(key: &str, url: &str, state: LogState) -> LogInfo {
        let key = LogKey::from_base64(key).unwrap();
        LogInfo {
            kind: LogKind::Rfc6962,
            description: url.trim_start_matches("https://").into(),
            operator: "op".into(),
            log_id: key.log_id(),
            key,
            url: url.into(),
            submission_url: None,
            mmd_secs: 86400,
            state,
            lists: Vec::new(),
        }
    }

    fn list(logs: Vec<LogInfo>) -> LogList {
        LogList {
            version: "1".into(),
            logs,
            skipped: Vec::new(),
        }
    }

    fn names() -> (Arc<str>, Arc<str>) {
        ("google".into(), "apple".into())
    }

    fn lists_of(merged: &Merged) -> Vec<(&str, Vec<&str>, LogState)> {
        merged
            .logs
            .iter()
            .map(|l| {
                let lists = l.lists.iter().map(|n| &**n).collect();
                (l.url.as_str(), lists, l.state)
            })
            .collect()
    }

    #[test]
    fn the_same_log_in_two_lists_is_one_log_from_both() {
        let (g, a) = names();
        let google = list(vec![
            info(ARGON2020, "https://both/", LogState::Usable),
            info(ARGON2025H2, "https://google-only/", LogState::Usable),
        ]);
        let apple = list(vec![
            info(NAVIGLI2025H2, "https://apple-only/", LogState::Qualified),
            info(ARGON2020, "https://both/", LogState::Usable),
        ]);
        let merged = merge(&[(&g, &google), (&a, &apple)]);
        assert_eq!(
            lists_of(&merged),
            [
                ("https://both/", vec!["google", "apple"], LogState::Usable),
                ("https://google-only/", vec!["google"], LogState::Usable),
                ("https://apple-only/", vec!["apple"], LogState::Qualified),
            ]
        );
        assert!(
            merged.disagreements.is_empty(),
            "{:?}",
            merged.disagreements
        );
    }

    #[test]
    fn a_log_polled_in_either_list_is_followed_in_its_most_live_state() {
        let (g, a) = names();
        let cases = [
            (LogState::Usable, LogState::Rejected, LogState::Usable),
            (LogState::Retired, LogState::Usable, LogState::Usable),
            (LogState::Pending, LogState::Qualified, LogState::Qualified),
            (
                LogState::Readonly {
                    final_tree_size: 10,
                },
                LogState::Usable,
                LogState::Usable,
            ),
            (
                LogState::Readonly {
                    final_tree_size: 10,
                },
                LogState::Readonly {
                    final_tree_size: 12,
                },
                LogState::Readonly {
                    final_tree_size: 12,
                },
            ),
            (LogState::Retired, LogState::Rejected, LogState::Retired),
        ];
        for (in_google, in_apple, want) in cases {
            let google = list(vec![info(ARGON2020, "https://x/", in_google)]);
            let apple = list(vec![info(ARGON2020, "https://x/", in_apple)]);
            let merged = merge(&[(&g, &google), (&a, &apple)]);
            assert_eq!(merged.logs.len(), 1);
            assert_eq!(merged.logs[0].state, want, "{in_google:?} + {in_apple:?}");
            assert_eq!(
                merged.disagreements,
                [Disagreement::State {
                    log: "x/".into(),
                    states: vec![(g.clone(), in_google), (a.clone(), in_apple)],
                    merged: want,
                }]
            );
        }
    }

    #[test]
    fn a_log_is_listed_for_the_lists_that_poll_it() {
        let (g, a) = names();
        let google = list(vec![
            info(ARGON2020, "https://x/", LogState::Rejected),
            info(ARGON2025H2, "https://y/", LogState::Retired),
        ]);
        let apple = list(vec![
            info(ARGON2020, "https://x/", LogState::Usable),
            info(ARGON2025H2, "https://y/", LogState::Rejected),
        ]);
        let merged = merge(&[(&g, &google), (&a, &apple)]);
        assert_eq!(
            lists_of(&merged),
            [
                ("https://x/", vec!["apple"], LogState::Usable),
                ("https://y/", vec!["google", "apple"], LogState::Retired),
            ]
        );
    }

    #[test]
    fn a_disagreement_on_state_says_what_each_list_says_and_the_outcome() {
        let (g, a) = names();
        let google = list(vec![info(ARGON2020, "https://x/", LogState::Usable)]);
        let apple = list(vec![info(ARGON2020, "https://x/", LogState::Rejected)]);
        let merged = merge(&[(&g, &google), (&a, &apple)]);
        assert_eq!(
            merged.disagreements[0].to_string(),
            "log lists disagree on the state of \"x/\": usable in google, rejected in apple, \
             followed as usable"
        );
        let google = list(vec![info(ARGON2020, "https://x/", LogState::Retired)]);
        let merged = merge(&[(&g, &google), (&a, &apple)]);
        assert!(
            merged.disagreements[0]
                .to_string()
                .ends_with("not followed as retired"),
            "{}",
            merged.disagreements[0]
        );
    }

    #[test]
    fn a_conflict_is_resolved_for_the_first_list_given() {
        let (g, a) = names();
        let google = list(vec![info(
            ARGON2020,
            "https://google.example/",
            LogState::Usable,
        )]);
        let apple = list(vec![info(
            ARGON2020,
            "https://apple.example/",
            LogState::Usable,
        )]);
        for (first, second, kept) in [
            (&g, &a, "https://google.example/"),
            (&a, &g, "https://apple.example/"),
        ] {
            let (l1, l2) = if first == &g {
                (&google, &apple)
            } else {
                (&apple, &google)
            };
            let merged = merge(&[(first, l1), (second, l2)]);
            assert_eq!(merged.logs.len(), 1, "still one log: same log_id");
            assert_eq!(merged.logs[0].url, kept);
            assert_eq!(
                merged.logs[0].lists,
                [first.clone(), second.clone()],
                "both lists have it"
            );
            let [Disagreement::Conflict { field, kept: k, .. }] = merged.disagreements.as_slice()
            else {
                panic!("one conflict: {:?}", merged.disagreements);
            };
            assert_eq!((*field, k.1.as_str()), ("url", kept));
        }
        let mut tiled = info(ARGON2020, "https://google.example/", LogState::Usable);
        tiled.kind = LogKind::StaticCt;
        tiled.submission_url = Some("https://submit.example/".into());
        let apple = list(vec![tiled]);
        let merged = merge(&[(&g, &google), (&a, &apple)]);
        let fields: Vec<&str> = merged
            .disagreements
            .iter()
            .map(|d| match d {
                Disagreement::Conflict { field, .. } => *field,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(fields, ["kind", "submission_url"]);
        assert!(merged.disagreements[0]
            .to_string()
            .contains("kind \"rfc6962\" in google but \"static\" in apple"));
    }

    #[test]
    fn a_second_log_at_a_taken_url_is_left_out() {
        let (g, a) = names();
        let google = list(vec![info(ARGON2020, "https://x/", LogState::Usable)]);
        let apple = list(vec![
            info(NAVIGLI2025H2, "https://x/", LogState::Usable),
            info(ARGON2025H2, "https://y/", LogState::Usable),
        ]);
        let merged = merge(&[(&g, &google), (&a, &apple)]);
        assert_eq!(
            lists_of(&merged),
            [
                ("https://x/", vec!["google"], LogState::Usable),
                ("https://y/", vec!["apple"], LogState::Usable),
            ]
        );
        assert!(matches!(
            &merged.disagreements[..],
            [Disagreement::UrlTaken { holder, .. }] if holder == "x/"
        ));
    }

    #[test]
    fn one_list_merges_to_itself() {
        let g: Arc<str> = "google".into();
        let google = parse_log_list(EMBEDDED_LOG_LIST).unwrap();
        let merged = merge(&[(&g, &google)]);
        assert_eq!(merged.logs.len(), google.logs.len());
        assert!(merged.disagreements.is_empty());
        assert!(merged
            .logs
            .iter()
            .zip(&google.logs)
            .all(|(m, l)| m.log_id == l.log_id && m.state == l.state && m.lists == [g.clone()]));
    }

    /// The two embedded lists (Google 81.14 of 2026-01-20, Apple 511 of 2026-04-01; facts in
    /// the fixtures' SOURCES.md): 73 logs in both, no conflict, 20 state disagreements, and 75
    /// polled logs in all: 53 for both lists, 18 for Google's alone (Apple's rejects 17 and
    /// has Luoshu2027 pending), 4 for Apple's alone (Cloudflare Raio).
    #[test]
    fn the_embedded_google_and_apple_lists_merge() {
        let (g, a) = names();
        let google = parse_log_list(EMBEDDED_LOG_LIST).unwrap();
        let apple = parse_log_list(EMBEDDED_APPLE_LOG_LIST).unwrap();
        let merged = merge(&[(&g, &google), (&a, &apple)]);
        assert_eq!(merged.logs.len(), google.logs.len() + apple.logs.len() - 73);
        assert!(!merged
            .disagreements
            .iter()
            .any(|d| !matches!(d, Disagreement::State { .. })));
        assert_eq!(merged.disagreements.len(), 20);
        let polled: Vec<&LogInfo> = merged.logs.iter().filter(|l| l.is_polled()).collect();
        assert_eq!(polled.len(), 75);
        let for_both = polled.iter().filter(|l| l.lists == [g.clone(), a.clone()]);
        assert_eq!(for_both.count(), 53);
        assert_eq!(polled.iter().filter(|l| l.lists == [g.clone()]).count(), 18);
        let apple_only: Vec<&str> = polled
            .iter()
            .filter(|l| l.lists == [a.clone()])
            .map(|l| l.description.as_str())
            .collect();
        assert_eq!(apple_only.len(), 4, "{apple_only:?}");
        assert!(apple_only.iter().all(|d| d.contains("Raio")));
        let luoshu = merged
            .logs
            .iter()
            .find(|l| l.description.contains("Luoshu2027"))
            .unwrap();
        assert_eq!(luoshu.state, LogState::Qualified, "pending in Apple's");
    }
}
