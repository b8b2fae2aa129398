#![allow(clippy::unwrap_used)]
use super::*;
use proptest::prelude::*;

fn counts(events: u64, trials: u64) -> Counts {
    Counts::new(events, trials).unwrap()
}

#[test]
fn zero_margin_is_the_pooled_variance_of_the_adjusted_counts() {
    // With δ = 0 the restricted MLE is the pooled rate (x_s + x_c + 2) / (n_s + n_c + 4).
    let v = restricted_difference_variance(counts(10, 1000), counts(30, 500), 0.0);
    let p = 42.0 / 1504.0;
    let expected = p * (1.0 - p) * (1.0 / 1002.0 + 1.0 / 502.0);
    assert!((v - expected).abs() < 1e-12, "{v} vs {expected}");
}

#[test]
fn matches_a_numerical_maximisation() {
    // Restricted MLE of the adjusted counts (11/1002, 31/502) with p_c = p_s + 0.01, by
    // scipy.optimize.minimize_scalar on the negative log-likelihood: p_s = 0.0214411, variance 8.16020e-5
    // python -c "import numpy as np; from scipy.optimize import minimize_scalar as m; f=lambda p: -(11*np.log(p)+991*np.log(1-p)+31*np.log(p+.01)+471*np.log(1-p-.01)); r=m(f,bounds=(1e-9,.98),method='bounded',options={'xatol':1e-12}); p=r.x; print(p, p*(1-p)/1002+(p+.01)*(1-p-.01)/502)"
    let v = restricted_difference_variance(counts(10, 1000), counts(30, 500), 0.01);
    assert!((v - 8.160_200_458_746e-5).abs() < 1e-11, "{v}");
}

#[test]
fn empty_arms_still_have_a_positive_variance() {
    let v = restricted_difference_variance(counts(0, 0), counts(0, 0), 0.0);
    assert!((v - 0.25).abs() < 1e-12);
    assert!(restricted_difference_variance(counts(0, 10), counts(0, 10), 0.5) > 0.0);
}

proptest! {
    #[test]
    fn always_positive_and_finite(xs in 0u64..500, ns in 0u64..500, xc in 0u64..500, nc in 0u64..500, margin in -0.99f64..0.99) {
        let v = restricted_difference_variance(counts(xs.min(ns), ns), counts(xc.min(nc), nc), margin);
        prop_assert!(v.is_finite() && v > 0.0);
    }
}
