//! Latency histograms sharded across threads: exact percentiles (HDR, 2 significant digits,
//! i.e. within 1%) without one lock that every request of a version would queue on.

use hdrhistogram::Histogram;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Highest latency tracked exactly: one hour, in microseconds; longer values are clamped.
const MAX_MICROS: u64 = 3_600_000_000;
const SHARDS: usize = 16;

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    /// Each thread sticks to one shard, so a shard's lock is almost never contended.
    static SHARD: Cell<usize> = Cell::new(NEXT_SHARD.fetch_add(1, Relaxed) % SHARDS);
}

/// A latency histogram in microseconds, one HDR histogram per shard.
#[derive(Debug)]
pub(crate) struct ShardedHistogram {
    shards: Vec<Mutex<Histogram<u64>>>,
}

/// Percentiles of a latency distribution, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub(crate) struct LatencySummary {
    pub(crate) count: u64,
    pub(crate) p50_us: u64,
    pub(crate) p90_us: u64,
    pub(crate) p95_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) p999_us: u64,
    pub(crate) max_us: u64,
}

fn empty() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 2)
        .unwrap_or_else(|_| unreachable!("constant bounds are valid"))
}

impl ShardedHistogram {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(empty())).collect(),
        }
    }

    /// Records one latency.
    pub(crate) fn record(&self, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        let shard = SHARD.with(Cell::get);
        let mut h = self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        h.saturating_record(micros);
    }

    /// All shards merged into one histogram (at scrape or analysis time, not per request).
    pub(crate) fn merged(&self) -> Histogram<u64> {
        let mut all = empty();
        for shard in &self.shards {
            let h = shard.lock().unwrap_or_else(PoisonError::into_inner);
            all.add(&*h)
                .unwrap_or_else(|_| unreachable!("shards share bounds"));
        }
        all
    }

    /// Percentiles over everything recorded.
    pub(crate) fn summary(&self) -> LatencySummary {
        summarize(&self.merged())
    }
}

/// Percentiles of a histogram.
pub(crate) fn summarize(h: &Histogram<u64>) -> LatencySummary {
    LatencySummary {
        count: h.len(),
        p50_us: h.value_at_quantile(0.5),
        p90_us: h.value_at_quantile(0.9),
        p95_us: h.value_at_quantile(0.95),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_one_percent() {
        let h = ShardedHistogram::new();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        let close = |got: u64, want: u64| (got as f64 - want as f64).abs() / want as f64 <= 0.01;
        assert!(close(s.p50_us, 500_000), "p50 {}", s.p50_us);
        assert!(close(s.p99_us, 990_000), "p99 {}", s.p99_us);
        assert!(close(s.p999_us, 999_000), "p999 {}", s.p999_us);
    }

    #[test]
    fn records_from_many_threads_are_merged() {
        let h = std::sync::Arc::new(ShardedHistogram::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || {
                    (0..100).for_each(|_| h.record(Duration::from_micros(50)))
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().expect("thread"));
        assert_eq!(h.summary().count, 800);
    }
}
