//! Per-version measurements taken on the hot path, and their Prometheus exposition.
//!
//! Every counter is an atomic and latencies go into sharded HDR histograms, so two requests
//! only ever contend when two threads happen to pick the same shard. The exposition reads the
//! same structures at scrape time; nothing is aggregated per request.

mod exposition;
mod histogram;
mod outcomes;
pub(crate) mod recent;
mod shadow;

pub(crate) use exposition::{Exposition, WeightSource};
pub(crate) use histogram::ShardedHistogram;
pub(crate) use outcomes::{OutcomeSums, Outcomes};
pub(crate) use recent::RecentLatencies;
pub(crate) use shadow::{Divergence, Shadow, ShadowSums};

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Why a request failed, by source; the class decides whether it counts against a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The client sent something the model cannot take (400, 413): not the version's fault.
    BadRequest,
    /// The in-process model failed to run.
    Model,
    /// The upstream answered with a 5xx status.
    Upstream5xx,
    /// No instance could be reached (connection refused, all ejected).
    Unavailable,
    /// The upstream did not answer in time.
    Timeout,
}

impl ErrorKind {
    /// Every kind, in exposition order.
    pub(crate) const ALL: [ErrorKind; 5] = [
        ErrorKind::BadRequest,
        ErrorKind::Model,
        ErrorKind::Upstream5xx,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
    ];

    /// Metric label value.
    pub(crate) fn label(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Model => "model_error",
            ErrorKind::Upstream5xx => "upstream_5xx",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Labels beyond this are counted as `other` so a misbehaving model cannot grow memory.
const MAX_CLASSES: usize = 64;

/// The measurements of one version of one service.
#[derive(Debug)]
pub(crate) struct VersionStats {
    requests: AtomicU64,
    errors: [AtomicU64; 5],
    in_flight: AtomicI64,
    latency: ShardedHistogram,
    classes: [AtomicU64; MAX_CLASSES],
    other_class: AtomicU64,
    values: ValueHistogram,
    mirrored: AtomicU64,
    mirror_dropped: AtomicU64,
    recent: RecentLatencies,
    outcomes: Outcomes,
    shadow: Shadow,
}

impl VersionStats {
    fn new(value_bounds: Vec<f64>) -> Self {
        Self {
            requests: AtomicU64::new(0),
            errors: Default::default(),
            in_flight: AtomicI64::new(0),
            latency: ShardedHistogram::new(),
            classes: std::array::from_fn(|_| AtomicU64::new(0)),
            other_class: AtomicU64::new(0),
            values: ValueHistogram::new(value_bounds),
            mirrored: AtomicU64::new(0),
            mirror_dropped: AtomicU64::new(0),
            recent: RecentLatencies::default(),
            outcomes: Outcomes::default(),
            shadow: Shadow::default(),
        }
    }

    /// Marks a request as started; the guard marks it finished when dropped, even on panic.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Records a finished request with its latency and, if it failed, why.
    pub(crate) fn finish(&self, latency: Duration, error: Option<ErrorKind>) {
        self.requests.fetch_add(1, Relaxed);
        if let Some(kind) = error {
            self.errors[kind.index()].fetch_add(1, Relaxed);
        }
        self.latency.record(latency);
        self.recent.record(std::time::Instant::now(), latency);
    }

    /// The latest latencies with their times, for analysis windows.
    pub(crate) fn recent(&self) -> &RecentLatencies {
        &self.recent
    }

    /// Labels, rewards and invalid outputs.
    pub(crate) fn outcomes(&self) -> &Outcomes {
        &self.outcomes
    }

    /// Comparisons with stable on mirrored requests.
    pub(crate) fn shadow(&self) -> &Shadow {
        &self.shadow
    }

    /// Counts one predicted class label.
    pub(crate) fn record_class(&self, label: i64) {
        match usize::try_from(label).ok().filter(|&l| l < MAX_CLASSES) {
            Some(l) => self.classes[l].fetch_add(1, Relaxed),
            None => self.other_class.fetch_add(1, Relaxed),
        };
    }

    /// Counts one regression output value.
    pub(crate) fn record_value(&self, value: f64) {
        self.values.record(value);
    }

    /// Counts a request copy sent to this version by mirroring.
    pub(crate) fn record_mirrored(&self) {
        self.mirrored.fetch_add(1, Relaxed);
    }

    /// Counts a copy not sent because the mirror queue was full.
    pub(crate) fn record_mirror_dropped(&self) {
        self.mirror_dropped.fetch_add(1, Relaxed);
    }

    /// `(sent, dropped)` mirrored copies.
    pub(crate) fn mirror_counts(&self) -> (u64, u64) {
        (
            self.mirrored.load(Relaxed),
            self.mirror_dropped.load(Relaxed),
        )
    }

    /// Requests finished so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// Requests served so far plus mirrored copies answered (or failed) as a shadow.
    pub(crate) fn answered(&self) -> u64 {
        self.requests() + self.shadow.sums().requests
    }

    /// Errors of one kind so far.
    pub(crate) fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()].load(Relaxed)
    }

    /// Requests currently being served.
    pub(crate) fn in_flight(&self) -> i64 {
        self.in_flight.load(Relaxed)
    }

