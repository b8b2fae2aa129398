//! The analysis template: which checks decide a candidate, written in YAML in the spirit of
//! Argo Rollouts' `AnalysisTemplate`.
//!
//! ```yaml
//! alpha: 0.05              # false-failure rate of the whole analysis, split over its checks (default 0.05)
//! warmup_requests: 100     # candidate requests ignored before judging (default 0)
//! checks:
//!   - metric: error_rate
//!     max_increase: 0.03   # at most 3 points above the baseline
//!   - metric: latency_p95
//!     max: 100ms           # absolute bound
//!   - metric: accuracy
//!     max_decrease: 0.02
//!     min_samples: 500     # inconclusive until 500 labelled predictions
//!     failure_limit: 1     # fail on the second consecutive failing look
//!     on_inconclusive: hold
//! ```
//!
//! The YAML is read into a raw mirror with `deny_unknown_fields`, then validated into typed
//! checks; every error names the offending field (`checks[1].max_ratio: ...`).

mod metric;
mod parse;

pub use metric::{Direction, ErrorKind, Metric, Percentile, UnknownMetric};
pub use parse::TemplateError;

use serde::{Deserialize, Serialize};

/// Default type-I error of the template's tests.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// Default number of samples a check needs before it may pass.
pub const DEFAULT_MIN_SAMPLES: u64 = 100;

/// A validated analysis template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "parse::RawTemplate", into = "parse::RawTemplate")]
pub struct AnalysisTemplate {
    /// Family-wise false-failure rate of the analysis, in (0, 0.5]; each of the m checks
    /// tests at alpha / m.
    pub alpha: f64,
    /// Candidate requests to see (and ignore) before any check is judged.
    pub warmup_requests: u64,
    /// The checks, all of which must pass.
    pub checks: Vec<Check>,
}

/// One check of a template.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What is measured.
    pub metric: Metric,
    /// The bound it must respect.
    pub condition: Condition,
    /// Samples (requests, labelled predictions, pairs ...) needed before the check may pass.
    pub min_samples: u64,
    /// Consecutive failing looks tolerated: the check fails when failures exceed it (Argo's
    /// `failureLimit`, default 0: the first failure fails).
    pub failure_limit: u32,
    /// What an undecided check counts as once it has `min_samples`.
    pub on_inconclusive: OnInconclusive,
    /// Divergence a version shows against itself (drift and shadow metrics), measured by the
    /// binary by comparing stable with stable; only divergence above it counts.
    pub noise_floor: f64,
    /// Scale τ of the mSPRT mixing distribution, in the metric's units; `None` for the
    /// default (see the judge).
    pub tau: Option<f64>,
}

/// The bound of a check. Latency values are in ms; rate values are fractions (0.05 = 5 %),
/// and rate increases are absolute points (0.03 = 3 points).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// Absolute upper bound.
    Max(f64),
    /// Absolute lower bound.
    Min(f64),
    /// At most this much above the baseline, in the metric's units.
    MaxIncrease(f64),
    /// At most this much below the baseline, in the metric's units.
    MaxDecrease(f64),
    /// At most this many times the baseline.
    MaxRatio(f64),
}

impl Condition {
    /// The YAML key of the condition.
    pub fn key(self) -> &'static str {
        match self {
            Self::Max(_) => "max",
            Self::Min(_) => "min",
            Self::MaxIncrease(_) => "max_increase",
            Self::MaxDecrease(_) => "max_decrease",
            Self::MaxRatio(_) => "max_ratio",
        }
    }

    /// The bound's value.
    pub fn value(self) -> f64 {
        match self {
            Self::Max(v)
            | Self::Min(v)
            | Self::MaxIncrease(v)
            | Self::MaxDecrease(v)
            | Self::MaxRatio(v) => v,
        }
    }

    /// Whether the bound is relative to the baseline.
    pub fn is_relative(self) -> bool {
        !matches!(self, Self::Max(_) | Self::Min(_))
    }
}

/// What an undecided check with enough samples counts as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInconclusive {
    /// Stay inconclusive: the rollout holds and keeps collecting.
    #[default]
    Hold,
    /// Count as a failure.
    Fail,
    /// Count as a pass (Flagger-like leniency: no evidence of harm is enough).
    Pass,
}

impl AnalysisTemplate {
    /// Parses and validates a YAML template.
    pub fn from_yaml(yaml: &str) -> Result<Self, TemplateError> {
        let raw: parse::RawTemplate =
            serde_yaml_ng::from_str(yaml).map_err(|e| TemplateError::Yaml(e.to_string()))?;
        Self::try_from(raw)
    }

    /// A template of the given checks with the default α and no warm-up.
    pub fn with_checks(checks: Vec<Check>) -> Self {
        Self {
            alpha: DEFAULT_ALPHA,
            warmup_requests: 0,
            checks,
        }
    }
}

impl Check {
    /// A check with every option at its default.
    pub fn new(metric: Metric, condition: Condition) -> Self {
        Self {
            metric,
            condition,
            min_samples: DEFAULT_MIN_SAMPLES,
            failure_limit: 0,
            on_inconclusive: OnInconclusive::Hold,
            noise_floor: 0.0,
            tau: None,
        }
    }
}

#[cfg(test)]
mod tests;
