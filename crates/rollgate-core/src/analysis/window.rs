//! What one version measured over one analysis window: a plain data record the binary fills
//! from its counters and the judge reads.
//!
//! Every count is *cumulative since the analysis began* (the start of the rollout stage): the
//! sequential tests of the judge compare cumulative counts at each look, and their guarantee
//! holds only if a look never forgets earlier traffic. All fields default to zero, so a caller
//! fills only what it measures; a check whose data is absent stays inconclusive.

use serde::{Deserialize, Serialize};

/// One version's measurements over the analysis window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VersionWindow {
    /// Requests routed to this version, failed ones included (warm-up requests excluded).
    pub requests: u64,
    /// Failed requests, by cause.
    pub errors: ErrorCounts,
    /// Response latency.
    pub latency: LatencySummary,
    /// Predictions whose true label arrived later.
    pub labelled: Labelled,
    /// Business rewards (conversions are 0/1 rewards).
    pub rewards: Rewards,
    /// Predictions that failed output validation (wrong shape, NaN, out-of-range class).
    pub invalid_predictions: u64,
    /// Histogram of outputs: counts per class index, or per score bin. Compared between
    /// versions bin by bin, so both must use the same bins.
    pub output_histogram: Vec<u64>,
    /// Mirrored requests answered by both this version and the stable one (shadow mode).
    pub shadow: ShadowPairs,
    /// Warm-up state of the version.
    pub warmup: Warmup,
}

impl VersionWindow {
    /// Every request this version answered or failed: the ones it served and, in shadow mode,
    /// the mirrored ones. Both are answers of the same model to real inputs, so error and
    /// invalid-output rates count them together.
    pub fn answered(&self) -> u64 {
        self.requests + self.shadow.requests
    }

    /// The errors of [`VersionWindow::answered`], by cause.
    pub fn all_errors(&self) -> ErrorCounts {
        self.errors.plus(&self.shadow.errors)
    }

    /// The counts of two windows of one version measured apart (two replicas' shares of the
    /// same traffic), added field by field; samples are pooled and percentiles recomputed
    /// from them. A version is warm only if both parts say so.
    pub fn plus(&self, other: &VersionWindow) -> VersionWindow {
        let mut classes = self.output_histogram.clone();
        classes.resize(classes.len().max(other.output_histogram.len()), 0);
        for (c, o) in classes.iter_mut().zip(&other.output_histogram) {
            *c += o;
        }
        let samples = [
            self.latency.samples_ms.as_slice(),
            &other.latency.samples_ms,
        ]
        .concat();
        VersionWindow {
            requests: self.requests + other.requests,
            errors: self.errors.plus(&other.errors),
            latency: LatencySummary::from_samples(samples),
            labelled: Labelled {
                correct: self.labelled.correct + other.labelled.correct,
                total: self.labelled.total + other.labelled.total,
                sum_abs_error: self.labelled.sum_abs_error + other.labelled.sum_abs_error,
                sum_sq_error: self.labelled.sum_sq_error + other.labelled.sum_sq_error,
                n: self.labelled.n + other.labelled.n,
            },
            rewards: Rewards {
                n: self.rewards.n + other.rewards.n,
                sum: self.rewards.sum + other.rewards.sum,
                sum_sq: self.rewards.sum_sq + other.rewards.sum_sq,
            },
            invalid_predictions: self.invalid_predictions + other.invalid_predictions,
            output_histogram: classes,
            shadow: self.shadow.plus(&other.shadow),
            warmup: Warmup {
                warm: self.warmup.warm && other.warmup.warm,
                warmup_requests: self.warmup.warmup_requests + other.warmup.warmup_requests,
            },
        }
    }
}

/// Failed requests by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErrorCounts {
    /// The model itself failed (inference error, bad output).
    pub model: u64,
    /// The upstream server answered with a 5xx status.
    pub upstream_5xx: u64,
    /// No answer within the deadline.
    pub timeout: u64,
    /// The request was malformed for this version (input schema, shape).
    pub bad_request: u64,
}

impl ErrorCounts {
    /// All errors, whatever the cause.
    pub fn total(&self) -> u64 {
        self.model + self.upstream_5xx + self.timeout + self.bad_request
    }

    /// Both counts added, cause by cause.
    pub fn plus(&self, other: &ErrorCounts) -> ErrorCounts {
        ErrorCounts {
            model: self.model + other.model,
            upstream_5xx: self.upstream_5xx + other.upstream_5xx,
            timeout: self.timeout + other.timeout,
            bad_request: self.bad_request + other.bad_request,
        }
    }

    /// The errors counted since `start`, an earlier reading of the same counters.
    pub fn since(&self, start: &ErrorCounts) -> ErrorCounts {
        ErrorCounts {
            model: self.model.saturating_sub(start.model),
            upstream_5xx: self.upstream_5xx.saturating_sub(start.upstream_5xx),
            timeout: self.timeout.saturating_sub(start.timeout),
            bad_request: self.bad_request.saturating_sub(start.bad_request),
        }
    }
}

/// Latency percentiles over all requests, and a bounded sample for rank tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencySummary {
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// A uniform sample of latencies in ms (e.g. a reservoir of a few thousand), for the
    /// Mann–Whitney test. Bounded by the binary so a window stays small.
    pub samples_ms: Vec<f64>,
}

