//! The compiled form of many clients' filters: shared automata whose one pass over a
//! certificate's facts yields the set of clients ([`Bits`] over filter slots) it passes.
//!
//! Per certificate the cost is one Aho-Corasick pass over each name (keywords), one hash
//! lookup per label suffix of each name (domains), one regex-set search per name, one
//! Aho-Corasick pass over the issuer's CN and O, a cached lookup per log, and a few AND/ORs of
//! bitsets (slots / 64 words each): it does not grow with the number of patterns, only (by
//! those words) with the number of filtered clients.

use std::{cell::RefCell, collections::HashMap, sync::Arc};

use aho_corasick::{AhoCorasick, MatchKind};

use super::{
    names::label_suffixes,
    regex::RegexSet,
    spec::{FilterSpec, UpdateType},
};
use crate::frame::EntryFacts;

/// A client's filter slot on its core: its bit in every [`Bits`].
pub type Slot = u32;

/// A set of slots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bits(Vec<u64>);

impl Bits {
    pub fn with_slots(slots: usize) -> Self {
        Bits(vec![0; slots.div_ceil(64)])
    }

    pub fn set(&mut self, slot: Slot) {
        let (word, bit) = (slot as usize / 64, slot % 64);
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    pub fn contains(&self, slot: Slot) -> bool {
        let (word, bit) = (slot as usize / 64, slot % 64);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    pub fn union_with(&mut self, other: &Bits) {
        if other.0.len() > self.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    pub fn intersect_with(&mut self, other: &Bits) {
        for (i, a) in self.0.iter_mut().enumerate() {
            *a &= other.0.get(i).copied().unwrap_or(0);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    fn set_all(&mut self, slots: &[Slot]) {
        for &s in slots {
            self.set(s);
        }
    }
}

/// Owners (slots) of each pattern of an automaton, by pattern id.
type Owners = Vec<Vec<Slot>>;

/// Distinct strings with the slots that gave them, in first-seen order.
fn distinct<'a>(items: impl Iterator<Item = (&'a str, Slot)>) -> (Vec<&'a str>, Owners) {
    let mut at: HashMap<&str, usize> = HashMap::new();
    let (mut patterns, mut owners): (Vec<&str>, Owners) = (Vec::new(), Vec::new());
    for (item, slot) in items {
        let i = *at.entry(item).or_insert_with(|| {
            patterns.push(item);
            owners.push(Vec::new());
            patterns.len() - 1
        });
        owners[i].push(slot);
    }
    (patterns, owners)
}

fn substring_automaton(patterns: &[&str]) -> Option<AhoCorasick> {
    if patterns.is_empty() {
        return None;
    }
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .build(patterns)
        .map_err(|e| tracing::warn!(error = %e, "keyword automaton does not build"))
        .ok()
}

/// Many clients' filters, compiled. `Send`: built off the executor, installed on it.
#[derive(Debug, Default)]
pub struct Index {
    /// Every slot compiled in.
    members: Bits,
    /// Slots without a name pattern / issuer / log constraint: they pass that test always.
    no_names: Bits,
    no_issuer: Bits,
    no_log: Bits,
    /// Slots accepting each update type.
    x509: Bits,
    precert: Bits,
    keywords: Option<AhoCorasick>,
    keyword_owners: Owners,
    /// Registered name → (slot, subdomains only).
    domains: HashMap<Box<str>, Vec<(Slot, bool)>>,
    regexes: Vec<(RegexSet, Owners)>,
    /// Reused per-search scratch of each regex set (no allocation per certificate).
    regex_scratch: RefCell<Vec<regex_automata::PatternSet>>,
    issuers: Option<AhoCorasick>,
    issuer_owners: Owners,
    /// `log=` values with their owners; resolved per log URL once, then cached.
    logs: Vec<(String, Vec<Slot>)>,
    log_cache: RefCell<HashMap<Box<str>, Bits>>,
}

impl Index {
    /// Compiles `filters`.
    pub fn build(filters: &[(Slot, Arc<FilterSpec>)]) -> Index {
        let mut index = Index::default();
        for (slot, spec) in filters {
            index.add_masks(*slot, spec);
            for d in &spec.domains {
                let owners = index.domains.entry(d.name.as_str().into()).or_default();
                owners.push((*slot, d.subdomains_only));
            }
            for log in &spec.logs {
                index.logs.push((log.clone(), vec![*slot]));
            }
        }
        let each = |f: fn(&FilterSpec) -> &Vec<String>| {
            filters
                .iter()
                .flat_map(move |(slot, spec)| f(spec).iter().map(move |s| (s.as_str(), *slot)))
        };
        let (keywords, keyword_owners) = distinct(each(|s| &s.keywords));
        index.keywords = substring_automaton(&keywords);
        index.keyword_owners = keyword_owners;
        let (issuers, issuer_owners) = distinct(each(|s| &s.issuers));
        index.issuers = substring_automaton(&issuers);
        index.issuer_owners = issuer_owners;
        let (regexes, regex_owners) = distinct(each(|s| &s.regexes));
        index.regexes = regex_sets(&regexes, regex_owners);
        let scratch = index.regexes.iter().map(|(s, _)| s.scratch()).collect();
        index.regex_scratch = RefCell::new(scratch);
        index
    }

    fn add_masks(&mut self, slot: Slot, spec: &FilterSpec) {
        self.members.set(slot);
        if !spec.has_name_patterns() {
            self.no_names.set(slot);
        }
        if spec.issuers.is_empty() {
            self.no_issuer.set(slot);
        }
        if spec.logs.is_empty() {
            self.no_log.set(slot);
        }
        if spec.update_type != Some(UpdateType::Precert) {
            self.x509.set(slot);
        }
        if spec.update_type != Some(UpdateType::X509) {
            self.precert.set(slot);
        }
    }

    /// Whether nothing is compiled in.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The slots whose filter `facts` passes.
    pub fn matches(&self, facts: &EntryFacts) -> Bits {
        if self.is_empty() {
            return Bits::default();
        }
        let mut out = self.name_matches(facts);
        if self.issuers.is_some() {
            out.intersect_with(&self.issuer_matches(facts));
        }
        out.intersect_with(if facts.precert {
            &self.precert
        } else {
            &self.x509
        });
        if !self.logs.is_empty() {
            out.intersect_with(&self.log_matches(&facts.log_name, &facts.log_url));
        }
        out.intersect_with(&self.members);
        out
    }

    fn name_matches(&self, facts: &EntryFacts) -> Bits {
        let mut out = self.no_names.clone();
        let mut scratch = self.regex_scratch.borrow_mut();
        for name in facts.names.iter().chain(facts.alt_names.iter()) {
            self.domain_matches(name, &mut out);
            if let Some(ac) = &self.keywords {
                for m in ac.find_overlapping_iter(name.as_ref()) {
                    out.set_all(&self.keyword_owners[m.pattern().as_usize()]);
                }
            }
            for ((set, owners), scratch) in self.regexes.iter().zip(scratch.iter_mut()) {
                set.matches(name, scratch, |i| out.set_all(&owners[i]));
            }
        }
        out
    }

    /// `domain=`: the name itself and each parent, on label boundaries.
    fn domain_matches(&self, name: &str, out: &mut Bits) {
        if self.domains.is_empty() {
            return;
        }
        for suffix in label_suffixes(name) {
            let Some(owners) = self.domains.get(suffix) else {
                continue;
            };
            let is_subdomain = suffix.len() < name.len();
            for &(slot, subdomains_only) in owners {
                if is_subdomain || !subdomains_only {
                    out.set(slot);
                }
            }
        }
    }

    fn issuer_matches(&self, facts: &EntryFacts) -> Bits {
        let mut out = self.no_issuer.clone();
        if let Some(ac) = &self.issuers {
            for field in [&facts.issuer_cn, &facts.issuer_o] {
                for m in ac.find_overlapping_iter(field.as_ref()) {
                    out.set_all(&self.issuer_owners[m.pattern().as_usize()]);
                }
            }
        }
        out
    }

    /// `log=`: resolved once per log (there are a few dozen) and cached.
    fn log_matches(&self, log_name: &str, log_url: &str) -> Bits {
        if let Some(bits) = self.log_cache.borrow().get(log_url) {
            return bits.clone();
        }
        let mut out = self.no_log.clone();
        for (value, owners) in &self.logs {
            if log_matches(value, log_name, log_url) {
                out.set_all(owners);
            }
        }
        self.log_cache
            .borrow_mut()
            .insert(log_url.into(), out.clone());
        out
    }
}

/// Whether a `log=` value names this log: a substring of its name (case-insensitive), or a
/// prefix of its URL (with or without the scheme).
pub fn log_matches(value: &str, log_name: &str, log_url: &str) -> bool {
    let strip = |u: &str| {
        let u = u
            .strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"))
            .unwrap_or(u);
        u.to_owned()
    };
    log_name.contains(&value.to_lowercase()) || strip(log_url).starts_with(&strip(value))
}

/// The regexes in one set, or (never expected: each compiled alone) one set per regex when
/// the whole does not compile.
fn regex_sets(patterns: &[&str], owners: Owners) -> Vec<(RegexSet, Owners)> {
    if patterns.is_empty() {
        return Vec::new();
    }
    if let Some(set) = RegexSet::build(patterns) {
        return vec![(set, owners)];
    }
    patterns
        .iter()
        .zip(owners)
        .filter_map(|(p, o)| RegexSet::build(&[p]).map(|set| (set, vec![o])))
        .collect()
}
