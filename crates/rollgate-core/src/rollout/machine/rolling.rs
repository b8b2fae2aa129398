//! A rolling update inside the machine: one batch at a time, the next when every new instance
//! of the batch is ready; a failed instance rolls back, restoring the old instances.

use super::{finish, Ctx};
use crate::rollout::event::{Action, InstanceReport};
use crate::rollout::rolling::batches;
use crate::rollout::state::{Phase, RollbackReason};
use crate::rollout::step::{RollingStep, Step};

/// Asks for the batch in flight, or promotes when every batch is done.
pub(super) fn start_batch(cx: &mut Ctx, r: &RollingStep) {
    let all = batches(cx.s.target.instances, r.max_surge, r.max_unavailable);
    match all.get(cx.s.rolling.batch) {
        Some(b) => cx.emit(Action::ReplaceInstances {
            batch: cx.s.rolling.batch + 1,
            batches: all.len(),
            count: b.count,
            surge: b.surge,
            readiness_path: r.readiness_path.clone(),
        }),
        None => {
            let candidate = cx.s.target.candidate.clone();
            finish::promote(cx, candidate);
        }
    }
}

/// Instances the rollback must bring back: completed batches and the one in flight.
pub(super) fn to_restore(cx: &Ctx, r: &RollingStep) -> u32 {
    let all = batches(cx.s.target.instances, r.max_surge, r.max_unavailable);
    let in_flight = all.get(cx.s.rolling.batch).map_or(0, |b| b.count);
    cx.s.rolling.replaced + in_flight
}

/// A report on one new instance.
pub(super) fn report(cx: &mut Ctx, report: InstanceReport) {
    let Some(Step::Rolling(r)) = cx.current() else {
        cx.ignored(&crate::rollout::event::Event::RollingProgress(report));
        return;
    };
    if matches!(cx.s.phase, Phase::Aborting { .. } | Phase::Pending) {
        cx.ignored(&crate::rollout::event::Event::RollingProgress(report));
        return;
    }
    match report {
        InstanceReport::Failed { detail } => {
            finish::rollback(cx, RollbackReason::InstanceFailed, &detail);
        }
        InstanceReport::Ready => {
            cx.s.rolling.ready += 1;
            if cx.s.phase == Phase::Progressing {
                check_batch(cx, &r);
            }
        }
    }
}

/// Moves to the next batch once the batch in flight is fully ready.
pub(super) fn check_batch(cx: &mut Ctx, r: &RollingStep) {
    let all = batches(cx.s.target.instances, r.max_surge, r.max_unavailable);
    let Some(b) = all.get(cx.s.rolling.batch) else {
        return;
    };
    if cx.s.rolling.ready < b.count {
        return;
    }
    cx.s.rolling.replaced += b.count;
    cx.s.rolling.batch += 1;
    cx.s.rolling.ready = 0;
    let text = format!(
        "{}: batch {}/{} ready, {} of {} instances replaced",
        cx.at(),
        cx.s.rolling.batch,
        all.len(),
        cx.s.rolling.replaced,
        cx.s.target.instances
    );
    cx.record(text);
    start_batch(cx, r);
}
