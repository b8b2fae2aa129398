//! Tests on rates of a binary outcome between two independent arms: error rate, accuracy,
//! conversion.
//!
//! Everywhere the effect is *candidate minus stable*: a positive difference or z means the
//! candidate's rate is higher, and "greater" one-sided p-values test that direction.

use super::common::{check_unit_open, norm_cdf, norm_ppf, norm_sf, two_sided_p};
use super::{Counts, Interval, StatsError};
use statrs::function::factorial::ln_binomial;

/// Result of [`two_proportion_z_test`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwoProportionZ {
    /// Observed `rate(candidate) - rate(stable)`.
    pub difference: f64,
    /// Pooled z statistic, positive when the candidate's rate is higher.
    pub z: f64,
    /// Two-sided p-value (H1: the rates differ).
    pub p_two_sided: f64,
    /// One-sided p-value for H1: the candidate's rate is higher.
    pub p_greater: f64,
    /// One-sided p-value for H1: the candidate's rate is lower.
    pub p_less: f64,
    /// Newcombe's hybrid score interval of `difference` at the requested confidence.
    pub interval: Interval,
}

/// Two-proportion z-test with pooled variance, and Newcombe's interval of the difference.
///
/// `z = (p_c - p_s) / sqrt(p̄ (1 - p̄) (1/n_c + 1/n_s))` with `p̄` the pooled rate, compared with
/// the standard normal (Agresti, *Categorical Data Analysis*, 3rd ed., 2013; as statsmodels
/// `proportions_ztest`). When `p̄` is 0 or 1 both arms are identical: z = 0 and p = 1.
/// The interval is Newcombe's method 10, built from the two Wilson intervals (Newcombe,
/// "Interval estimation for the difference between independent proportions", Stat. Med. 1998),
/// which keeps its coverage where the Wald interval fails (rates near 0, small arms).
/// Fails when an arm has no trial or `confidence` is not in (0, 1).
pub fn two_proportion_z_test(
    stable: Counts,
    candidate: Counts,
    confidence: f64,
) -> Result<TwoProportionZ, StatsError> {
    let interval = newcombe_interval(stable, candidate, confidence)?;
    let (ns, nc) = (stable.trials() as f64, candidate.trials() as f64);
    let pooled = (stable.events() + candidate.events()) as f64 / (ns + nc);
    let se = (pooled * (1.0 - pooled) * (1.0 / ns + 1.0 / nc)).sqrt();
    let difference = candidate.rate() - stable.rate();
    let z = if se > 0.0 { difference / se } else { 0.0 };
    Ok(TwoProportionZ {
        difference,
        z,
        p_two_sided: two_sided_p(z.abs()),
        p_greater: norm_sf(z),
        p_less: norm_cdf(z),
        interval,
    })
}

/// Wilson score interval for one proportion (Wilson, JASA 1927; recommended over Wald by Brown,
/// Cai & DasGupta, "Interval Estimation for a Binomial Proportion", Stat. Sci. 2001):
/// `(p̂ + z²/2n ± z sqrt(p̂q̂/n + z²/4n²)) / (1 + z²/n)`, always inside [0, 1].
/// Fails when there is no trial or `confidence` is not in (0, 1).
pub fn wilson_interval(counts: Counts, confidence: f64) -> Result<Interval, StatsError> {
    let confidence = check_unit_open("confidence", confidence)?;
    if counts.trials() == 0 {
        return Err(StatsError::Empty { what: "arm" });
    }
    let z = norm_ppf(1.0 - (1.0 - confidence) / 2.0);
    let (n, p) = (counts.trials() as f64, counts.rate());
    let z2n = z * z / n;
    let centre = (p + z2n / 2.0) / (1.0 + z2n);
    let half = z / (1.0 + z2n) * (p * (1.0 - p) / n + z2n / (4.0 * n)).sqrt();
    // The bounds are exactly 0 at x = 0 and 1 at x = n; pin them there against rounding.
    Ok(Interval {
        lower: if counts.events() == 0 {
            0.0
        } else {
            (centre - half).max(0.0)
        },
        upper: if counts.non_events() == 0 {
            1.0
        } else {
            (centre + half).min(1.0)
        },
    })
}

