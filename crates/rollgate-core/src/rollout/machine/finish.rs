//! The ways a rollout ends: promotion, automatic rollback, operator abort (instant or
//! gradual).

use super::{rolling, Ctx};
use crate::rollout::event::{Action, NotifyKind};
use crate::rollout::plan::AbortPolicy;
use crate::rollout::state::{Phase, RollbackReason, StepClock, Weights};
use crate::rollout::step::Step;
use crate::route::TOTAL_BPS;

/// Makes `version` stable: mirror and header rule off, then the promote action.
pub(super) fn promote(cx: &mut Ctx, version: String) {
    clear_extras(cx);
    cx.s.weights = match cx.s.weights {
        Weights::Candidate(_) => Weights::Candidate(TOTAL_BPS),
        Weights::Split(_) => Weights::Split(vec![(version.clone(), TOTAL_BPS)]),
    };
    cx.s.phase = Phase::Promoted;
    cx.s.clock.stop(cx.now);
    let stable = &cx.s.target.stable;
    let retire = (cx.s.retire_stable && *stable != version).then(|| stable.clone());
    cx.emit(Action::Promote {
        version: version.clone(),
        retire,
    });
    let text = format!("promoted {version}");
    cx.notify(NotifyKind::Promoted, text.clone());
    cx.record(text);
}

/// Rolls back at once after a failure: the candidate has been judged bad, so no gradual
/// shift back.
pub(super) fn rollback(cx: &mut Ctx, reason: RollbackReason, detail: &str) {
    let text = format!("rolled back at {} ({reason}): {detail}", cx.at());
    return_to_stable(cx, &text);
    cx.s.phase = Phase::RolledBack { reason };
    cx.notify(NotifyKind::RolledBack, text.clone());
    cx.record(text);
}

/// An operator abort: instant, or stepping down through the plan's gradual weights.
pub(super) fn abort(cx: &mut Ctx) {
    match cx.s.phase {
        Phase::Pending => {
            cx.s.phase = Phase::Aborted;
            cx.record("aborted before it started; traffic untouched");
        }
        Phase::Aborting { .. } => abort_now(cx, "abort repeated: back to stable at once"),
        _ => match first_gradual_weight(cx) {
            Some(next) if !matches!(cx.current(), Some(Step::Rolling(_))) => {
                let text = format!("aborting gradually from {}", cx.at());
                cx.record(text);
                clear_extras(cx);
                set_abort_weight(cx, next);
            }
            _ => {
                let text = format!("aborted by operator at {}", cx.at());
                abort_now(cx, &text);
            }
        },
    }
}

/// The index of the first gradual weight below the candidate's current one.
fn first_gradual_weight(cx: &Ctx) -> Option<usize> {
    let (AbortPolicy::Gradual { weights, .. }, Weights::Candidate(current)) =
        (&cx.s.abort, &cx.s.weights)
    else {
        return None;
    };
    weights.iter().position(|w| w < current)
}

fn set_abort_weight(cx: &mut Ctx, next: usize) {
    let AbortPolicy::Gradual { weights, .. } = &cx.s.abort else {
        return;
    };
    let Some(&bps) = weights.get(next) else {
        return;
    };
    cx.s.weights = Weights::Candidate(bps);
    cx.s.phase = Phase::Aborting { next };
    cx.s.clock = StepClock::start(cx.now);
    cx.emit(Action::SetWeights(cx.s.weights.clone()));
}

/// A tick while aborting gradually: the next weight down once the interval has passed.
pub(super) fn abort_tick(cx: &mut Ctx, next: usize) {
    let (count, interval) = match &cx.s.abort {
        AbortPolicy::Gradual {
            weights,
            interval_ms,
        } => (weights.len(), *interval_ms),
        AbortPolicy::Instant => (0, 0),
    };
    if cx.elapsed() < interval {
        return;
    }
    if next + 1 < count {
        set_abort_weight(cx, next + 1);
    } else {
        abort_now(cx, "gradual abort complete");
    }
}

fn abort_now(cx: &mut Ctx, text: &str) {
    return_to_stable(cx, text);
    cx.s.phase = Phase::Aborted;
    cx.notify(NotifyKind::RolledBack, text);
    cx.record(text);
}

/// All traffic back to stable: old instances for a rolling update, weights otherwise.
fn return_to_stable(cx: &mut Ctx, reason: &str) {
    cx.s.clock.stop(cx.now);
    if let Some(Step::Rolling(r)) = cx.current() {
        let count = rolling::to_restore(cx, &r);
        cx.emit(Action::RestoreInstances { count });
        return;
    }
    cx.s.weights = Weights::Candidate(0);
    cx.s.mirror_bps = 0;
    cx.s.header_route = None;
    cx.emit(Action::Rollback {
        reason: reason.to_owned(),
    });
}

fn clear_extras(cx: &mut Ctx) {
    if cx.s.mirror_bps > 0 {
        cx.s.mirror_bps = 0;
        cx.emit(Action::SetMirror { bps: 0 });
    }
    if cx.s.header_route.is_some() {
        cx.s.header_route = None;
        cx.emit(Action::SetHeaderRoute(None));
    }
}
