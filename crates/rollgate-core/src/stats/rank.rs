//! Rank tests: distribution-free comparisons of a continuous metric such as latency.
//!
//! Both use the large-sample normal approximation with tie correction and a continuity
//! correction of 0.5, and run in O(n log n) (one sort). The effect is *candidate versus
//! stable*: a positive z means the candidate's values tend to be larger.

use super::common::{check_sample, norm_cdf, norm_sf, two_sided_p};
use super::StatsError;

/// Result of [`mann_whitney_u`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the candidate: the number of (stable, candidate) pairs where the candidate's value
    /// is larger, ties counting one half.
    pub u_candidate: f64,
    /// U of the stable arm; `u_candidate + u_stable = n_stable · n_candidate`.
    pub u_stable: f64,
    /// Continuity-corrected z, positive when the candidate's values tend to be larger.
    pub z: f64,
    /// Two-sided p-value (H1: the distributions differ in location).
    pub p_two_sided: f64,
    /// One-sided p-value for H1: the candidate is stochastically greater (e.g. slower).
    pub p_greater: f64,
    /// One-sided p-value for H1: the candidate is stochastically smaller.
    pub p_less: f64,
    /// Common-language effect size `U_c / (n_s n_c)`: P(candidate > stable) + ½ P(tie).
    pub common_language: f64,
    /// Rank-biserial correlation `(U_c - U_s) / (n_s n_c) = 2 · common_language - 1`, in
    /// [-1, 1] (Kerby, "The simple difference formula", Compr. Psychol. 2014).
    pub rank_biserial: f64,
}

/// Mann–Whitney U test (Wilcoxon rank-sum), asymptotic.
///
/// Mann & Whitney, Ann. Math. Stat. 1947; normal approximation with the tie-corrected variance
/// `σ² = n_s n_c / 12 · ((n + 1) - Σ(t³ - t) / (n (n - 1)))` and continuity correction
/// (Lehmann, *Nonparametrics: Statistical Methods Based on Ranks*, 1975), exactly as scipy
/// `mannwhitneyu(candidate, stable, method="asymptotic", use_continuity=True)`. This is the
/// test Kayenta (Netflix/Google canary analysis) applies to latency. The exact method is
/// deliberately not offered: statrs' version is wrong on small samples and can hang.
/// When every value is tied, σ = 0: z = 0 and all p-values are 1. Fails on an empty sample or
/// NaN.
pub fn mann_whitney_u(stable: &[f64], candidate: &[f64]) -> Result<MannWhitney, StatsError> {
    check_sample("stable sample", stable)?;
    check_sample("candidate sample", candidate)?;
    let (ns, nc) = (stable.len() as f64, candidate.len() as f64);
    let pooled: Vec<f64> = candidate.iter().chain(stable).copied().collect();
    let (ranks, tie_term) = average_ranks(&pooled);
    let rank_sum: f64 = ranks[..candidate.len()].iter().sum();
    let u_candidate = rank_sum - nc * (nc + 1.0) / 2.0;
    let n = ns + nc;
    let sigma = (ns * nc / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
    let (d, pairs) = (u_candidate - ns * nc / 2.0, ns * nc);
    let common_language = u_candidate / pairs;
    let (z, p_two_sided, p_greater, p_less) = corrected_normal(d, sigma);
    Ok(MannWhitney {
        u_candidate,
        u_stable: pairs - u_candidate,
        z,
        p_two_sided,
        p_greater,
        p_less,
        common_language,
        rank_biserial: (2.0 * u_candidate - pairs) / pairs,
    })
}

/// Result of [`wilcoxon_signed_rank`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wilcoxon {
    /// Sum of the ranks of |d| over positive differences `d = candidate - stable`.
    pub w_plus: f64,
    /// Sum of the ranks of |d| over negative differences.
    pub w_minus: f64,
    /// Number of non-zero differences (zero differences are dropped).
    pub n_used: usize,
    /// Continuity-corrected z, positive when the candidate's values tend to be larger.
    pub z: f64,
    /// Two-sided p-value (H1: the differences are not centred on 0).
    pub p_two_sided: f64,
    /// One-sided p-value for H1: the candidate's values tend to be larger.
    pub p_greater: f64,
    /// One-sided p-value for H1: the candidate's values tend to be smaller.
    pub p_less: f64,
    /// Matched-pairs rank-biserial correlation `(W+ - W-) / (W+ + W-)`, in [-1, 1].
    pub rank_biserial: f64,
}

