//! How fast to talk to one CT log: `Retry-After` parsing, error backoff, and adaptive pacing.
//!
//! Everything here is pure logic over explicit time arguments (`now: Instant` / `SystemTime`),
//! so it is unit-tested without sleeping; only [`wait_turn`] touches a glommio timer.
//!
//! - [`RetryAfter`] / [`parse_retry_after`]: both header forms (delta-seconds and HTTP-date:
//!   IMF-fixdate, the obsolete RFC 850 and asctime forms, and Go's `time.RFC1123`, which
//!   prints `UTC` instead of `GMT`), always capped by [`limits::RETRY_AFTER_MAX`].
//! - [`Backoff`]: exponential backoff with full jitter between
//!   [`limits::BACKOFF_MIN`] and [`limits::BACKOFF_MAX`], for errors (timeouts, 5xx, resets).
//! - [`Pacer`]: finds a log's rate limit by AIMD on the minimum interval between request
//!   starts: a 429/503 doubles it (and honours `Retry-After`), every
//!   [`limits::PACING_NARROW_AFTER`] unthrottled responses shrink it by a constant step.
//!
//! # Invariants worth naming
//!
//! - Every delay handed out is ≤ max(`RETRY_AFTER_MAX`, `BACKOFF_MAX`, `PACING_INTERVAL_MAX` ×
//!   requests already booked); no header value can park a log for longer.
//! - Randomness is a seeded xorshift: the same seed gives the same delays (reproducible tests),
//!   and seeding per log spreads logs that failed together.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::limits;

// ---- Retry-After ------------------------------------------------------------------------------

/// A parsed `Retry-After` header value, kept in its own form so the delay is computed against
/// the clock at the time the caller acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Seconds(u64),
    /// `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`.
    Date(SystemTime),
}

impl RetryAfter {
    /// Parses either form; `None` when the value is neither (the caller then falls back to its
    /// own backoff).
    pub fn parse(value: &str) -> Option<RetryAfter> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // Absurdly long digit strings saturate; the cap applies in `delay`.
            let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
            return Some(RetryAfter::Seconds(seconds));
        }
        parse_http_date(value).map(RetryAfter::Date)
    }

    /// How long to wait from `now`, capped by [`limits::RETRY_AFTER_MAX`]; a date in the past
    /// means "now".
    pub fn delay(&self, now: SystemTime) -> Duration {
        let delay = match *self {
            RetryAfter::Seconds(seconds) => Duration::from_secs(seconds),
            RetryAfter::Date(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        };
        delay.min(limits::RETRY_AFTER_MAX)
    }
}

/// Parses a `Retry-After` value into a delay from `now` (see [`RetryAfter`]).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    RetryAfter::parse(value).map(|retry| retry.delay(now))
}

/// Calendar fields of an HTTP-date before conversion.
struct DateFields {
    year: i64,
    month: u32,
    day: u32,
    time: (u32, u32, u32),
}

/// Parses the three HTTP-date forms of RFC 9110 §5.6.7 (plus `UTC` for Go's RFC1123).
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let (weekday, rest) = value.split_once([',', ' '])?;
    if weekday.is_empty() || !weekday.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let tokens: Vec<&str> = rest.split_ascii_whitespace().collect();
    let fields = match tokens.as_slice() {
        // IMF-fixdate / RFC 1123: "Sun, 06 Nov 1994 08:49:37 GMT"
        [day, month, year, time, zone] if value.contains(',') => {
            check_zone(zone)?;
            DateFields {
                year: parse_digits(year, 4)?.into(),
                month: parse_month(month)?,
                day: parse_day(day)?,
                time: parse_time(time)?,
            }
        }
        // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        [date, time, zone] if value.contains(',') => {
            check_zone(zone)?;
            let mut parts = date.split('-');
            let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            let yy = i64::from(parse_digits(year, 2)?);
            DateFields {
                year: if yy < 70 { 2000 + yy } else { 1900 + yy },
                month: parse_month(month)?,
                day: parse_day(day)?,
                time: parse_time(time)?,
            }
        }
        // asctime: "Sun Nov  6 08:49:37 1994"
        [month, day, time, year] if !value.contains(',') => DateFields {
            year: parse_digits(year, 4)?.into(),
            month: parse_month(month)?,
            day: parse_day(day)?,
            time: parse_time(time)?,
        },
        _ => return None,
    };
    to_system_time(&fields)
}

