//! Rollouts: plans of steps and the pure state machine that walks them.
//!
//! A [`Plan`] is parsed from YAML ([`parse_plan`]) and expanded into [`Step`]s. A
//! [`RolloutState`] walks those steps; [`step`] is the only way it changes: a pure function of
//! the state, one [`Event`] and the caller's clock, returning the next state and the
//! [`Action`]s the caller must carry out (set weights, start an analysis, notify, ...).
//!
//! # Driving a rollout
//!
//! 1. `RolloutState::new(&plan, target, now)`; persist it.
//! 2. Every second or so, `step(&state, Event::Tick { candidate_requests }, now)` with the
//!    gateway's cumulative request counter for the candidate. Apply the actions in order,
//!    persist the new state (persist before apply, as for every control change).
//! 3. Feed results back as they arrive: `AnalysisResult` after `StartAnalysis` (the judge may
//!    answer repeatedly; inconclusive holds), `SmokeResult` after `RunSmoke`,
//!    `RollingProgress` per new instance after `ReplaceInstances`, `AbTestConcluded` after
//!    `ConcludeAbTest`. Operator verbs map to `Pause`, `Resume`, `Approve`, `Abort`,
//!    `PromoteFull`; a seed verb (`/set-canary-ratio`, `/accept-next-model`) used during a
//!    rollout is reported as `ManualIntervention`.
//! 4. Stop ticking once `state.phase.is_terminal()`.
//! 5. After a restart: load the state, apply [`reconcile`], and tick again. The step, its
//!    weights and its elapsed time carry on; a counter that restarted at 0 is handled.
//!
//! Sticky users must not skew the split: the machine only sets weights, and the router keeps
//! each sticky key in a fixed bucket, so raising the candidate moves only stable users over
//! and the realised split tracks the weights.

mod duration;
mod event;
mod expand;
pub mod file;
mod machine;
mod plan;
mod rolling;
mod state;
mod step;
mod validate;

pub use duration::{fmt_duration, parse_duration, NotADuration};
pub use event::{Action, ConcludeReason, Event, InstanceReport, Notification, NotifyKind};
pub use machine::{reconcile, step, Ignored, Transition};
pub use plan::{
    parse_plan, AbortPolicy, BlueGreen, Canary, Plan, PlanError, Shadow, Stage,
    DEFAULT_ANALYSIS_WINDOW_MS, DEFAULT_CANARY_BPS,
};
pub use rolling::{after, batch_moves, batches, resume, retired_after, Batch, Move, Serving};
pub use state::{
    PauseReason, Phase, RollbackReason, RollingProgress, RolloutState, StepClock, StepRequests,
    Target, Verdict, Weights, MAX_VERDICTS,
};
pub use step::{
    AbTestStep, AnalysisStep, HeaderMatch, RollingStep, SmokeCheck, Step,
    DEFAULT_READINESS_TIMEOUT_MS,
};

#[cfg(test)]
mod tests;
