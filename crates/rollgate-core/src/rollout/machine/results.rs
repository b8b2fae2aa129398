//! Results the caller reports back: verdicts, smoke checks, A/B conclusions.
//!
//! A failure is acted on even while paused (a bad candidate keeps no traffic because someone
//! pressed pause); a pass only moves a running step on.

use super::{finish, progress, Ctx};
use crate::analysis::Outcome;
use crate::rollout::event::{Action, Event, NotifyKind};
use crate::rollout::state::{PauseReason, Phase, RollbackReason, Verdict, Weights};
use crate::rollout::step::{AnalysisStep, Step};
use crate::route::TOTAL_BPS;

/// A verdict on the running analysis.
pub(super) fn analysis(cx: &mut Ctx, outcome: Outcome, summary: String) {
    let on_analysis = matches!(cx.s.phase, Phase::Analysing | Phase::Paused { .. });
    let Some(Step::Analysis(a)) = cx.current().filter(|_| on_analysis) else {
        cx.ignored(&Event::AnalysisResult { outcome, summary });
        return;
    };
    cx.push_verdict(Verdict {
        at: cx.now,
        step: cx.s.index,
        outcome,
        summary: summary.clone(),
    });
    let running = cx.s.phase == Phase::Analysing;
    match outcome {
        Outcome::Fail => finish::rollback(cx, RollbackReason::AnalysisFailed, &summary),
        _ if !running => {
            let text = format!("{}: {outcome} while paused, recorded only", cx.at());
            cx.record(text);
        }
        Outcome::Pass => pass(cx, &a, &summary),
        Outcome::Inconclusive => inconclusive(cx, &a, &summary),
    }
}

/// A pass moves on only once the window has run and the requests are in: an early pass is
/// held like an inconclusive one (without counting toward `max_inconclusive`).
fn pass(cx: &mut Ctx, a: &AnalysisStep, summary: &str) {
    let enough_time = cx.elapsed() >= a.window_ms;
    let enough_requests = cx.s.requests.in_step >= a.min_requests;
    if enough_time && enough_requests {
        let text = format!("{}: pass: {summary}", cx.at());
        cx.record(text);
        progress::advance(cx);
    } else {
        let text = format!(
            "{}: pass before the window ({} of {} ms, {} of {} requests): holding",
            cx.at(),
            cx.elapsed(),
            a.window_ms,
            cx.s.requests.in_step,
            a.min_requests
        );
        cx.record(text);
    }
}

/// Inconclusive holds the stage; too many in a row ask for an operator.
fn inconclusive(cx: &mut Ctx, a: &AnalysisStep, summary: &str) {
    cx.s.inconclusive_streak += 1;
    let streak = cx.s.inconclusive_streak;
    let text = format!("{}: inconclusive ({streak} in a row): {summary}", cx.at());
    cx.record(text);
    if a.max_inconclusive.is_some_and(|max| streak >= max) {
        cx.s.clock.stop(cx.now);
        cx.s.phase = Phase::Paused {
            reason: PauseReason::Inconclusive,
        };
        let text = format!(
            "{}: {streak} inconclusive verdicts; approve to accept, resume to re-analyse, abort to roll back",
            cx.at()
        );
        cx.notify(NotifyKind::ManualGate, text);
    }
}

/// The smoke checks' result.
pub(super) fn smoke(cx: &mut Ctx, passed: bool, summary: &str) {
    let waiting = matches!(cx.s.phase, Phase::Progressing | Phase::Paused { .. });
    if !waiting || !matches!(cx.current(), Some(Step::Smoke { .. })) {
        cx.ignored(&Event::SmokeResult {
            passed,
            summary: summary.to_owned(),
        });
        return;
    }
    if !passed {
        finish::rollback(cx, RollbackReason::SmokeFailed, summary);
    } else if cx.s.phase == Phase::Progressing {
        let text = format!("{}: smoke passed: {summary}", cx.at());
        cx.record(text);
        progress::advance(cx);
    } else {
        let text = format!("{}: smoke passed while paused; re-run on resume", cx.at());
        cx.record(text);
    }
}

/// The caller's A/B conclusion: promote the winner, roll back when there is none, or leave
/// the split for the operator when the plan does not promote.
pub(super) fn ab_concluded(cx: &mut Ctx, winner: Option<String>, summary: &str) {
    let waiting = matches!(cx.s.phase, Phase::Concluding | Phase::Progressing);
    let ab = match cx.current() {
        Some(Step::AbTest(ab)) if waiting => ab,
        _ => return ignore_conclusion(cx, winner, summary),
    };
    if winner
        .as_ref()
        .is_some_and(|w| !ab.variants.iter().any(|(v, _)| v == w))
    {
        return ignore_conclusion(cx, winner, summary);
    }
    let text = format!(
        "{}: concluded, winner {}: {summary}",
        cx.at(),
        winner.as_deref().unwrap_or("none")
    );
    cx.record(text);
    match (ab.promote_winner, winner) {
        (true, Some(w)) => {
            cx.s.weights = Weights::Split(vec![(w.clone(), TOTAL_BPS)]);
            cx.emit(Action::SetWeights(cx.s.weights.clone()));
            finish::promote(cx, w);
        }
        (true, None) => finish::rollback(cx, RollbackReason::NoWinner, summary),
        (false, winner) => {
            cx.s.clock.stop(cx.now);
            cx.s.phase = Phase::Concluded {
                winner: winner.clone(),
            };
            let text = format!("a/b test concluded, winner {winner:?}; split left in place");
            cx.notify(NotifyKind::Concluded, text);
        }
    }
}

fn ignore_conclusion(cx: &mut Ctx, winner: Option<String>, summary: &str) {
    cx.ignored(&Event::AbTestConcluded {
        winner,
        summary: summary.to_owned(),
    });
}
