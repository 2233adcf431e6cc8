//! Latency recording (HdrHistogram, nanoseconds) and the summary every table
//! prints.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Longest latency a histogram keeps exactly; longer ones are clamped to it.
const MAX_TRACKED: Duration = Duration::from_secs(60);

/// Latencies of one kind of operation, in nanoseconds, 3 significant digits.
#[derive(Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl std::fmt::Debug for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Latencies({:?})", self.summary())
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, MAX_TRACKED.as_nanos() as u64, 3)
            .expect("static histogram bounds are valid");
        Latencies { histogram }
    }

    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(nanos.max(1));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms share their bounds");
    }

    pub fn summary(&self) -> LatencySummary {
        let h = &self.histogram;
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            samples: h.len(),
            p50: Duration::from_nanos(h.value_at_quantile(0.50)),
            p90: Duration::from_nanos(h.value_at_quantile(0.90)),
            p99: Duration::from_nanos(h.value_at_quantile(0.99)),
            p999: Duration::from_nanos(h.value_at_quantile(0.999)),
            max: Duration::from_nanos(h.max()),
        }
    }
}

/// Percentiles of a [`Latencies`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Number of recorded samples (0: nothing was measured).
    pub samples: u64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
}

/// `count` per second of `elapsed` (0 when nothing was timed).
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    count as f64 / secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reports_percentiles_of_recorded_samples() {
        let mut a = Latencies::new();
        for micros in 1..=100 {
            a.record(Duration::from_micros(micros));
        }
        let mut b = Latencies::new();
        b.record(Duration::from_secs(3600));
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.samples, 101);
        assert!(s.p50 >= Duration::from_micros(50) && s.p50 <= Duration::from_micros(52));
        assert!(s.p90 >= Duration::from_micros(90) && s.p90 <= Duration::from_micros(92));
        assert!(s.p99 >= Duration::from_micros(99) && s.p99 <= Duration::from_micros(101));
        assert!(
            s.p999 >= Duration::from_secs(59),
            "the one slow sample is the p99.9"
        );
        assert!(s.max >= Duration::from_secs(59), "clamped, not dropped");
        assert_eq!(Latencies::new().summary(), LatencySummary::default());
    }

    #[test]
    fn rate_of_nothing_is_zero() {
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
        assert_eq!(per_second(10, Duration::from_millis(500)), 20.0);
    }
}
