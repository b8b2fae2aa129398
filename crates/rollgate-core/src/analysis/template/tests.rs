#![allow(clippy::unwrap_used)]
use super::*;

const SEEDS: &str = r#"
alpha: 0.01
warmup_requests: 50
checks:
  - metric: error_rate
    max: 0.05
  - metric: latency_p95
    max: 100ms
  - metric: accuracy
    min: 0.80
  - metric: error_rate
    max_increase: 0.03
  - metric: latency_p95
    max_ratio: 1.5
  - metric: accuracy
    max_decrease: 0.02
    min_samples: 500
    failure_limit: 2
    on_inconclusive: pass
  - metric: error_rate:timeout
    max: 1%
  - metric: shadow_disagreement
    max: 0.02
    noise_floor: 0.004
  - metric: latency_p99
    max: 1.5s
"#;

fn error(yaml: &str) -> TemplateError {
    AnalysisTemplate::from_yaml(yaml).unwrap_err()
}

fn field(yaml: &str) -> String {
    match error(yaml) {
        TemplateError::Invalid { field, .. } => field,
        other => panic!("expected a field error, got {other}"),
    }
}

#[test]
fn the_product_seeds_parse() {
    let t = AnalysisTemplate::from_yaml(SEEDS).unwrap();
    assert_eq!((t.alpha, t.warmup_requests, t.checks.len()), (0.01, 50, 9));
    let conditions: Vec<_> = t
        .checks
        .iter()
        .map(|c| (c.metric.to_string(), c.condition))
        .collect();
    assert_eq!(conditions[0], ("error_rate".into(), Condition::Max(0.05)));
    assert_eq!(conditions[1], ("latency_p95".into(), Condition::Max(100.0)));
    assert_eq!(conditions[2], ("accuracy".into(), Condition::Min(0.80)));
    assert_eq!(conditions[3].1, Condition::MaxIncrease(0.03));
    assert_eq!(conditions[4].1, Condition::MaxRatio(1.5));
    assert_eq!(conditions[5].1, Condition::MaxDecrease(0.02));
    assert_eq!(
        conditions[6],
        ("error_rate:timeout".into(), Condition::Max(0.01))
    );
    assert_eq!(conditions[8].1, Condition::Max(1500.0));
    let acc = &t.checks[5];
    assert_eq!(
        (acc.min_samples, acc.failure_limit, acc.on_inconclusive),
        (500, 2, OnInconclusive::Pass)
    );
    assert_eq!(t.checks[0].min_samples, DEFAULT_MIN_SAMPLES);
    assert_eq!(t.checks[0].on_inconclusive, OnInconclusive::Hold);
    assert_eq!(t.checks[7].noise_floor, 0.004);
}

#[test]
fn defaults_apply() {
    let t = AnalysisTemplate::from_yaml("checks: [{metric: error_rate, max: 0.1}]").unwrap();
    assert_eq!((t.alpha, t.warmup_requests), (DEFAULT_ALPHA, 0));
}

#[test]
fn a_template_survives_a_round_trip() {
    let t = AnalysisTemplate::from_yaml(SEEDS).unwrap();
    let yaml = serde_yaml_ng::to_string(&t).unwrap();
    assert_eq!(AnalysisTemplate::from_yaml(&yaml).unwrap(), t);
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            "alpha: 0.7\nchecks: [{metric: error_rate, max: 0.1}]",
            "alpha",
        ),
        ("checks: []", "checks"),
        ("checks: [{metric: errors, max: 0.1}]", "checks[0].metric"),
        (
            "checks: [{metric: error_rate:disk, max: 0.1}]",
            "checks[0].metric",
        ),
        ("checks: [{metric: error_rate}]", "checks[0]"),
        (
            "checks: [{metric: error_rate, max: 0.1, min: 0.0}]",
            "checks[0]",
        ),
        ("checks: [{metric: error_rate, max: 1.5}]", "checks[0].max"),
        (
            "checks: [{metric: error_rate, max: 0.1}, {metric: accuracy, max: 0.9}]",
            "checks[1].max",
        ),
        (
            "checks: [{metric: error_rate, max_ratio: 2}]",
            "checks[0].max_ratio",
        ),
        (
            "checks: [{metric: latency_p95, max_ratio: 0.5}]",
            "checks[0].max_ratio",
        ),
        (
            "checks: [{metric: latency_p95, max: fast}]",
            "checks[0].max",
        ),
        ("checks: [{metric: latency_p95, max: 5%}]", "checks[0].max"),
        (
            "checks: [{metric: error_rate, max: 100ms}]",
            "checks[0].max",
        ),
        (
            "checks: [{metric: drift_psi, max_increase: 0.1}]",
            "checks[0].max_increase",
        ),
        (
            "checks: [{metric: error_rate, max: 0.1, noise_floor: 0.1}]",
            "checks[0].noise_floor",
        ),
        (
            "checks: [{metric: drift_js, max: 0.1, noise_floor: -1}]",
            "checks[0].noise_floor",
        ),
        (
            "checks: [{metric: error_rate, max: 0.1, tau: 0.1}]",
            "checks[0].tau",
        ),
        (
            "checks: [{metric: error_rate, max_increase: 0.1, tau: 0}]",
            "checks[0].tau",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(field(yaml), expected, "{yaml}");
    }
}

#[test]
fn unknown_fields_are_refused() {
    for yaml in [
        "checks: [{metric: error_rate, max: 0.1, maximum: 3}]",
        "checks: [{metric: error_rate, max: 0.1}]\nbudget: 3",
        "checks: [{metric: error_rate, max: 0.1, on_inconclusive: maybe}]",
    ] {
        assert!(matches!(error(yaml), TemplateError::Yaml(_)), "{yaml}");
    }
    let message = error("checks: [{metric: error_rate, max: 0.1, maximum: 3}]").to_string();
    assert!(message.contains("maximum"), "{message}");
}

#[test]
fn metric_names_round_trip() {
    for name in [
        "error_rate",
        "error_rate:model",
        "error_rate:upstream_5xx",
        "error_rate:timeout",
        "error_rate:bad_request",
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "accuracy",
        "mae",
        "rmse",
        "conversion_rate",
        "mean_reward",
        "invalid_rate",
        "drift_psi",
        "drift_js",
        "shadow_disagreement",
        "shadow_mae",
    ] {
        assert_eq!(name.parse::<Metric>().unwrap().to_string(), name);
    }
}
