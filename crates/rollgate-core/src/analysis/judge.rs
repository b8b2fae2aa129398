//! The judge: a candidate's window against its baseline's, check by check, into a verdict.
//!
//! # Methods
//!
//! | check | method |
//! | --- | --- |
//! | rate relative to baseline (`error_rate`, `invalid_rate`, `accuracy`, `conversion_rate` with `max_increase` / `max_decrease`) | two one-sided always-valid mSPRTs (Johari et al., Oper. Res. 2022) sharing the margin δ as boundary: "worse by more than δ" → fail, "within δ" → pass; variance at the boundary, Farrington & Manning (1990); Fisher's exact test confirms a failure while counts are small |
//! | mean relative to baseline (`mae`, `mean_reward`) | the same mSPRTs on the difference of means (normal approximation) |
//! | absolute bound on a rate | Wilson interval at 1 − α: fails only when the whole interval is past the bound, passes only when it is inside |
//! | absolute bound on a mean (`mae`, `mean_reward`) | normal interval of the mean, the same way |
//! | latency relative | Mann–Whitney U (one-sided) plus the percentile ratio as effect size, as Kayenta; Wilcoxon signed-rank on shadow pairs; only with `min_samples` |
//! | accuracy relative on shadow pairs | McNemar on paired correctness, while the pairs are at least as many as the candidate's own labelled answers (after a shadow phase the canary's served answers take over) |
//! | absolute latency, `rmse`, drift (PSI, JS), `shadow_mae` | the point value, once `min_samples` are in; drift and shadow above `noise_floor` |
//!
//! The rank tests and McNemar are fixed-horizon tests, repeated at every look: the k-th one
//! runs at level α / (k (k + 1)), levels that sum to α over any number of looks (a Bonferroni
//! split in the spirit of α-spending, Lan & DeMets, Biometrika 1983), so repeating them does
//! not inflate false failures. Real regressions are far beyond these levels within a few
//! looks (a 1.5× slower p95 on 100 requests gives p < 10⁻⁹).
//!
//! # One error budget for the whole template
//!
//! The template's `alpha` is the *family-wise* false-failure rate: a healthy candidate fails
//! the analysis (any of its checks) with probability at most α. Each of the m checks runs
//! its tests at α / m (Bonferroni), since a verdict fails when any check fails and the
//! checks' errors are not independent enough to do better safely.
//!
//! A check may pass only with `min_samples`; an undecided check with enough samples counts as
//! its `on_inconclusive` says. A failing look counts towards `failure_limit` (consecutive
//! failing looks, Argo's `failureLimit`); the check fails once they exceed it.
//!
//! Windows must be cumulative since the analysis began, and [`JudgeState`] must be the one
//! returned by the previous look of the same analysis (start with `JudgeState::default()`).

mod continuous;
mod evaluation;
mod paired;
mod rates;
mod sequential;

use super::template::{AnalysisTemplate, Check, Metric, OnInconclusive};
use super::{Outcome, VersionWindow};
use evaluation::{Decision, Evaluation};
pub use sequential::DEFAULT_RATE_TAU;
use serde::{Deserialize, Serialize};

/// The verdict on a candidate at one look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Fail if any check failed, Pass if all passed, Inconclusive otherwise.
    pub outcome: Outcome,
    /// One result per check, in the template's order.
    pub checks: Vec<CheckResult>,
}

/// The result of one check at one look, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// What was measured.
    pub metric: Metric,
    /// The condition's key (`max`, `max_increase` ...).
    pub condition: String,
    /// The check's outcome after `min_samples`, `failure_limit` and `on_inconclusive`.
    pub outcome: Outcome,
    /// The baseline's value, for relative checks.
    pub baseline_value: Option<f64>,
    /// The candidate's value (absent without data).
    pub candidate_value: Option<f64>,
    /// The condition's bound.
    pub threshold: f64,
    /// P-value of the test behind the decision, if any.
    pub p_value: Option<f64>,
    /// The test statistic (z, U, Λ ...), if any.
    pub statistic: Option<f64>,
    /// Samples of the candidate behind the value.
    pub samples: u64,
    /// Why, in words and numbers.
    pub reason: String,
}

/// What the judge remembers between looks of one analysis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeState {
    /// One entry per check, in the template's order.
    pub checks: Vec<CheckState>,
}

/// What one check remembers between looks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    /// The check's metric, so a state never follows a different check.
    pub metric: Metric,
    /// Consecutive failing looks so far.
    pub consecutive_failures: u32,
    /// Looks so far.
    pub looks: u64,
    /// Looks at which a repeated fixed-horizon test (rank test, McNemar) ran; its level is
    /// spent over them (see the module documentation).
    #[serde(default)]
    pub tests: u64,
    /// Largest ln Λ so far of the mSPRT "worse than the margin" (0 before any look).
    pub max_ln_lambda_worse: f64,
    /// Largest ln Λ so far of the mSPRT "within the margin" (0 before any look).
    pub max_ln_lambda_within: f64,
}

impl CheckState {
    /// The state of a check never looked at.
    pub fn new(metric: Metric) -> Self {
        Self {
            metric,
            consecutive_failures: 0,
            looks: 0,
            tests: 0,
            max_ln_lambda_worse: 0.0,
            max_ln_lambda_within: 0.0,
        }
    }
}

