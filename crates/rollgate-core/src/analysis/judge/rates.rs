//! Checks on rates of a binary outcome: errors, invalid predictions, accuracy, conversions.

use super::evaluation::{show, show_delta, show_p, show_points, Decision, Evaluation, Input};
use super::paired;
use super::sequential::{self, DEFAULT_RATE_TAU};
use crate::analysis::template::{Condition, Direction, ErrorKind, Metric};
use crate::analysis::VersionWindow;
use crate::stats::{fisher_exact, restricted_difference_variance, wilson_interval, Counts};

/// Below this many bad events in both arms together, a sequential failure must be confirmed
/// by Fisher's exact test: the normal approximation behind the mSPRT is poorest there.
pub(super) const FISHER_BELOW: u64 = 20;

/// Judges a rate check.
pub(super) fn evaluate(input: &Input<'_>) -> Evaluation {
    let metric = input.check.metric;
    if let (Metric::Accuracy, Condition::MaxDecrease(margin)) = (metric, input.check.condition) {
        // Shadow pairs decide while they are the candidate's main evidence. Once it serves
        // users (a canary after a shadow phase), its own answers take over: the pairs stop
        // growing when mirroring stops, and a test on frozen data would never conclude.
        let pairs = input.candidate.shadow.correctness.total();
        if pairs > 0 && pairs >= input.candidate.labelled.total {
            return paired::accuracy(input, margin);
        }
    }
    let candidate = match counts(metric, input.candidate) {
        Ok(c) if c.trials() > 0 => c,
        Ok(_) => return Evaluation::no_data(format!("{metric}: no candidate data yet")),
        Err(e) => {
            return Evaluation::no_data(format!("{metric}: inconsistent candidate window: {e}"))
        }
    };
    match input.check.condition {
        Condition::Max(bound) | Condition::Min(bound) => absolute(input, candidate, bound),
        Condition::MaxIncrease(margin) | Condition::MaxDecrease(margin) => {
            match counts(metric, input.baseline) {
                Ok(b) if b.trials() > 0 => relative(input, b, candidate, margin),
                Ok(_) => Evaluation::no_data(format!("{metric}: no baseline data yet")),
                Err(e) => {
                    Evaluation::no_data(format!("{metric}: inconsistent baseline window: {e}"))
                }
            }
        }
        Condition::MaxRatio(_) => Evaluation::no_data(format!("{metric}: max_ratio not supported")),
    }
}

/// The metric's own events among its trials (errors among requests, correct among labelled).
/// Errors and invalid outputs count mirrored requests with served ones
/// ([`VersionWindow::answered`]).
pub(super) fn counts(
    metric: Metric,
    w: &VersionWindow,
) -> Result<Counts, crate::stats::StatsError> {
    let (e, requests) = (w.all_errors(), w.answered());
    let (events, trials) = match metric {
        Metric::ErrorRate(None) => (e.total(), requests),
        Metric::ErrorRate(Some(ErrorKind::Model)) => (e.model, requests),
        Metric::ErrorRate(Some(ErrorKind::Upstream5xx)) => (e.upstream_5xx, requests),
        Metric::ErrorRate(Some(ErrorKind::Timeout)) => (e.timeout, requests),
        Metric::ErrorRate(Some(ErrorKind::BadRequest)) => (e.bad_request, requests),
        Metric::Accuracy => (w.labelled.correct, w.labelled.total),
        Metric::ConversionRate => (w.rewards.sum.max(0.0).round() as u64, w.rewards.n),
        _ => (w.invalid_predictions, requests),
    };
    Counts::new(events, trials)
}

