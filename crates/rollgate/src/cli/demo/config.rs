//! The demo's gateway config and rollout plans, with every duration divided by `--speed`.
//!
//! The statistics do not scale: sample sizes and thresholds are the same at any speed, so a
//! faster run makes the same decisions on the same evidence, only sooner (as long as the
//! machine keeps up with the faster request rate).

use std::time::Duration;

/// Request rate at speed 1: enough evidence for every decision within a minute or so.
pub(crate) const REQUESTS_PER_S: f64 = 150.0;

/// Requests per variant before the A/B test concludes.
pub(crate) const AB_SAMPLE: u64 = 1000;

/// Conversion rates of the A/B variants: v2 converts clearly better, so the test finds it
/// at this sample size with near certainty (z ≈ 5).
pub(crate) const CONVERSION: [(&str, f64); 2] = [("v1", 0.10), ("v2", 0.18)];

/// Timings of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) speed: f64,
}

impl Timing {
    /// `ms` at speed 1, scaled.
    pub(crate) fn scaled(self, ms: u64) -> Duration {
        Duration::from_millis(ms).div_f64(self.speed)
    }

    fn ms(self, ms: u64) -> String {
        format!("{}ms", self.scaled(ms).as_millis().max(1))
    }

    pub(crate) fn requests_per_s(self) -> f64 {
        REQUESTS_PER_S * self.speed
    }

    /// The controller's tick: often enough that holds end on time, never busier than 20/s.
    fn tick_ms(self) -> u64 {
        (self.scaled(200).as_millis() as u64).clamp(50, 500)
    }

    /// The gateway config: the bundled iris models on `iris` (for the canaries) and on
    /// `iris-ab` (the A/B test gets a service of its own, because the controller judges an
    /// A/B test on each version's counters since boot, which the canaries would skew), with
    /// signed-in users sticky by `x-user-id`, and the demo's analysis templates.
    pub(crate) fn config(self) -> String {
        let service = |versions: &str| {
            format!(
                r#"    input_width: 4
    output: {{ classes: [setosa, versicolor, virginica] }}
    versions:
{versions}    route:
      stable: v1
      candidate: v2
      weights: {{ v1: 100 }}
      sticky: {{ header: x-user-id }}
"#
            )
        };
        let v1_v2 =
            "      v1: { onnx: \"builtin:iris-v1\" }\n      v2: { onnx: \"builtin:iris-v2\" }\n";
        let bad = "      bad: { onnx: \"builtin:iris-bad\" }\n";
        format!(
            r#"rollouts:
  tick_ms: {tick}
  templates:
    # Shadow: how often v2 disagrees with v1 on the same mirrored request. They are
    # different models, so some disagreement is expected; far more would mean a broken one.
    demo-shadow:
      checks:
        - metric: shadow_disagreement
          max: 0.30
          min_samples: 200
    # Canary: no more errors (no evidence of harm is enough), and accuracy from the late
    # labels at most 5 points below stable's.
    demo-quality:
      checks:
        - metric: error_rate
          max_increase: 0.02
          min_samples: 50
          on_inconclusive: pass
        - metric: accuracy
          max_decrease: 0.05
          min_samples: 100
services:
  iris:
{iris}  iris-ab:
{ab}"#,
            tick = self.tick_ms(),
            iris = service(&format!("{v1_v2}{bad}")),
            ab = service(v1_v2),
        )
    }

    /// Phase 1: mirror everything to v2 and judge the disagreement, then raise it through
    /// 25% and 50% with the quality analysis at each stage, then promote.
    pub(crate) fn shadow_then_canary(self) -> String {
        format!(
            "name: demo-v2\nsteps:\n  - shadow: {{percent: 100, duration: {shadow}, analysis: demo-shadow}}\n{canary}",
            shadow = self.ms(8_000),
            canary = self.canary_stage(),
        )
    }

    /// Phase 2: the same staged canary, of the bad model.
    pub(crate) fn canary(self) -> String {
        format!("name: demo-bad\nsteps:\n{}", self.canary_stage())
    }

    fn canary_stage(self) -> String {
        format!(
            "  - canary: {{steps: [25, 50, 100], hold: {hold}, analysis: demo-quality, min_requests: 100}}\n",
            hold = self.ms(5_000),
        )
    }

    /// Phase 3: split users 50/50 and promote the variant that converts better.
    pub(crate) fn ab_test(self) -> String {
        format!(
            "name: demo-ab\nsteps:\n  - ab_test: {{variants: {{v1: 50, v2: 50}}, sample_size: {AB_SAMPLE}, promote_winner: true}}\n"
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_config_and_plans_are_valid_at_any_speed() {
        for speed in [0.5, 1.0, 4.0, 50.0] {
            let t = Timing { speed };
            let config = rollgate_core::config::parse(&t.config()).unwrap();
            assert_eq!(config.services.len(), 2);
            for plan in [t.shadow_then_canary(), t.canary(), t.ab_test()] {
                rollgate_core::rollout::parse_plan(&plan).unwrap();
            }
        }
    }

    #[test]
    fn durations_scale_with_speed_and_the_tick_stays_bounded() {
        let t = Timing { speed: 4.0 };
        assert_eq!(t.scaled(8_000), Duration::from_secs(2));
        assert!(t.shadow_then_canary().contains("duration: 2000ms"));
        assert_eq!(t.tick_ms(), 50);
        assert_eq!(Timing { speed: 0.1 }.tick_ms(), 500);
    }
}