/// Judges `candidate` against `baseline` with `template`, given the state after the previous
/// look; returns the verdict and the state for the next look. Pure and deterministic.
pub fn judge(
    template: &AnalysisTemplate,
    baseline: &VersionWindow,
    candidate: &VersionWindow,
    state: &JudgeState,
) -> (Verdict, JudgeState) {
    if let Some(reason) = warming_up(template, candidate) {
        return (warming_verdict(template, &reason), state.clone());
    }
    let alpha = check_alpha(template);
    let (checks, states): (Vec<_>, Vec<_>) = template
        .checks
        .iter()
        .enumerate()
        .map(|(i, check)| {
            let prev = state
                .checks
                .get(i)
                .filter(|s| s.metric == check.metric)
                .copied()
                .unwrap_or_else(|| CheckState::new(check.metric));
            let input = evaluation::Input {
                check,
                alpha,
                baseline,
                candidate,
                state: prev,
            };
            settle(check, evaluation::evaluate(&input), prev)
        })
        .unzip();
    let verdict = Verdict {
        outcome: combine(checks.iter().map(|c| c.outcome)),
        checks,
    };
    (verdict, JudgeState { checks: states })
}

/// Each check's share of the template's family-wise α (see the module documentation).
fn check_alpha(template: &AnalysisTemplate) -> f64 {
    template.alpha / template.checks.len().max(1) as f64
}

/// Fail if any failed, Pass if all passed (and there is at least one), else Inconclusive.
fn combine(outcomes: impl Iterator<Item = Outcome>) -> Outcome {
    let mut all_pass = true;
    let mut any = false;
    for o in outcomes {
        any = true;
        match o {
            Outcome::Fail => return Outcome::Fail,
            Outcome::Inconclusive => all_pass = false,
            Outcome::Pass => {}
        }
    }
    if any && all_pass {
        Outcome::Pass
    } else {
        Outcome::Inconclusive
    }
}

fn warming_up(template: &AnalysisTemplate, candidate: &VersionWindow) -> Option<String> {
    let w = candidate.warmup;
    if !w.warm {
        Some("candidate still warming up".to_owned())
    } else if w.warmup_requests < template.warmup_requests {
        Some(format!(
            "candidate warming up: {} of {} warm-up requests",
            w.warmup_requests, template.warmup_requests
        ))
    } else {
        None
    }
}

fn warming_verdict(template: &AnalysisTemplate, reason: &str) -> Verdict {
    let checks = template
        .checks
        .iter()
        .map(|c| CheckResult {
            metric: c.metric,
            condition: c.condition.key().to_owned(),
            outcome: Outcome::Inconclusive,
            baseline_value: None,
            candidate_value: None,
            threshold: c.condition.value(),
            p_value: None,
            statistic: None,
            samples: 0,
            reason: reason.to_owned(),
        })
        .collect();
    Verdict {
        outcome: Outcome::Inconclusive,
        checks,
    }
}

/// Applies `min_samples`, `failure_limit` and `on_inconclusive` to a raw evaluation.
fn settle(check: &Check, eval: Evaluation, prev: CheckState) -> (CheckResult, CheckState) {
    let mut state = eval.state.unwrap_or(prev);
    state.looks = prev.looks + 1;
    let enough = eval.samples >= check.min_samples;
    let mut reason = eval.reason.clone();
    let outcome = match eval.decision {
        Decision::Fail => {
            state.consecutive_failures = prev.consecutive_failures.saturating_add(1);
            if state.consecutive_failures > check.failure_limit {
                Outcome::Fail
            } else {
                reason.push_str(&format!(
                    " (failing look {} of {} tolerated)",
                    state.consecutive_failures, check.failure_limit
                ));
                Outcome::Inconclusive
            }
        }
        decision => {
            state.consecutive_failures = 0;
            resolve(check, decision, enough, &mut reason)
        }
    };
    let result = CheckResult {
        metric: check.metric,
        condition: check.condition.key().to_owned(),
        outcome,
        baseline_value: eval.baseline_value,
        candidate_value: eval.candidate_value,
        threshold: check.condition.value(),
        p_value: eval.p_value,
        statistic: eval.statistic,
        samples: eval.samples,
        reason,
    };
    (result, state)
}

/// A pass needs `min_samples`; an undecided check with them resolves as configured.
fn resolve(check: &Check, decision: Decision, enough: bool, reason: &mut String) -> Outcome {
    if !enough {
        reason.push_str(&format!(" (fewer than min_samples {})", check.min_samples));
        return Outcome::Inconclusive;
    }
    match (decision, check.on_inconclusive) {
        (Decision::Pass, _) => Outcome::Pass,
        (_, OnInconclusive::Hold) => Outcome::Inconclusive,
        (_, OnInconclusive::Pass) => {
            reason.push_str(" (inconclusive counted as pass)");
            Outcome::Pass
        }
        (_, OnInconclusive::Fail) => {
            reason.push_str(" (inconclusive counted as failure)");
            Outcome::Fail
        }
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
