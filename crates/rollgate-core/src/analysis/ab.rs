//! A/B (and A/B/n) experiment statistics: each variant's conversion rate or mean reward with
//! its confidence interval, each variant against the control (difference, interval, p-value,
//! relative lift), a winner when the evidence names one, the sample size a minimum detectable
//! effect needs, and a sample-ratio-mismatch check of the split.
//!
//! With k variants besides the control, each comparison is made at α / k (Bonferroni), so the
//! chance of naming a false winner stays ≤ α across the family. These are fixed-horizon
//! tests: read them at the planned sample size (see [`AbReport::required_per_arm`]), not
//! continuously.

use super::window::Rewards;
use crate::stats::{
    sample_ratio_mismatch, sample_size_two_proportions, two_proportion_z_test, wilson_interval,
    Counts, StatsError, SRM_THRESHOLD,
};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// What an experiment optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbMetric {
    /// Share of 0/1 rewards equal to 1.
    ConversionRate,
    /// Mean of arbitrary rewards.
    MeanReward,
}

/// One arm of the experiment; the first one given is the control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// The variant's name (model version).
    pub name: String,
    /// Its planned share of the traffic (any positive scale: 50/50 or 0.5/0.5).
    pub planned_share: f64,
    /// Rewards observed.
    pub rewards: Rewards,
}

/// Settings of the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AbConfig {
    /// What is compared.
    pub metric: AbMetric,
    /// Family-wise type-I error.
    pub alpha: f64,
    /// Minimum detectable effect, absolute (0.02 = 2 points), for the sample size.
    pub mde: Option<f64>,
    /// Power for the sample size.
    pub power: f64,
}

impl AbConfig {
    /// α 0.05, power 0.8, no MDE.
    pub fn new(metric: AbMetric) -> Self {
        Self {
            metric,
            alpha: 0.05,
            mde: None,
            power: 0.8,
        }
    }
}

/// Why an experiment could not be analysed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AbError {
    /// Fewer than two variants.
    #[error("an experiment needs a control and at least one variant, got {0} arm(s)")]
    TooFewVariants(usize),
    /// A variant has no observation.
    #[error("variant `{0}` has no observation yet")]
    Empty(String),
    /// A statistic refused its input.
    #[error("variant `{variant}`: {source}")]
    Stats {
        /// The variant concerned.
        variant: String,
        /// The statistic's error.
        source: StatsError,
    },
}

/// One variant's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantStats {
    /// The variant's name.
    pub name: String,
    /// Observations.
    pub n: u64,
    /// Conversion rate or mean reward.
    pub value: f64,
    /// Its confidence interval at 1 − α (Wilson for rates, normal for means).
    pub interval: (f64, f64),
    /// The comparison with the control (absent for the control itself).
    pub vs_control: Option<Comparison>,
}

/// A variant against the control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `value(variant) − value(control)`.
    pub difference: f64,
    /// Interval of the difference at 1 − α/k (Newcombe for rates, Welch-normal for means).
    pub interval: (f64, f64),
    /// `difference / value(control)`, absent when the control's value is 0.
    pub relative_lift: Option<f64>,
    /// Two-sided p-value (pooled z-test for rates, Welch z-test for means).
    pub p_value: f64,
    /// Whether `p_value < α / k`.
    pub significant: bool,
}

/// The experiment's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbReport {
    /// Control first, then the variants in the order given.
    pub variants: Vec<VariantStats>,
    /// The best variant significantly better than the control; or the control when every
    /// variant is significantly worse; otherwise none.
    pub winner: Option<String>,
    /// P-value of the sample-ratio-mismatch test.
    pub srm_p_value: f64,
    /// Whether the split differs from the plan (p < 0.001): figures are then suspect.
    pub srm_mismatch: bool,
    /// Observations per arm needed to detect `mde` with the configured power, using the
    /// control's observed value as baseline.
    pub required_per_arm: Option<u64>,
}

/// Analyses an experiment; `variants[0]` is the control.
pub fn analyse(variants: &[Variant], config: &AbConfig) -> Result<AbReport, AbError> {
    if variants.len() < 2 {
        return Err(AbError::TooFewVariants(variants.len()));
    }
    if let Some(v) = variants.iter().find(|v| v.rewards.n == 0) {
        return Err(AbError::Empty(v.name.clone()));
    }
    let k = (variants.len() - 1) as f64;
    let control = &variants[0];
    let mut stats = vec![describe(control, config).map_err(err(control))?];
    for v in &variants[1..] {
        let mut s = describe(v, config).map_err(err(v))?;
        s.vs_control = Some(compare(control, v, config, config.alpha / k).map_err(err(v))?);
        stats.push(s);
    }
    let observed: Vec<u64> = variants.iter().map(|v| v.rewards.n).collect();
    let shares: Vec<f64> = variants.iter().map(|v| v.planned_share).collect();
    let srm = sample_ratio_mismatch(&observed, &shares, SRM_THRESHOLD).map_err(err(control))?;
    let required_per_arm = match config.mde {
        Some(mde) => Some(required(&stats[0], control, mde, config).map_err(err(control))?),
        None => None,
    };
    Ok(AbReport {
        winner: winner(&stats),
        variants: stats,
        srm_p_value: srm.p_value,
        srm_mismatch: srm.mismatch,
        required_per_arm,
    })
}