impl LatencySummary {
    /// Percentiles computed from `samples` (nearest rank), keeping the samples.
    pub fn from_samples(samples_ms: Vec<f64>) -> Self {
        let mut sorted = samples_ms.clone();
        sorted.sort_by(f64::total_cmp);
        Self {
            p50_ms: nearest_rank(&sorted, 0.50),
            p95_ms: nearest_rank(&sorted, 0.95),
            p99_ms: nearest_rank(&sorted, 0.99),
            samples_ms,
        }
    }
}

/// The `q`-quantile of a sorted sample by the nearest-rank method, 0 when empty.
pub(crate) fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Predictions whose ground truth is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Labelled {
    /// Classification: correct predictions among `total`.
    pub correct: u64,
    /// Classification: labelled predictions.
    pub total: u64,
    /// Regression: Σ |prediction - truth|.
    pub sum_abs_error: f64,
    /// Regression: Σ (prediction - truth)².
    pub sum_sq_error: f64,
    /// Regression: labelled predictions.
    pub n: u64,
}

/// Rewards observed after predictions (a conversion is a reward of 0 or 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rewards {
    /// Rewarded predictions.
    pub n: u64,
    /// Σ reward.
    pub sum: f64,
    /// Σ reward².
    pub sum_sq: f64,
}

impl Rewards {
    /// Rewards of `conversions` conversions out of `n` trials.
    pub fn conversions(conversions: u64, n: u64) -> Self {
        let c = conversions as f64;
        Self {
            n,
            sum: c,
            sum_sq: c,
        }
    }
}

/// Mirrored requests: the same input answered by the stable version and by this one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShadowPairs {
    /// Mirrored requests this version answered or failed, of those stable answered: in shadow
    /// mode its only requests, so its error and invalid-output rates count them with
    /// [`VersionWindow::requests`].
    pub requests: u64,
    /// Those of `requests` this version failed, by cause.
    pub errors: ErrorCounts,
    /// Mirrored requests answered by both.
    pub n: u64,
    /// Pairs whose outputs disagree (different class, or beyond the output tolerance).
    pub disagreements: u64,
    /// Σ |candidate output - stable output| over pairs (regression outputs).
    pub sum_abs_diff: f64,
    /// Paired latencies `(stable_ms, candidate_ms)` of a sample of pairs, for Wilcoxon.
    pub latency_pairs_ms: Vec<(f64, f64)>,
    /// Paired correctness of labelled pairs, for McNemar.
    pub correctness: PairedCorrectness,
}

impl ShadowPairs {
    /// Two replicas' pairs together.
    pub fn plus(&self, other: &ShadowPairs) -> ShadowPairs {
        let (a, b) = (&self.correctness, &other.correctness);
        ShadowPairs {
            requests: self.requests + other.requests,
            errors: self.errors.plus(&other.errors),
            n: self.n + other.n,
            disagreements: self.disagreements + other.disagreements,
            sum_abs_diff: self.sum_abs_diff + other.sum_abs_diff,
            latency_pairs_ms: [self.latency_pairs_ms.as_slice(), &other.latency_pairs_ms].concat(),
            correctness: PairedCorrectness {
                both: a.both + b.both,
                stable_only: a.stable_only + b.stable_only,
                candidate_only: a.candidate_only + b.candidate_only,
                neither: a.neither + b.neither,
            },
        }
    }
}

/// Labelled mirrored pairs tallied by which version was right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairedCorrectness {
    /// Both versions right.
    pub both: u64,
    /// Only the stable version right.
    pub stable_only: u64,
    /// Only the candidate right.
    pub candidate_only: u64,
    /// Both wrong.
    pub neither: u64,
}

impl PairedCorrectness {
    /// All labelled pairs.
    pub fn total(&self) -> u64 {
        self.both + self.stable_only + self.candidate_only + self.neither
    }
}

/// Whether the version has finished warming up (caches, JIT, lazily loaded weights).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Warmup {
    /// The binary considers the version warm.
    pub warm: bool,
    /// Requests served during warm-up, excluded from every other field.
    pub warmup_requests: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(requests: u64, model_errors: u64, latencies: &[f64], classes: &[u64]) -> VersionWindow {
        VersionWindow {
            requests,
            errors: ErrorCounts {
                model: model_errors,
                ..ErrorCounts::default()
            },
            latency: LatencySummary::from_samples(latencies.to_vec()),
            labelled: Labelled {
                correct: requests / 2,
                total: requests,
                ..Labelled::default()
            },
            output_histogram: classes.to_vec(),
            warmup: Warmup {
                warm: true,
                warmup_requests: 0,
            },
            ..VersionWindow::default()
        }
    }

    #[test]
    fn two_replicas_windows_add_up_to_the_fleets() {
        let a = part(10, 1, &[1.0, 2.0], &[3, 7]);
        let b = part(30, 5, &[3.0, 4.0, 5.0], &[10, 10, 10]);
        let sum = a.plus(&b);
        assert_eq!(sum.requests, 40);
        assert_eq!(sum.errors.model, 6);
        assert_eq!((sum.labelled.correct, sum.labelled.total), (20, 40));
        assert_eq!(sum.output_histogram, vec![13, 17, 10]);
        assert_eq!(sum.latency.samples_ms.len(), 5);
        assert_eq!(sum.latency.p50_ms, 3.0);
        assert!(sum.warmup.warm);
        assert_eq!(VersionWindow::default().plus(&a).requests, a.requests);
    }

    #[test]
    fn a_fleet_is_warm_only_if_every_part_is() {
        let warm = part(1, 0, &[], &[]);
        let cold = VersionWindow::default();
        assert!(!warm.plus(&cold).warmup.warm);
    }
}