/// Wilson interval at confidence 1 − α: fail only when all of it is past the bound, pass only
/// when all of it is inside (Wilson 1927; Brown, Cai & DasGupta 2001).
fn absolute(input: &Input<'_>, candidate: Counts, bound: f64) -> Evaluation {
    let metric = input.check.metric;
    let Ok(ci) = wilson_interval(candidate, 1.0 - input.alpha) else {
        return Evaluation::no_data(format!("{metric}: no candidate data yet"));
    };
    let rate = candidate.rate();
    let (fails, passes, cmp) = match metric.direction() {
        Direction::LowerIsBetter => (ci.lower > bound, ci.upper <= bound, "max"),
        Direction::HigherIsBetter => (ci.upper < bound, ci.lower >= bound, "min"),
    };
    let (decision, verdict) = match (fails, passes) {
        (true, _) => (Decision::Fail, "breaks"),
        (_, true) => (Decision::Pass, "meets"),
        _ => (Decision::Undecided, "not yet clearly on either side of"),
    };
    let reason = format!(
        "{metric} {} over {} (Wilson {:.0}% interval {}..{}) {verdict} {cmp} {}",
        show(metric, rate),
        candidate.trials(),
        (1.0 - input.alpha) * 100.0,
        show(metric, ci.lower),
        show(metric, ci.upper),
        show(metric, bound)
    );
    Evaluation::point(decision, None, rate, candidate.trials(), reason)
}

/// The rate's "bad" outcomes: itself when lower is better, its complement otherwise.
fn bad(metric: Metric, c: Counts) -> Counts {
    match metric.direction() {
        Direction::LowerIsBetter => c,
        Direction::HigherIsBetter => Counts::new(c.non_events(), c.trials()).unwrap_or(c),
    }
}

/// Two one-sided mSPRTs around the margin, variance at the margin boundary (Farrington &
/// Manning 1990), with Fisher's exact test confirming a failure at small counts.
fn relative(input: &Input<'_>, baseline: Counts, candidate: Counts, margin: f64) -> Evaluation {
    let (metric, alpha) = (input.check.metric, input.alpha);
    let (bb, bc) = (bad(metric, baseline), bad(metric, candidate));
    let theta = bc.rate() - bb.rate();
    let variance = restricted_difference_variance(bb, bc, margin);
    let tau = input.check.tau.unwrap_or(DEFAULT_RATE_TAU);
    let look = sequential::look(theta, variance, margin, tau, alpha, input.state);
    let mut decision = look.decision;
    let mut p_value = look.p_worse;
    let mut note = String::new();
    if decision == Decision::Fail && bb.events() + bc.events() < FISHER_BELOW {
        let fisher = fisher_exact(bb, bc).p_greater;
        p_value = p_value.max(fisher);
        if fisher >= alpha {
            decision = Decision::Undecided;
            note = format!(
                ", unconfirmed by Fisher exact p={} at small counts",
                show_p(fisher)
            );
        }
    }
    let key = input.check.condition.key();
    let change = candidate.rate() - baseline.rate();
    let tail = match decision {
        Decision::Fail => format!("beyond {key} {}", points(metric, margin)),
        Decision::Pass => format!(
            "within {key} {} (p={} for exceeding it)",
            points(metric, margin),
            show_p(look.p_within)
        ),
        Decision::Undecided => format!(
            "not yet conclusive against {key} {}",
            points(metric, margin)
        ),
    };
    let reason = format!(
        "{metric} {} (candidate) vs {} (baseline): {} {tail}, mSPRT p={}{note}",
        show(metric, candidate.rate()),
        show(metric, baseline.rate()),
        show_delta(metric, change),
        show_p(look.p_worse)
    );
    Evaluation {
        decision,
        baseline_value: Some(baseline.rate()),
        candidate_value: Some(candidate.rate()),
        p_value: Some(p_value),
        statistic: Some(look.lambda_worse),
        samples: candidate.trials().min(baseline.trials()),
        reason,
        state: Some(look.state),
    }
}

fn points(metric: Metric, margin: f64) -> String {
    if metric.is_rate() {
        format!("{} points", show_points(margin))
    } else {
        format!("{margin}")
    }
}
