//! A check's raw evaluation before `min_samples`, `failure_limit` and `on_inconclusive`, and
//! the dispatch from a metric to its method.

use super::{continuous, paired, rates, CheckState};
use crate::analysis::template::{Check, Metric};
use crate::analysis::VersionWindow;

/// What the evidence says at this look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// The candidate breaks the condition.
    Fail,
    /// The candidate meets the condition.
    Pass,
    /// Not enough evidence either way.
    Undecided,
}

/// Everything a method needs.
pub(super) struct Input<'a> {
    pub(super) check: &'a Check,
    pub(super) alpha: f64,
    pub(super) baseline: &'a VersionWindow,
    pub(super) candidate: &'a VersionWindow,
    pub(super) state: CheckState,
}

/// A method's answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Evaluation {
    pub(super) decision: Decision,
    pub(super) baseline_value: Option<f64>,
    pub(super) candidate_value: Option<f64>,
    pub(super) p_value: Option<f64>,
    pub(super) statistic: Option<f64>,
    pub(super) samples: u64,
    pub(super) reason: String,
    /// The updated sequential state, for sequential methods.
    pub(super) state: Option<CheckState>,
}

impl Evaluation {
    /// An undecided evaluation for want of data.
    pub(super) fn no_data(reason: impl Into<String>) -> Self {
        Self {
            decision: Decision::Undecided,
            baseline_value: None,
            candidate_value: None,
            p_value: None,
            statistic: None,
            samples: 0,
            reason: reason.into(),
            state: None,
        }
    }

    /// A decision on values alone, without a test.
    pub(super) fn point(
        decision: Decision,
        baseline_value: Option<f64>,
        candidate_value: f64,
        samples: u64,
        reason: String,
    ) -> Self {
        Self {
            decision,
            baseline_value,
            candidate_value: Some(candidate_value),
            p_value: None,
            statistic: None,
            samples,
            reason,
            state: None,
        }
    }
}

/// Routes a check to its method.
pub(super) fn evaluate(input: &Input<'_>) -> Evaluation {
    match input.check.metric {
        m if m.is_rate() => rates::evaluate(input),
        Metric::Latency(_) => continuous::latency(input),
        Metric::Mae | Metric::MeanReward => continuous::mean(input),
        Metric::Rmse => continuous::rmse(input),
        Metric::DriftPsi | Metric::DriftJs => continuous::drift(input),
        _ => paired::shadow(input),
    }
}

/// The level of this look's repeated fixed-horizon test and the state that counts it: the
/// k-th test (k ≥ 1) runs at `α / (k (k + 1))`, so the levels sum to α over all looks.
/// Without enough samples no test runs (and the check is undecided anyway).
pub(super) fn repeated_test_level(input: &Input<'_>, enough: bool) -> (f64, Option<CheckState>) {
    if !enough {
        return (input.alpha, None);
    }
    let k = input.state.tests + 1;
    let level = input.alpha / (k as f64 * (k as f64 + 1.0));
    (
        level,
        Some(CheckState {
            tests: k,
            ..input.state
        }),
    )
}

/// A p-value against the level it was compared with, for reasons.
pub(super) fn show_test(name: &str, p: Option<f64>, level: f64) -> String {
    let level = if level < 0.001 {
        format!("{level:.1e}")
    } else {
        format!("{level:.3}")
    };
    match p {
        Some(p) => format!("{name} p={} (level {level})", show_p(p)),
        None => format!("no samples for {name}"),
    }
}

/// A value in the metric's unit, for reasons: rates with 3 decimals, latency in ms.
pub(super) fn show(metric: Metric, v: f64) -> String {
    match metric {
        Metric::Latency(_) => format!("{v:.1}ms"),
        m if m.is_rate() => format!("{v:.3}"),
        _ => format!("{v:.4}"),
    }
}

/// A difference in the metric's unit: rate differences in points.
pub(super) fn show_delta(metric: Metric, d: f64) -> String {
    if metric.is_rate() {
        format!("{:+.1} points", d * 100.0)
    } else if let Metric::Latency(_) = metric {
        format!("{d:+.1}ms")
    } else {
        format!("{d:+.4}")
    }
}

/// A p-value for reasons: three significant digits, `<0.001` below.
pub(super) fn show_p(p: f64) -> String {
    if p < 0.001 {
        "<0.001".to_owned()
    } else {
        format!("{p:.3}")
    }
}

/// Percentage points of a rate difference without float noise: 0.07 → "7", 0.005 → "0.5".
pub(super) fn show_points(rate: f64) -> String {
    let s = format!("{:.4}", rate * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
