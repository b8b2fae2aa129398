#![allow(clippy::unwrap_used)]
use super::*;
use crate::analysis::template::{Condition, ErrorKind, Percentile};
use crate::analysis::window::{ErrorCounts, LatencySummary, PairedCorrectness, Warmup};

fn warm() -> Warmup {
    Warmup {
        warm: true,
        warmup_requests: 0,
    }
}

fn errors(errors: u64, requests: u64) -> VersionWindow {
    VersionWindow {
        requests,
        errors: ErrorCounts {
            model: errors,
            ..Default::default()
        },
        warmup: warm(),
        ..Default::default()
    }
}

fn one(check: Check, baseline: &VersionWindow, candidate: &VersionWindow) -> CheckResult {
    let t = AnalysisTemplate::with_checks(vec![check]);
    judge(&t, baseline, candidate, &JudgeState::default())
        .0
        .checks
        .remove(0)
}

fn template(yaml: &str) -> AnalysisTemplate {
    AnalysisTemplate::from_yaml(yaml).unwrap()
}

#[test]
fn a_clearly_worse_error_rate_fails_with_a_readable_reason() {
    let check = Check::new(Metric::ErrorRate(None), Condition::MaxIncrease(0.03));
    let r = one(check, &errors(40, 10_000), &errors(52, 1_000));
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.reason);
    assert!(r.p_value.unwrap() < 0.05);
    assert_eq!(
        (r.baseline_value, r.candidate_value),
        (Some(0.004), Some(0.052))
    );
    assert!(r.reason.starts_with("error_rate 0.052 (candidate) vs 0.004 (baseline): +4.8 points beyond max_increase 3 points, mSPRT p="), "{}", r.reason);
}

#[test]
fn a_small_significant_increase_within_the_margin_passes() {
    // +0.5 points is highly significant on 200k requests, but within the 3-point margin.
    let check = Check::new(Metric::ErrorRate(None), Condition::MaxIncrease(0.03));
    let r = one(check, &errors(1_000, 200_000), &errors(2_000, 200_000));
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.reason);
}

#[test]
fn a_relative_check_needs_data_and_min_samples() {
    let check = Check::new(Metric::ErrorRate(None), Condition::MaxIncrease(0.03));
    assert_eq!(
        one(check.clone(), &errors(4, 1000), &errors(0, 0)).outcome,
        Outcome::Inconclusive
    );
    assert_eq!(
        one(check.clone(), &errors(0, 0), &errors(1, 50)).outcome,
        Outcome::Inconclusive
    );
    let r = one(check, &errors(4, 1000), &errors(0, 50));
    assert_eq!(r.outcome, Outcome::Inconclusive);
    assert!(r.reason.contains("min_samples"), "{}", r.reason);
}

#[test]
fn fisher_confirms_failures_at_small_counts() {
    // 2 errors in 12 requests vs 0 in 12: the normal approximation is poor; Fisher p = 0.24.
    let mut check = Check::new(Metric::ErrorRate(None), Condition::MaxIncrease(0.0));
    check.tau = Some(1.0);
    let r = one(check, &errors(0, 12), &errors(2, 12));
    assert_ne!(r.outcome, Outcome::Fail, "{}", r.reason);
}

#[test]
fn absolute_rates_use_the_wilson_bound() {
    let check = || Check::new(Metric::ErrorRate(None), Condition::Max(0.05));
    let base = VersionWindow::default();
    // 8/100: Wilson 95% 0.041..0.150 straddles 0.05 → undecided, held.
    assert_eq!(
        one(check(), &base, &errors(8, 100)).outcome,
        Outcome::Inconclusive
    );
    // 20/100: 0.133..0.289 wholly above → fail, even before min_samples.
    let mut early = check();
    early.min_samples = 1_000;
    assert_eq!(one(early, &base, &errors(20, 100)).outcome, Outcome::Fail);
    // 5/1000: 0.002..0.012 wholly below → pass.
    assert_eq!(one(check(), &base, &errors(5, 1000)).outcome, Outcome::Pass);
}

