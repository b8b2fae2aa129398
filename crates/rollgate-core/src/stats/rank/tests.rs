//! Tests of the rank tests against scipy values, and their properties.
#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

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
fn mann_whitney_matches_scipy_docs_example() {
    // scipy's documentation example (Conover, Practical Nonparametric Statistics):
    // python -c "from scipy.stats import mannwhitneyu as m; x=[19,22,16,29,24]; y=[20,11,17,12]; print([m(x,y,method='asymptotic',alternative=a) for a in ('two-sided','greater','less')])"
    // -> U=17.0, p=0.11134688653314041, 0.055673443266570206, 0.9669037101389033
    let r = mann_whitney_u(&[20.0, 11.0, 17.0, 12.0], &[19.0, 22.0, 16.0, 29.0, 24.0]).unwrap();
    close(r.u_candidate, 17.0, 0.0);
    close(r.u_stable, 3.0, 0.0);
    close(r.p_two_sided, 0.11134688653314041, P_TOL);
    close(r.p_greater, 0.055673443266570206, P_TOL);
    close(r.p_less, 0.9669037101389033, P_TOL);
    close(r.common_language, 17.0 / 20.0, 1e-15);
    close(r.rank_biserial, 0.7, 1e-15);
    assert!(r.z > 0.0);
}

#[test]
fn mann_whitney_matches_scipy_with_ties() {
    // python -c "from scipy.stats import mannwhitneyu as m; x=[1,2,2,3,3,3,4,5,5]; y=[3,3,4,4,5,6,6,7,7,7,8]; print([m(x,y,method='asymptotic',alternative=a) for a in ('two-sided','greater','less')])"
    // -> U=15.0, p=0.008876603214851592, 0.9964671758329021, 0.004438301607425796
    let x = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 5.0, 5.0];
    let y = [3.0, 3.0, 4.0, 4.0, 5.0, 6.0, 6.0, 7.0, 7.0, 7.0, 8.0];
    let r = mann_whitney_u(&y, &x).unwrap();
    close(r.u_candidate, 15.0, 0.0);
    close(r.p_two_sided, 0.008876603214851592, P_TOL);
    close(r.p_greater, 0.9964671758329021, P_TOL);
    close(r.p_less, 0.004438301607425796, P_TOL);
    assert!(r.z < 0.0);
}

#[test]
fn wilcoxon_matches_scipy_docs_example() {
    // Darwin's Zea mays differences (Fisher, The Design of Experiments), scipy's docs example:
    // python -c "from scipy.stats import wilcoxon as w; d=[6,8,14,16,23,24,28,29,41,-48,49,56,60,-67,75]; print([w(d,method='approx',alternative=a) for a in ('two-sided','greater','less')])"
    // -> statistic 24.0 p=0.043772323763041174; W+=96.0 p=0.021886161881520587; p=0.9809166843332187
    let d = [
        6., 8., 14., 16., 23., 24., 28., 29., 41., -48., 49., 56., 60., -67., 75.,
    ];
    let r = wilcoxon_signed_rank(&[0.0; 15], &d).unwrap();
    close(r.w_plus, 96.0, 0.0);
    close(r.w_minus, 24.0, 0.0);
    assert_eq!(r.n_used, 15);
    close(r.p_two_sided, 0.043772323763041174, P_TOL);
    close(r.p_greater, 0.021886161881520587, P_TOL);
    close(r.p_less, 0.9809166843332187, P_TOL);
    // |z| as scipy's zstatistic (-2.01626451157708, which scipy reports for min(W+, W-)).
    close(r.z, 2.01626451157708, 1e-12);
    close(r.rank_biserial, 72.0 / 120.0, 1e-15);
}

#[test]
fn wilcoxon_drops_zeros_and_corrects_ties_as_scipy() {
    // python -c "from scipy.stats import wilcoxon as w; d=[0,0,1.5,-1.5,2,2,2,-3,4,4,5,6,-0.5,7,8]; print([w(d,method='approx',alternative=a) for a in ('two-sided','greater','less')])"
    // -> statistic 10.5 p=0.015714349772218913; W+=80.5 p=0.007857174886109456; p=0.9935314688303301
    let d = [
        0., 0., 1.5, -1.5, 2., 2., 2., -3., 4., 4., 5., 6., -0.5, 7., 8.,
    ];
    let stable = [10.0; 15];
    let candidate: Vec<f64> = d.iter().map(|x| 10.0 + x).collect();
    let r = wilcoxon_signed_rank(&stable, &candidate).unwrap();
    assert_eq!(r.n_used, 13);
    close(r.w_plus, 80.5, 0.0);
    close(r.w_minus, 10.5, 0.0);
    close(r.p_two_sided, 0.015714349772218913, P_TOL);
    close(r.p_greater, 0.007857174886109456, P_TOL);
    close(r.p_less, 0.9935314688303301, P_TOL);
}

