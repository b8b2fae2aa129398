//! The rollout state machine: `step(state, event, now) -> Transition { state, actions }`.
//!
//! Every transition is a pure function of its inputs: the caller owns the clock, the traffic
//! counters, the judge and the network, and carries out the returned actions. It persists the
//! new state after every transition, so a restart resumes from exactly where it stopped; call
//! [`reconcile`] then to re-apply the traffic the state says should be in place.
//!
//! Sticky users: the machine only sets weights. Keeping a user on the same version as weights
//! move, and not letting sticky users skew the realised split, is the router's job (it hashes
//! sticky keys into fixed buckets, so raising the candidate only moves stable users over).

mod control;
mod finish;
mod progress;
mod results;
mod rolling;

use super::event::{Action, Event, Notification, NotifyKind};
use super::state::{Phase, RolloutState, Verdict, MAX_VERDICTS};
use super::step::Step;
use crate::time::UnixMillis;

/// The result of one transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The next state, to persist.
    pub state: RolloutState,
    /// What the caller must do, in order.
    pub actions: Vec<Action>,
    /// Set when the event did not apply in the rollout's phase, with why: an operator verb
    /// refused is answered with this.
    pub ignored: Option<Ignored>,
}

/// An event the machine did not act on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The event's snake-case name (`pause`, `approve`...).
    pub event: &'static str,
    /// Why it did not apply, in words.
    pub reason: String,
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ignored: {}", self.event, self.reason)
    }
}

/// Applies one event at time `now`.
pub fn step(state: &RolloutState, event: Event, now: UnixMillis) -> Transition {
    let mut cx = Ctx {
        s: state.clone(),
        actions: Vec::new(),
        now,
        ignored: None,
    };
    if state.phase.is_terminal() {
        if event_is_tick(&event) {
            return cx.finish();
        }
        cx.ignored(&event);
        return cx.finish();
    }
    dispatch(&mut cx, event);
    cx.finish()
}

fn event_is_tick(event: &Event) -> bool {
    matches!(event, Event::Tick { .. })
}

fn dispatch(cx: &mut Ctx, event: Event) {
    match event {
        Event::Tick { candidate_requests } => {
            cx.s.requests.observe(candidate_requests);
            progress::tick(cx);
        }
        Event::AnalysisResult { outcome, summary } => results::analysis(cx, outcome, summary),
        Event::SmokeResult { passed, summary } => results::smoke(cx, passed, &summary),
        Event::RollingProgress(report) => rolling::report(cx, report),
        Event::AbTestConcluded { winner, summary } => results::ab_concluded(cx, winner, &summary),
        Event::Pause => control::pause(cx),
        Event::Resume => control::resume(cx),
        Event::Approve => control::approve(cx),
        Event::Abort => finish::abort(cx),
        Event::PromoteFull => control::promote_full(cx),
        Event::ManualIntervention { verb, detail } => control::intervention(cx, &verb, &detail),
    }
}

/// The actions that put traffic where `state` says it is, and restart the current step's
/// outstanding work (analysis, smoke checks, the rolling batch in flight). For a restart:
/// load the persisted state, apply these, then tick as usual.
///
/// Empty once terminal or pending, and while paused by a manual intervention: the operator's
/// hand-set traffic is what the store holds and must survive the restart.
pub fn reconcile(state: &RolloutState) -> Vec<Action> {
    if state.phase.is_terminal() || state.phase == Phase::Pending || state.phase.by_hand() {
        return Vec::new();
    }
    let mut cx = Ctx {
        s: state.clone(),
        actions: Vec::new(),
        now: state.clock.started_at,
        ignored: None,
    };
    cx.restore_traffic();
    progress::restart_work(&mut cx);
    cx.actions
}

/// A transition being built: the state so far, the actions so far and the clock.
struct Ctx {
    s: RolloutState,
    actions: Vec<Action>,
    now: UnixMillis,
    ignored: Option<Ignored>,
}

impl Ctx {
    fn finish(self) -> Transition {
        Transition {
            state: self.s,
            actions: self.actions,
            ignored: self.ignored,
        }
    }

    fn emit(&mut self, action: Action) {
        self.actions.push(action);
    }

    fn record(&mut self, text: impl Into<String>) {
        self.actions.push(Action::RecordEvent(text.into()));
    }

    fn notify(&mut self, kind: NotifyKind, message: impl Into<String>) {
        let n = Notification {
            kind,
            rollout: self.s.name.clone(),
            service: self.s.target.service.clone(),
            candidate: self.s.target.candidate.clone(),
            step: self.s.index + 1,
            steps: self.s.steps.len(),
            candidate_bps: self.s.weights.candidate_bps(&self.s.target.candidate),
            message: message.into(),
        };
        self.actions.push(Action::Notify(n));
    }

    fn current(&self) -> Option<Step> {
        self.s.current().cloned()
    }

    fn elapsed(&self) -> u64 {
        self.s.clock.elapsed(self.now)
    }

    /// `where` as `step 3/9 (analysis)` for records.
    fn at(&self) -> String {
        let kind = self.current().map_or("none", |s| s.kind());
        format!("step {}/{} ({kind})", self.s.index + 1, self.s.steps.len())
    }

    /// The event does not apply in this phase: recorded, and told to the caller.
    fn ignored(&mut self, event: &Event) {
        let reason = format!("the rollout is {} at {}", self.s.phase.name(), self.at());
        self.refused(event, reason);
    }

    /// The event does not apply, for `reason`: recorded, and told to the caller.
    fn refused(&mut self, event: &Event, reason: String) {
        let ignored = Ignored {
            event: event_name(event),
            reason,
        };
        self.record(ignored.to_string());
        self.ignored = Some(ignored);
    }

    fn push_verdict(&mut self, v: Verdict) {
        self.s.verdicts.push(v);
        let excess = self.s.verdicts.len().saturating_sub(MAX_VERDICTS);
        self.s.verdicts.drain(..excess);
    }

    /// Re-applies weights, mirror and header rule as the state records them.
    fn restore_traffic(&mut self) {
        self.emit(Action::SetWeights(self.s.weights.clone()));
        self.emit(Action::SetMirror {
            bps: self.s.mirror_bps,
        });
        self.emit(Action::SetHeaderRoute(self.s.header_route.clone()));
    }
}

/// Snake-case name of an event, for records.
fn event_name(event: &Event) -> &'static str {
    match event {
        Event::Tick { .. } => "tick",
        Event::AnalysisResult { .. } => "analysis_result",
        Event::SmokeResult { .. } => "smoke_result",
        Event::RollingProgress(_) => "rolling_progress",
        Event::AbTestConcluded { .. } => "ab_test_concluded",
        Event::Pause => "pause",
        Event::Resume => "resume",
        Event::Approve => "approve",
        Event::Abort => "abort",
        Event::PromoteFull => "promote_full",
        Event::ManualIntervention { .. } => "manual_intervention",
    }
}
