//! Operator events: pause, resume, approve, promote now, and manual interventions.

use super::{finish, progress, rolling, Ctx};
use crate::rollout::event::{Action, Event, NotifyKind};
use crate::rollout::state::{PauseReason, Phase, Weights};
use crate::rollout::step::Step;
use crate::route::TOTAL_BPS;

/// Stops the step's clock until a resume. A gate stays a gate underneath: resuming returns
/// to waiting for the approve.
pub(super) fn pause(cx: &mut Ctx) {
    let pausable = matches!(
        cx.s.phase,
        Phase::Progressing
            | Phase::Analysing
            | Phase::Concluding
            | Phase::Paused {
                reason: PauseReason::Gate
            }
    );
    if !pausable {
        return cx.ignored(&Event::Pause);
    }
    cx.s.clock.stop(cx.now);
    cx.s.phase = Phase::Paused {
        reason: PauseReason::Manual,
    };
    let text = format!("paused by operator at {}", cx.at());
    cx.record(text);
}

/// Continues after a pause, an intervention or an inconclusive hold, with the elapsed time
/// kept. After an intervention the plan's traffic is put back; analysis and smoke checks are
/// asked for again (a fresh window: what happened while paused is not evidence).
pub(super) fn resume(cx: &mut Ctx) {
    let Phase::Paused { reason } = cx.s.phase.clone() else {
        return cx.ignored(&Event::Resume);
    };
    let Some(step) = cx.current() else {
        return cx.ignored(&Event::Resume);
    };
    if reason == PauseReason::Gate {
        let text = format!("{} waits for an approve, not a resume", cx.at());
        return cx.refused(&Event::Resume, text);
    }
    cx.s.clock.resume(cx.now);
    cx.s.inconclusive_streak = 0;
    cx.s.phase = progress::running_phase(&step);
    if matches!(reason, PauseReason::Intervention { .. }) {
        cx.restore_traffic();
    }
    let text = format!("resumed at {}", cx.at());
    cx.record(text);
    match step {
        Step::Rolling(r) => rolling::check_batch(cx, &r),
        _ => progress::restart_work(cx),
    }
}

/// Passes a gate (manual gate or indefinite pause) or accepts an inconclusive analysis.
pub(super) fn approve(cx: &mut Ctx) {
    let at_gate = cx.current().is_some_and(|s| s.is_gate());
    let accepts = match &cx.s.phase {
        Phase::Paused {
            reason: PauseReason::Inconclusive,
        } => true,
        Phase::Paused {
            reason: PauseReason::Gate | PauseReason::Manual,
        } => at_gate,
        _ => false,
    };
    if !accepts {
        return cx.ignored(&Event::Approve);
    }
    let text = format!("approved by operator at {}", cx.at());
    cx.record(text);
    progress::advance(cx);
}

/// Skips the remaining steps. Not for rolling updates, whose batches protect capacity.
pub(super) fn promote_full(cx: &mut Ctx) {
    let rolling = matches!(cx.current(), Some(Step::Rolling(_)));
    if rolling || matches!(cx.s.phase, Phase::Aborting { .. }) {
        return cx.ignored(&Event::PromoteFull);
    }
    let skipped = cx.s.steps.len().saturating_sub(cx.s.index);
    let text = format!(
        "promoted by operator at {}, skipping {skipped} step(s)",
        cx.at()
    );
    cx.record(text);
    let full = Weights::Candidate(TOTAL_BPS);
    if cx.s.weights != full {
        cx.s.weights = full;
        cx.emit(Action::SetWeights(cx.s.weights.clone()));
    }
    let candidate = cx.s.target.candidate.clone();
    finish::promote(cx, candidate);
}

/// An operator changed traffic by hand: pause automation (so it does not undo the change on
/// the next tick) and record it; resume puts the plan's traffic back.
pub(super) fn intervention(cx: &mut Ctx, verb: &str, detail: &str) {
    if matches!(cx.s.phase, Phase::Pending | Phase::Aborting { .. }) {
        let text = format!(
            "operator used {verb} ({detail}) while {}",
            cx.s.phase.name()
        );
        return cx.record(text);
    }
    cx.s.clock.stop(cx.now);
    cx.s.phase = Phase::Paused {
        reason: PauseReason::Intervention {
            verb: verb.to_owned(),
        },
    };
    let text = format!(
        "automation paused at {}: operator used {verb} ({detail}); resume restores the plan, \
         abort rolls back, promote_full promotes",
        cx.at()
    );
    cx.notify(NotifyKind::ManualGate, text.clone());
    cx.record(text);
}
