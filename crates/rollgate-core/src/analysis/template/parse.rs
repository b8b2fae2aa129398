//! The raw YAML mirror of a template and its validation into typed checks.

use super::{
    AnalysisTemplate, Check, Condition, Direction, Metric, OnInconclusive, DEFAULT_ALPHA,
    DEFAULT_MIN_SAMPLES,
};
use serde::{Deserialize, Serialize};

/// Why a template was refused. `Invalid` names the field, e.g. `checks[0].max`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// Not YAML, or not of the template's shape (unknown field, wrong type).
    #[error("analysis template: {0}")]
    Yaml(String),
    /// A field's value is not admissible.
    #[error("{field}: {reason}")]
    Invalid {
        /// Path of the field.
        field: String,
        /// What is wrong, in words.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    warmup_requests: Option<u64>,
    checks: Vec<RawCheck>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_increase: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_decrease: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_ratio: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_samples: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_inconclusive: Option<OnInconclusive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    noise_floor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tau: Option<f64>,
}

/// A threshold as written: a number, or a string with a unit (`100ms`, `1.5s`, `5%`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Value {
    Number(f64),
    Text(String),
}

impl TryFrom<RawTemplate> for AnalysisTemplate {
    type Error = TemplateError;

    fn try_from(raw: RawTemplate) -> Result<Self, TemplateError> {
        let alpha = raw.alpha.unwrap_or(DEFAULT_ALPHA);
        if !(alpha > 0.0 && alpha <= 0.5) {
            return Err(invalid("alpha", format!("{alpha} is outside (0, 0.5]")));
        }
        if raw.checks.is_empty() {
            return Err(invalid("checks", "at least one check is needed"));
        }
        let checks = raw
            .checks
            .into_iter()
            .enumerate()
            .map(|(i, c)| check(&format!("checks[{i}]"), c))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            alpha,
            warmup_requests: raw.warmup_requests.unwrap_or(0),
            checks,
        })
    }
}

fn check(at: &str, raw: RawCheck) -> Result<Check, TemplateError> {
    let metric: Metric = raw
        .metric
        .parse()
        .map_err(|e: super::UnknownMetric| invalid(format!("{at}.metric"), e.to_string()))?;
    let condition = condition(at, metric, &raw)?;
    let noise_floor = raw.noise_floor.unwrap_or(0.0);
    if raw.noise_floor.is_some() && !metric.is_comparison() {
        return Err(invalid(
            format!("{at}.noise_floor"),
            format!("only drift and shadow metrics have a noise floor, not {metric}"),
        ));
    }
    if !(noise_floor.is_finite() && noise_floor >= 0.0) {
        return Err(invalid(format!("{at}.noise_floor"), "must be ≥ 0"));
    }
    if let Some(tau) = raw.tau {
        let sequential = matches!(
            condition,
            Condition::MaxIncrease(_) | Condition::MaxDecrease(_)
        ) && !matches!(metric, Metric::Latency(_) | Metric::Rmse);
        if !sequential {
            return Err(invalid(
                format!("{at}.tau"),
                "only sequential checks (max_increase / max_decrease on rates, mae, mean_reward) use tau",
            ));
        }
        if !(tau.is_finite() && tau > 0.0) {
            return Err(invalid(format!("{at}.tau"), "must be > 0"));
        }
    }
    Ok(Check {
        metric,
        condition,
        min_samples: raw.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES),
        failure_limit: raw.failure_limit.unwrap_or(0),
        on_inconclusive: raw.on_inconclusive.unwrap_or_default(),
        noise_floor,
        tau: raw.tau,
    })
}

