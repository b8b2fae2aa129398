//! Checks on continuous metrics: latency percentiles, mean errors and rewards, drift.

use super::evaluation::{
    repeated_test_level, show, show_delta, show_p, show_test, Decision, Evaluation, Input,
};
use super::{paired, sequential};
use crate::analysis::template::{Condition, Direction, Metric, Percentile};
use crate::analysis::window::LatencySummary;
use crate::analysis::VersionWindow;
use crate::stats::{jensen_shannon_distance, mann_whitney_u, population_stability_index};
use statrs::distribution::{ContinuousCDF, Normal};

fn percentile(l: &LatencySummary, p: Percentile) -> f64 {
    match p {
        Percentile::P50 => l.p50_ms,
        Percentile::P95 => l.p95_ms,
        Percentile::P99 => l.p99_ms,
    }
}

/// Requests behind a window's latency (the sample's size when requests were not counted).
fn latency_samples(w: &VersionWindow) -> u64 {
    w.requests.max(w.latency.samples_ms.len() as u64)
}

/// Latency: absolute bounds on the percentile once `min_samples` are in; relative bounds with
/// the percentile's ratio or difference as effect size and a one-sided Mann–Whitney U test as
/// evidence (Kayenta's pairing of effect and significance), Wilcoxon on shadow pairs.
pub(super) fn latency(input: &Input<'_>) -> Evaluation {
    let (metric, check) = (input.check.metric, input.check);
    let Metric::Latency(p) = metric else {
        return Evaluation::no_data(format!("{metric}: not a latency metric"));
    };
    let pairs = input.candidate.shadow.latency_pairs_ms.len() as u64;
    if check.condition.is_relative() && pairs > 0 && pairs >= input.candidate.requests {
        return paired::latency(input, p);
    }
    let (c, n) = (
        percentile(&input.candidate.latency, p),
        latency_samples(input.candidate),
    );
    if n == 0 {
        return Evaluation::no_data(format!("{metric}: no candidate data yet"));
    }
    let enough = n >= check.min_samples;
    if let Condition::Max(bound) = check.condition {
        let decision = match (enough, c > bound) {
            (false, _) => Decision::Undecided,
            (true, true) => Decision::Fail,
            (true, false) => Decision::Pass,
        };
        let cmp = if c > bound { ">" } else { "≤" };
        let reason = format!(
            "{metric} {} over {n} requests {cmp} max {}",
            show(metric, c),
            show(metric, bound)
        );
        return Evaluation::point(decision, None, c, n, reason);
    }
    let b = percentile(&input.baseline.latency, p);
    if latency_samples(input.baseline) == 0 {
        return Evaluation::no_data(format!("{metric}: no baseline data yet"));
    }
    let (exceeds, effect) = effect(metric, check.condition, b, c);
    let test = mann_whitney_u(
        &input.baseline.latency.samples_ms,
        &input.candidate.latency.samples_ms,
    )
    .ok();
    let (level, state) = repeated_test_level(input, enough);
    let significant = test.is_none_or(|t| t.p_greater < level);
    let decision = latency_decision(enough, exceeds, significant);
    let evidence = show_test("Mann-Whitney", test.map(|t| t.p_greater), level);
    let reason = format!(
        "{metric} {} (candidate) vs {} (baseline): {effect} {} {} {}, {evidence}",
        show(metric, c),
        show(metric, b),
        if exceeds { ">" } else { "≤" },
        check.condition.key(),
        check.condition.value()
    );
    Evaluation {
        decision,
        baseline_value: Some(b),
        candidate_value: Some(c),
        p_value: test.map(|t| t.p_greater),
        statistic: test.map(|t| t.u_candidate),
        samples: n,
        reason,
        state,
    }
}

/// A percentile's ratio or difference is no effect size on a handful of requests (one slow
/// cold request is the p95 of ten): latency decides only with `min_samples`, and fails only
/// when the rank test agrees that the candidate is slower.
pub(super) fn latency_decision(enough: bool, exceeds: bool, significant: bool) -> Decision {
    match (enough, exceeds, significant) {
        (false, _, _) => Decision::Undecided,
        (true, true, true) => Decision::Fail,
        (true, false, _) => Decision::Pass,
        (true, true, false) => Decision::Undecided,
    }
}

/// Whether `c` exceeds a relative bound on `b`, and the effect in words.
pub(super) fn effect(metric: Metric, condition: Condition, b: f64, c: f64) -> (bool, String) {
    match condition {
        Condition::MaxRatio(r) => {
            let ratio = if b > 0.0 {
                c / b
            } else if c > 0.0 {
                f64::INFINITY
            } else {
                1.0
            };
            (ratio > r, format!("×{ratio:.2}"))
        }
        cond => (c - b > cond.value(), show_delta(metric, c - b)),
    }
}

/// Mean, variance and count of a mean metric's per-prediction values, if any.
fn moments(metric: Metric, w: &VersionWindow) -> Option<(f64, f64, u64)> {
    let (sum, sum_sq, n) = match metric {
        Metric::Mae => (
            w.labelled.sum_abs_error,
            w.labelled.sum_sq_error,
            w.labelled.n,
        ),
        _ => (w.rewards.sum, w.rewards.sum_sq, w.rewards.n),
    };
    (n > 0).then(|| {
        let mean = sum / n as f64;
        (mean, (sum_sq / n as f64 - mean * mean).max(0.0), n)
    })
}

