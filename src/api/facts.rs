//! The per-core facts of the API, carried in each [`crate::metrics::CoreSnapshot`]: plain
//! `Send` data (this file imports nothing of the metrics, so the two never import each other).

use std::{collections::VecDeque, time::Instant};

use crate::{limits, replay::store::Held};

/// Per-second rates of one core's counters (summed over cores by `/api/stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// Certificates this core's logs streamed (each counted once, by its owner).
    pub certificates: f64,
    /// Messages this core's sessions sent to clients.
    pub messages: f64,
    /// Bytes this core's sessions wrote to clients.
    pub bytes: f64,
}

/// The counters rates are taken from, read once per snapshot interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateCounters {
    pub certificates: u64,
    pub messages: u64,
    pub bytes: u64,
}

/// One core's last [`limits::API_RATE_WINDOW_SAMPLES`] intervals of counters.
#[derive(Debug, Default)]
pub struct RateSampler {
    samples: VecDeque<(Instant, RateCounters)>,
}

impl RateSampler {
    /// Adds the counters read at `at`, forgetting samples older than the window.
    pub fn sample(&mut self, at: Instant, counters: RateCounters) {
        self.samples.push_back((at, counters));
        while self.samples.len() > limits::API_RATE_WINDOW_SAMPLES + 1 {
            self.samples.pop_front();
        }
    }

    /// Counters' growth per second between the oldest and the newest sample (zero until two
    /// samples exist).
    pub fn rates(&self) -> Rates {
        let (Some((t0, c0)), Some((t1, c1))) = (self.samples.front(), self.samples.back()) else {
            return Rates::default();
        };
        let secs = t1.saturating_duration_since(*t0).as_secs_f64();
        if secs <= 0.0 {
            return Rates::default();
        }
        let per_sec = |new: u64, old: u64| new.saturating_sub(old) as f64 / secs;
        Rates {
            certificates: per_sec(c1.certificates, c0.certificates),
            messages: per_sec(c1.messages, c0.messages),
            bytes: per_sec(c1.bytes, c0.bytes),
        }
    }
}

/// What the replay store holds of one log (from its writer, on the log's executor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreLog {
    pub log_id: [u8; 32],
    pub url: String,
    pub held: Held,
}

/// One core's store feed: its logs' stores, and pages it streamed without storing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreFacts {
    pub logs: Vec<StoreLog>,
    pub pages_not_stored: u64,
}

/// One core's certificate index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexFacts {
    pub entries: u64,
    pub capacity: u64,
}

/// The API's facts of one core, carried in its [`CoreSnapshot`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CoreApi {
    pub rates: Rates,
    /// `None` without `--replay-dir`.
    pub store: Option<StoreFacts>,
    /// `None` without `--replay-dir` (no store to look certificates up in).
    pub cert_index: Option<IndexFacts>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rates_are_the_growth_over_the_window() {
        let mut sampler = RateSampler::default();
        let t0 = Instant::now();
        assert_eq!(sampler.rates(), Rates::default());
        let counters = |n: u64| RateCounters {
            certificates: n,
            messages: 10 * n,
            bytes: 1000 * n,
        };
        sampler.sample(t0, counters(0));
        assert_eq!(sampler.rates(), Rates::default());
        for s in 1..=20u64 {
            sampler.sample(t0 + Duration::from_secs(s), counters(s * s));
        }
        // The window is the last API_RATE_WINDOW_SAMPLES seconds: (20² - 15²) / 5 = 35.
        let window = limits::API_RATE_WINDOW_SAMPLES as u64;
        let expect = (400 - (20 - window).pow(2)) as f64 / window as f64;
        let r = sampler.rates();
        assert_eq!(
            (r.certificates, r.messages, r.bytes),
            (expect, 10.0 * expect, 1000.0 * expect)
        );
    }
}
