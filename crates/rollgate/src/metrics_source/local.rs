//! Analysis windows from the gateway's own recorder: counters are read at the window's start
//! and again at each look, and the difference is the window. Latencies come from the recent
//! latency ring, filtered by time.

use super::{Mark, MetricSource};
use crate::telemetry::{ErrorKind, Recorder, VersionKey, VersionStats};
use rollgate_core::analysis::window::{
    ErrorCounts, Labelled, LatencySummary, PairedCorrectness, Rewards, ShadowPairs, VersionWindow,
    Warmup,
};
use std::sync::Arc;

/// Every cumulative counter a window is the difference of. Serde: replicas publish theirs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Totals {
    pub(crate) requests: u64,
    pub(crate) errors: [u64; 5],
    pub(crate) labelled: Labelled,
    pub(crate) rewards: Rewards,
    pub(crate) invalid: u64,
    pub(crate) classes: Vec<u64>,
    pub(crate) shadow: ShadowPairs,
}

/// Windows from the in-process [`Recorder`].
#[derive(Debug)]
pub(crate) struct LocalSource {
    recorder: Arc<Recorder>,
}

impl LocalSource {
    pub(crate) fn new(recorder: Arc<Recorder>) -> Self {
        Self { recorder }
    }

    fn stats(&self, service: &str, version: &str) -> Option<Arc<VersionStats>> {
        self.recorder.find(&VersionKey {
            service: service.to_owned(),
            version: version.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl MetricSource for LocalSource {
    fn mark(&self, service: &str, version: &str) -> Mark {
        Mark {
            totals: Some(
                self.stats(service, version)
                    .map(|s| totals(&s))
                    .unwrap_or_default(),
            ),
            ..Mark::now()
        }
    }

    async fn window(&self, service: &str, version: &str, since: &Mark) -> VersionWindow {
        let Some(stats) = self.stats(service, version) else {
            return VersionWindow::default();
        };
        let now = totals(&stats);
        let start = since.totals.clone().unwrap_or_default();
        let mut w = difference(&now, &start);
        w.latency = LatencySummary::from_samples(stats.recent().since(since.at));
        w.warmup = Warmup {
            warm: true,
            warmup_requests: 0,
        };
        w
    }
}

/// Reads every counter of a version.
pub(crate) fn totals(s: &VersionStats) -> Totals {
    let o = s.outcomes().sums();
    let sh = s.shadow().sums();
    let regression = o.sq_error > 0.0;
    Totals {
        requests: s.requests(),
        errors: ErrorKind::ALL.map(|k| s.errors(k)),
        labelled: Labelled {
            correct: o.correct,
            total: if regression { 0 } else { o.labelled },
            sum_abs_error: o.abs_error,
            sum_sq_error: o.sq_error,
            n: if regression { o.labelled } else { 0 },
        },
        rewards: Rewards {
            n: o.rewards,
            sum: o.reward_sum,
            sum_sq: o.reward_sq_sum,
        },
        invalid: s.outcomes().invalid(),
        classes: s.class_counts().0,
        shadow: ShadowPairs {
            requests: sh.requests,
            errors: error_counts(|k| sh.errors(k)),
            n: sh.compared,
            disagreements: sh.disagreements,
            sum_abs_diff: sh.abs_diff,
            latency_pairs_ms: s.shadow().latency_pairs(),
            correctness: PairedCorrectness {
                both: sh.paired.both,
                stable_only: sh.paired.only_stable,
                candidate_only: sh.paired.only_candidate,
                neither: sh.paired.neither,
            },
        },
    }
}

pub(crate) fn difference(now: &Totals, start: &Totals) -> VersionWindow {
    let e = |k: ErrorKind| now.errors[k as usize].saturating_sub(start.errors[k as usize]);
    let (sn, ss) = (&now.shadow, &start.shadow);
    let classes = now
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| c.saturating_sub(start.classes.get(i).copied().unwrap_or(0)))
        .collect();
    let paired = |n: &PairedCorrectness, s: &PairedCorrectness| PairedCorrectness {
        both: n.both.saturating_sub(s.both),
        stable_only: n.stable_only.saturating_sub(s.stable_only),
        candidate_only: n.candidate_only.saturating_sub(s.candidate_only),
        neither: n.neither.saturating_sub(s.neither),
    };
    VersionWindow {
        requests: now.requests.saturating_sub(start.requests),
        errors: error_counts(e),
        labelled: Labelled {
            correct: now.labelled.correct.saturating_sub(start.labelled.correct),
            total: now.labelled.total.saturating_sub(start.labelled.total),
            sum_abs_error: (now.labelled.sum_abs_error - start.labelled.sum_abs_error).max(0.0),
            sum_sq_error: (now.labelled.sum_sq_error - start.labelled.sum_sq_error).max(0.0),
            n: now.labelled.n.saturating_sub(start.labelled.n),
        },
        rewards: Rewards {
            n: now.rewards.n.saturating_sub(start.rewards.n),
            sum: now.rewards.sum - start.rewards.sum,
            sum_sq: now.rewards.sum_sq - start.rewards.sum_sq,
        },
        invalid_predictions: now.invalid.saturating_sub(start.invalid),
        output_histogram: classes,
        shadow: ShadowPairs {
            requests: sn.requests.saturating_sub(ss.requests),
            errors: sn.errors.since(&ss.errors),
            n: now.shadow.n.saturating_sub(start.shadow.n),
            disagreements: now
                .shadow
                .disagreements
                .saturating_sub(start.shadow.disagreements),
            sum_abs_diff: (now.shadow.sum_abs_diff - start.shadow.sum_abs_diff).max(0.0),
            latency_pairs_ms: newest(
                &now.shadow.latency_pairs_ms,
                now.shadow.n.saturating_sub(start.shadow.n),
            ),
            correctness: paired(&now.shadow.correctness, &start.shadow.correctness),
        },
        ..VersionWindow::default()
    }
}

/// A window's error counts from a count per kind; "no instance available" counts as a 5xx.
fn error_counts(count: impl Fn(ErrorKind) -> u64) -> ErrorCounts {
    ErrorCounts {
        model: count(ErrorKind::Model),
        upstream_5xx: count(ErrorKind::Upstream5xx) + count(ErrorKind::Unavailable),
        timeout: count(ErrorKind::Timeout),
        bad_request: count(ErrorKind::BadRequest),
    }
}

/// The newest pairs, at most as many as rows were compared in the window (a pair is one
/// request of one or more rows, so this may keep a few older pairs: it only widens the sample).
fn newest(pairs: &[(f64, f64)], fresh: u64) -> Vec<(f64, f64)> {
    let keep = usize::try_from(fresh)
        .unwrap_or(usize::MAX)
        .min(pairs.len());
    pairs[pairs.len() - keep..].to_vec()
}
