//! The metric vocabulary of an analysis check, as written in YAML (`error_rate:timeout`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A cause of error a check can single out (`error_rate:<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The model failed.
    Model,
    /// The upstream answered 5xx.
    Upstream5xx,
    /// No answer within the deadline.
    Timeout,
    /// Malformed request for this version.
    BadRequest,
}

/// Which latency percentile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Percentile {
    /// Median.
    P50,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
}

/// What a check measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Errors over requests, all causes or one.
    ErrorRate(Option<ErrorKind>),
    /// A latency percentile, in ms.
    Latency(Percentile),
    /// Correct over labelled predictions.
    Accuracy,
    /// Mean absolute error of labelled regression predictions.
    Mae,
    /// Root mean squared error of labelled regression predictions.
    Rmse,
    /// Conversions (0/1 rewards) over rewarded predictions.
    ConversionRate,
    /// Mean reward.
    MeanReward,
    /// Invalid predictions over requests.
    InvalidRate,
    /// Population stability index of the output histogram against the baseline's.
    DriftPsi,
    /// Jensen–Shannon distance of the output histogram to the baseline's.
    DriftJs,
    /// Share of mirrored requests whose outputs disagree.
    ShadowDisagreement,
    /// Mean absolute difference of mirrored outputs.
    ShadowMae,
}

/// Whether a larger value of a metric is worse (errors) or better (accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Lower is better: bounded by `max`, `max_increase`, `max_ratio`.
    LowerIsBetter,
    /// Higher is better: bounded by `min`, `max_decrease`.
    HigherIsBetter,
}

impl Metric {
    /// Which way is better.
    pub fn direction(self) -> Direction {
        match self {
            Self::Accuracy | Self::ConversionRate | Self::MeanReward => Direction::HigherIsBetter,
            _ => Direction::LowerIsBetter,
        }
    }

    /// A rate in [0, 1] of a binary outcome (judged with counts).
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            Self::ErrorRate(_) | Self::Accuracy | Self::ConversionRate | Self::InvalidRate
        )
    }

    /// Already a comparison with the stable version (drift, shadow): no relative condition.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            Self::DriftPsi | Self::DriftJs | Self::ShadowDisagreement | Self::ShadowMae
        )
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = |k: &ErrorKind| match k {
            ErrorKind::Model => "model",
            ErrorKind::Upstream5xx => "upstream_5xx",
            ErrorKind::Timeout => "timeout",
            ErrorKind::BadRequest => "bad_request",
        };
        match self {
            Self::ErrorRate(None) => f.write_str("error_rate"),
            Self::ErrorRate(Some(k)) => write!(f, "error_rate:{}", kind(k)),
            Self::Latency(Percentile::P50) => f.write_str("latency_p50"),
            Self::Latency(Percentile::P95) => f.write_str("latency_p95"),
            Self::Latency(Percentile::P99) => f.write_str("latency_p99"),
            Self::Accuracy => f.write_str("accuracy"),
            Self::Mae => f.write_str("mae"),
            Self::Rmse => f.write_str("rmse"),
            Self::ConversionRate => f.write_str("conversion_rate"),
            Self::MeanReward => f.write_str("mean_reward"),
            Self::InvalidRate => f.write_str("invalid_rate"),
            Self::DriftPsi => f.write_str("drift_psi"),
            Self::DriftJs => f.write_str("drift_js"),
            Self::ShadowDisagreement => f.write_str("shadow_disagreement"),
            Self::ShadowMae => f.write_str("shadow_mae"),
        }
    }
}

/// Why a metric name was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric `{0}` (expected error_rate, error_rate:<model|upstream_5xx|timeout|bad_request>, latency_p50, latency_p95, latency_p99, accuracy, mae, rmse, conversion_rate, mean_reward, invalid_rate, drift_psi, drift_js, shadow_disagreement or shadow_mae)")]
pub struct UnknownMetric(pub String);

impl FromStr for Metric {
    type Err = UnknownMetric;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownMetric(s.to_owned());
        if let Some(kind) = s.strip_prefix("error_rate:") {
            let kind = match kind {
                "model" => ErrorKind::Model,
                "upstream_5xx" => ErrorKind::Upstream5xx,
                "timeout" => ErrorKind::Timeout,
                "bad_request" => ErrorKind::BadRequest,
                _ => return Err(unknown()),
            };
            return Ok(Self::ErrorRate(Some(kind)));
        }
        Ok(match s {
            "error_rate" => Self::ErrorRate(None),
            "latency_p50" => Self::Latency(Percentile::P50),
            "latency_p95" => Self::Latency(Percentile::P95),
            "latency_p99" => Self::Latency(Percentile::P99),
            "accuracy" => Self::Accuracy,
            "mae" => Self::Mae,
            "rmse" => Self::Rmse,
            "conversion_rate" => Self::ConversionRate,
            "mean_reward" => Self::MeanReward,
            "invalid_rate" => Self::InvalidRate,
            "drift_psi" => Self::DriftPsi,
            "drift_js" => Self::DriftJs,
            "shadow_disagreement" => Self::ShadowDisagreement,
            "shadow_mae" => Self::ShadowMae,
            _ => return Err(unknown()),
        })
    }
}

impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
