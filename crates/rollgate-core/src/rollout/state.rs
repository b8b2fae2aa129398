//! The persisted state of one rollout. Everything the machine needs is here (including the
//! expanded steps), so the binary stores it as JSON after every transition and a restart
//! continues from it with no other input.

use super::plan::{AbortPolicy, Plan};
use super::step::{HeaderMatch, Step};
use crate::analysis::Outcome;
use crate::time::UnixMillis;
use serde::{Deserialize, Serialize};

/// Most recent verdicts kept; older ones are dropped so a long inconclusive hold cannot grow
/// the persisted state without bound (the event log keeps them all).
pub const MAX_VERDICTS: usize = 256;

/// What is being rolled out, fixed when the rollout is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Service name.
    pub service: String,
    /// Version serving now, where rollbacks return.
    pub stable: String,
    /// Version being rolled out.
    pub candidate: String,
    /// Instances to replace in a rolling update (the HTTP version's instance count).
    pub instances: u32,
}

/// Where the rollout is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    /// Created; the first tick starts it.
    Pending,
    /// Walking steps, or waiting on a timed hold, smoke checks, an A/B test or a batch.
    Progressing,
    /// Waiting for the judge's verdict.
    Analysing,
    /// Stopped until an operator acts; the step's clock is stopped.
    Paused {
        /// Why.
        reason: PauseReason,
    },
    /// An A/B test reached its sample size or deadline; waiting for the caller's winner.
    Concluding,
    /// An operator abort stepping the candidate down; `next` indexes the abort weights.
    Aborting {
        /// Index into the gradual abort weights of the weight now applied.
        next: usize,
    },
    /// The candidate (or A/B winner) is stable. Terminal.
    Promoted,
    /// Returned to stable automatically. Terminal.
    RolledBack {
        /// Why.
        reason: RollbackReason,
    },
    /// Returned to stable by an operator. Terminal.
    Aborted,
    /// An A/B test ended without promotion; the split is left for the operator. Terminal.
    Concluded {
        /// The caller's winner, if any.
        winner: Option<String>,
    },
}

impl Phase {
    /// The phase's name as the API, the CLI and the event log show it.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Progressing => "progressing",
            Phase::Analysing => "analysing",
            Phase::Paused { .. } => "paused",
            Phase::Concluding => "concluding",
            Phase::Aborting { .. } => "aborting",
            Phase::Promoted => "promoted",
            Phase::RolledBack { .. } => "rolled_back",
            Phase::Aborted => "aborted",
            Phase::Concluded { .. } => "concluded",
        }
    }

    /// Whether no event can change the rollout any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Phase::Promoted | Phase::RolledBack { .. } | Phase::Aborted | Phase::Concluded { .. }
        )
    }

    /// Whether an operator changed traffic by hand: the route is theirs until a resume.
    pub fn by_hand(&self) -> bool {
        matches!(
            self,
            Phase::Paused {
                reason: PauseReason::Intervention { .. }
            }
        )
    }
}

/// Why a rollout is paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// An operator paused it.
    Manual,
    /// A manual gate or an indefinite pause step: only an approve passes it.
    Gate,
    /// An operator changed traffic by hand (a seed verb such as `/set-canary-ratio`).
    Intervention {
        /// The verb used.
        verb: String,
    },
    /// Too many inconclusive verdicts in a row; an approve accepts, a resume re-analyses.
    Inconclusive,
}

/// Why a rollout rolled back on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackReason {
    /// The judge's verdict was fail.
    AnalysisFailed,
    /// A smoke check failed.
    SmokeFailed,
    /// A new instance failed its readiness check.
    InstanceFailed,
    /// An A/B test set to promote its winner found none.
    NoWinner,
}

impl std::fmt::Display for RollbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RollbackReason::AnalysisFailed => "the analysis failed",
            RollbackReason::SmokeFailed => "a smoke check failed",
            RollbackReason::InstanceFailed => "a new instance failed",
            RollbackReason::NoWinner => "the A/B test found no winner",
        })
    }
}

/// Traffic split the rollout has set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weights {
    /// Candidate share in basis points, stable the rest.
    Candidate(u32),
    /// Explicit per-version shares in basis points (A/B tests), summing to 100%.
    Split(Vec<(String, u32)>),
}

impl Weights {
    /// The candidate's share, for notifications (`candidate` names it in a split).
    pub fn candidate_bps(&self, candidate: &str) -> u32 {
        match self {
            Weights::Candidate(bps) => *bps,
            Weights::Split(split) => split
                .iter()
                .filter(|(v, _)| v == candidate)
                .map(|(_, w)| *w)
                .sum(),
        }
    }
}

