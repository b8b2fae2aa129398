//! Rollouts: plans of steps and the pure state machine that walks them.
//!
//! A [`Plan`] is parsed from YAML ([`parse_plan`]) and expanded into [`Step`]s. A
//! [`RolloutState`] walks those steps; [`step`] is the only way it changes: a pure function of
//! the state, one [`Event`] and the caller's clock, returning the next state and the
//! [`Action`]s the caller must carry out (set weights, start an analysis, notify, ...).

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

pub use duration::{fmt_duration, parse_duration};
pub use event::{Action, ConcludeReason, Event, InstanceReport, Notification, NotifyKind};
pub use machine::{reconcile, step, Transition};
pub use plan::{
    parse_plan, AbortPolicy, BlueGreen, Canary, Plan, PlanError, Shadow, Stage,
    DEFAULT_ANALYSIS_WINDOW_MS, DEFAULT_CANARY_BPS,
};
pub use rolling::{batches, Batch};
pub use state::{
    PauseReason, Phase, RollbackReason, RollingProgress, RolloutState, StepClock, StepRequests,
    Target, Verdict, Weights, MAX_VERDICTS,
};
pub use step::{AbTestStep, AnalysisStep, HeaderMatch, RollingStep, SmokeCheck, Step};
