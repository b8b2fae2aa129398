//! Tests of the proportion tests against statsmodels/scipy values, and their properties.
#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn counts(events: u64, trials: u64) -> Counts {
    Counts::new(events, trials).unwrap()
}

/// statrs' erfc and ln-gamma agree with scipy's to about 1e-11 (relative), so p-values are
/// compared to 1e-10; statistics computed without them are compared to 1e-12 or exactly.
const P_TOL: f64 = 1e-10;

fn close(actual: f64, expected: f64, tol: f64) {
    assert!(
        (actual - expected).abs() <= tol,
        "{actual} differs from {expected} by more than {tol}"
    );
}

#[test]
fn z_test_matches_statsmodels() {
    // python -c "from statsmodels.stats.proportion import proportions_ztest as t; print(t([130,100],[1000,1000]), t([130,100],[1000,1000],alternative='larger')[1])"
    // -> (2.102740605622114, 0.03548845046647471) 0.017744225233237355
    let r = two_proportion_z_test(counts(100, 1000), counts(130, 1000), 0.95).unwrap();
    close(r.difference, 0.03, 1e-15);
    close(r.z, 2.102740605622114, 1e-12);
    close(r.p_two_sided, 0.03548845046647471, P_TOL);
    close(r.p_greater, 0.017744225233237355, P_TOL);
    close(r.p_less, 0.9822557747667626, P_TOL);
    // python -c "from statsmodels.stats.proportion import confint_proportions_2indep as c; print(c(130,1000,100,1000,compare='diff',method='newcomb'))"
    // -> (0.0020023487152830075, 0.05807048502220285)
    close(r.interval.lower, 0.0020023487152830075, 1e-12);
    close(r.interval.upper, 0.05807048502220285, 1e-12);
}

#[test]
fn newcombe_interval_matches_the_paper_example() {
    // Newcombe (1998), Table II, example (a): 56/70 - 48/80, method 10: (0.0524, 0.3339).
    // python -c "from statsmodels.stats.proportion import confint_proportions_2indep as c; print(c(56,70,48,80,compare='diff',method='newcomb'))"
    // -> (0.05243147240236498, 0.33387265403690614)
    let r = two_proportion_z_test(counts(48, 80), counts(56, 70), 0.95).unwrap();
    close(r.interval.lower, 0.05243147240236498, 1e-12);
    close(r.interval.upper, 0.33387265403690614, 1e-12);
    // python -c "from statsmodels.stats.proportion import proportions_ztest as t; print(t([56,48],[70,80]))"
    // -> (2.6501719512585336, 0.00804508136819656)
    close(r.z, 2.6501719512585336, 1e-12);
    close(r.p_two_sided, 0.00804508136819656, P_TOL);
}

#[test]
fn wilson_matches_statsmodels() {
    // python -c "from statsmodels.stats.proportion import proportion_confint as c; print(c(81,263,method='wilson'), c(0,20,method='wilson'), c(15,148,alpha=0.1,method='wilson'))"
    // -> (0.2552885198782742, 0.36620957698280004) (0.0, 0.1611251580528194)
    //    (0.06744326224687144, 0.14957293174640032)
    let cases = [
        (81, 263, 0.95, 0.2552885198782742, 0.36620957698280004),
        (0, 20, 0.95, 0.0, 0.1611251580528194),
        (15, 148, 0.90, 0.06744326224687144, 0.14957293174640032),
    ];
    for (x, n, conf, lo, hi) in cases {
        let i = wilson_interval(counts(x, n), conf).unwrap();
        close(i.lower, lo, 1e-12);
        close(i.upper, hi, 1e-12);
    }
}

#[test]
fn invalid_inputs_are_refused() {
    assert!(Counts::new(3, 2).is_err());
    assert!(wilson_interval(counts(0, 0), 0.95).is_err());
    assert!(wilson_interval(counts(1, 2), 1.0).is_err());
    assert!(two_proportion_z_test(counts(0, 0), counts(1, 2), 0.95).is_err());
    assert!(two_proportion_z_test(counts(1, 2), counts(1, 2), f64::NAN).is_err());
}

#[test]
fn z_is_zero_when_no_arm_has_an_event() {
    let r = two_proportion_z_test(counts(0, 500), counts(0, 800), 0.95).unwrap();
    assert_eq!((r.z, r.p_two_sided), (0.0, 1.0));
}

