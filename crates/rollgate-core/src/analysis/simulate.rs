//! Seeded replays of synthetic canary analyses through the real judge, against the
//! fixed-threshold policy of Flagger, to measure how fast each fails a bad candidate and how
//! often each fails a healthy one.
//!
//! # The two policies
//!
//! - **Sequential judge**: [`judge`](crate::analysis::judge()) with [`SimulationConfig::template`]
//!   on cumulative windows, one look every `look_every` canary requests. Default template:
//!   `error_rate max_increase 0.005` (with the 0.5 % baseline: at most 1 % errors, the bound
//!   of Flagger's documented `request-success-rate min 99`), `latency_p95 max_ratio 1.25`,
//!   `accuracy max_decrease 0.02`, all with the default `min_samples` 100, α 0.05 and τ
//!   [`DEFAULT_RATE_TAU`](crate::analysis::DEFAULT_RATE_TAU).
//! - **Fixed threshold, as Flagger**: every `interval_requests` canary requests (Flagger's
//!   `interval`, here a request count so that both policies see the same traffic), each metric
//!   of *that interval alone* is compared with a fixed bound (Flagger's `thresholdRange`); an
//!   interval with any metric out of bounds counts one failed check, and the canary is rolled
//!   back when failed checks reach `threshold` (Flagger: "max number of failed metric checks
//!   before rollback", counted over the whole analysis). Defaults: interval 100 requests,
//!   `threshold: 5` (Flagger's documented example), error rate ≤ 2 %, p95 ≤ 140 ms, accuracy
//!   ≥ 0.85. The bounds are made fair to Flagger: they are the tightest round values whose
//!   false-failure rate on the healthy scenario over the horizon stays below 1 % (Flagger's
//!   own 1 % error bound would fail about 3 % of healthy canaries: 9 % of 100-request
//!   intervals of a 0.5 % service show 2 errors or more), so Flagger is not handicapped by a
//!   careless setting. Its floor is `threshold × interval` = 500 requests.
//!
//! # Scenarios
//!
//! Stable: 0.5 % errors, log-normal latency (median 50 ms, σ 0.5, so p95 ≈ 114 ms), accuracy
//! 0.90 on labelled requests. Candidates: the same (healthy A/A), 5 % errors, latency × 1.5,
//! accuracy 0.80. The stable version receives `stable_per_candidate` requests per canary
//! request (9: a 10 % canary).

mod report;
mod rng;
mod stream;

pub use report::{PolicyKind, ScenarioRow, SimulationReport};

use super::template::{AnalysisTemplate, Check, Condition, Metric, Percentile};
use rng::SplitMix64;

/// How one version behaves in a scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VersionModel {
    /// Probability that a request fails.
    pub error_rate: f64,
    /// Median latency, ms (log-normal).
    pub latency_median_ms: f64,
    /// Log-scale σ of the latency.
    pub latency_sigma: f64,
    /// Probability that a labelled prediction is correct.
    pub accuracy: f64,
}

/// The stable version of every standard scenario.
pub const STABLE: VersionModel = VersionModel {
    error_rate: 0.005,
    latency_median_ms: 50.0,
    latency_sigma: 0.5,
    accuracy: 0.90,
};

/// A stable/candidate pair to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Short name for the table.
    pub name: String,
    /// The stable version.
    pub stable: VersionModel,
    /// The candidate.
    pub candidate: VersionModel,
    /// Whether the candidate is as good as stable: any failure is a false failure.
    pub healthy: bool,
}

impl Scenario {
    fn new(name: &str, candidate: VersionModel, healthy: bool) -> Self {
        Self {
            name: name.to_owned(),
            stable: STABLE,
            candidate,
            healthy,
        }
    }

    /// The four standard scenarios: healthy A/A, 5 % errors, +50 % latency, 10 points less
    /// accurate.
    pub fn standard() -> Vec<Self> {
        vec![
            Self::new("healthy A/A", STABLE, true),
            Self::new(
                "5% errors",
                VersionModel {
                    error_rate: 0.05,
                    ..STABLE
                },
                false,
            ),
            Self::new(
                "+50% latency",
                VersionModel {
                    latency_median_ms: 75.0,
                    ..STABLE
                },
                false,
            ),
            Self::new(
                "accuracy 0.80",
                VersionModel {
                    accuracy: 0.80,
                    ..STABLE
                },
                false,
            ),
        ]
    }
}

/// The fixed-threshold policy (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlaggerPolicy {
    /// Canary requests per check interval.
    pub interval_requests: u64,
    /// Failed checks that roll the canary back.
    pub threshold: u32,
    /// Bound on an interval's error rate.
    pub max_error_rate: f64,
    /// Bound on an interval's p95 latency, ms.
    pub max_latency_p95_ms: f64,
    /// Bound on an interval's accuracy.
    pub min_accuracy: f64,
}

impl Default for FlaggerPolicy {
    fn default() -> Self {
        Self {
            interval_requests: 100,
            threshold: 5,
            max_error_rate: 0.02,
            max_latency_p95_ms: 140.0,
            min_accuracy: 0.85,
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationConfig {
    /// Seed of the whole simulation.
    pub seed: u64,
    /// Runs per scenario.
    pub runs: usize,
    /// Canary requests per run (the analysis' length).
    pub horizon: u64,
    /// Stable requests per canary request.
    pub stable_per_candidate: u64,
    /// Canary requests between two looks of the sequential judge.
    pub look_every: u64,
    /// Latency samples kept per version (reservoir), as the binary bounds them.
    pub latency_sample_cap: usize,
    /// The sequential judge's template.
    pub template: AnalysisTemplate,
    /// The fixed-threshold policy.
    pub flagger: FlaggerPolicy,
    /// The scenarios.
    pub scenarios: Vec<Scenario>,
}

impl SimulationConfig {
    /// The standard comparison with `runs` runs per scenario.
    pub fn standard(seed: u64, runs: usize) -> Self {
        Self {
            seed,
            runs,
            horizon: 2_000,
            stable_per_candidate: 9,
            look_every: 10,
            latency_sample_cap: 1_000,
            template: default_template(),
            flagger: FlaggerPolicy::default(),
            scenarios: Scenario::standard(),
        }
    }
}

/// The sequential judge's template of the standard comparison.
pub fn default_template() -> AnalysisTemplate {
    AnalysisTemplate::with_checks(vec![
        Check::new(Metric::ErrorRate(None), Condition::MaxIncrease(0.005)),
        Check::new(Metric::Latency(Percentile::P95), Condition::MaxRatio(1.25)),
        Check::new(Metric::Accuracy, Condition::MaxDecrease(0.02)),
    ])
}

/// Replays every scenario `runs` times under both policies. Pure: the same config gives the
/// same report. Cost: runs × scenarios × horizon × (1 + stable_per_candidate) draws, plus a
/// judge call every `look_every` requests.
pub fn simulate(config: &SimulationConfig) -> SimulationReport {
    let mut rng = SplitMix64::new(config.seed);
    let rows = config
        .scenarios
        .iter()
        .flat_map(|scenario| {
            let results: Vec<_> = (0..config.runs)
                .map(|_| {
                    stream::run(
                        &mut rng.fork(),
                        config,
                        &scenario.stable,
                        &scenario.candidate,
                    )
                })
                .collect();
            [PolicyKind::Sequential, PolicyKind::FixedThreshold]
                .map(|policy| ScenarioRow::from_runs(scenario, policy, &results))
        })
        .collect();
    SimulationReport {
        config: config.clone(),
        rows,
    }
}

#[cfg(test)]
mod tests;
