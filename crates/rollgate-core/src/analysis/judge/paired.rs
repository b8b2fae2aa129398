//! Checks on shadow pairs: the same mirrored request answered by the stable version and by
//! the candidate. Pairing removes the request-to-request variation, so paired tests need far
//! fewer samples than unpaired ones to see the same difference.

use super::continuous::{effect, latency_decision, point_decision};
use super::evaluation::{
    repeated_test_level, show, show_points, show_test, Decision, Evaluation, Input,
};
use crate::analysis::template::{Metric, Percentile};
use crate::analysis::window::nearest_rank;
use crate::stats::{mcnemar, wilcoxon_signed_rank, wilson_interval, Counts, PairedOutcomes};

/// Relative latency on pairs: the percentile of each side of the paired sample as effect,
/// Wilcoxon's signed-rank test (one-sided, candidate slower) as evidence.
pub(super) fn latency(input: &Input<'_>, p: Percentile) -> Evaluation {
    let (metric, check) = (input.check.metric, input.check);
    let pairs = &input.candidate.shadow.latency_pairs_ms;
    let (s, c): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    let q = match p {
        Percentile::P50 => 0.50,
        Percentile::P95 => 0.95,
        Percentile::P99 => 0.99,
    };
    let at = |xs: &[f64]| {
        let mut sorted = xs.to_vec();
        sorted.sort_by(f64::total_cmp);
        nearest_rank(&sorted, q)
    };
    let (bv, cv) = (at(&s), at(&c));
    let (exceeds, effect) = effect(metric, check.condition, bv, cv);
    let test = wilcoxon_signed_rank(&s, &c).ok();
    let enough = pairs.len() as u64 >= check.min_samples;
    let (level, state) = repeated_test_level(input, enough);
    let significant = test.is_some_and(|t| t.p_greater < level);
    let decision = latency_decision(enough, exceeds, significant);
    let reason = format!(
        "{metric} on {} shadow pairs {} (candidate) vs {} (stable): {effect} {} {} {}, {}",
        pairs.len(),
        show(metric, cv),
        show(metric, bv),
        if exceeds { ">" } else { "≤" },
        check.condition.key(),
        check.condition.value(),
        show_test("Wilcoxon", test.map(|t| t.p_greater), level)
    );
    Evaluation {
        decision,
        baseline_value: Some(bv),
        candidate_value: Some(cv),
        p_value: test.map(|t| t.p_greater),
        statistic: test.map(|t| t.w_plus),
        samples: pairs.len() as u64,
        reason,
        state,
    }
}

/// Relative accuracy on labelled pairs: the paired difference of accuracies as effect,
/// McNemar's test on the discordant pairs as evidence (McNemar 1947).
pub(super) fn accuracy(input: &Input<'_>, margin: f64) -> Evaluation {
    let metric = input.check.metric;
    let k = input.candidate.shadow.correctness;
    let n = k.total();
    let (acc_s, acc_c) = (
        (k.both + k.stable_only) as f64 / n as f64,
        (k.both + k.candidate_only) as f64 / n as f64,
    );
    let test = mcnemar(&PairedOutcomes {
        both: k.both,
        stable_only: k.stable_only,
        candidate_only: k.candidate_only,
        neither: k.neither,
    });
    let drop = acc_s - acc_c;
    let (level, state) = repeated_test_level(input, true);
    let worse_significantly = k.stable_only > k.candidate_only && test.p_value < level;
    let decision = match (drop > margin, worse_significantly) {
        (true, true) => Decision::Fail,
        (false, _) => Decision::Pass,
        (true, false) => Decision::Undecided,
    };
    let reason = format!(
        "{metric} on {n} labelled shadow pairs {} (candidate) vs {} (stable): {:+.1} points vs max_decrease {} points, {} ({} vs {} discordant)",
        show(metric, acc_c),
        show(metric, acc_s),
        -drop * 100.0,
        show_points(margin),
        show_test("McNemar", Some(test.p_value), level),
        k.candidate_only,
        k.stable_only
    );
    Evaluation {
        decision,
        baseline_value: Some(acc_s),
        candidate_value: Some(acc_c),
        p_value: Some(test.p_value),
        statistic: Some(test.statistic),
        samples: n,
        reason,
        state,
    }
}

/// `shadow_disagreement` (Wilson interval of the disagreement rate against max + noise floor)
/// and `shadow_mae` (mean absolute output difference, point value).
pub(super) fn shadow(input: &Input<'_>) -> Evaluation {
    let (metric, check) = (input.check.metric, input.check);
    let sh = &input.candidate.shadow;
    if sh.n == 0 {
        return Evaluation::no_data(format!("{metric}: no shadow pairs yet"));
    }
    let bound = check.condition.value() + check.noise_floor;
    let floor = format!(
        "max {} + noise floor {}",
        check.condition.value(),
        check.noise_floor
    );
    if metric == Metric::ShadowMae {
        let v = sh.sum_abs_diff / sh.n as f64;
        return point_decision(
            metric,
            sh.n >= check.min_samples,
            v > bound,
            None,
            v,
            sh.n,
            floor,
        );
    }
    let Ok(counts) = Counts::new(sh.disagreements, sh.n) else {
        return Evaluation::no_data(format!("{metric}: more disagreements than pairs"));
    };
    let Ok(ci) = wilson_interval(counts, 1.0 - input.alpha) else {
        return Evaluation::no_data(format!("{metric}: no shadow pairs yet"));
    };
    let decision = if ci.lower > bound {
        Decision::Fail
    } else if ci.upper <= bound {
        Decision::Pass
    } else {
        Decision::Undecided
    };
    let reason = format!(
        "{metric} {} over {} pairs (Wilson interval {}..{}) vs {floor}",
        show(metric, counts.rate()),
        sh.n,
        show(metric, ci.lower),
        show(metric, ci.upper)
    );
    Evaluation::point(decision, None, counts.rate(), sh.n, reason)
}
