//! Properties: identical windows never fail; verdicts do not depend on sample order.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::analysis::window::{ErrorCounts, Labelled, LatencySummary, Rewards, Warmup};
use proptest::prelude::*;

const ALL_CHECKS: &str = r#"
checks:
  - {metric: error_rate, max_increase: 0.0}
  - {metric: error_rate:timeout, max_increase: 0.01}
  - {metric: invalid_rate, max_increase: 0.0}
  - {metric: accuracy, max_decrease: 0.0}
  - {metric: conversion_rate, max_decrease: 0.0}
  - {metric: latency_p50, max_ratio: 1.0}
  - {metric: latency_p95, max_increase: 0}
  - {metric: latency_p99, max_ratio: 1.2}
  - {metric: mae, max_increase: 0.0}
  - {metric: rmse, max_ratio: 1.0}
  - {metric: mean_reward, max_decrease: 0.0}
  - {metric: drift_psi, max: 0.0}
  - {metric: drift_js, max: 0.0}
"#;

fn window() -> impl Strategy<Value = VersionWindow> {
    (
        (0u64..3000, 0u64..50, 0u64..50, 0u64..20),
        (0u64..500, 0u64..500, 0u64..500),
        prop::collection::vec(1.0f64..500.0, 0..60),
        prop::collection::vec(0u64..100, 3),
    )
        .prop_map(
            |((requests, model, timeout, invalid), (correct, extra, rewarded), lat, hist)| {
                let requests = requests.max(model + timeout + invalid);
                VersionWindow {
                    requests,
                    errors: ErrorCounts {
                        model,
                        timeout,
                        ..Default::default()
                    },
                    invalid_predictions: invalid,
                    latency: LatencySummary::from_samples(lat),
                    labelled: Labelled {
                        correct,
                        total: correct + extra,
                        sum_abs_error: extra as f64 * 0.7,
                        sum_sq_error: extra as f64,
                        n: extra,
                    },
                    rewards: Rewards::conversions(rewarded.min(correct), correct),
                    output_histogram: hist,
                    warmup: Warmup {
                        warm: true,
                        warmup_requests: 0,
                    },
                    ..Default::default()
                }
            },
        )
}

proptest! {
    #[test]
    fn identical_windows_never_fail(w in window(), looks in 1usize..4) {
        let t = AnalysisTemplate::from_yaml(ALL_CHECKS).unwrap();
        let mut state = JudgeState::default();
        for _ in 0..looks {
            let (v, s) = judge(&t, &w, &w, &state);
            for c in &v.checks {
                prop_assert_ne!(c.outcome, Outcome::Fail, "{}", c.reason);
            }
            state = s;
        }
    }

    #[test]
    fn verdicts_do_not_depend_on_sample_order(b in window(), c in window(), seed in any::<u64>()) {
        let t = AnalysisTemplate::from_yaml(ALL_CHECKS).unwrap();
        let shuffle = |w: &VersionWindow| {
            let mut w = w.clone();
            let n = w.latency.samples_ms.len();
            if n > 1 {
                let k = (seed % n as u64) as usize;
                w.latency.samples_ms.rotate_left(k);
                w.latency.samples_ms.reverse();
            }
            w
        };
        let (v1, s1) = judge(&t, &b, &c, &JudgeState::default());
        let (v2, s2) = judge(&t, &shuffle(&b), &shuffle(&c), &JudgeState::default());
        prop_assert_eq!(v1, v2);
        prop_assert_eq!(s1, s2);
    }
}
