//! A rollout as the API, the CLI and the dashboard show it.

use rollgate_core::rollout::{Phase, RolloutState, Step};
use rollgate_core::route::fmt_bps;
use serde_json::{json, Value};

/// Why the rollout is in its phase, in words.
fn phase_detail(p: &Phase) -> String {
    use rollgate_core::rollout::PauseReason;
    match p {
        Phase::Paused { reason } => match reason {
            PauseReason::Manual => "paused by an operator".into(),
            PauseReason::Gate => "waiting at a manual gate: approve to go on".into(),
            PauseReason::Intervention { verb } => {
                format!("paused: an operator used {verb} during the rollout")
            }
            PauseReason::Inconclusive => {
                "analysis stayed inconclusive: approve to accept, resume to re-analyse".into()
            }
        },
        Phase::RolledBack { reason } => format!("rolled back: {reason}"),
        Phase::Concluded { winner } => match winner {
            Some(w) => format!("A/B test concluded: winner {w}"),
            None => "A/B test concluded without a winner".into(),
        },
        Phase::Aborting { .. } => "shifting traffic back to stable".into(),
        other => other.name().replace('_', " "),
    }
}

fn strategy(steps: &[Step]) -> &'static str {
    let has = |f: fn(&Step) -> bool| steps.iter().any(f);
    if has(|s| matches!(s, Step::AbTest(_))) {
        "ab_test"
    } else if has(|s| matches!(s, Step::Rolling(_))) {
        "rolling"
    } else if has(|s| matches!(s, Step::Smoke { .. } | Step::HeaderRoute(_))) {
        "blue_green"
    } else if has(|s| matches!(s, Step::SetWeight { .. })) {
        "canary"
    } else if has(|s| matches!(s, Step::Mirror { .. })) {
        "shadow"
    } else {
        "steps"
    }
}

/// The JSON view of a rollout.
pub(crate) fn rollout(
    service: &str,
    s: &RolloutState,
    started_at_ms: u64,
    report: Option<&Value>,
) -> Value {
    let now = crate::store::now_ms() as u64;
    let verdicts: Vec<Value> = s
        .verdicts
        .iter()
        .map(|v| json!({"at": v.at, "step": v.step, "outcome": v.outcome.as_str(), "summary": v.summary}))
        .collect();
    json!({
        "id": format!("{service}-{started_at_ms}"),
        "name": s.name,
        "service": service,
        "stable": s.target.stable,
        "candidate": s.target.candidate,
        "strategy": strategy(&s.steps),
        "phase": s.phase.name(),
        "phase_detail": phase_detail(&s.phase),
        "terminal": s.phase.is_terminal(),
        "step": s.index,
        "steps": s.steps.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "candidate_percent": fmt_bps(s.weights.candidate_bps(&s.target.candidate)),
        "mirror_percent": fmt_bps(s.mirror_bps),
        "started_at": started_at_ms,
        "step_elapsed_ms": s.clock.elapsed(now),
        "requests_in_step": s.requests.in_step,
        "verdicts": verdicts,
        "rolling": rolling(s),
        "report": report,
    })
}

/// A rolling update's progress (`null` for other plans): the batch in flight, instances
/// replaced by completed batches, and new instances of the batch in flight already ready.
fn rolling(s: &RolloutState) -> Value {
    let Some(r) = s.steps.iter().find_map(|st| match st {
        Step::Rolling(r) => Some(r),
        _ => None,
    }) else {
        return Value::Null;
    };
    let batches =
        rollgate_core::rollout::batches(s.target.instances, r.max_surge, r.max_unavailable);
    json!({
        "batch": (s.rolling.batch + 1).min(batches.len()),
        "batches": batches.len(),
        "instances": s.target.instances,
        "replaced": s.rolling.replaced,
        "ready_in_batch": s.rolling.ready,
    })
}
