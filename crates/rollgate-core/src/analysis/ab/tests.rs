#![allow(clippy::unwrap_used)]
use super::*;

fn arm(name: &str, conversions: u64, n: u64) -> Variant {
    Variant {
        name: name.into(),
        planned_share: 1.0,
        rewards: Rewards::conversions(conversions, n),
    }
}

#[test]
fn the_seed_sample_size_is_3841_per_arm() {
    // Baseline 10 %, +2 points, α 0.05, power 0.8, pooled formula.
    let config = AbConfig {
        mde: Some(0.02),
        ..AbConfig::new(AbMetric::ConversionRate)
    };
    let report = analyse(&[arm("a", 1000, 10_000), arm("b", 1000, 10_000)], &config).unwrap();
    assert_eq!(report.required_per_arm, Some(3841));
}

#[test]
fn a_clear_lift_names_a_winner() {
    let config = AbConfig::new(AbMetric::ConversionRate);
    let r = analyse(
        &[arm("control", 1000, 10_000), arm("b", 1200, 10_000)],
        &config,
    )
    .unwrap();
    let b = r.variants[1].vs_control.as_ref().unwrap();
    assert!((b.difference - 0.02).abs() < 1e-12);
    assert!((b.relative_lift.unwrap() - 0.2).abs() < 1e-12);
    // statsmodels proportions_ztest([1200, 1000], [10000, 10000]): z = 4.5198, p = 6.188e-6.
    assert!((b.p_value - 6.188_458e-6).abs() < 1e-10, "{}", b.p_value);
    assert!(b.significant && b.interval.0 > 0.0);
    assert_eq!(r.winner.as_deref(), Some("b"));
    assert!(!r.srm_mismatch);
    // Wilson 95 % of 1000 / 10000 (statsmodels proportion_confint): 0.094273..0.106034.
    let (lo, hi) = r.variants[0].interval;
    assert!(
        (lo - 0.094_273).abs() < 1e-6 && (hi - 0.106_034).abs() < 1e-6,
        "{lo} {hi}"
    );
}

#[test]
fn no_winner_without_evidence_and_bonferroni_across_variants() {
    let config = AbConfig::new(AbMetric::ConversionRate);
    let r = analyse(&[arm("a", 100, 1000), arm("b", 110, 1000)], &config).unwrap();
    assert_eq!(r.winner, None);
    // p = 0.0375 is significant alone but not at α / 3 with three variants.
    let arms = [
        arm("a", 1000, 10_000),
        arm("b", 1090, 10_000),
        arm("c", 1000, 10_000),
        arm("d", 990, 10_000),
    ];
    let r = analyse(&arms, &config).unwrap();
    let b = r.variants[1].vs_control.as_ref().unwrap();
    assert!(b.p_value < 0.05 && !b.significant, "{}", b.p_value);
    assert_eq!(r.winner, None);
}

#[test]
fn the_control_wins_when_every_variant_is_worse() {
    let config = AbConfig::new(AbMetric::ConversionRate);
    let r = analyse(&[arm("a", 1500, 10_000), arm("b", 1000, 10_000)], &config).unwrap();
    assert_eq!(r.winner.as_deref(), Some("a"));
}

#[test]
fn a_skewed_split_is_flagged() {
    let config = AbConfig::new(AbMetric::ConversionRate);
    let r = analyse(&[arm("a", 100, 10_000), arm("b", 100, 9_000)], &config).unwrap();
    assert!(r.srm_mismatch && r.srm_p_value < 1e-10);
}

#[test]
fn mean_rewards_use_welch() {
    let v = |name: &str, n: u64, mean: f64, sd: f64| Variant {
        name: name.into(),
        planned_share: 0.5,
        rewards: Rewards {
            n,
            sum: mean * n as f64,
            sum_sq: n as f64 * (sd * sd + mean * mean),
        },
    };
    let config = AbConfig {
        mde: Some(0.1),
        ..AbConfig::new(AbMetric::MeanReward)
    };
    let r = analyse(&[v("a", 400, 1.0, 1.0), v("b", 400, 1.2, 1.0)], &config).unwrap();
    let b = r.variants[1].vs_control.as_ref().unwrap();
    // z = 0.2 / sqrt(2 / 400) = 2.828; two-sided p = 0.004678.
    assert!((b.p_value - 0.004678).abs() < 1e-5, "{}", b.p_value);
    assert_eq!(r.winner.as_deref(), Some("b"));
    // (1.95996 + 0.84162)² · 2 / 0.01 = 1569.8 → 1570.
    assert_eq!(r.required_per_arm, Some(1570));
}

#[test]
fn bad_inputs_are_refused() {
    let config = AbConfig::new(AbMetric::ConversionRate);
    assert_eq!(
        analyse(&[arm("a", 1, 10)], &config),
        Err(AbError::TooFewVariants(1))
    );
    assert_eq!(
        analyse(&[arm("a", 1, 10), arm("b", 0, 0)], &config),
        Err(AbError::Empty("b".into()))
    );
    assert!(matches!(
        analyse(&[arm("a", 1, 10), arm("b", 20, 10)], &config),
        Err(AbError::Stats { .. })
    ));
}