#[test]
fn degenerate_and_invalid_samples() {
    let tied = mann_whitney_u(&[1.0, 1.0], &[1.0; 3]).unwrap();
    assert_eq!((tied.z, tied.p_two_sided, tied.p_greater), (0.0, 1.0, 1.0));
    let same = wilcoxon_signed_rank(&[1.0, 2.0], &[1.0, 2.0]).unwrap();
    assert_eq!((same.n_used, same.z, same.p_two_sided), (0, 0.0, 1.0));
    assert!(mann_whitney_u(&[], &[1.0]).is_err());
    assert!(mann_whitney_u(&[f64::NAN], &[1.0]).is_err());
    assert!(wilcoxon_signed_rank(&[1.0], &[1.0, 2.0]).is_err());
    assert!(wilcoxon_signed_rank(&[], &[]).is_err());
}

#[test]
fn average_ranks_and_tie_term() {
    let (ranks, ties) = average_ranks(&[3.0, 1.0, 3.0, 2.0, 3.0]);
    assert_eq!(ranks, vec![4.0, 1.0, 4.0, 2.0, 4.0]);
    assert_eq!(ties, 24.0);
}

fn sample() -> impl Strategy<Value = Vec<f64>> {
    // Integers in a small range make ties frequent; scaled to exercise non-integer values.
    prop::collection::vec((0i32..40).prop_map(|v| f64::from(v) * 0.25), 1..60)
}

fn pairs() -> impl Strategy<Value = Vec<(f64, f64)>> {
    prop::collection::vec(((0i32..20), (0i32..20)), 1..60).prop_map(|v| {
        v.into_iter()
            .map(|(a, b)| (f64::from(a), f64::from(b)))
            .collect()
    })
}

fn split(pairs: &[(f64, f64)]) -> (Vec<f64>, Vec<f64>) {
    pairs.iter().copied().unzip()
}

proptest! {
    #[test]
    fn identical_samples_are_never_significant(x in sample()) {
        let r = mann_whitney_u(&x, &x).unwrap();
        prop_assert_eq!(r.p_two_sided, 1.0);
        prop_assert_eq!(r.z, 0.0);
        prop_assert_eq!(wilcoxon_signed_rank(&x, &x).unwrap().p_two_sided, 1.0);
    }

    #[test]
    fn mann_whitney_is_order_invariant(
        (x, xs) in sample().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        (y, ys) in sample().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        prop_assert_eq!(mann_whitney_u(&x, &y).unwrap(), mann_whitney_u(&xs, &ys).unwrap());
    }

    #[test]
    fn wilcoxon_is_order_invariant(
        (p, ps) in pairs().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        let ((s, c), (ss, cs)) = (split(&p), split(&ps));
        prop_assert_eq!(wilcoxon_signed_rank(&s, &c).unwrap(), wilcoxon_signed_rank(&ss, &cs).unwrap());
    }

    #[test]
    fn swapping_arms_flips_z_and_keeps_two_sided_p(x in sample(), y in sample(), p in pairs()) {
        let (a, b) = (mann_whitney_u(&x, &y).unwrap(), mann_whitney_u(&y, &x).unwrap());
        prop_assert_eq!(a.z, -b.z);
        prop_assert_eq!(a.p_two_sided, b.p_two_sided);
        prop_assert_eq!(a.p_greater, b.p_less);
        prop_assert_eq!(a.rank_biserial, -b.rank_biserial);
        let (s, c) = split(&p);
        let (w, v) = (wilcoxon_signed_rank(&s, &c).unwrap(), wilcoxon_signed_rank(&c, &s).unwrap());
        prop_assert_eq!(w.z, -v.z);
        prop_assert_eq!(w.p_two_sided, v.p_two_sided);
        prop_assert_eq!(w.p_greater, v.p_less);
    }

    #[test]
    fn p_values_and_effects_are_in_range(x in sample(), y in sample(), p in pairs()) {
        let r = mann_whitney_u(&x, &y).unwrap();
        let (s, c) = split(&p);
        let w = wilcoxon_signed_rank(&s, &c).unwrap();
        for p in [r.p_two_sided, r.p_greater, r.p_less, w.p_two_sided, w.p_greater, w.p_less] {
            prop_assert!((0.0..=1.0).contains(&p));
        }
        prop_assert!((0.0..=1.0).contains(&r.common_language));
        prop_assert!((-1.0..=1.0).contains(&w.rank_biserial));
    }
}