    /// The latency histogram.
    pub(crate) fn latency(&self) -> &ShardedHistogram {
        &self.latency
    }

    /// Counts per class label (trailing zero labels trimmed) and the overflow count.
    pub(crate) fn class_counts(&self) -> (Vec<u64>, u64) {
        let mut counts: Vec<u64> = self.classes.iter().map(|c| c.load(Relaxed)).collect();
        while counts.last() == Some(&0) {
            counts.pop();
        }
        (counts, self.other_class.load(Relaxed))
    }
}

/// Decrements the in-flight gauge when the request ends, whichever way it ends.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<VersionStats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// Lock-free fixed-bucket histogram of regression outputs.
#[derive(Debug)]
pub(crate) struct ValueHistogram {
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum_micros: AtomicI64,
    count: AtomicU64,
}

impl ValueHistogram {
    fn new(bounds: Vec<f64>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            counts,
            sum_micros: AtomicI64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn record(&self, v: f64) {
        let i = self.bounds.partition_point(|&b| b < v);
        self.counts[i].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add((v * 1e6) as i64, Relaxed);
    }

    /// Cumulative `(upper bound, count)` pairs, sum and count, as Prometheus wants them.
    pub(crate) fn cumulative(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let mut acc = 0;
        let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            acc += c.load(Relaxed);
            buckets.push((self.bounds.get(i).copied().unwrap_or(f64::INFINITY), acc));
        }
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        (buckets, sum, self.count.load(Relaxed))
    }
}

/// Bucket bounds for regression outputs: 20 equal bins over the declared range, else decades.
pub(crate) fn value_bounds(range: Option<(f64, f64)>) -> Vec<f64> {
    match range {
        Some((lo, hi)) => (0..=20)
            .map(|i| lo + (hi - lo) * f64::from(i) / 20.0)
            .collect(),
        None => [-1e3, -1e2, -10.0, -1.0, 0.0, 1.0, 10.0, 1e2, 1e3].to_vec(),
    }
}

/// Identity of a version's statistics: they outlive route changes, keyed by service and version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct VersionKey {
    pub(crate) service: String,
    pub(crate) version: String,
}

/// All versions' statistics. Lookups happen when a snapshot is built, never per request.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    versions: Mutex<Vec<(VersionKey, Arc<VersionStats>)>>,
}

impl Recorder {
    /// The statistics of a version, created on first use and kept across route changes.
    pub(crate) fn stats(&self, key: VersionKey, range: Option<(f64, f64)>) -> Arc<VersionStats> {
        let mut all = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, s)) = all.iter().find(|(k, _)| *k == key) {
            return Arc::clone(s);
        }
        let stats = Arc::new(VersionStats::new(value_bounds(range)));
        all.push((key, Arc::clone(&stats)));
        all.sort_by(|a, b| a.0.cmp(&b.0));
        stats
    }

    /// The statistics of a version, if it has any.
    pub(crate) fn find(&self, key: &VersionKey) -> Option<Arc<VersionStats>> {
        let all = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| Arc::clone(s))
    }

    /// A copy of the list, for exposition.
    pub(crate) fn all(&self) -> Vec<(VersionKey, Arc<VersionStats>)> {
        self.versions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts by kind are arrays indexed by `index()` and exposed in `ALL`'s order: the two
    /// must agree.
    #[test]
    fn error_kinds_are_listed_in_index_order() {
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i, "{kind:?}");
        }
    }

    #[test]
    fn in_flight_guard_counts_up_and_down() {
        let s = Arc::new(VersionStats::new(value_bounds(None)));
        let g = s.start();
        assert_eq!(s.in_flight(), 1);
        drop(g);
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let s = VersionStats::new(value_bounds(None));
        s.finish(Duration::from_millis(1), None);
        s.finish(Duration::from_millis(2), Some(ErrorKind::Timeout));
        assert_eq!(s.requests(), 2);
        assert_eq!(s.errors(ErrorKind::Timeout), 1);
        assert_eq!(s.errors(ErrorKind::Model), 0);
    }

    #[test]
    fn classes_trim_and_overflow() {
        let s = VersionStats::new(value_bounds(None));
        s.record_class(0);
        s.record_class(2);
        s.record_class(2);
        s.record_class(-1);
        s.record_class(1000);
        assert_eq!(s.class_counts(), (vec![1, 0, 2], 2));
    }

    #[test]
    fn value_histogram_is_cumulative() {
        let h = ValueHistogram::new(vec![0.0, 10.0]);
        for v in [-5.0, 5.0, 5.0, 50.0] {
            h.record(v);
        }
        let (buckets, sum, count) = h.cumulative();
        assert_eq!(buckets, vec![(0.0, 1), (10.0, 3), (f64::INFINITY, 4)]);
        assert_eq!((sum, count), (55.0, 4));
    }

    #[test]
    fn recorder_keeps_stats_across_lookups() {
        let r = Recorder::default();
        let key = VersionKey {
            service: "iris".into(),
            version: "v1".into(),
        };
        let a = r.stats(key.clone(), None);
        a.finish(Duration::from_millis(1), None);
        assert_eq!(r.stats(key, None).requests(), 1);
    }
}