#[test]
fn accuracy_below_its_minimum_or_its_baseline_fails() {
    let w = |correct, total| VersionWindow {
        labelled: crate::analysis::window::Labelled {
            correct,
            total,
            ..Default::default()
        },
        warmup: warm(),
        ..Default::default()
    };
    let min = Check::new(Metric::Accuracy, Condition::Min(0.80));
    assert_eq!(
        one(min.clone(), &w(0, 0), &w(700, 1000)).outcome,
        Outcome::Fail
    );
    assert_eq!(one(min, &w(0, 0), &w(900, 1000)).outcome, Outcome::Pass);
    let rel = Check::new(Metric::Accuracy, Condition::MaxDecrease(0.02));
    let r = one(rel.clone(), &w(900, 1000), &w(800, 1000));
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.reason);
    assert!(
        r.reason
            .contains("-10.0 points beyond max_decrease 2 points"),
        "{}",
        r.reason
    );
    assert_eq!(
        one(rel, &w(9000, 10_000), &w(9010, 10_000)).outcome,
        Outcome::Pass
    );
}

#[test]
fn latency_ratio_needs_both_effect_and_significance() {
    let lat = |xs: Vec<f64>| VersionWindow {
        requests: xs.len() as u64,
        latency: LatencySummary::from_samples(xs),
        warmup: warm(),
        ..Default::default()
    };
    let base = lat((0..200).map(|i| 50.0 + (i % 50) as f64).collect());
    let slow = lat((0..200).map(|i| 90.0 + (i % 50) as f64 * 1.8).collect());
    let check = Check::new(Metric::Latency(Percentile::P95), Condition::MaxRatio(1.5));
    let r = one(check.clone(), &base, &slow);
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.reason);
    assert!(r.reason.contains("×1.80"), "{}", r.reason);
    assert_eq!(one(check, &base, &base).outcome, Outcome::Pass);
    let abs = Check::new(Metric::Latency(Percentile::P95), Condition::Max(100.0));
    assert_eq!(one(abs.clone(), &base, &base).outcome, Outcome::Pass);
    assert_eq!(one(abs, &base, &slow).outcome, Outcome::Fail);
}

#[test]
fn shadow_checks_use_paired_tests_and_the_noise_floor() {
    let mut cand = VersionWindow {
        warmup: warm(),
        ..Default::default()
    };
    cand.shadow.n = 1000;
    cand.shadow.disagreements = 30;
    cand.shadow.correctness = PairedCorrectness {
        both: 800,
        stable_only: 60,
        candidate_only: 10,
        neither: 130,
    };
    cand.shadow.latency_pairs_ms = (0..200)
        .map(|i| (10.0 + i as f64, 20.0 + 2.0 * i as f64))
        .collect();
    let base = VersionWindow::default();
    let mut dis = Check::new(Metric::ShadowDisagreement, Condition::Max(0.01));
    assert_eq!(one(dis.clone(), &base, &cand).outcome, Outcome::Fail);
    dis.noise_floor = 0.04;
    assert_eq!(one(dis, &base, &cand).outcome, Outcome::Pass);
    let acc = one(
        Check::new(Metric::Accuracy, Condition::MaxDecrease(0.02)),
        &base,
        &cand,
    );
    assert_eq!(acc.outcome, Outcome::Fail, "{}", acc.reason);
    assert!(acc.reason.contains("McNemar"), "{}", acc.reason);
    let lat = one(
        Check::new(Metric::Latency(Percentile::P50), Condition::MaxRatio(1.5)),
        &base,
        &cand,
    );
    assert_eq!(lat.outcome, Outcome::Fail, "{}", lat.reason);
    assert!(lat.reason.contains("Wilcoxon"), "{}", lat.reason);
}

/// After a shadow phase, a canary's own served answers outnumber the frozen shadow pairs
/// and take over the verdict: the pairs no longer grow, so a test on them could hold forever.
#[test]
fn served_answers_take_over_from_frozen_shadow_pairs() {
    let labelled = |correct, total| crate::analysis::window::Labelled {
        correct,
        total,
        ..Default::default()
    };
    let base = VersionWindow {
        labelled: labelled(860, 1000),
        warmup: warm(),
        ..Default::default()
    };
    let mut cand = VersionWindow {
        requests: 1000,
        labelled: labelled(960, 1000),
        warmup: warm(),
        ..Default::default()
    };
    cand.shadow.correctness = PairedCorrectness {
        both: 10,
        stable_only: 0,
        candidate_only: 2,
        neither: 0,
    };
    cand.shadow.latency_pairs_ms = vec![(10.0, 10.0); 12];
    let acc = one(
        Check::new(Metric::Accuracy, Condition::MaxDecrease(0.05)),
        &base,
        &cand,
    );
    assert_eq!(acc.outcome, Outcome::Pass, "{}", acc.reason);
    assert!(!acc.reason.contains("McNemar"), "{}", acc.reason);
    cand.labelled = labelled(5, 5);
    let early = one(
        Check::new(Metric::Accuracy, Condition::MaxDecrease(0.05)),
        &base,
        &cand,
    );
    assert!(early.reason.contains("shadow pairs"), "{}", early.reason);
}

