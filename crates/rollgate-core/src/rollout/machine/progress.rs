//! Walking the steps: starting, entering a step, advancing, and the timed checks of a tick.

use super::{finish, rolling, Ctx};
use crate::rollout::event::{Action, ConcludeReason, NotifyKind};
use crate::rollout::state::{PauseReason, Phase, RollingProgress, StepClock, Weights};
use crate::rollout::step::{AbTestStep, Step};

/// A tick: start a pending rollout, finish a hold that is complete, conclude an A/B test that
/// has its sample, or move a gradual abort on. Other phases wait for their own events.
pub(super) fn tick(cx: &mut Ctx) {
    match cx.s.phase {
        Phase::Pending => start(cx),
        Phase::Progressing => check_hold(cx),
        Phase::Aborting { next } => finish::abort_tick(cx, next),
        _ => {}
    }
}

fn start(cx: &mut Ctx) {
    let name = cx.s.name.clone().unwrap_or_else(|| "rollout".into());
    let text = format!(
        "{name} started: {} → {} on {}",
        cx.s.target.stable, cx.s.target.candidate, cx.s.target.service
    );
    cx.notify(NotifyKind::PreRollout, text.clone());
    cx.record(text);
    // Counters before the start are not evidence for the first step.
    cx.s.requests.in_step = 0;
    enter(cx, 0);
}

/// Moves to the step after the current one.
pub(super) fn advance(cx: &mut Ctx) {
    enter(cx, cx.s.index + 1);
}

/// Enters step `index` and every instant step after it, stopping at the first step that
/// waits (or at the end, which promotes).
pub(super) fn enter(cx: &mut Ctx, index: usize) {
    let mut i = index;
    loop {
        reset_step(cx, i);
        let Some(step) = cx.current() else {
            let candidate = cx.s.target.candidate.clone();
            finish::promote(cx, candidate);
            return;
        };
        if step != Step::Promote {
            let text = format!("{}: {step}", cx.at());
            cx.notify(NotifyKind::Step, text.clone());
            cx.record(text);
        }
        apply_entry(cx, &step);
        if !step.is_instant() {
            return;
        }
        i += 1;
    }
}

fn reset_step(cx: &mut Ctx, index: usize) {
    cx.s.index = index;
    cx.s.clock = StepClock::start(cx.now);
    cx.s.requests.in_step = 0;
    cx.s.inconclusive_streak = 0;
    cx.s.rolling = RollingProgress::default();
}

/// What entering a step does: instant effects, or the phase it waits in and the work it
/// asks for.
fn apply_entry(cx: &mut Ctx, step: &Step) {
    cx.s.phase = running_phase(step);
    match step {
        Step::SetWeight { bps } => {
            cx.s.weights = Weights::Candidate(*bps);
            cx.emit(Action::SetWeights(cx.s.weights.clone()));
        }
        Step::Mirror { bps } => {
            cx.s.mirror_bps = *bps;
            cx.emit(Action::SetMirror { bps: *bps });
        }
        Step::HeaderRoute(m) => {
            cx.s.header_route = m.clone();
            cx.emit(Action::SetHeaderRoute(m.clone()));
        }
        Step::AbTest(ab) => {
            cx.s.weights = Weights::Split(ab.variants.clone());
            cx.emit(Action::SetWeights(cx.s.weights.clone()));
        }
        Step::Promote => {
            let candidate = cx.s.target.candidate.clone();
            finish::promote(cx, candidate);
        }
        _ => {}
    }
    if step.is_gate() {
        let text = format!("{} waits for an approve: {step}", cx.at());
        cx.notify(NotifyKind::ManualGate, text);
    }
    restart_work(cx);
}

/// The phase a step runs in when nothing interrupts it.
pub(super) fn running_phase(step: &Step) -> Phase {
    match step {
        s if s.is_gate() => Phase::Paused {
            reason: PauseReason::Gate,
        },
        Step::Analysis(_) => Phase::Analysing,
        _ => Phase::Progressing,
    }
}

/// Asks again for the current step's outstanding work: entering it, resuming it, or
/// reconciling after a restart.
pub(super) fn restart_work(cx: &mut Ctx) {
    match cx.current() {
        Some(Step::Analysis(a)) if cx.s.phase == Phase::Analysing => {
            cx.emit(Action::StartAnalysis {
                template: a.template,
                window_ms: a.window_ms,
                min_requests: a.min_requests,
            });
        }
        Some(Step::Smoke { checks }) if cx.s.phase == Phase::Progressing => {
            cx.emit(Action::RunSmoke { checks });
        }
        Some(Step::Rolling(r)) if cx.s.phase == Phase::Progressing => rolling::start_batch(cx, &r),
        _ => {}
    }
}

/// Finishes a timed or counted pause, or concludes an A/B test, when its condition holds.
fn check_hold(cx: &mut Ctx) {
    match cx.current() {
        Some(Step::Pause {
            duration_ms,
            min_requests,
        }) => {
            let timed = cx.elapsed() >= duration_ms.unwrap_or(0);
            let counted = cx.s.requests.in_step >= min_requests.unwrap_or(0);
            if timed && counted {
                let text = format!("{} complete", cx.at());
                cx.record(text);
                advance(cx);
            }
        }
        Some(Step::AbTest(ab)) => check_ab(cx, &ab),
        _ => {}
    }
}

fn check_ab(cx: &mut Ctx, ab: &AbTestStep) {
    let sampled = ab.sample_size.is_some_and(|n| cx.s.requests.in_step >= n);
    let expired = ab.deadline_ms.is_some_and(|d| cx.elapsed() >= d);
    let reason = match (sampled, expired) {
        (true, _) => ConcludeReason::SampleSize,
        (false, true) => ConcludeReason::Deadline,
        (false, false) => return,
    };
    cx.s.phase = Phase::Concluding;
    let variants = ab.variants.iter().map(|(v, _)| v.clone()).collect();
    cx.emit(Action::ConcludeAbTest { variants, reason });
    let text = format!("{}: concluding ({reason})", cx.at());
    cx.record(text);
}
