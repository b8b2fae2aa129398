//! A validated rollout plan: steps and strategy shorthands in order, and the abort policy.
//!
//! Plans are written in YAML ([`parse_plan`]); shorthands (`canary`, `blue_green`, `shadow`,
//! `ab_test`, `rolling`) keep plan files short, and [`Plan::expand`] turns everything into the
//! flat list of [`Step`]s the state machine walks.

use super::duration::fmt_duration;
use super::step::{AbTestStep, HeaderMatch, RollingStep, SmokeCheck, Step};
use crate::route::fmt_bps;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a plan was refused, naming the field (as a dotted path) and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The text is not valid YAML for the plan model (syntax, unknown key, wrong type).
    #[error("{0}")]
    Parse(String),
    /// A field holds a value that is not allowed.
    #[error("field `{field}`: {problem}")]
    Invalid {
        /// Dotted path of the field, e.g. `steps[1].canary.steps[2]`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl PlanError {
    pub(crate) fn invalid(field: impl Into<String>, problem: impl ToString) -> Self {
        PlanError::Invalid {
            field: field.into(),
            problem: problem.to_string(),
        }
    }
}

/// Parses and validates a plan text.
pub fn parse_plan(text: &str) -> Result<Plan, PlanError> {
    let file: super::file::PlanFile =
        serde_yaml_ng::from_str(text).map_err(|e| PlanError::Parse(e.to_string()))?;
    super::validate::plan(file)
}

/// A validated plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Name shown by `plan show` and in notifications.
    pub name: Option<String>,
    /// What an operator's abort does.
    pub abort: AbortPolicy,
    /// Steps and shorthands in order.
    pub stages: Vec<Stage>,
}

/// What an operator's abort does to the candidate's weight.
///
/// Automatic rollbacks (failed analysis, smoke or instance) are always instant: the candidate
/// has been judged bad, so keeping any traffic on it only hurts users. An operator's abort
/// may be a precaution, and a gradual shift back protects a stable version that has scaled
/// down from a sudden surge.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortPolicy {
    /// All traffic back to stable at once.
    #[default]
    Instant,
    /// Step the candidate down through these weights, one interval each, then to 0.
    Gradual {
        /// Decreasing candidate weights in basis points.
        weights: Vec<u32>,
        /// Time at each weight, milliseconds.
        interval_ms: u64,
    },
}

/// One entry of a plan: a raw step or a strategy shorthand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// A raw step.
    Step(Step),
    /// Increasing weights, each held and optionally analysed.
    Canary(Canary),
    /// Preview by header, smoke checks, switch, rollback window.
    BlueGreen(BlueGreen),
    /// Mirror traffic for a while, optionally analysed.
    Shadow(Shadow),
    /// A/B test between variants.
    AbTest(AbTestStep),
    /// Rolling instance replacement.
    Rolling(RollingStep),
}

/// `canary:` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    /// Increasing candidate weights in basis points.
    pub weights: Vec<u32>,
    /// Time at each stage below 100%, milliseconds.
    pub hold_ms: Option<u64>,
    /// Candidate requests at each stage below 100%.
    pub min_requests: Option<u64>,
    /// Analysis template judged at each stage below 100%.
    pub analysis: Option<String>,
    /// Inconclusive verdicts in a row before pausing for an operator.
    pub max_inconclusive: Option<u32>,
    /// Weights an operator must approve before traffic is raised to them.
    pub manual_gates: Vec<u32>,
}

/// Default canary weights: 1%, 5%, 25%, 50%, 100%.
pub const DEFAULT_CANARY_BPS: [u32; 5] = [100, 500, 2_500, 5_000, 10_000];

/// Analysis window used by a canary with an analysis template but no hold.
pub const DEFAULT_ANALYSIS_WINDOW_MS: u64 = 60_000;

/// `blue_green:` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueGreen {
    /// Requests matching this reach the candidate before the switch.
    pub preview: HeaderMatch,
    /// Smoke checks before the switch.
    pub smoke: Vec<SmokeCheck>,
    /// Time after the switch during which an abort returns to blue, milliseconds.
    pub rollback_window_ms: Option<u64>,
    /// Unload blue once green is promoted: after the window, nothing returns to it, and a
    /// model kept loaded for nothing holds memory (and, for an upstream, its connections).
    pub unload_blue: bool,
}

/// `shadow:` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    /// Mirrored share in basis points.
    pub bps: u32,
    /// How long to mirror, milliseconds.
    pub duration_ms: u64,
    /// Analysis template judging the shadow answers.
    pub analysis: Option<String>,
    /// Mirrored requests needed.
    pub min_requests: Option<u64>,
}

impl Plan {
    /// Whether the version a promotion leaves behind is unloaded (a blue/green stage with
    /// `unload_blue`).
    pub fn retires_stable(&self) -> bool {
        self.stages
            .iter()
            .any(|s| matches!(s, Stage::BlueGreen(b) if b.unload_blue))
    }

    /// The flat steps the state machine walks, ending in `promote` unless the plan ends in
    /// an A/B test or a rolling update (which conclude on their own).
    pub fn expand(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = self.stages.iter().flat_map(super::expand::stage).collect();
        let concludes = matches!(
            steps.last(),
            Some(Step::Promote | Step::AbTest(_) | Step::Rolling(_))
        );
        if !concludes {
            steps.push(Step::Promote);
        }
        steps
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan: {}", self.name.as_deref().unwrap_or("(unnamed)"))?;
        for (i, step) in self.expand().iter().enumerate() {
            writeln!(f, "{:>3}. {step}", i + 1)?;
        }
        match &self.abort {
            AbortPolicy::Instant => writeln!(f, "abort: instant"),
            AbortPolicy::Gradual {
                weights,
                interval_ms,
            } => {
                let ws: Vec<String> = weights
                    .iter()
                    .map(|w| format!("{}%", fmt_bps(*w)))
                    .collect();
                writeln!(
                    f,
                    "abort: gradual through {} then 0%, {} each",
                    ws.join(", "),
                    fmt_duration(*interval_ms)
                )
            }
        }
    }
}