#[test]
fn failure_limit_counts_consecutive_failing_looks() {
    let t = template("checks: [{metric: error_rate, max: 0.05, failure_limit: 1}]");
    let (base, bad, good) = (VersionWindow::default(), errors(30, 100), errors(1, 1000));
    let (v1, s1) = judge(&t, &base, &bad, &JudgeState::default());
    assert_eq!(v1.outcome, Outcome::Inconclusive, "{}", v1.checks[0].reason);
    let (v2, s2) = judge(&t, &base, &good, &s1);
    assert_eq!(
        (v2.outcome, s2.checks[0].consecutive_failures),
        (Outcome::Pass, 0)
    );
    let (_, s3) = judge(&t, &base, &bad, &s2);
    let (v4, s4) = judge(&t, &base, &bad, &s3);
    assert_eq!(
        (v4.outcome, s4.checks[0].consecutive_failures),
        (Outcome::Fail, 2)
    );
}

#[test]
fn on_inconclusive_resolves_undecided_checks_with_enough_samples() {
    let yaml =
        |mode| format!("checks: [{{metric: error_rate, max: 0.05, on_inconclusive: {mode}}}]");
    let straddling = errors(8, 150);
    let outcome = |mode| {
        judge(
            &template(&yaml(mode)),
            &VersionWindow::default(),
            &straddling,
            &JudgeState::default(),
        )
        .0
        .outcome
    };
    assert_eq!(outcome("hold"), Outcome::Inconclusive);
    assert_eq!(outcome("pass"), Outcome::Pass);
    assert_eq!(outcome("fail"), Outcome::Fail);
}

#[test]
fn warm_up_holds_every_check() {
    let t = template("warmup_requests: 100\nchecks: [{metric: error_rate, max: 0.05}]");
    let mut cand = errors(90, 100);
    cand.warmup.warmup_requests = 40;
    let (v, s) = judge(&t, &VersionWindow::default(), &cand, &JudgeState::default());
    assert_eq!(v.outcome, Outcome::Inconclusive);
    assert!(
        v.checks[0].reason.contains("40 of 100"),
        "{}",
        v.checks[0].reason
    );
    assert_eq!(s, JudgeState::default());
    cand.warmup.warmup_requests = 100;
    assert_eq!(
        judge(&t, &VersionWindow::default(), &cand, &s).0.outcome,
        Outcome::Fail
    );
}

#[test]
fn the_sequential_state_carries_over_and_survives_serialisation() {
    let t = template("checks: [{metric: error_rate, max_increase: 0.01}]");
    let (_, s1) = judge(
        &t,
        &errors(50, 10_000),
        &errors(60, 1_000),
        &JudgeState::default(),
    );
    assert!(s1.checks[0].max_ln_lambda_worse > 0.0);
    let json = serde_json::to_string(&s1).unwrap();
    assert_eq!(serde_json::from_str::<JudgeState>(&json).unwrap(), s1);
    // A later look with diluted evidence still remembers the earlier maximum.
    let (_, s2) = judge(&t, &errors(100, 20_000), &errors(61, 2_000), &s1);
    assert_eq!(
        s2.checks[0].max_ln_lambda_worse,
        s1.checks[0].max_ln_lambda_worse
    );
    assert_eq!(s2.checks[0].looks, 2);
}

#[test]
fn a_state_for_another_check_is_not_reused() {
    let t = template("checks: [{metric: error_rate, max_increase: 0.01}]");
    let mut stale = JudgeState {
        checks: vec![CheckState::new(Metric::Accuracy)],
    };
    stale.checks[0].max_ln_lambda_worse = 100.0;
    let (v, s) = judge(&t, &errors(5, 1000), &errors(5, 1000), &stale);
    assert_ne!(v.outcome, Outcome::Fail);
    assert_eq!(s.checks[0].metric, Metric::ErrorRate(None));
}

