//! One client's filter, parsed and validated from its request's query string before the
//! upgrade: every refusal names the parameter and says why (the 400 body).

use std::fmt;

use super::names;
use crate::limits;

/// What a client asked for (`?domain=…&keyword=…`); see the module docs for the semantics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterSpec {
    /// `domain=`: registered names (A-label, lowercase, no trailing dot).
    pub domains: Vec<DomainPattern>,
    /// `keyword=`: lowercase substrings of a name (Unicode ones keep their Unicode form).
    pub keywords: Vec<String>,
    /// `regex=`: searched (unanchored, case-insensitive) in each name.
    pub regexes: Vec<String>,
    /// `issuer=`: lowercase substrings of the issuer's CN or O.
    pub issuers: Vec<String>,
    /// `update_type=`: `None` accepts both.
    pub update_type: Option<UpdateType>,
    /// `log=`: a log's name (substring, case-insensitive) or a prefix of its URL.
    pub logs: Vec<String>,
    /// `dedup=`.
    pub dedup: Dedup,
}

/// A `domain=` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainPattern {
    /// The registered name, A-label form, lowercase.
    pub name: String,
    /// `*.example.com`: only names below it, not the name itself.
    pub subdomains_only: bool,
}

/// `update_type=` when only one kind is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateType {
    X509,
    Precert,
}

/// `dedup=`: which duplicates a client does not want.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dedup {
    /// Every entry of every log (the default).
    #[default]
    Off,
    /// One message per certificate (leaf SHA-256), whatever the number of logs holding it.
    Cert,
    /// Also one message per issuance: a precertificate and its final certificate count once.
    Issuance,
}

impl FilterSpec {
    /// Whether the client gave any name pattern (`domain`, `keyword`, `regex`).
    pub fn has_name_patterns(&self) -> bool {
        !(self.domains.is_empty() && self.keywords.is_empty() && self.regexes.is_empty())
    }

    /// Whether anything at all narrows the stream (a filter or dedup).
    pub fn is_active(&self) -> bool {
        self.has_name_patterns()
            || !self.issuers.is_empty()
            || self.update_type.is_some()
            || !self.logs.is_empty()
            || self.dedup != Dedup::Off
    }

    fn pattern_count(&self) -> usize {
        self.domains.len()
            + self.keywords.len()
            + self.regexes.len()
            + self.issuers.len()
            + self.logs.len()
    }
}

/// Why a query string was refused: the parameter and the reason (sent as the 400 body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub param: &'static str,
    pub reason: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid filter parameter `{}`: {}",
            self.param, self.reason
        )
    }
}

impl std::error::Error for FilterError {}

fn err(param: &'static str, reason: impl Into<String>) -> FilterError {
    FilterError {
        param,
        reason: reason.into(),
    }
}

/// Parses the query string of a stream request (without the `?`). `Ok(None)` when it holds no
/// filter parameter (the stream is unfiltered). Unknown parameters (`token`, cache-busters) are
/// ignored. Values are percent-decoded; `+` is a literal plus (RFC 3986), not a space.
pub fn parse_query(query: &str) -> Result<Option<FilterSpec>, FilterError> {
    let mut spec = FilterSpec::default();
    let mut bytes = 0usize;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(param) = known_param(key) else {
            continue;
        };
        let value = percent_decode(raw).ok_or_else(|| err(param, "bad percent-encoding"))?;
        bytes += value.len();
        if bytes > limits::FILTER_BYTES_MAX {
            return Err(err(
                param,
                format!(
                    "filter values total over {} bytes",
                    limits::FILTER_BYTES_MAX
                ),
            ));
        }
        apply(&mut spec, param, &value)?;
        if spec.pattern_count() > limits::FILTER_PATTERNS_MAX {
            return Err(err(
                param,
                format!("more than {} patterns", limits::FILTER_PATTERNS_MAX),
            ));
        }
    }
    Ok(spec.is_active().then_some(spec))
}

