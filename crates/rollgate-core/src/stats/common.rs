//! Types shared by the tests (counts of a binary outcome, intervals) and small helpers over
//! statrs' distributions.

use super::StatsError;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

/// How many of an arm's trials showed the event of interest (an error, a conversion, a correct
/// answer). Built through [`Counts::new`], so `events <= trials` always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    events: u64,
    trials: u64,
}

impl Counts {
    /// Counts of `events` among `trials`; fails when `events > trials`.
    pub fn new(events: u64, trials: u64) -> Result<Self, StatsError> {
        if events > trials {
            return Err(StatsError::EventsExceedTrials { events, trials });
        }
        Ok(Self { events, trials })
    }

    /// Trials that showed the event.
    pub fn events(self) -> u64 {
        self.events
    }

    /// All trials.
    pub fn trials(self) -> u64 {
        self.trials
    }

    /// Trials that did not show the event.
    pub fn non_events(self) -> u64 {
        self.trials - self.events
    }

    /// The observed rate `events / trials`, or 0 when there was no trial.
    pub fn rate(self) -> f64 {
        if self.trials == 0 {
            0.0
        } else {
            self.events as f64 / self.trials as f64
        }
    }
}

/// A closed interval `[lower, upper]`, e.g. a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

impl Interval {
    /// Whether `x` lies in the interval (bounds included).
    pub fn contains(&self, x: f64) -> bool {
        self.lower <= x && x <= self.upper
    }
}

/// Fails unless `value` lies strictly between 0 and 1 (a confidence level, α or power).
pub(crate) fn check_unit_open(name: &'static str, value: f64) -> Result<f64, StatsError> {
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(StatsError::OutOfRange {
            name,
            value,
            expected: "the open interval (0, 1)",
        })
    }
}

/// Fails when a sample is empty or holds NaN.
pub(crate) fn check_sample(what: &'static str, xs: &[f64]) -> Result<(), StatsError> {
    if xs.is_empty() {
        return Err(StatsError::Empty { what });
    }
    if xs.iter().any(|x| x.is_nan()) {
        return Err(StatsError::NaN { what });
    }
    Ok(())
}

/// Upper tail `P(Z ≥ z)` of the standard normal.
pub(crate) fn norm_sf(z: f64) -> f64 {
    Normal::standard().sf(z)
}

/// Lower tail `P(Z ≤ z)` of the standard normal.
pub(crate) fn norm_cdf(z: f64) -> f64 {
    Normal::standard().cdf(z)
}

/// The standard normal quantile `z_p`, with `P(Z ≤ z_p) = p`.
pub(crate) fn norm_ppf(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

/// Upper tail `P(X ≥ x)` of a chi-square with `dof ≥ 1` degrees of freedom (NaN for `dof = 0`,
/// the only value statrs refuses).
pub(crate) fn chi2_sf(x: f64, dof: u64) -> f64 {
    ChiSquared::new(dof as f64).map_or(f64::NAN, |d| d.sf(x))
}

/// Two-sided normal p-value for a statistic whose continuity-corrected distance from its null
/// mean, in standard errors, is `z_abs` (may be negative after correction), clamped to 1.
pub(crate) fn two_sided_p(z_abs: f64) -> f64 {
    (2.0 * norm_sf(z_abs)).min(1.0)
}
