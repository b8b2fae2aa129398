//! What the caller tells the machine ([`Event`]) and what the machine asks of it ([`Action`]).

use super::state::Weights;
use super::step::{HeaderMatch, SmokeCheck};
use crate::analysis::Outcome;
use serde::{Deserialize, Serialize};

/// Something that happened, handed to [`step`](super::step) with the caller's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Time passed. `candidate_requests` is the gateway's cumulative request counter for the
    /// candidate (during an A/B test: of the least-served variant). Counter resets are fine.
    Tick {
        /// Cumulative requests.
        candidate_requests: u64,
    },
    /// The judge's verdict on the running analysis.
    AnalysisResult {
        /// Pass, fail or inconclusive.
        outcome: Outcome,
        /// Human summary (which checks, what values).
        summary: String,
    },
    /// The result of the smoke checks.
    SmokeResult {
        /// Whether every check passed.
        passed: bool,
        /// Human summary.
        summary: String,
    },
    /// A new instance of a rolling update became ready or failed.
    RollingProgress(InstanceReport),
    /// The caller's conclusion of an A/B test after [`Action::ConcludeAbTest`].
    AbTestConcluded {
        /// Winning version, or `None` when no variant is better.
        winner: Option<String>,
        /// Human summary.
        summary: String,
    },
    /// Operator: stop the clock and hold.
    Pause,
    /// Operator: continue after a pause or an intervention.
    Resume,
    /// Operator: pass a manual gate, an indefinite pause or an inconclusive hold.
    Approve,
    /// Operator: return to stable (gradually if the plan says so).
    Abort,
    /// Operator: skip the remaining steps and promote now.
    PromoteFull,
    /// Operator changed traffic by hand through a seed verb (`/set-canary-ratio`,
    /// `/accept-next-model`): automation pauses so it does not fight the operator.
    ManualIntervention {
        /// The verb used.
        verb: String,
        /// What it did, for the record.
        detail: String,
    },
}

/// Outcome of one new instance in a rolling update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceReport {
    /// Passed its readiness check.
    Ready,
    /// Failed to start or to become ready.
    Failed {
        /// Why.
        detail: String,
    },
}

/// Something the caller must do. Actions of one transition are applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Set the route weights (sticky users keep their bucket: that is the router's job).
    SetWeights(Weights),
    /// Mirror this share of requests to the candidate; 0 turns mirroring off.
    SetMirror {
        /// Share in basis points.
        bps: u32,
    },
    /// Install (or with `None` remove) the header rule sending matching requests to the
    /// candidate.
    SetHeaderRoute(Option<HeaderMatch>),
    /// Start judging the candidate with this template; answer with `AnalysisResult`.
    StartAnalysis {
        /// Template name.
        template: String,
        /// Minimum window, milliseconds.
        window_ms: u64,
        /// Minimum candidate requests.
        min_requests: u64,
    },
    /// Send the smoke requests to the candidate; answer with `SmokeResult`.
    RunSmoke {
        /// The checks.
        checks: Vec<SmokeCheck>,
    },
    /// Start `surge` new instances, then replace old ones until `count` are replaced; report
    /// each new instance with `RollingProgress`.
    ReplaceInstances {
        /// Batch number, from 1.
        batch: usize,
        /// Number of batches.
        batches: usize,
        /// Instances replaced by this batch.
        count: u32,
        /// Of these, how many new ones start before old ones stop.
        surge: u32,
        /// Path to probe for readiness.
        readiness_path: String,
    },
    /// Bring back this many old instances (a failed rolling update).
    RestoreInstances {
        /// Instances to restore.
        count: u32,
    },
    /// Compute the A/B test's winner and answer with `AbTestConcluded`.
    ConcludeAbTest {
        /// The variants compared.
        variants: Vec<String>,
        /// Why now.
        reason: ConcludeReason,
    },
    /// Make this version stable at 100%.
    Promote {
        /// Version to promote.
        version: String,
        /// The old stable, to unload once the promotion is done (blue/green).
        retire: Option<String>,
    },
    /// All traffic back to stable at once, mirror and header rule off.
    Rollback {
        /// Why, for the record.
        reason: String,
    },
    /// Send a webhook.
    Notify(Notification),
    /// Append to the service's event log.
    RecordEvent(String),
}

/// Why an A/B test concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcludeReason {
    /// Every variant reached the sample size.
    SampleSize,
    /// The deadline passed first.
    Deadline,
}

impl std::fmt::Display for ConcludeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConcludeReason::SampleSize => "every variant reached the sample size",
            ConcludeReason::Deadline => "the deadline passed",
        })
    }
}

/// Webhook kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    /// The rollout starts.
    PreRollout,
    /// A step was entered.
    Step,
    /// An operator is needed (gate, inconclusive hold, intervention).
    ManualGate,
    /// Promoted.
    Promoted,
    /// Rolled back or aborted.
    RolledBack,
    /// An A/B test ended without promotion.
    Concluded,
}

/// A webhook's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Kind.
    pub kind: NotifyKind,
    /// Plan name.
    pub rollout: Option<String>,
    /// Service.
    pub service: String,
    /// Candidate version.
    pub candidate: String,
    /// Current step, from 1.
    pub step: usize,
    /// Number of steps.
    pub steps: usize,
    /// Candidate weight in basis points.
    pub candidate_bps: u32,
    /// Human message.
    pub message: String,
}