/// Checks `fisher_exact` on the table `[[a, b], [c, d]]` = `[[candidate events, candidate
/// non-events], [stable events, stable non-events]]` against scipy's odds ratio and p-values.
fn check_fisher(t: [[u64; 2]; 2], odds_ratio: f64, two: f64, greater: f64, less: f64) {
    let r = fisher_exact(
        counts(t[1][0], t[1][0] + t[1][1]),
        counts(t[0][0], t[0][0] + t[0][1]),
    );
    close(r.odds_ratio, odds_ratio, 1e-12);
    close(r.p_two_sided, two, P_TOL);
    close(r.p_greater, greater, P_TOL);
    close(r.p_less, less, P_TOL);
}

#[test]
fn fisher_matches_scipy() {
    // python -c "from scipy.stats import fisher_exact as f; t=[[3,1],[1,3]]; print(f(t), f(t,alternative='greater')[1], f(t,alternative='less')[1])"
    // Fisher's lady tasting tea.
    check_fisher(
        [[3, 1], [1, 3]],
        9.0,
        0.48571428571428565,
        0.24285714285714283,
        0.9857142857142858,
    );
    // scipy's documentation example.
    check_fisher(
        [[6, 2], [1, 4]],
        12.0,
        0.10256410256410256,
        0.08624708624708625,
        0.9953379953379954,
    );
    check_fisher(
        [[12, 988], [3, 997]],
        4.036437246963563,
        0.03449142539805221,
        0.017245712699026104,
        0.9964107840517443,
    );
    check_fisher(
        [[0, 50], [5, 45]],
        0.0,
        0.05628449442882433,
        1.0,
        0.028142247214412164,
    );
}

#[test]
fn fisher_handles_degenerate_and_large_tables() {
    let r = fisher_exact(counts(0, 0), counts(0, 10));
    assert_eq!(r.p_two_sided, 1.0);
    assert!(r.odds_ratio.is_nan());
    let big = fisher_exact(counts(10_000, 1_000_000), counts(10_050, 1_000_000));
    assert!(big.p_two_sided > 0.5 && big.p_two_sided <= 1.0);
}

fn arm() -> impl Strategy<Value = Counts> {
    (1u64..400)
        .prop_flat_map(|n| (0..=n, Just(n)))
        .prop_map(|(x, n)| counts(x, n))
}

proptest! {
    #[test]
    fn identical_arms_give_z_zero(c in arm()) {
        let r = two_proportion_z_test(c, c, 0.95).unwrap();
        prop_assert_eq!(r.z, 0.0);
        prop_assert_eq!(r.p_two_sided, 1.0);
        prop_assert!(fisher_exact(c, c).p_two_sided > 0.99);
    }

    #[test]
    fn swapping_arms_flips_z_and_keeps_two_sided_p(s in arm(), c in arm()) {
        let (a, b) = (two_proportion_z_test(s, c, 0.9).unwrap(), two_proportion_z_test(c, s, 0.9).unwrap());
        prop_assert_eq!(a.z, -b.z);
        prop_assert!((a.p_two_sided - b.p_two_sided).abs() < 1e-12);
        prop_assert!((a.interval.lower + b.interval.upper).abs() < 1e-12);
        let (f, g) = (fisher_exact(s, c), fisher_exact(c, s));
        prop_assert!((f.p_two_sided - g.p_two_sided).abs() < 1e-9);
        prop_assert!((f.p_greater - g.p_less).abs() < 1e-9);
    }

    #[test]
    fn p_values_and_intervals_are_in_range(s in arm(), c in arm(), conf in 0.5f64..0.999) {
        let r = two_proportion_z_test(s, c, conf).unwrap();
        for p in [r.p_two_sided, r.p_greater, r.p_less] {
            prop_assert!((0.0..=1.0).contains(&p));
        }
        prop_assert!(r.interval.contains(r.difference));
        prop_assert!(r.interval.lower >= -1.0 - 1e-12 && r.interval.upper <= 1.0 + 1e-12);
        let f = fisher_exact(s, c);
        for p in [f.p_two_sided, f.p_greater, f.p_less] {
            prop_assert!(p > 0.0 && p <= 1.0);
        }
        prop_assert!(f.p_two_sided >= f.p_greater.min(f.p_less) - 1e-9);
        let w = wilson_interval(c, conf).unwrap();
        prop_assert!(w.contains(c.rate()) && w.lower >= 0.0 && w.upper <= 1.0);
    }
}