#[test]
fn mean_metrics_and_drift() {
    let mut b = VersionWindow {
        warmup: warm(),
        ..Default::default()
    };
    b.labelled = crate::analysis::window::Labelled {
        sum_abs_error: 1000.0,
        sum_sq_error: 2000.0,
        n: 1000,
        ..Default::default()
    };
    b.output_histogram = vec![500, 300, 200];
    let mut c = b.clone();
    c.labelled.sum_abs_error = 1500.0;
    c.labelled.sum_sq_error = 3500.0;
    c.output_histogram = vec![200, 300, 500];
    let mae = one(Check::new(Metric::Mae, Condition::MaxRatio(1.2)), &b, &c);
    assert_eq!(mae.outcome, Outcome::Fail, "{}", mae.reason);
    assert_eq!(
        one(Check::new(Metric::Mae, Condition::MaxRatio(1.2)), &b, &b).outcome,
        Outcome::Pass
    );
    assert_eq!(
        one(Check::new(Metric::Rmse, Condition::MaxRatio(1.2)), &b, &c).outcome,
        Outcome::Fail
    );
    assert_eq!(
        one(Check::new(Metric::DriftPsi, Condition::Max(0.25)), &b, &c).outcome,
        Outcome::Fail
    );
    assert_eq!(
        one(Check::new(Metric::DriftJs, Condition::Max(0.1)), &b, &b).outcome,
        Outcome::Pass
    );
}

#[test]
fn repeated_rank_tests_spend_their_level() {
    let lat = |xs: Vec<f64>| VersionWindow {
        requests: xs.len() as u64,
        latency: LatencySummary::from_samples(xs),
        warmup: warm(),
        ..Default::default()
    };
    let base = lat((0..200).map(|i| 50.0 + (i % 50) as f64).collect());
    let cand = lat((0..200).map(|i| 52.0 + (i % 50) as f64 * 1.3).collect());
    let t = template("checks: [{metric: latency_p95, max_ratio: 1.2}]");
    let (v1, s1) = judge(&t, &base, &cand, &JudgeState::default());
    assert!(
        v1.checks[0].reason.contains("(level 0.025)"),
        "{}",
        v1.checks[0].reason
    );
    let (v2, s2) = judge(&t, &base, &cand, &s1);
    assert!(
        v2.checks[0].reason.contains("(level 0.008)"),
        "{}",
        v2.checks[0].reason
    );
    assert_eq!((s1.checks[0].tests, s2.checks[0].tests), (1, 2));
}

/// A shadow candidate serves nobody: its error and invalid-output rates are those of the
/// mirrored requests it answered, served and mirrored ones counted together.
#[test]
fn a_shadow_candidate_is_judged_on_the_mirrored_requests_it_answered() {
    let shadowed = |timeouts: u64, invalid: u64| VersionWindow {
        invalid_predictions: invalid,
        shadow: crate::analysis::window::ShadowPairs {
            requests: 500,
            errors: ErrorCounts {
                timeout: timeouts,
                ..Default::default()
            },
            ..Default::default()
        },
        warmup: warm(),
        ..Default::default()
    };
    let stable = errors(5, 10_000);
    let check = Check::new(Metric::ErrorRate(None), Condition::MaxIncrease(0.03));
    let r = one(check.clone(), &stable, &shadowed(100, 0));
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.reason);
    assert_eq!(
        r.candidate_value,
        Some(0.2),
        "100 timeouts in 500 mirrored requests"
    );
    let r = one(check, &stable, &shadowed(0, 0));
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.reason);
    let timeouts = Check::new(
        Metric::ErrorRate(Some(ErrorKind::Timeout)),
        Condition::Max(0.01),
    );
    assert_eq!(
        one(timeouts, &stable, &shadowed(100, 0)).outcome,
        Outcome::Fail
    );
    let invalid = Check::new(Metric::InvalidRate, Condition::Max(0.01));
    let r = one(invalid, &stable, &shadowed(0, 250));
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.reason);
    assert_eq!(r.candidate_value, Some(0.5));
}