/// Wraps a statistic's error with the variant's name.
fn err(v: &Variant) -> impl Fn(StatsError) -> AbError + '_ {
    move |source| AbError::Stats {
        variant: v.name.clone(),
        source,
    }
}

fn conversions(r: &Rewards) -> Result<Counts, StatsError> {
    Counts::new(r.sum.max(0.0).round() as u64, r.n)
}

/// Mean and variance of the rewards.
fn moments(r: &Rewards) -> (f64, f64) {
    let mean = r.sum / r.n as f64;
    (mean, (r.sum_sq / r.n as f64 - mean * mean).max(0.0))
}

fn z(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

fn describe(v: &Variant, config: &AbConfig) -> Result<VariantStats, StatsError> {
    let (value, interval) = match config.metric {
        AbMetric::ConversionRate => {
            let c = conversions(&v.rewards)?;
            let ci = wilson_interval(c, 1.0 - config.alpha)?;
            (c.rate(), (ci.lower, ci.upper))
        }
        AbMetric::MeanReward => {
            let (mean, var) = moments(&v.rewards);
            let half = z(1.0 - config.alpha / 2.0) * (var / v.rewards.n as f64).sqrt();
            (mean, (mean - half, mean + half))
        }
    };
    Ok(VariantStats {
        name: v.name.clone(),
        n: v.rewards.n,
        value,
        interval,
        vs_control: None,
    })
}

fn compare(
    control: &Variant,
    v: &Variant,
    config: &AbConfig,
    alpha: f64,
) -> Result<Comparison, StatsError> {
    let (difference, interval, p_value, base) = match config.metric {
        AbMetric::ConversionRate => {
            let (c, t) = (conversions(&control.rewards)?, conversions(&v.rewards)?);
            let test = two_proportion_z_test(c, t, 1.0 - alpha)?;
            (
                test.difference,
                (test.interval.lower, test.interval.upper),
                test.p_two_sided,
                c.rate(),
            )
        }
        AbMetric::MeanReward => {
            let ((mc, vc), (mt, vt)) = (moments(&control.rewards), moments(&v.rewards));
            let se = (vc / control.rewards.n as f64 + vt / v.rewards.n as f64).sqrt();
            let d = mt - mc;
            let p = if se > 0.0 {
                (2.0 * Normal::standard().sf((d / se).abs())).min(1.0)
            } else if d == 0.0 {
                1.0
            } else {
                0.0
            };
            let half = z(1.0 - alpha / 2.0) * se;
            (d, (d - half, d + half), p, mc)
        }
    };
    Ok(Comparison {
        difference,
        interval,
        relative_lift: (base != 0.0).then(|| difference / base),
        p_value,
        significant: p_value < alpha,
    })
}

fn winner(stats: &[VariantStats]) -> Option<String> {
    let compared = || {
        stats
            .iter()
            .filter_map(|s| s.vs_control.as_ref().map(|c| (s, c)))
    };
    let best = compared()
        .filter(|(_, c)| c.significant && c.difference > 0.0)
        .max_by(|a, b| a.1.difference.total_cmp(&b.1.difference));
    if let Some((s, _)) = best {
        return Some(s.name.clone());
    }
    compared()
        .all(|(_, c)| c.significant && c.difference < 0.0)
        .then(|| stats[0].name.clone())
}

/// Per-arm sample size: Fleiss' pooled formula for rates, `(z_{1−α/2} + z_{power})² 2σ² / δ²`
/// for means (σ² from the control).
fn required(
    control: &VariantStats,
    v: &Variant,
    mde: f64,
    config: &AbConfig,
) -> Result<u64, StatsError> {
    match config.metric {
        AbMetric::ConversionRate => {
            sample_size_two_proportions(control.value, mde, config.alpha, config.power)
        }
        AbMetric::MeanReward => {
            let (_, var) = moments(&v.rewards);
            let zs = z(1.0 - config.alpha / 2.0) + z(config.power);
            Ok((zs * zs * 2.0 * var / (mde * mde)).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests;
