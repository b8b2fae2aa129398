//! Planning and sanity checks of an A/B split: sample size, and sample-ratio mismatch.

use super::common::{check_unit_open, chi2_sf, norm_ppf};
use super::StatsError;

/// Sample size per arm for a two-sided two-proportion z-test to detect an absolute change
/// `mde` from the `baseline` rate with type-I error `alpha` and the given `power`:
///
/// `n = (z_{1-α/2} sqrt(2 p̄ q̄) + z_{1-β} sqrt(p₁q₁ + p₂q₂))² / δ²`, `p₂ = p₁ + δ`,
/// `p̄ = (p₁ + p₂) / 2`, rounded up
///
/// (Fleiss, Levin & Paik, *Statistical Methods for Rates and Proportions*, 3rd ed., 2003,
/// ch. 4, without the continuity correction; Chow, Shao & Wang, *Sample Size Calculations in
/// Clinical Research*, ch. 4). The pooled variance under H0 and the unpooled one under H1
/// match the pooled z-test of [`two_proportion_z_test`](super::two_proportion_z_test).
/// For a 10 % baseline, +2 points, α = 0.05 and power 0.8 it gives 3841 per arm; statsmodels'
/// `NormalIndPower` on Cohen's effect size h = 2 asin √p₂ − 2 asin √p₁ (an arcsine
/// approximation) gives 3834.6, i.e. 3835.
/// Fails unless `baseline`, `baseline + mde`, `alpha` and `power` lie in (0, 1) and `mde ≠ 0`.
pub fn sample_size_two_proportions(
    baseline: f64,
    mde: f64,
    alpha: f64,
    power: f64,
) -> Result<u64, StatsError> {
    let p1 = check_unit_open("baseline", baseline)?;
    let p2 = check_unit_open("baseline + mde", baseline + mde)?;
    let (alpha, power) = (
        check_unit_open("alpha", alpha)?,
        check_unit_open("power", power)?,
    );
    if mde == 0.0 {
        return Err(StatsError::OutOfRange {
            name: "mde",
            value: mde,
            expected: "a non-zero difference",
        });
    }
    let (z_alpha, z_beta) = (norm_ppf(1.0 - alpha / 2.0), norm_ppf(power));
    let p_bar = (p1 + p2) / 2.0;
    let h0 = z_alpha * (2.0 * p_bar * (1.0 - p_bar)).sqrt();
    let h1 = z_beta * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    Ok(((h0 + h1).powi(2) / (mde * mde)).ceil() as u64)
}

/// The usual threshold of a sample-ratio-mismatch alarm: p < 0.001 (common practice; see
/// Fabijan et al., "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments",
/// KDD 2019, and Kohavi, Tang & Xu, *Trustworthy Online Controlled Experiments*, 2020). So
/// strict because the check runs on every experiment and a false alarm discards a valid one.
pub const SRM_THRESHOLD: f64 = 0.001;

/// Result of [`sample_ratio_mismatch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Srm {
    /// Pearson's chi-square statistic.
    pub chi2: f64,
    /// Degrees of freedom: variants − 1.
    pub dof: u64,
    /// P-value of the goodness-of-fit test.
    pub p_value: f64,
    /// Whether `p_value < threshold`: the split is not the one planned, and the comparison
    /// between variants cannot be trusted (broken assignment, crashes, bot filtering …).
    pub mismatch: bool,
}

/// Sample-ratio-mismatch check: Pearson's chi-square goodness of fit of the observed count per
/// variant against the planned shares (normalised to sum 1), `Σ (o - e)² / e` against
/// χ²(k − 1) (Pearson 1900; as scipy `chisquare(observed, f_exp=expected)`), flagged when
/// p < `threshold` (usually [`SRM_THRESHOLD`]). Fails on fewer than two variants, lengths that
/// differ, no observation, a share that is not positive and finite, or a threshold outside
/// (0, 1).
pub fn sample_ratio_mismatch(
    observed: &[u64],
    planned_shares: &[f64],
    threshold: f64,
) -> Result<Srm, StatsError> {
    let threshold = check_unit_open("threshold", threshold)?;
    check_srm_inputs(observed, planned_shares)?;
    let total: u64 = observed.iter().sum();
    let share_sum: f64 = planned_shares.iter().sum();
    let chi2: f64 = observed
        .iter()
        .zip(planned_shares)
        .map(|(&o, &s)| {
            let expected = total as f64 * s / share_sum;
            (o as f64 - expected).powi(2) / expected
        })
        .sum();
    let dof = observed.len() as u64 - 1;
    let p_value = chi2_sf(chi2, dof);
    Ok(Srm {
        chi2,
        dof,
        p_value,
        mismatch: p_value < threshold,
    })
}

fn check_srm_inputs(observed: &[u64], shares: &[f64]) -> Result<(), StatsError> {
    if observed.len() != shares.len() {
        return Err(StatsError::LengthMismatch {
            left: observed.len(),
            right: shares.len(),
        });
    }
    if observed.len() < 2 {
        return Err(StatsError::TooFew {
            what: "variants",
            min: 2,
            got: observed.len(),
        });
    }
    if let Some(&bad) = shares.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(StatsError::OutOfRange {
            name: "planned share",
            value: bad,
            expected: "(0, ∞)",
        });
    }
    if observed.iter().all(|&o| o == 0) {
        return Err(StatsError::Empty { what: "observed" });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