/// Newcombe's hybrid score interval (method 10) for `rate(candidate) - rate(stable)`.
fn newcombe_interval(
    stable: Counts,
    candidate: Counts,
    confidence: f64,
) -> Result<Interval, StatsError> {
    let (ws, wc) = (
        wilson_interval(stable, confidence)?,
        wilson_interval(candidate, confidence)?,
    );
    let (ps, pc) = (stable.rate(), candidate.rate());
    let d = pc - ps;
    Ok(Interval {
        lower: d - ((pc - wc.lower).powi(2) + (ws.upper - ps).powi(2)).sqrt(),
        upper: d + ((wc.upper - pc).powi(2) + (ps - ws.lower).powi(2)).sqrt(),
    })
}

/// Result of [`fisher_exact`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FisherExact {
    /// Sample odds ratio `(a d) / (b c)` of the candidate's event odds over the stable's:
    /// infinite when `b c = 0 < a d`, NaN when both products are 0 (as scipy).
    pub odds_ratio: f64,
    /// Two-sided p-value: the probability of all tables no more likely than the observed one.
    pub p_two_sided: f64,
    /// One-sided p-value for H1: the candidate's rate is higher (odds ratio > 1).
    pub p_greater: f64,
    /// One-sided p-value for H1: the candidate's rate is lower (odds ratio < 1).
    pub p_less: f64,
}

/// Relative tolerance under which a table counts as "no more likely" than the observed one,
/// so that ties in probability are not lost to rounding (R's `fisher.test` uses 1 + 1e-7).
const FISHER_REL_TOL: f64 = 1e-7;

/// Fisher's exact test on the 2×2 table `[[a, b], [c, d]]` = `[[candidate events, candidate
/// non-events], [stable events, stable non-events]]` (Fisher, *Statistical Methods for
/// Research Workers*, 1934; Agresti 2013, small-sample tests of independence). With the margins fixed, `a` is
/// hypergeometric; its pmf is computed in log space with `ln_binomial` so large arms neither
/// overflow nor underflow. The two-sided p-value sums the probabilities of the tables whose
/// probability is at most the observed one's times `1 + 1e-7`, as scipy `fisher_exact` and R
/// `fisher.test`. Cost: one pass over the support, at most `min(row, column total)` + 1 terms.
pub fn fisher_exact(stable: Counts, candidate: Counts) -> FisherExact {
    let (a, b) = (candidate.events(), candidate.non_events());
    let (c, d) = (stable.events(), stable.non_events());
    let (row, other_row, col) = (a + b, c + d, a + c);
    let ln_pmf = |x: u64| {
        ln_binomial(row, x) + ln_binomial(other_row, col - x) - ln_binomial(row + other_row, col)
    };
    let ln_observed = ln_pmf(a) + FISHER_REL_TOL.ln_1p();
    let (mut two, mut greater, mut less) = (0.0, 0.0, 0.0);
    for x in col.saturating_sub(other_row)..=col.min(row) {
        let lp = ln_pmf(x);
        let p = lp.exp();
        if lp <= ln_observed {
            two += p;
        }
        if x >= a {
            greater += p;
        }
        if x <= a {
            less += p;
        }
    }
    FisherExact {
        odds_ratio: odds_ratio(a, b, c, d),
        p_two_sided: f64::min(two, 1.0),
        p_greater: f64::min(greater, 1.0),
        p_less: f64::min(less, 1.0),
    }
}

fn odds_ratio(a: u64, b: u64, c: u64, d: u64) -> f64 {
    let (num, den) = (a as f64 * d as f64, b as f64 * c as f64);
    if den == 0.0 && num == 0.0 {
        f64::NAN
    } else {
        num / den
    }
}

#[cfg(test)]
mod tests;