/// Wilcoxon signed-rank test for paired samples (e.g. the same request answered by both
/// versions under shadow traffic), asymptotic.
///
/// Wilcoxon, Biometrics Bulletin 1945. Zero differences are dropped (Wilcoxon's own rule,
/// scipy's default `zero_method="wilcox"`); the remaining |d| are ranked with average ranks,
/// and `W+` is compared with N(n(n+1)/4, (n(n+1)(2n+1) - Σ(t³ - t)/2) / 24) with a
/// continuity correction of 0.5, exactly as scipy
/// `wilcoxon(candidate, stable, method="approx", correction=True)`. When every difference is
/// 0 there is no evidence of a difference: z = 0 and all p-values are 1. Fails on empty or
/// unequal-length samples, or NaN.
pub fn wilcoxon_signed_rank(stable: &[f64], candidate: &[f64]) -> Result<Wilcoxon, StatsError> {
    let diffs = nonzero_differences(stable, candidate)?;
    let (ranks, tie_term) = average_ranks(&diffs.iter().map(|d| d.abs()).collect::<Vec<_>>());
    let w_plus: f64 = ranks
        .iter()
        .zip(&diffs)
        .filter(|(_, d)| **d > 0.0)
        .map(|(r, _)| r)
        .sum();
    let n = diffs.len() as f64;
    let w_minus = n * (n + 1.0) / 2.0 - w_plus;
    let sigma = ((n * (n + 1.0) * (2.0 * n + 1.0) - tie_term / 2.0) / 24.0).sqrt();
    let (z, p_two_sided, p_greater, p_less) = corrected_normal(w_plus - n * (n + 1.0) / 4.0, sigma);
    let total = w_plus + w_minus;
    Ok(Wilcoxon {
        w_plus,
        w_minus,
        n_used: diffs.len(),
        z,
        p_two_sided,
        p_greater,
        p_less,
        rank_biserial: if total > 0.0 {
            (w_plus - w_minus) / total
        } else {
            0.0
        },
    })
}

/// The differences `candidate - stable` of paired samples, zeros dropped.
fn nonzero_differences(stable: &[f64], candidate: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_sample("stable sample", stable)?;
    check_sample("candidate sample", candidate)?;
    if stable.len() != candidate.len() {
        return Err(StatsError::LengthMismatch {
            left: stable.len(),
            right: candidate.len(),
        });
    }
    Ok(candidate
        .iter()
        .zip(stable)
        .map(|(c, s)| c - s)
        .filter(|d| *d != 0.0)
        .collect())
}

/// From a statistic's distance `d` to its null mean and its null standard deviation `sigma`:
/// the continuity-corrected z (shrunk by ½ towards 0, 0 when |d| ≤ ½), the two-sided p and the
/// one-sided p-values (greater, less), each corrected by ½ against its own alternative.
/// With `sigma = 0` (no spread under H0) it is (0, 1, 1, 1).
fn corrected_normal(d: f64, sigma: f64) -> (f64, f64, f64, f64) {
    if sigma <= 0.0 || sigma.is_nan() {
        return (0.0, 1.0, 1.0, 1.0);
    }
    let shrunk = (d.abs() - 0.5).max(0.0).copysign(d);
    (
        shrunk / sigma,
        two_sided_p((d.abs() - 0.5) / sigma),
        norm_sf((d - 0.5) / sigma),
        norm_cdf((d + 0.5) / sigma),
    )
}

/// Average (mid-) ranks, 1-based, of `xs` (no NaN), and the tie term `Σ(t³ - t)` over groups
/// of `t` tied values. One sort: O(n log n).
fn average_ranks(xs: &[f64]) -> (Vec<f64>, f64) {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_unstable_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut ranks = vec![0.0; xs.len()];
    let mut tie_term = 0.0;
    let mut start = 0;
    while start < order.len() {
        let value = xs[order[start]];
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| xs[i] == value)
                .count();
        let t = (end - start) as f64;
        let mid_rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = mid_rank;
        }
        tie_term += t * t * t - t;
        start = end;
    }
    (ranks, tie_term)
}

#[cfg(test)]
mod tests;
