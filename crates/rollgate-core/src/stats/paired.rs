//! McNemar's test: paired binary outcomes, e.g. whether each shadowed request was answered
//! correctly by the stable and by the candidate version.

use super::common::chi2_sf;
use statrs::function::factorial::binomial;

/// Paired binary outcomes tallied into the four cells of a 2×2 table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PairedOutcomes {
    /// Pairs where both versions showed the outcome.
    pub both: u64,
    /// Pairs where only the stable version showed it (discordant, `b`).
    pub stable_only: u64,
    /// Pairs where only the candidate showed it (discordant, `c`).
    pub candidate_only: u64,
    /// Pairs where neither showed it.
    pub neither: u64,
}

impl PairedOutcomes {
    /// These counts with one more pair, whose outcome was `stable` for the stable version and
    /// `candidate` for the candidate.
    pub fn with_pair(self, stable: bool, candidate: bool) -> Self {
        let mut next = self;
        match (stable, candidate) {
            (true, true) => next.both += 1,
            (true, false) => next.stable_only += 1,
            (false, true) => next.candidate_only += 1,
            (false, false) => next.neither += 1,
        }
        next
    }

    /// Tallies `(stable, candidate)` outcome pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (bool, bool)>) -> Self {
        pairs
            .into_iter()
            .fold(Self::default(), |acc, (s, c)| acc.with_pair(s, c))
    }
}

/// Which form of McNemar's test was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McNemarMethod {
    /// Exact binomial test of `b ~ Bin(b + c, ½)`, used when `b + c <` [`MCNEMAR_EXACT_BELOW`].
    ExactBinomial,
    /// Chi-square with one degree of freedom and Edwards' continuity correction.
    ChiSquareCorrected,
}

/// Below this many discordant pairs the exact binomial form is used, where the chi-square
/// approximation is poor (the usual rule of thumb for McNemar's test).
pub const MCNEMAR_EXACT_BELOW: u64 = 25;

/// Result of [`mcnemar`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McNemar {
    /// Discordant pairs where only the stable version showed the outcome (`b`).
    pub stable_only: u64,
    /// Discordant pairs where only the candidate showed it (`c`).
    pub candidate_only: u64,
    /// `min(b, c)` for the exact form, `max(0, |b - c| - 1)² / (b + c)` for the chi-square.
    pub statistic: f64,
    /// Two-sided p-value (H1: the two versions show the outcome at different rates).
    pub p_value: f64,
    /// The form applied.
    pub method: McNemarMethod,
}

/// McNemar's test of marginal homogeneity for paired binary outcomes (McNemar, Psychometrika
/// 1947; Agresti, *Categorical Data Analysis*, 3rd ed., §11.1). Only the discordant pairs
/// `b` (stable only) and `c` (candidate only) carry information. With `b + c < 25` the p-value
/// is the exact two-sided binomial `min(1, 2 P(Bin(b + c, ½) ≤ min(b, c)))` (statsmodels
/// `mcnemar(exact=True)`); otherwise `(|b - c| - 1)² / (b + c)` against χ²(1) (statsmodels
/// `mcnemar(exact=False, correction=True)`), except that the corrected difference is floored
/// at 0 so that `b = c` gives p = 1 instead of slightly less.
pub fn mcnemar(outcomes: &PairedOutcomes) -> McNemar {
    let (b, c) = (outcomes.stable_only, outcomes.candidate_only);
    let n = b + c;
    let (statistic, p_value, method) = if n < MCNEMAR_EXACT_BELOW {
        let k = b.min(c);
        let tail: f64 = (0..=k).map(|i| binomial(n, i)).sum::<f64>() * 0.5f64.powi(n as i32);
        (
            k as f64,
            (2.0 * tail).min(1.0),
            McNemarMethod::ExactBinomial,
        )
    } else {
        let corrected = (b.abs_diff(c) as f64 - 1.0).max(0.0);
        let stat = corrected * corrected / n as f64;
        (stat, chi2_sf(stat, 1), McNemarMethod::ChiSquareCorrected)
    };
    McNemar {
        stable_only: b,
        candidate_only: c,
        statistic,
        p_value,
        method,
    }
}

#[cfg(test)]
mod tests;