fn check_zone(zone: &str) -> Option<()> {
    (zone == "GMT" || zone == "UTC").then_some(())
}

/// Exactly `len` ASCII digits.
fn parse_digits(s: &str, len: usize) -> Option<u32> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_day(s: &str) -> Option<u32> {
    match s.len() {
        1 | 2 => s.parse().ok().filter(|d| (1..=31).contains(d)),
        _ => None,
    }
}

fn parse_month(s: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let index = MONTHS.iter().position(|m| *m == s)?;
    u32::try_from(index + 1).ok()
}

fn parse_time(s: &str) -> Option<(u32, u32, u32)> {
    let mut parts = s.split(':');
    let hour = parse_digits(parts.next()?, 2)?;
    let minute = parse_digits(parts.next()?, 2)?;
    let second = parse_digits(parts.next()?, 2)?;
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // A leap second (60) is read as the last second of the minute.
    Some((hour, minute, second.min(59)))
}

fn to_system_time(fields: &DateFields) -> Option<SystemTime> {
    if fields.day > days_in_month(fields.year, fields.month) {
        return None;
    }
    let days = days_from_civil(fields.year, fields.month, fields.day);
    let (h, m, s) = fields.time;
    let seconds = days * 86_400 + i64::from(h * 3600 + m * 60 + s);
    // Dates before 1970 are "in the past" all the same.
    let seconds = u64::try_from(seconds).unwrap_or(0);
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

// ---- Randomness ------------------------------------------------------------------------------

/// A stable 64-bit seed from a log's identity (FNV-1a), so each log gets its own jitter.
pub fn seed_from(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// xorshift64*: tiny, fast, and plenty for jitter (not for anything secret).
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // splitmix64 scrambles similar seeds apart and never yields the forbidden zero state
        // except for one input, which is replaced.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        XorShift(if z == 0 { 0x2545_f491_4f6c_dd1d } else { z })
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[low, high]` (modulo bias is irrelevant at these ranges).
    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let low_ns = duration_nanos(low);
        let span = duration_nanos(high).saturating_sub(low_ns);
        let offset = match span.checked_add(1) {
            Some(modulus) => self.next_u64() % modulus,
            None => self.next_u64(),
        };
        Duration::from_nanos(low_ns.saturating_add(offset))
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

// ---- Backoff ---------------------------------------------------------------------------------

/// Exponential backoff with full jitter above a floor: after `n` consecutive failures the
/// delay is uniform in `[min, min(max, min × 2^(n+1))]`.
///
/// The ceiling doubles per failure, so a dead log is soon polled only about every `max / 2`;
/// the jitter spreads logs (and executors) that failed at the same moment; and no delay is
/// ever below `min`, so a flapping log is never hammered.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
    rng: XorShift,
}

impl Backoff {
    /// Backoff between [`limits::BACKOFF_MIN`] and [`limits::BACKOFF_MAX`].
    pub fn new(seed: u64) -> Self {
        Self::with_bounds(limits::BACKOFF_MIN, limits::BACKOFF_MAX, seed)
    }

    /// Backoff between explicit bounds (`min` is raised to 1 ms, `max` to at least `min`).
    pub fn with_bounds(min: Duration, max: Duration, seed: u64) -> Self {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
            rng: XorShift::new(seed),
        }
    }

    /// The delay before the next attempt after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        // 2^31 × 1 ms already exceeds any sane max; the shift cannot overflow.
        let factor = 1u32 << self.failures.saturating_add(1).min(31);
        let ceiling = self.min.saturating_mul(factor).min(self.max);
        self.failures = self.failures.saturating_add(1);
        self.rng.between(self.min, ceiling)
    }

    /// Forgets the failures after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures since the last reset (for logs and metrics).
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

// ---- Pacer -----------------------------------------------------------------------------------

/// Adaptive per-log request pacing (AIMD on the minimum interval between request starts).
///
/// Starts with no interval. A throttle (429/503) doubles the interval (from at least
/// [`limits::PACING_INTERVAL_FIRST`], to at most [`limits::PACING_INTERVAL_MAX`]) and blocks
/// all requests until `Retry-After` (or one interval) has passed. Every
/// [`limits::PACING_NARROW_AFTER`] consecutive unthrottled responses take one constant step
/// (the widened interval / [`limits::PACING_NARROW_DIVISOR`]) off again, so the interval
/// saw-tooths just under the log's limit.
#[derive(Debug, Clone, Default)]
pub struct Pacer {
    interval: Duration,
    /// The additive narrowing step, fixed at each widening.
    narrow_step: Duration,
    /// Unthrottled responses since the last throttle or narrowing.
    successes: u32,
    /// Start time booked by the latest [`Pacer::reserve`].
    last_start: Option<Instant>,
    /// No request may start before this (Retry-After).
    not_before: Option<Instant>,
    /// When the interval was last widened: requests already in flight then will bring more
    /// 429s, which must not widen again (see [`limits::PACING_WIDEN_HOLDOFF`]).
    last_widen: Option<Instant>,
}

impl Pacer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current minimum interval between request starts (exported as a metric).
    pub fn current_interval(&self) -> Duration {
        self.interval
    }

    /// How long a request starting at `now` would have to wait, without booking it.
    pub fn delay_before_next(&self, now: Instant) -> Duration {
        self.earliest_start(now).saturating_duration_since(now)
    }

    /// Books the next request slot and returns how long to wait for it. Concurrent callers
    /// get consecutive slots one interval apart.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let start = self.earliest_start(now);
        self.last_start = Some(start);
        start.saturating_duration_since(now)
    }

    /// Feeds back one response: 429 and 503 throttle; any other status below 500 (including
    /// 404 past the tree end) counts as unthrottled. Other 5xx are errors for [`Backoff`]
    /// and leave the pace alone.
    pub fn on_response(&mut self, status: u16, retry_after: Option<Duration>, now: Instant) {
        match status {
            429 | 503 => self.on_throttled(now, retry_after),
            _ if status < 500 => self.on_success(),
            _ => {}
        }
    }

    /// A response that was not throttled.
    pub fn on_success(&mut self) {
        self.successes = self.successes.saturating_add(1);
        if self.successes >= limits::PACING_NARROW_AFTER {
            self.successes = 0;
            self.interval = self.interval.saturating_sub(self.narrow_step);
        }
    }

    /// A 429/503, with the `Retry-After` delay if the log sent one.
    pub fn on_throttled(&mut self, now: Instant, retry_after: Option<Duration>) {
        self.successes = 0;
        if !self.in_widen_holdoff(now) {
            let doubled = self.interval.saturating_mul(2);
            self.interval = doubled
                .max(limits::PACING_INTERVAL_FIRST)
                .min(limits::PACING_INTERVAL_MAX);
            self.narrow_step = self.interval / limits::PACING_NARROW_DIVISOR;
            self.last_widen = Some(now);
        }
        let pause = retry_after.map_or(self.interval, |d| d.min(limits::RETRY_AFTER_MAX));
        let until = now + pause;
        self.not_before = Some(self.not_before.map_or(until, |t| t.max(until)));
    }

    fn in_widen_holdoff(&self, now: Instant) -> bool {
        let holdoff = self.interval.max(limits::PACING_WIDEN_HOLDOFF);
        self.last_widen
            .is_some_and(|at| now.saturating_duration_since(at) < holdoff)
    }

    fn earliest_start(&self, now: Instant) -> Instant {
        let mut start = now;
        if let Some(last) = self.last_start {
            start = start.max(last + self.interval);
        }
        if let Some(not_before) = self.not_before {
            start = start.max(not_before);
        }
        start
    }
}

/// Waits for this request's slot on the log's pacer (the only glommio-dependent part).
pub async fn wait_turn(pacer: &RefCell<Pacer>) {
    // The borrow ends before the await: other fetchers of the log book their slots meanwhile.
    let delay = pacer.borrow_mut().reserve(Instant::now());
    if !delay.is_zero() {
        glommio::timer::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn retry_after_delta_seconds() {
        let now = at(1_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("86400", now),
            Some(limits::RETRY_AFTER_MAX)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(limits::RETRY_AFTER_MAX)
        );
        for bad in ["", "-1", "1.5", "12s", "soon", "0x10"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_imf_fixdate() {
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (the RFC 9110 example).
        let date = at(784_111_777);
        assert_eq!(
            RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(RetryAfter::Date(date))
        );
        let now = date - Duration::from_secs(90);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(90))
        );
        // Go's time.RFC1123 of a UTC time, as Skylight sends it.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 UTC", now),
            Some(Duration::from_secs(90))
        );
    }

    #[test]
    fn retry_after_obsolete_date_forms() {
        let date = at(784_111_777);
        assert_eq!(
            RetryAfter::parse("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(RetryAfter::Date(date))
        );
        assert_eq!(
            RetryAfter::parse("Sun Nov  6 08:49:37 1994"),
            Some(RetryAfter::Date(date))
        );
    }

    #[test]
    fn retry_after_dates_past_far_and_leap() {
        let now = at(1_800_000_000);
        // A date in the past means retry now.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        // Far future dates are capped.
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 2100 23:59:59 GMT", now),
            Some(limits::RETRY_AFTER_MAX)
        );
        // 29 Feb exists in 2024 (1709164800 = 2024-02-29T00:00:00Z) but not in 2023.
        assert_eq!(
            RetryAfter::parse("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(RetryAfter::Date(at(1_709_164_800)))
        );
        assert_eq!(RetryAfter::parse("Wed, 29 Feb 2023 00:00:00 GMT"), None);
    }

    #[test]
    fn retry_after_rejects_malformed_dates() {
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(RetryAfter::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_stays_within_bounds_and_grows() {
        for seed in 0..50u64 {
            let mut backoff = Backoff::new(seed);
            let delays: Vec<Duration> = (0..40).map(|_| backoff.next_delay()).collect();
            for d in &delays {
                assert!(
                    *d >= limits::BACKOFF_MIN && *d <= limits::BACKOFF_MAX,
                    "{d:?}"
                );
            }
            // The first delay is near the minimum, the later ones approach the cap.
            assert!(delays[0] <= limits::BACKOFF_MIN * 2, "{:?}", delays[0]);
            let late_mean = delays[20..].iter().sum::<Duration>() / 20;
            assert!(
                late_mean > limits::BACKOFF_MAX / 4,
                "seed {seed}: {late_mean:?}"
            );
            assert_eq!(backoff.failures(), 40);
        }
    }

    #[test]
    fn backoff_ceiling_doubles_per_failure() {
        for seed in 0..50u64 {
            let mut backoff = Backoff::new(seed);
            for failure in 0..12u32 {
                let ceiling =
                    (limits::BACKOFF_MIN * 2u32.pow(failure + 1)).min(limits::BACKOFF_MAX);
                let delay = backoff.next_delay();
                assert!(
                    delay <= ceiling,
                    "failure {failure}: {delay:?} > {ceiling:?}"
                );
            }
        }
    }

    #[test]
    fn backoff_reset_starts_over() {
        let mut backoff = Backoff::new(7);
        for _ in 0..30 {
            backoff.next_delay();
        }
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert!(backoff.next_delay() <= limits::BACKOFF_MIN * 2);
    }

    #[test]
    fn backoff_is_jittered_and_reproducible() {
        let run = |seed| {
            let mut b = Backoff::new(seed);
            (0..8).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(seed_from("log-a")), run(seed_from("log-a")));
        assert_ne!(run(seed_from("log-a")), run(seed_from("log-b")));
    }

    #[test]
    fn backoff_with_tiny_bounds() {
        let mut b = Backoff::with_bounds(Duration::ZERO, Duration::ZERO, 1);
        assert_eq!(b.next_delay(), Duration::from_millis(1));
    }

    #[test]
    fn pacer_starts_unpaced() {
        let mut pacer = Pacer::new();
        let now = Instant::now();
        assert_eq!(pacer.current_interval(), Duration::ZERO);
        for _ in 0..5 {
            assert_eq!(pacer.reserve(now), Duration::ZERO);
        }
    }

    #[test]
    fn pacer_throttle_honours_retry_after_and_widens() {
        let mut pacer = Pacer::new();
        let t0 = Instant::now();
        pacer.on_response(429, Some(Duration::from_secs(5)), t0);
        assert_eq!(pacer.current_interval(), limits::PACING_INTERVAL_FIRST);
        assert_eq!(pacer.delay_before_next(t0), Duration::from_secs(5));
        let t5 = t0 + Duration::from_secs(5);
        assert_eq!(pacer.reserve(t5), Duration::ZERO);
        // The next booking is one interval later.
        assert_eq!(pacer.reserve(t5), limits::PACING_INTERVAL_FIRST);
        assert_eq!(pacer.reserve(t5), limits::PACING_INTERVAL_FIRST * 2);
    }

    #[test]
    fn pacer_throttle_without_retry_after_pauses_one_interval() {
        let mut pacer = Pacer::new();
        let t0 = Instant::now();
        pacer.on_response(503, None, t0);
        assert_eq!(pacer.delay_before_next(t0), limits::PACING_INTERVAL_FIRST);
    }

    #[test]
    fn pacer_widens_multiplicatively_once_per_holdoff() {
        let mut pacer = Pacer::new();
        let mut now = Instant::now();
        pacer.on_throttled(now, None);
        // A burst of 429s from requests already in flight does not widen again.
        pacer.on_throttled(now + Duration::from_millis(10), None);
        assert_eq!(pacer.current_interval(), limits::PACING_INTERVAL_FIRST);
        let mut expected = limits::PACING_INTERVAL_FIRST;
        for _ in 0..20 {
            now += limits::PACING_WIDEN_HOLDOFF.max(pacer.current_interval());
            pacer.on_throttled(now, None);
            expected = (expected * 2).min(limits::PACING_INTERVAL_MAX);
            assert_eq!(pacer.current_interval(), expected);
        }
        assert_eq!(pacer.current_interval(), limits::PACING_INTERVAL_MAX);
    }

    #[test]
    fn pacer_narrows_additively_back_to_zero() {
        let mut pacer = Pacer::new();
        let mut now = Instant::now();
        for _ in 0..4 {
            pacer.on_throttled(now, None);
            now += limits::PACING_WIDEN_HOLDOFF.max(pacer.current_interval());
        }
        let widened = pacer.current_interval();
        assert_eq!(widened, limits::PACING_INTERVAL_FIRST * 8);
        let step = widened / limits::PACING_NARROW_DIVISOR;
        // Fewer than PACING_NARROW_AFTER successes change nothing.
        for _ in 1..limits::PACING_NARROW_AFTER {
            pacer.on_response(200, None, now);
        }
        assert_eq!(pacer.current_interval(), widened);
        pacer.on_response(404, None, now);
        assert_eq!(pacer.current_interval(), widened - step);
        // 5xx other than 503 are not throttles and not successes.
        for _ in 0..10 * limits::PACING_NARROW_AFTER {
            pacer.on_response(500, None, now);
        }
        assert_eq!(pacer.current_interval(), widened - step);
        let steps = limits::PACING_NARROW_DIVISOR * limits::PACING_NARROW_AFTER;
        for _ in 0..steps {
            pacer.on_success();
        }
        assert_eq!(pacer.current_interval(), Duration::ZERO);
    }

    #[test]
    fn pacer_throttle_resets_success_streak() {
        let mut pacer = Pacer::new();
        let now = Instant::now();
        pacer.on_throttled(now, None);
        for _ in 1..limits::PACING_NARROW_AFTER {
            pacer.on_success();
        }
        pacer.on_throttled(now, None); // in hold-off: no widening, but the streak restarts
        pacer.on_success();
        assert_eq!(pacer.current_interval(), limits::PACING_INTERVAL_FIRST);
    }

    #[test]
    fn pacer_retry_after_is_capped() {
        let mut pacer = Pacer::new();
        let now = Instant::now();
        pacer.on_throttled(now, Some(Duration::from_secs(1_000_000)));
        assert_eq!(pacer.delay_before_next(now), limits::RETRY_AFTER_MAX);
    }
}