/// One analysis evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// When the result arrived.
    pub at: UnixMillis,
    /// Index of the step it was for.
    pub step: usize,
    /// The outcome.
    pub outcome: Outcome,
    /// The judge's summary.
    pub summary: String,
}

/// The current step's clock: time the step has run, excluding paused time.
///
/// Elapsed time is banked when the step stops (pause) and counting restarts from the resume,
/// so neither a pause nor a reload of persisted state loses it. Wall-clock time between two
/// transitions counts while running, including a gateway restart: `min_requests` is what
/// guarantees evidence, not time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepClock {
    /// When the step was entered.
    pub started_at: UnixMillis,
    /// Running time banked before `running_since`, milliseconds.
    pub banked_ms: u64,
    /// Since when it has been running; `None` while paused.
    pub running_since: Option<UnixMillis>,
}

impl StepClock {
    /// A clock started now.
    pub fn start(now: UnixMillis) -> Self {
        StepClock {
            started_at: now,
            banked_ms: 0,
            running_since: Some(now),
        }
    }

    /// Running time of the step at `now`.
    pub fn elapsed(&self, now: UnixMillis) -> u64 {
        let running = self.running_since.map_or(0, |s| now.saturating_sub(s));
        self.banked_ms.saturating_add(running)
    }

    /// Stops the clock, banking the running time.
    pub fn stop(&mut self, now: UnixMillis) {
        self.banked_ms = self.elapsed(now);
        self.running_since = None;
    }

    /// Restarts a stopped clock (no effect on a running one).
    pub fn resume(&mut self, now: UnixMillis) {
        if self.running_since.is_none() {
            self.running_since = Some(now);
        }
    }
}

/// Candidate requests seen by the current step, from the caller's cumulative counter.
///
/// The counter is the gateway's and restarts at 0 with the process; a value below the last one
/// seen is read as such a reset (as Prometheus does), so a restart neither loses nor
/// double-counts evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StepRequests {
    /// Requests counted for the current step.
    pub in_step: u64,
    /// Last cumulative value the caller reported.
    pub last_seen: u64,
}

impl StepRequests {
    /// Folds in a new cumulative counter value.
    pub fn observe(&mut self, cumulative: u64) {
        let delta = if cumulative >= self.last_seen {
            cumulative - self.last_seen
        } else {
            cumulative
        };
        self.in_step = self.in_step.saturating_add(delta);
        self.last_seen = cumulative;
    }
}

/// Progress of a rolling update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RollingProgress {
    /// Index of the batch in flight.
    pub batch: usize,
    /// New instances of that batch reported ready.
    pub ready: u32,
    /// Instances replaced by completed batches.
    pub replaced: u32,
}

/// The whole state of one rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutState {
    /// Plan name, for notifications.
    pub name: Option<String>,
    /// What is rolled out.
    pub target: Target,
    /// The expanded plan.
    pub steps: Vec<Step>,
    /// What an operator's abort does.
    pub abort: AbortPolicy,
    /// Index of the current step.
    pub index: usize,
    /// Where the rollout is.
    pub phase: Phase,
    /// The current step's running time.
    pub clock: StepClock,
    /// The current step's candidate requests.
    pub requests: StepRequests,
    /// Split set by the rollout.
    pub weights: Weights,
    /// Mirrored share set by the rollout, basis points.
    pub mirror_bps: u32,
    /// Header rule set by the rollout.
    pub header_route: Option<HeaderMatch>,
    /// Analysis evaluations, oldest first (at most [`MAX_VERDICTS`]).
    pub verdicts: Vec<Verdict>,
    /// Inconclusive verdicts in a row at the current step.
    pub inconclusive_streak: u32,
    /// Rolling update progress.
    pub rolling: RollingProgress,
    /// Whether promotion unloads the old stable (blue/green's `unload_blue`).
    #[serde(default)]
    pub retire_stable: bool,
}

impl RolloutState {
    /// A pending rollout of `plan`; the first tick starts it.
    pub fn new(plan: &Plan, target: Target, now: UnixMillis) -> Self {
        RolloutState {
            name: plan.name.clone(),
            target,
            steps: plan.expand(),
            abort: plan.abort.clone(),
            index: 0,
            phase: Phase::Pending,
            clock: StepClock::start(now),
            requests: StepRequests::default(),
            weights: Weights::Candidate(0),
            mirror_bps: 0,
            header_route: None,
            verdicts: Vec::new(),
            inconclusive_streak: 0,
            rolling: RollingProgress::default(),
            retire_stable: plan.retires_stable(),
        }
    }

    /// The current step, if the index is in range.
    pub fn current(&self) -> Option<&Step> {
        self.steps.get(self.index)
    }

    /// Running time of the current step at `now`, milliseconds.
    pub fn elapsed(&self, now: UnixMillis) -> u64 {
        self.clock.elapsed(now)
    }
}
