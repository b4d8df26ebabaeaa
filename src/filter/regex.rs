//! `regex=`: validation of one client's regex (size and complexity bounds, refused with the
//! reason) and the per-core set of every client's regexes, searched once per name.

use regex_automata::{
    meta::{self, Regex},
    util::syntax,
    Input, MatchKind, PatternSet,
};

use crate::limits;

fn syntax_config() -> syntax::Config {
    syntax::Config::new()
        .case_insensitive(true)
        .nest_limit(limits::FILTER_REGEX_NEST_MAX)
}

fn config(nfa_bytes_max: usize) -> meta::Config {
    meta::Config::new()
        .match_kind(MatchKind::All)
        .nfa_size_limit(Some(nfa_bytes_max))
}

/// Whether `pattern` is acceptable: not too long, parses, and compiles under the NFA bound (a
/// pattern like `\w{500}` or `(a{200}){200}` does not). The error is the reason sent to the
/// client.
pub fn validate(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("empty value".into());
    }
    if pattern.len() > limits::FILTER_REGEX_BYTES_MAX {
        return Err(format!(
            "longer than {} bytes",
            limits::FILTER_REGEX_BYTES_MAX
        ));
    }
    Regex::builder()
        .syntax(syntax_config())
        .configure(config(limits::FILTER_REGEX_NFA_BYTES_MAX))
        .build(pattern)
        .map(|_| ())
        .map_err(|e| match e.size_limit() {
            Some(limit) => format!("too costly: compiles past the {limit}-byte bound"),
            None => format!("does not parse: {e}"),
        })
}

/// Every distinct regex of a core's clients, compiled together: one search per name tells
/// which of them match, whatever their number.
#[derive(Debug)]
pub struct RegexSet {
    re: Regex,
}

impl RegexSet {
    /// `None` when `patterns` is empty or (never expected: each was validated alone) the set
    /// does not compile; the caller then falls back to one regex per pattern.
    pub fn build(patterns: &[&str]) -> Option<Self> {
        if patterns.is_empty() {
            return None;
        }
        let bound = limits::FILTER_REGEX_NFA_BYTES_MAX.saturating_mul(patterns.len());
        let re = Regex::builder()
            .syntax(syntax_config())
            .configure(
                config(bound)
                    .hybrid_cache_capacity(limits::FILTER_REGEX_CACHE_BYTES)
                    .dfa_size_limit(Some(limits::FILTER_REGEX_CACHE_BYTES)),
            )
            .build_many(patterns)
            .map_err(|e| tracing::warn!(error = %e, "regex set does not compile"))
            .ok()?;
        Some(RegexSet { re })
    }

    /// Calls `hit` with the index of every pattern found in `name`.
    pub fn matches(&self, name: &str, set: &mut PatternSet, mut hit: impl FnMut(usize)) {
        set.clear();
        self.re.which_overlapping_matches(&Input::new(name), set);
        for id in set.iter() {
            hit(id.as_usize());
        }
    }

    /// A scratch set sized for this regex set.
    pub fn scratch(&self) -> PatternSet {
        PatternSet::new(self.re.pattern_len())
    }
}
