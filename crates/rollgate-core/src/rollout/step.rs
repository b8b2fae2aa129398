//! The steps a rollout walks, after strategy shorthands are expanded: Argo Rollouts'
//! vocabulary (set weight, pause, analysis, mirror, header route) plus smoke checks, manual
//! gates, A/B tests and rolling instance replacement.
//!
//! Steps are validated domain values (weights in basis points, durations in milliseconds) and
//! are serialised into the persisted rollout state, so a restart needs no plan file.

use super::duration::fmt_duration;
use crate::route::fmt_bps;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One step of an expanded plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Send this share of traffic to the candidate (the rest to stable). Instant.
    SetWeight {
        /// Candidate share in basis points.
        bps: u32,
    },
    /// Wait. With neither a duration nor a request count, wait for an operator's approve.
    Pause {
        /// How long the step must have run (paused time excluded), milliseconds.
        duration_ms: Option<u64>,
        /// How many candidate requests the step must have seen.
        min_requests: Option<u64>,
    },
    /// Wait for an operator's approve before going on (a canary's manual gate).
    Approval {
        /// What is being approved, shown to the operator and in the notification.
        gate: String,
    },
    /// Ask the judge for a verdict on the candidate: pass goes on, fail rolls back,
    /// inconclusive holds the stage.
    Analysis(AnalysisStep),
    /// Copy this share of requests to the candidate without returning its answer. Instant.
    Mirror {
        /// Mirrored share in basis points; 0 turns mirroring off.
        bps: u32,
    },
    /// Send requests carrying a header to the candidate; `None` removes the rule. Instant.
    HeaderRoute(Option<HeaderMatch>),
    /// Send fixed requests to the candidate and check the answers (blue/green).
    Smoke {
        /// The checks, all of which must pass.
        checks: Vec<SmokeCheck>,
    },
    /// Split traffic between variants until a sample size or deadline, then conclude.
    AbTest(AbTestStep),
    /// Replace an HTTP version's instances in batches.
    Rolling(RollingStep),
    /// Make the candidate (or an A/B winner) the stable version. Always last.
    Promote,
}

/// An analysis step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisStep {
    /// Name of the analysis template the judge evaluates.
    pub template: String,
    /// How long the step must run before a pass is accepted, milliseconds.
    pub window_ms: u64,
    /// Candidate requests needed before a pass is accepted.
    pub min_requests: u64,
    /// After this many inconclusive verdicts in a row, pause for an operator; `None`: hold on.
    pub max_inconclusive: Option<u32>,
}

/// A header rule: requests whose header matches go to the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderMatch {
    /// Header name, lower case.
    pub header: String,
    /// Exact value to match; `None` matches any value (the header's presence).
    pub value: Option<String>,
}

/// One smoke request and what its answer must satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeCheck {
    /// Request body, as sent (JSON text).
    pub body: String,
    /// Expected prediction as the gateway renders it (a class name or a number).
    pub expect_prediction: Option<String>,
    /// Largest acceptable latency, milliseconds.
    pub max_latency_ms: Option<u64>,
}

/// An A/B test step. The first variant is the control (the stable version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbTestStep {
    /// Versions and their shares in basis points, summing to 100%.
    pub variants: Vec<(String, u32)>,
    /// Requests each variant needs before concluding (the least-served variant counts).
    pub sample_size: Option<u64>,
    /// Conclude after this long even without the sample size, milliseconds.
    pub deadline_ms: Option<u64>,
    /// Whether the winner the caller computes is promoted.
    pub promote_winner: bool,
}

/// A rolling replacement step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollingStep {
    /// New instances allowed above the desired count during the update.
    pub max_surge: u32,
    /// Instances allowed below the desired count during the update.
    pub max_unavailable: u32,
    /// Path probed on a new instance before it counts as ready.
    pub readiness_path: String,
    /// How long a new instance may take to become ready, milliseconds (states stored before
    /// the field existed read as the default).
    #[serde(default = "default_readiness_timeout")]
    pub readiness_timeout_ms: u64,
}

/// A new instance's readiness deadline when the plan names none.
pub const DEFAULT_READINESS_TIMEOUT_MS: u64 = 30_000;

