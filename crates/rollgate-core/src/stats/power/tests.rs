//! Tests of the sample-size formula and the sample-ratio-mismatch check.
#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn close(actual: f64, expected: f64, tol: f64) {
    assert!(
        (actual - expected).abs() <= tol,
        "{actual} differs from {expected} by more than {tol}"
    );
}

#[test]
fn sample_size_of_the_seed_example() {
    // Baseline 10 %, +2 points, α = 0.05 two-sided, power 0.8:
    // python -c "import numpy as np; from scipy.stats import norm; p1,p2=.1,.12; pb=(p1+p2)/2; print((norm.ppf(.975)*np.sqrt(2*pb*(1-pb))+norm.ppf(.8)*np.sqrt(p1*(1-p1)+p2*(1-p2)))**2/(p2-p1)**2)"
    // -> 3840.847482436276, so 3841 per arm.
    assert_eq!(
        sample_size_two_proportions(0.10, 0.02, 0.05, 0.8).unwrap(),
        3841
    );
    // statsmodels on Cohen's h (arcsine transform) gives nearly the same:
    // python -c "from statsmodels.stats.power import NormalIndPower; from statsmodels.stats.proportion import proportion_effectsize as h; print(NormalIndPower().solve_power(h(.12,.10),alpha=.05,power=.8))"
    // -> 3834.595739884031 (h = 0.06398210298605855)
    let n = sample_size_two_proportions(0.10, 0.02, 0.05, 0.8).unwrap() as f64;
    assert!((n - 3834.595739884031).abs() / n < 0.002);
}

#[test]
fn sample_size_other_cases() {
    // Same one-liner with p1,p2=.01,.005 -> 4672.8287718022575;
    // with p1,p2=.5,.45, norm.ppf(.995), norm.ppf(.9) -> 2965.9649885551944.
    assert_eq!(
        sample_size_two_proportions(0.01, -0.005, 0.05, 0.8).unwrap(),
        4673
    );
    assert_eq!(
        sample_size_two_proportions(0.5, -0.05, 0.01, 0.9).unwrap(),
        2966
    );
}

#[test]
fn sample_size_refuses_invalid_inputs() {
    for (p, d, a, pw) in [
        (0.1, 0.0, 0.05, 0.8),
        (0.0, 0.1, 0.05, 0.8),
        (0.95, 0.1, 0.05, 0.8),
        (0.1, 0.1, 1.0, 0.8),
        (0.1, 0.1, 0.05, 0.0),
    ] {
        assert!(sample_size_two_proportions(p, d, a, pw).is_err());
    }
}

fn check_srm(observed: &[u64], shares: &[f64], chi2: f64, p: f64, mismatch: bool) {
    let r = sample_ratio_mismatch(observed, shares, SRM_THRESHOLD).unwrap();
    close(r.chi2, chi2, 1e-9);
    assert!(
        (r.p_value - p).abs() <= 1e-12 * p.max(1e-3),
        "{} vs {p}",
        r.p_value
    );
    assert_eq!((r.dof, r.mismatch), (observed.len() as u64 - 1, mismatch));
}

#[test]
fn srm_matches_scipy_chisquare() {
    // python -c "from scipy.stats import chisquare as c; print(c([5000,5200],f_exp=[5100,5100]), c([50421,49579],f_exp=[50000,50000]), c([8900,1100],f_exp=[9000,1000]), c([3300,3300,3500],f_exp=[10100/3]*3), c([4000,2950,3050],f_exp=[5000,2500,2500]))"
    check_srm(
        &[5000, 5200],
        &[0.5, 0.5],
        3.9215686274509802,
        0.0476703806561615,
        false,
    );
    check_srm(
        &[50421, 49579],
        &[1.0, 1.0],
        7.08964,
        0.007753081977997388,
        false,
    );
    check_srm(
        &[8900, 1100],
        &[90.0, 10.0],
        11.11111111111111,
        0.0008581206663936758,
        true,
    );
    check_srm(
        &[3300, 3300, 3500],
        &[1.0; 3],
        7.920792079207921,
        0.019055566038179643,
        false,
    );
    check_srm(
        &[4000, 2950, 3050],
        &[0.5, 0.25, 0.25],
        402.0,
        5.091070808950182e-88,
        true,
    );
}

#[test]
fn srm_refuses_invalid_inputs() {
    assert!(sample_ratio_mismatch(&[1, 2], &[1.0], SRM_THRESHOLD).is_err());
    assert!(sample_ratio_mismatch(&[1], &[1.0], SRM_THRESHOLD).is_err());
    assert!(sample_ratio_mismatch(&[0, 0], &[1.0, 1.0], SRM_THRESHOLD).is_err());
    assert!(sample_ratio_mismatch(&[1, 2], &[1.0, 0.0], SRM_THRESHOLD).is_err());
    assert!(sample_ratio_mismatch(&[1, 2], &[1.0, 1.0], 0.0).is_err());
}

proptest! {
    #[test]
    fn srm_p_value_is_in_range_and_order_invariant(
        (v, w) in prop::collection::vec((0u64..10_000, 1u32..10), 2..6)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        prop_assume!(v.iter().any(|(o, _)| *o > 0));
        let srm = |v: &[(u64, u32)]| {
            let (o, s): (Vec<u64>, Vec<f64>) = v.iter().map(|&(o, s)| (o, f64::from(s))).unzip();
            sample_ratio_mismatch(&o, &s, SRM_THRESHOLD).unwrap()
        };
        let (a, b) = (srm(&v), srm(&w));
        prop_assert!((0.0..=1.0).contains(&a.p_value));
        prop_assert!((a.chi2 - b.chi2).abs() <= 1e-9 * a.chi2.max(1.0));
    }

    #[test]
    fn exact_split_is_never_a_mismatch(n in 1u64..100_000, k in 2usize..6) {
        let r = sample_ratio_mismatch(&vec![n; k], &vec![1.0; k], SRM_THRESHOLD).unwrap();
        prop_assert!(r.chi2.abs() < 1e-9 && !r.mismatch);
    }

    #[test]
    fn sample_size_shrinks_with_a_larger_effect(p in 0.01f64..0.5, d in 0.005f64..0.2) {
        let small = sample_size_two_proportions(p, d, 0.05, 0.8).unwrap();
        let large = sample_size_two_proportions(p, 2.0 * d, 0.05, 0.8).unwrap();
        prop_assert!(large <= small);
    }
}