/// The parameter names this module owns.
fn known_param(key: &str) -> Option<&'static str> {
    [
        "domain",
        "keyword",
        "regex",
        "issuer",
        "update_type",
        "log",
        "dedup",
    ]
    .into_iter()
    .find(|k| *k == key)
}

/// Adds one parameter's value. `domain`, `keyword` and `update_type` also take
/// comma-separated lists; `regex`, `issuer` and `log` values may hold commas and are only
/// repeatable.
fn apply(spec: &mut FilterSpec, param: &'static str, value: &str) -> Result<(), FilterError> {
    let items = || value.split(',').map(str::trim);
    match param {
        "domain" => {
            for item in items() {
                spec.domains.push(domain_pattern(item)?);
            }
        }
        "keyword" => {
            for item in items() {
                spec.keywords.push(keyword(item)?);
            }
        }
        "update_type" => {
            for item in items() {
                spec.update_type = Some(update_type(item, spec.update_type)?);
            }
        }
        "regex" => {
            super::regex::validate(value).map_err(|why| err("regex", why))?;
            if spec.regexes.len() >= limits::FILTER_REGEXES_MAX {
                return Err(err(
                    "regex",
                    format!("more than {} regexes", limits::FILTER_REGEXES_MAX),
                ));
            }
            spec.regexes.push(value.to_owned());
        }
        "issuer" => spec
            .issuers
            .push(non_empty("issuer", value)?.to_lowercase()),
        "log" => spec.logs.push(non_empty("log", value)?.to_owned()),
        _ => spec.dedup = dedup(value)?,
    }
    Ok(())
}

fn non_empty<'a>(param: &'static str, value: &'a str) -> Result<&'a str, FilterError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(err(param, "empty value"));
    }
    Ok(value)
}

fn domain_pattern(item: &str) -> Result<DomainPattern, FilterError> {
    let item = non_empty("domain", item)?;
    let (rest, subdomains_only) = match item.strip_prefix("*.") {
        Some(rest) => (rest, true),
        None => (item, false),
    };
    let name = names::to_ascii(rest).ok_or_else(|| {
        err(
            "domain",
            format!("`{item}` is not a domain name (IDNA conversion failed)"),
        )
    })?;
    if name.is_empty() || name.contains('*') || name.split('.').any(str::is_empty) {
        return Err(err(
            "domain",
            format!("`{item}` is not a domain name (only a leading `*.` is allowed)"),
        ));
    }
    Ok(DomainPattern {
        name,
        subdomains_only,
    })
}

fn keyword(item: &str) -> Result<String, FilterError> {
    let item = non_empty("keyword", item)?;
    if item.len() > limits::FILTER_KEYWORD_BYTES_MAX {
        return Err(err(
            "keyword",
            format!("longer than {} bytes", limits::FILTER_KEYWORD_BYTES_MAX),
        ));
    }
    Ok(item.to_lowercase())
}

fn update_type(item: &str, before: Option<UpdateType>) -> Result<UpdateType, FilterError> {
    let kind = match item {
        "X509LogEntry" => UpdateType::X509,
        "PrecertLogEntry" => UpdateType::Precert,
        other => {
            return Err(err(
                "update_type",
                format!("`{other}` is neither X509LogEntry nor PrecertLogEntry"),
            ))
        }
    };
    match before {
        Some(b) if b != kind => Err(err(
            "update_type",
            "both kinds given: leave the parameter out to get both",
        )),
        _ => Ok(kind),
    }
}

fn dedup(value: &str) -> Result<Dedup, FilterError> {
    match value.trim() {
        "cert" => Ok(Dedup::Cert),
        "issuance" => Ok(Dedup::Issuance),
        "off" | "" => Ok(Dedup::Off),
        other => Err(err(
            "dedup",
            format!("`{other}` is not one of cert, issuance, off"),
        )),
    }
}

/// `%XX` decoding; `None` on a truncated or non-hex escape or on invalid UTF-8.
pub(crate) fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
