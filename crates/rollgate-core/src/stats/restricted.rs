//! Variance of a difference of rates under the null boundary of a non-inferiority test.
//!
//! # Why
//!
//! To ask "is the candidate's rate more than δ above the stable's?" the test statistic's
//! variance must be taken where the null hypothesis holds, at `p_c - p_s = δ`, as the pooled
//! z-test does for δ = 0. Farrington & Manning ("Test statistics and sample size formulae for
//! comparative binomial trials with null hypothesis of non-zero risk difference or non-unity
//! relative risk", Stat. Med. 9, 1990) and Miettinen & Nurminen ("Comparative analysis of two
//! rates", Stat. Med. 4, 1985) use the maximum-likelihood rates restricted to that boundary.
//! Taking the variance from each arm's own rate instead (the Wald choice) inflates it as soon
//! as the candidate really is worse, which delays detection of a bad canary several-fold.
//!
//! Here the restricted maximum is found by bisection on the derivative of the (concave)
//! log-likelihood, which needs no closed-form cubic. The counts are first adjusted as Agresti
//! & Caffo (2000) suggest (one event and two trials added to each arm), so that an arm with no
//! event yet still has a positive variance and the normal approximation stays conservative
//! while counts are small.

use super::Counts;

/// Bisection steps: the bracket shrinks by 2⁻⁸⁰, far below f64 resolution of a rate.
const BISECTION_STEPS: usize = 80;

/// Variance of `rate(candidate) - rate(stable)` at the maximum-likelihood rates restricted to
/// `p_c - p_s = margin` (Farrington–Manning), computed on Agresti–Caffo-adjusted counts.
/// Always positive and finite for `margin` in (-1, 1); `margin` may be negative (the
/// restriction is then that the candidate's rate is lower).
pub fn restricted_difference_variance(stable: Counts, candidate: Counts, margin: f64) -> f64 {
    let margin = margin.clamp(-0.999_999, 0.999_999);
    let adjust = |c: Counts| (c.events() as f64 + 1.0, c.trials() as f64 + 2.0);
    let ((xs, ns), (xc, nc)) = (adjust(stable), adjust(candidate));
    // Score of the log-likelihood in p = p_s, with p_c = p + margin: decreasing in p.
    let score = |p: f64| {
        let q = p + margin;
        xs / p - (ns - xs) / (1.0 - p) + xc / q - (nc - xc) / (1.0 - q)
    };
    let (mut lo, mut hi) = ((-margin).max(0.0), (1.0 - margin).min(1.0));
    for _ in 0..BISECTION_STEPS {
        let mid = 0.5 * (lo + hi);
        if score(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let ps = 0.5 * (lo + hi);
    let pc = ps + margin;
    ps * (1.0 - ps) / ns + pc * (1.0 - pc) / nc
}

#[cfg(test)]
mod tests;
