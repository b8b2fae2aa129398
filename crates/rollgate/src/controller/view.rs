//! A rollout as the API, the CLI and the dashboard show it.

use super::actions::outcome_word;
use rollgate_core::rollout::{Phase, RolloutState, Step};
use rollgate_core::route::fmt_bps;
use serde_json::{json, Value};

/// The stable name of a phase.
pub(crate) fn phase_name(p: &Phase) -> &'static str {
    match p {
        Phase::Pending => "pending",
        Phase::Progressing => "progressing",
        Phase::Analysing => "analysing",
        Phase::Paused { .. } => "paused",
        Phase::Concluding => "concluding",
        Phase::Aborting { .. } => "aborting",
        Phase::Promoted => "promoted",
        Phase::RolledBack { .. } => "rolled_back",
        Phase::Aborted => "aborted",
        Phase::Concluded { .. } => "concluded",
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
        .map(|v| json!({"at": v.at, "step": v.step, "outcome": outcome_word(v.outcome), "summary": v.summary}))
        .collect();
    json!({
        "id": format!("{service}-{started_at_ms}"),
        "name": s.name,
        "service": service,
        "stable": s.target.stable,
        "candidate": s.target.candidate,
        "strategy": strategy(&s.steps),
        "phase": phase_name(&s.phase),
        "phase_detail": serde_json::to_value(&s.phase).unwrap_or_default(),
        "terminal": s.phase.is_terminal(),
        "step": s.index,
        "steps": s.steps.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "candidate_percent": fmt_bps(s.weights.candidate_bps(&s.target.candidate)),
        "mirror_percent": fmt_bps(s.mirror_bps),
        "started_at": started_at_ms,
        "step_elapsed_ms": s.clock.elapsed(now),
        "requests_in_step": s.requests.in_step,
        "verdicts": verdicts,
        "report": report,
    })
}