/// The one condition of a check, checked against its metric.
fn condition(at: &str, metric: Metric, raw: &RawCheck) -> Result<Condition, TemplateError> {
    let given: Vec<(&str, &Value)> = [
        ("max", &raw.max),
        ("min", &raw.min),
        ("max_increase", &raw.max_increase),
        ("max_decrease", &raw.max_decrease),
        ("max_ratio", &raw.max_ratio),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .collect();
    let [(key, value)] = given[..] else {
        return Err(invalid(
            at,
            format!(
                "exactly one of max, min, max_increase, max_decrease, max_ratio is needed, got {}",
                given.len()
            ),
        ));
    };
    let field = format!("{at}.{key}");
    let allowed = allowed_keys(metric);
    if !allowed.contains(&key) {
        return Err(invalid(
            &field,
            format!("{metric} accepts only {}", allowed.join(", ")),
        ));
    }
    let v = number(&field, metric, value)?;
    check_range(&field, metric, key, v)?;
    Ok(match key {
        "max" => Condition::Max(v),
        "min" => Condition::Min(v),
        "max_increase" => Condition::MaxIncrease(v),
        "max_decrease" => Condition::MaxDecrease(v),
        _ => Condition::MaxRatio(v),
    })
}

/// Conditions that make sense for a metric: bounds on the bad side only; no relative bound on
/// a metric that already compares with the stable version; ratios only for magnitudes.
fn allowed_keys(metric: Metric) -> &'static [&'static str] {
    match (metric.direction(), metric) {
        (_, m) if m.is_comparison() => &["max"],
        (Direction::HigherIsBetter, _) => &["min", "max_decrease"],
        (_, Metric::Latency(_) | Metric::Mae | Metric::Rmse) => {
            &["max", "max_increase", "max_ratio"]
        }
        _ => &["max", "max_increase"],
    }
}

/// A threshold's value in the metric's units: latency strings in ms, percentages on rates.
fn number(field: &str, metric: Metric, value: &Value) -> Result<f64, TemplateError> {
    let text = match value {
        Value::Number(n) => return Ok(*n),
        Value::Text(t) => t.trim(),
    };
    let parsed = |s: &str, scale: f64| {
        s.trim()
            .parse::<f64>()
            .map(|x| x * scale)
            .map_err(|_| invalid(field, format!("`{text}` is not a number")))
    };
    let latency = matches!(metric, Metric::Latency(_));
    if let (true, Some(ms)) = (latency, text.strip_suffix("ms")) {
        parsed(ms, 1.0)
    } else if let (true, Some(s)) = (latency, text.strip_suffix('s')) {
        parsed(s, 1000.0)
    } else if let (true, Some(p)) = (metric.is_rate(), text.strip_suffix('%')) {
        parsed(p, 0.01)
    } else if latency {
        Err(invalid(
            field,
            format!("`{text}`: expected ms, e.g. 100ms or 1.5s"),
        ))
    } else if metric.is_rate() {
        Err(invalid(
            field,
            format!("`{text}`: expected a fraction or a percentage"),
        ))
    } else {
        Err(invalid(field, format!("`{text}`: expected a number")))
    }
}

fn check_range(field: &str, metric: Metric, key: &str, v: f64) -> Result<(), TemplateError> {
    let (ok, expected) = match key {
        _ if !v.is_finite() => (false, "a finite number"),
        "max_ratio" => (v >= 1.0, "≥ 1"),
        "max" | "min" if metric.is_rate() => ((0.0..=1.0).contains(&v), "in [0, 1]"),
        "max_increase" | "max_decrease" if metric.is_rate() => {
            ((0.0..1.0).contains(&v), "in [0, 1)")
        }
        "max_increase" | "max_decrease" => (v >= 0.0, "≥ 0"),
        _ if metric == Metric::MeanReward => (true, ""),
        _ => (v >= 0.0, "≥ 0"),
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(field, format!("{v} is not {expected}")))
    }
}

impl From<AnalysisTemplate> for RawTemplate {
    fn from(t: AnalysisTemplate) -> Self {
        Self {
            alpha: Some(t.alpha),
            warmup_requests: Some(t.warmup_requests),
            checks: t.checks.into_iter().map(RawCheck::from).collect(),
        }
    }
}

impl From<Check> for RawCheck {
    fn from(c: Check) -> Self {
        let v = Some(Value::Number(c.condition.value()));
        let mut raw = Self {
            metric: c.metric.to_string(),
            min_samples: Some(c.min_samples),
            failure_limit: Some(c.failure_limit),
            on_inconclusive: Some(c.on_inconclusive),
            noise_floor: c.metric.is_comparison().then_some(c.noise_floor),
            tau: c.tau,
            ..Self::default()
        };
        match c.condition {
            Condition::Max(_) => raw.max = v,
            Condition::Min(_) => raw.min = v,
            Condition::MaxIncrease(_) => raw.max_increase = v,
            Condition::MaxDecrease(_) => raw.max_decrease = v,
            Condition::MaxRatio(_) => raw.max_ratio = v,
        }
        raw
    }
}
