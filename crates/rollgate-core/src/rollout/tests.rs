//! Tests of plans and of the machine, with shared helpers.

mod examples;
mod flows;
mod machine;
mod plan;
mod plan_errors;
mod props;

use super::*;
use crate::time::UnixMillis;

pub(super) fn target() -> Target {
    Target {
        service: "iris".into(),
        stable: "v1".into(),
        candidate: "v2".into(),
        instances: 4,
    }
}

/// A pending rollout of a plan text created at time 0.
pub(super) fn rollout(yaml: &str) -> RolloutState {
    RolloutState::new(&parse_plan(yaml).expect("valid plan"), target(), 0)
}

pub(super) fn tick(requests: u64) -> Event {
    Event::Tick {
        candidate_requests: requests,
    }
}

pub(super) fn verdict(outcome: crate::analysis::Outcome) -> Event {
    Event::AnalysisResult {
        outcome,
        summary: "judge says so".into(),
    }
}

/// Applies events in order, returning the last state and every action.
pub(super) fn run(
    state: &RolloutState,
    events: &[(Event, UnixMillis)],
) -> (RolloutState, Vec<Action>) {
    let mut s = state.clone();
    let mut all = Vec::new();
    for (event, now) in events {
        let t = step(&s, event.clone(), *now);
        all.extend(t.actions);
        s = t.state;
    }
    (s, all)
}

/// The actions that change traffic or promote/roll back (records and notifications left out).
pub(super) fn effects(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::RecordEvent(_) | Action::Notify(_)))
        .cloned()
        .collect()
}

pub(super) fn notified(actions: &[Action]) -> Vec<NotifyKind> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify(n) => Some(n.kind),
            _ => None,
        })
        .collect()
}

pub(super) fn candidate(bps: u32) -> Action {
    Action::SetWeights(Weights::Candidate(bps))
}

pub(super) fn promote_v2() -> Action {
    Action::Promote {
        version: "v2".into(),
        retire: None,
    }
}
