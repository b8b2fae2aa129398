//! The simulation's figures and their plain-text table.

use super::stream::RunResult;
use super::{Scenario, SimulationConfig};
use std::fmt::Write as _;

/// Which policy a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// The sequential judge.
    Sequential,
    /// The fixed-threshold (Flagger) policy.
    FixedThreshold,
}

impl PolicyKind {
    fn label(self) -> &'static str {
        match self {
            Self::Sequential => "sequential judge",
            Self::FixedThreshold => "fixed threshold",
        }
    }
}

/// One scenario under one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioRow {
    /// The scenario's name.
    pub scenario: String,
    /// Whether the candidate was healthy (failures are false failures).
    pub healthy: bool,
    /// The policy.
    pub policy: PolicyKind,
    /// Runs.
    pub runs: usize,
    /// Fraction of runs where the policy failed the candidate within the horizon: the
    /// detection rate, or the false-failure rate for a healthy candidate.
    pub failure_rate: f64,
    /// Median canary requests before the failure, over the runs that failed.
    pub median_requests_to_fail: Option<f64>,
}

impl ScenarioRow {
    pub(super) fn from_runs(scenario: &Scenario, policy: PolicyKind, runs: &[RunResult]) -> Self {
        let mut at: Vec<u64> = runs
            .iter()
            .filter_map(|r| match policy {
                PolicyKind::Sequential => r.sequential,
                PolicyKind::FixedThreshold => r.fixed,
            })
            .collect();
        at.sort_unstable();
        Self {
            scenario: scenario.name.clone(),
            healthy: scenario.healthy,
            policy,
            runs: runs.len(),
            failure_rate: if runs.is_empty() {
                0.0
            } else {
                at.len() as f64 / runs.len() as f64
            },
            median_requests_to_fail: median(&at),
        }
    }
}

fn median(sorted: &[u64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}

/// Every row of a simulation, with the config that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationReport {
    /// The configuration simulated.
    pub config: SimulationConfig,
    /// Two rows per scenario: sequential judge, then fixed threshold.
    pub rows: Vec<ScenarioRow>,
}

impl SimulationReport {
    /// The row of a scenario and policy.
    pub fn row(&self, scenario: &str, policy: PolicyKind) -> Option<&ScenarioRow> {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario && r.policy == policy)
    }

    /// Median requests to fail under the sequential judge over those under the fixed
    /// threshold, for a scenario (None if either never failed).
    pub fn delay_ratio(&self, scenario: &str) -> Option<f64> {
        let seq = self
            .row(scenario, PolicyKind::Sequential)?
            .median_requests_to_fail?;
        let fixed = self
            .row(scenario, PolicyKind::FixedThreshold)?
            .median_requests_to_fail?;
        Some(seq / fixed)
    }

    /// A plain-text table for the CLI.
    pub fn render_table(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "{} runs per scenario, seed {}, {} canary requests per run, {} stable per canary request; judge looks every {} requests; fixed threshold every {} requests, rollback after {} failed checks\n",
            c.runs, c.seed, c.horizon, c.stable_per_candidate, c.look_every, c.flagger.interval_requests, c.flagger.threshold
        );
        let _ = writeln!(
            out,
            "{:<15} {:<17} {:>22} {:>28}",
            "scenario", "policy", "failed runs", "median requests to fail"
        );
        for r in &self.rows {
            let kind = if r.healthy {
                "false failures"
            } else {
                "detected"
            };
            let rate = format!("{:.1}% {kind}", r.failure_rate * 100.0);
            let median = r
                .median_requests_to_fail
                .map_or("-".to_owned(), |m| format!("{m:.0}"));
            let _ = writeln!(
                out,
                "{:<15} {:<17} {rate:>22} {median:>28}",
                r.scenario,
                r.policy.label()
            );
        }
        for s in c.scenarios.iter().filter(|s| !s.healthy) {
            if let Some(ratio) = self.delay_ratio(&s.name) {
                let _ = writeln!(
                    out,
                    "{}: the judge fails after {:.0}% of the requests the fixed threshold needs",
                    s.name,
                    ratio * 100.0
                );
            }
        }
        out
    }
}
