//! Distribution drift between two histograms over the same bins, e.g. of a model's predicted
//! classes or score deciles under stable and under candidate.

use super::StatsError;

/// Floor applied to a bin's proportion in [`population_stability_index`] when a bin is empty in
/// one histogram, where `ln(a / e)` would be infinite. 1e-4 (0.01 %) is a common choice in
/// practice: negligible next to any populated bin, while a bin empty on one side and holding
/// a proportion `a` on the other contributes a finite `≈ a · ln(a / 1e-4)` (0.69 for
/// a = 10 %: a new category that large reads as a significant shift, as it should).
/// Proportions are floored, not renormalised.
pub const PSI_EPSILON: f64 = 1e-4;

/// Population stability index `Σ (a_i - e_i) ln(a_i / e_i)` between the bin proportions of a
/// `reference` histogram (`e`) and a `current` one (`a`), each proportion floored at
/// [`PSI_EPSILON`] (Siddiqi, *Credit Risk Scorecards*, 2006; Yurdakul, *Statistical Properties
/// of Population Stability Index*, dissertation, Western Michigan University, 2018). It is
/// symmetric, non-negative and 0 for identical proportions. Fails on empty or unequal-length
/// histograms, or one with no observation.
pub fn population_stability_index(reference: &[u64], current: &[u64]) -> Result<f64, StatsError> {
    let (e, a) = (
        proportions("reference", reference, current)?,
        proportions("current", current, reference)?,
    );
    Ok(e.iter()
        .zip(&a)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(PSI_EPSILON), a.max(PSI_EPSILON));
            (a - e) * (a / e).ln()
        })
        .sum())
}

/// The customary reading of a PSI value (Siddiqi 2006).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsiLevel {
    /// PSI < 0.1: no meaningful shift.
    Stable,
    /// 0.1 ≤ PSI < 0.25: a moderate shift, worth a look.
    Moderate,
    /// PSI ≥ 0.25: a significant shift.
    Significant,
}

/// Classifies a PSI value with the customary 0.1 / 0.25 thresholds.
pub fn psi_level(psi: f64) -> PsiLevel {
    if psi < 0.1 {
        PsiLevel::Stable
    } else if psi < 0.25 {
        PsiLevel::Moderate
    } else {
        PsiLevel::Significant
    }
}

/// Jensen–Shannon distance, base 2: `sqrt(JSD(p, q))` with
/// `JSD = ½ KL(p ‖ m) + ½ KL(q ‖ m)`, `m = (p + q) / 2`, over the normalised histograms
/// (Lin, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory 1991;
/// Endres & Schindelin 2003 for the metric; as scipy
/// `spatial.distance.jensenshannon(p, q, base=2)`). Symmetric, in [0, 1], needs no epsilon:
/// `m` is positive wherever `p` or `q` is. Fails on empty or unequal-length histograms, or one
/// with no observation.
pub fn jensen_shannon_distance(p: &[u64], q: &[u64]) -> Result<f64, StatsError> {
    let (p, q) = (proportions("p", p, q)?, proportions("q", q, p)?);
    let kl_to_mean = |x: f64, y: f64| {
        if x > 0.0 {
            x * (2.0 * x / (x + y)).log2()
        } else {
            0.0
        }
    };
    let divergence: f64 = p
        .iter()
        .zip(&q)
        .map(|(&x, &y)| 0.5 * (kl_to_mean(x, y) + kl_to_mean(y, x)))
        .sum();
    Ok(divergence.clamp(0.0, 1.0).sqrt())
}

/// Proportions of `counts`, after checking it against the histogram it is compared with.
fn proportions(what: &'static str, counts: &[u64], other: &[u64]) -> Result<Vec<f64>, StatsError> {
    if counts.len() != other.len() {
        return Err(StatsError::LengthMismatch {
            left: counts.len(),
            right: other.len(),
        });
    }
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Err(StatsError::Empty { what });
    }
    Ok(counts.iter().map(|&c| c as f64 / total as f64).collect())
}

#[cfg(test)]
mod tests;
