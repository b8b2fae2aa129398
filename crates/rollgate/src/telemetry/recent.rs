//! The most recent latencies of a version, each with its time, for analysis windows.
//!
//! Histograms answer percentiles since start; a rank test (Mann-Whitney U) over an analysis
//! window needs the raw latencies *of that window*. A fixed ring of packed atomics keeps the
//! last [`CAPACITY`] of them: a request writes one slot (no lock); a reader keeps the slots
//! stamped inside its window. Under heavy traffic the ring covers less than a long window,
//! which only thins the sample the rank test sees, never biases it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Latencies kept per version.
pub(crate) const CAPACITY: usize = 4096;
/// Low bits: latency in units of 10 µs (up to 167 s, saturating).
const LATENCY_BITS: u32 = 24;
const LATENCY_MASK: u64 = (1 << LATENCY_BITS) - 1;

/// Process-wide origin of the stamps (milliseconds since this instant fit 40 bits for 34 years).
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Milliseconds from the origin to `t` (0 before it).
pub(crate) fn stamp(t: Instant) -> u64 {
    t.saturating_duration_since(origin()).as_millis() as u64
}

/// A lock-free ring of `(time, latency)`.
#[derive(Debug)]
pub(crate) struct RecentLatencies {
    slots: Box<[AtomicU64]>,
    next: AtomicUsize,
}

impl Default for RecentLatencies {
    fn default() -> Self {
        Self {
            slots: (0..CAPACITY).map(|_| AtomicU64::new(0)).collect(),
            next: AtomicUsize::new(0),
        }
    }
}

impl RecentLatencies {
    /// Records a latency that ended at `now`.
    pub(crate) fn record(&self, now: Instant, latency: Duration) {
        let units = (latency.as_micros() / 10).min(u128::from(LATENCY_MASK)) as u64;
        // Stamp + 1 so that an empty slot (0) never looks like a real sample.
        let packed = ((stamp(now) + 1) << LATENCY_BITS) | units;
        let i = self.next.fetch_add(1, Relaxed) % CAPACITY;
        self.slots[i].store(packed, Relaxed);
    }

    /// Latencies in milliseconds of the samples stamped at or after `since`.
    pub(crate) fn since(&self, since: Instant) -> Vec<f64> {
        let from = stamp(since) + 1;
        self.slots
            .iter()
            .map(|s| s.load(Relaxed))
            .filter(|&p| p != 0 && (p >> LATENCY_BITS) >= from)
            .map(|p| (p & LATENCY_MASK) as f64 / 100.0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_window_and_the_last_capacity() {
        let r = RecentLatencies::default();
        let t0 = origin() + Duration::from_secs(10);
        r.record(t0, Duration::from_millis(5));
        let t1 = t0 + Duration::from_secs(5);
        r.record(t1, Duration::from_micros(2500));
        assert_eq!(r.since(t1), vec![2.5]);
        let mut all = r.since(t0);
        all.sort_by(f64::total_cmp);
        assert_eq!(all, vec![2.5, 5.0]);
        for _ in 0..CAPACITY {
            r.record(t1, Duration::from_millis(1));
        }
        assert_eq!(r.since(t0).len(), CAPACITY);
        assert!(r.since(t0).iter().all(|&ms| ms == 1.0));
    }
}