fn default_readiness_timeout() -> u64 {
    DEFAULT_READINESS_TIMEOUT_MS
}

impl Step {
    /// Whether the step completes the moment it is entered (its effect is one action).
    pub fn is_instant(&self) -> bool {
        matches!(
            self,
            Step::SetWeight { .. } | Step::Mirror { .. } | Step::HeaderRoute(_)
        )
    }

    /// Whether only an operator's approve can complete the step.
    pub fn is_gate(&self) -> bool {
        matches!(
            self,
            Step::Approval { .. }
                | Step::Pause {
                    duration_ms: None,
                    min_requests: None
                }
        )
    }

    /// Short kind name for notifications and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::SetWeight { .. } => "set_weight",
            Step::Pause { .. } => "pause",
            Step::Approval { .. } => "approval",
            Step::Analysis(_) => "analysis",
            Step::Mirror { .. } => "mirror",
            Step::HeaderRoute(_) => "set_header_route",
            Step::Smoke { .. } => "smoke",
            Step::AbTest(_) => "ab_test",
            Step::Rolling(_) => "rolling",
            Step::Promote => "promote",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::SetWeight { bps } => write!(f, "set weight: candidate {}%", fmt_bps(*bps)),
            Step::Pause {
                duration_ms,
                min_requests,
            } => fmt_pause(f, *duration_ms, *min_requests),
            Step::Approval { gate } => write!(f, "manual gate: {gate} (approve to continue)"),
            Step::Analysis(a) => fmt_analysis(f, a),
            Step::Mirror { bps: 0 } => write!(f, "mirror: off"),
            Step::Mirror { bps } => write!(f, "mirror: {}% to candidate", fmt_bps(*bps)),
            Step::HeaderRoute(None) => write!(f, "header route: off"),
            Step::HeaderRoute(Some(m)) => match &m.value {
                Some(v) => write!(f, "header route: `{}: {v}` to candidate", m.header),
                None => write!(f, "header route: any `{}` to candidate", m.header),
            },
            Step::Smoke { checks } => write!(f, "smoke: {} check(s) on candidate", checks.len()),
            Step::AbTest(ab) => fmt_ab(f, ab),
            Step::Rolling(r) => write!(
                f,
                "rolling: max surge {}, max unavailable {}, readiness {} within {}",
                r.max_surge,
                r.max_unavailable,
                r.readiness_path,
                fmt_duration(r.readiness_timeout_ms)
            ),
            Step::Promote => write!(f, "promote"),
        }
    }
}

fn fmt_pause(f: &mut fmt::Formatter<'_>, d: Option<u64>, n: Option<u64>) -> fmt::Result {
    match (d, n) {
        (None, None) => write!(f, "pause: until approved"),
        (Some(d), None) => write!(f, "pause: {}", fmt_duration(d)),
        (None, Some(n)) => write!(f, "pause: until {n} candidate requests"),
        (Some(d), Some(n)) => write!(f, "pause: {} and {n} candidate requests", fmt_duration(d)),
    }
}

fn fmt_analysis(f: &mut fmt::Formatter<'_>, a: &AnalysisStep) -> fmt::Result {
    write!(
        f,
        "analysis: `{}` over {}",
        a.template,
        fmt_duration(a.window_ms)
    )?;
    if a.min_requests > 0 {
        write!(f, ", at least {} candidate requests", a.min_requests)?;
    }
    if let Some(n) = a.max_inconclusive {
        write!(f, ", pause after {n} inconclusive")?;
    }
    write!(f, " (fail rolls back)")
}

fn fmt_ab(f: &mut fmt::Formatter<'_>, ab: &AbTestStep) -> fmt::Result {
    let split: Vec<String> = ab
        .variants
        .iter()
        .map(|(v, w)| format!("{v}={}%", fmt_bps(*w)))
        .collect();
    write!(f, "a/b test: {}", split.join(" "))?;
    if let Some(n) = ab.sample_size {
        write!(f, " until {n} requests per variant")?;
    }
    if let Some(d) = ab.deadline_ms {
        write!(f, " (deadline {})", fmt_duration(d))?;
    }
    let then = if ab.promote_winner {
        "promote the winner"
    } else {
        "report the winner"
    };
    write!(f, ", then {then}")
}
