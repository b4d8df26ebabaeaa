//! Names as filters see them: lowercase, no trailing dot, and for IDNs both forms (the A-label
//! `xn--…` the certificate holds and its Unicode form), so a keyword typed either way matches.
//! Computed once per certificate on its owning executor ([`facts`]).

use std::sync::Arc;

use crate::frame::EntryFacts;

/// The A-label form of a domain typed by a client (`bücher.example` → `xn--bcher-kva.example`),
/// lowercase, without a trailing dot; `None` when IDNA refuses it.
pub fn to_ascii(domain: &str) -> Option<String> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    idna::domain_to_ascii(domain).ok()
}

/// A certificate name as matched: lowercase, no trailing dot.
fn normalize(name: &str) -> Box<str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_ascii() {
        name.to_ascii_lowercase().into_boxed_str()
    } else {
        name.to_lowercase().into_boxed_str()
    }
}

/// The other form of an IDN: Unicode for a name holding an A-label, the A-label for a Unicode
/// name; `None` for plain ASCII names or when IDNA refuses the name. A leading wildcard label
/// is kept as it is.
fn other_form(name: &str) -> Option<Box<str>> {
    let ascii = name.is_ascii();
    if ascii && !name.contains("xn--") {
        return None;
    }
    let (wildcard, rest) = match name.strip_prefix("*.") {
        Some(rest) => ("*.", rest),
        None => ("", name),
    };
    let other = if ascii {
        let (unicode, result) = idna::domain_to_unicode(rest);
        result.ok().map(|()| unicode)
    } else {
        idna::domain_to_ascii(rest).ok()
    }?;
    (other != rest).then(|| format!("{wildcard}{other}").into_boxed_str())
}

/// Where an entry came from and what it is, for [`facts`].
#[derive(Debug, Clone, Copy)]
pub struct FactsInput<'a> {
    pub names: &'a [String],
    pub issuer_cn: Option<&'a str>,
    pub issuer_o: Option<&'a str>,
    pub precert: bool,
    pub log_name: &'a str,
    pub log_url: &'a str,
    pub issuance_key: Option<[u8; 32]>,
}

/// The facts filters and dedup match a certificate on, normalized once.
pub fn facts(input: &FactsInput<'_>) -> Arc<EntryFacts> {
    let names: Box<[Box<str>]> = input.names.iter().map(|n| normalize(n)).collect();
    let alt_names = names.iter().filter_map(|n| other_form(n)).collect();
    let lower = |s: Option<&str>| s.unwrap_or("").to_lowercase().into_boxed_str();
    Arc::new(EntryFacts {
        names,
        alt_names,
        issuer_cn: lower(input.issuer_cn),
        issuer_o: lower(input.issuer_o),
        precert: input.precert,
        log_name: input.log_name.to_lowercase().into_boxed_str(),
        log_url: input.log_url.into(),
        issuance_key: input.issuance_key,
    })
}

/// `name` and each of its parent domains, cut at label boundaries: `a.b.c` → `a.b.c`, `b.c`,
/// `c`. What `domain=` looks up, so `example.com` matches `a.example.com` and never
/// `badexample.com`.
pub fn label_suffixes(name: &str) -> impl Iterator<Item = &str> {
    std::iter::once(name).chain(
        name.match_indices('.')
            .map(move |(i, _)| &name[i + 1..])
            .filter(|s| !s.is_empty()),
    )
}