/// `mae` and `mean_reward`: a normal interval of the mean for absolute bounds; the two
/// sequential tests on the difference of means (positive = worse) for relative ones.
pub(super) fn mean(input: &Input<'_>) -> Evaluation {
    let (metric, check) = (input.check.metric, input.check);
    let Some((mc, vc, nc)) = moments(metric, input.candidate) else {
        return Evaluation::no_data(format!("{metric}: no candidate data yet"));
    };
    if let Condition::Max(bound) | Condition::Min(bound) = check.condition {
        let z = Normal::standard().inverse_cdf(1.0 - input.alpha / 2.0);
        let half = z * (vc / nc as f64).sqrt();
        let (lo, hi) = (mc - half, mc + half);
        let (fails, passes) = match metric.direction() {
            Direction::LowerIsBetter => (lo > bound, hi <= bound),
            Direction::HigherIsBetter => (hi < bound, lo >= bound),
        };
        let decision = if fails {
            Decision::Fail
        } else if passes {
            Decision::Pass
        } else {
            Decision::Undecided
        };
        let reason = format!(
            "{metric} {} over {nc} (interval {}..{}) vs {} {}",
            show(metric, mc),
            show(metric, lo),
            show(metric, hi),
            check.condition.key(),
            show(metric, bound)
        );
        return Evaluation::point(decision, None, mc, nc, reason);
    }
    let Some((mb, vb, nb)) = moments(metric, input.baseline) else {
        return Evaluation::no_data(format!("{metric}: no baseline data yet"));
    };
    let sign = if metric.direction() == Direction::LowerIsBetter {
        1.0
    } else {
        -1.0
    };
    let margin = match check.condition {
        Condition::MaxRatio(r) => (r - 1.0) * mb.abs(),
        c => c.value(),
    };
    let variance = (vc / nc as f64 + vb / nb as f64).max(1e-12);
    let tau = check.tau.unwrap_or(if margin > 0.0 {
        margin
    } else {
        vb.sqrt().max(1e-6)
    });
    let look = sequential::look(
        sign * (mc - mb),
        variance,
        margin,
        tau,
        input.alpha,
        input.state,
    );
    let reason = format!(
        "{metric} {} (candidate) vs {} (baseline): {} vs {} {}, mSPRT p={}",
        show(metric, mc),
        show(metric, mb),
        show_delta(metric, mc - mb),
        check.condition.key(),
        check.condition.value(),
        show_p(look.p_worse)
    );
    Evaluation {
        decision: look.decision,
        baseline_value: Some(mb),
        candidate_value: Some(mc),
        p_value: Some(look.p_worse),
        statistic: Some(look.lambda_worse),
        samples: nc.min(nb),
        reason,
        state: Some(look.state),
    }
}

/// `rmse`: the point value once `min_samples` are in (the window carries no fourth moment, so
/// no variance of the squared errors to test with).
pub(super) fn rmse(input: &Input<'_>) -> Evaluation {
    let (metric, check) = (input.check.metric, input.check);
    let value = |w: &VersionWindow| {
        (w.labelled.n > 0).then(|| (w.labelled.sum_sq_error / w.labelled.n as f64).sqrt())
    };
    let Some(c) = value(input.candidate) else {
        return Evaluation::no_data(format!("{metric}: no candidate data yet"));
    };
    let n = input.candidate.labelled.n;
    let (b, (exceeds, effect)) = match check.condition {
        Condition::Max(bound) => (None, (c > bound, format!("max {bound}"))),
        cond => match value(input.baseline) {
            Some(b) => (Some(b), effect(metric, cond, b, c)),
            None => return Evaluation::no_data(format!("{metric}: no baseline data yet")),
        },
    };
    point_decision(metric, n >= check.min_samples, exceeds, b, c, n, effect)
}

/// Drift of the output histogram from the baseline's, above the check's noise floor.
pub(super) fn drift(input: &Input<'_>) -> Evaluation {
    let (metric, check) = (input.check.metric, input.check);
    let (b, c) = (
        &input.baseline.output_histogram,
        &input.candidate.output_histogram,
    );
    let value = match metric {
        Metric::DriftPsi => population_stability_index(b, c),
        _ => jensen_shannon_distance(b, c),
    };
    let value = match value {
        Ok(v) => v,
        Err(e) => {
            return Evaluation::no_data(format!("{metric}: no comparable histograms yet ({e})"))
        }
    };
    let n = c.iter().sum();
    let bound = check.condition.value() + check.noise_floor;
    let effect = format!(
        "max {} + noise floor {}",
        check.condition.value(),
        check.noise_floor
    );
    point_decision(
        metric,
        n >= check.min_samples,
        value > bound,
        None,
        value,
        n,
        effect,
    )
}

/// A decision on point values, taken only with enough samples.
pub(super) fn point_decision(
    metric: Metric,
    enough: bool,
    exceeds: bool,
    baseline: Option<f64>,
    candidate: f64,
    n: u64,
    bound: String,
) -> Evaluation {
    let decision = match (enough, exceeds) {
        (false, _) => Decision::Undecided,
        (true, true) => Decision::Fail,
        (true, false) => Decision::Pass,
    };
    let vs = baseline.map_or(String::new(), |b| {
        format!(" vs {} (baseline)", show(metric, b))
    });
    let cmp = if exceeds { "beyond" } else { "within" };
    let reason = format!(
        "{metric} {} over {n}{vs}: {cmp} {bound}",
        show(metric, candidate)
    );
    Evaluation::point(decision, baseline, candidate, n, reason)
}
