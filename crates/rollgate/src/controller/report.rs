//! What a rollout leaves behind: the incident report of a rollback, and the result of an A/B
//! test.

use super::actions::outcome_word;
use super::{Controller, Run};
use crate::telemetry::{OutcomeSums, VersionKey};
use rollgate_core::analysis::ab::{analyse, AbConfig, AbMetric, AbReport, Variant};
use rollgate_core::analysis::window::Rewards;
use rollgate_core::analysis::Outcome;
use serde_json::{json, Value};

/// The incident report of a rollback: failed checks with their numbers, baseline and candidate
/// side by side, the time line of the rollout and examples of divergent requests.
pub(super) fn incident(ctl: &Controller, run: &Run, reason: &str) -> Value {
    let target = &run.state.target;
    let look = run.analysis.as_ref().and_then(|a| a.last.as_ref());
    let failed: Vec<Value> = look
        .map(|l| {
            l.verdict
                .checks
                .iter()
                .filter(|c| c.outcome == Outcome::Fail)
                .map(|c| json!({"metric": c.metric, "candidate": c.candidate_value, "baseline": c.baseline_value, "threshold": c.threshold, "p_value": c.p_value, "reason": c.reason}))
                .collect()
        })
        .unwrap_or_default();
    let timeline: Vec<Value> = run
        .state
        .verdicts
        .iter()
        .map(|v| json!({"at_ms": v.at, "step": v.step, "outcome": outcome_word(v.outcome), "summary": v.summary}))
        .collect();
    let examples = ctl
        .plane
        .recorder()
        .find(&VersionKey {
            service: target.service.clone(),
            version: target.candidate.clone(),
        })
        .map(|s| s.shadow().examples())
        .unwrap_or_default();
    let mut report = json!({
        "service": target.service,
        "stable": target.stable,
        "candidate": target.candidate,
        "reason": reason,
        "step": run.state.index,
        "at_ms": crate::store::now_ms(),
        "failed_checks": failed,
        "baseline": look.map(|l| summary(&l.baseline)),
        "candidate_metrics": look.map(|l| summary(&l.candidate)),
        "timeline": timeline,
        "examples": examples,
    });
    report["text"] = json!(render(&report));
    report
}

/// The numbers of a window worth reading in a report.
fn summary(w: &rollgate_core::analysis::VersionWindow) -> Value {
    let rate = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
    json!({
        "requests": w.requests,
        "error_rate": rate(w.errors.total() - w.errors.bad_request, w.requests),
        "p95_ms": w.latency.p95_ms,
        "accuracy": rate(w.labelled.correct, w.labelled.total),
        "labelled": w.labelled.total,
        "invalid": w.invalid_predictions,
    })
}

/// The report as plain text, for the CLI and the demo.
fn render(r: &Value) -> String {
    let mut out = format!(
        "INCIDENT: rollout of {} `{}` rolled back to `{}`: {}\n",
        r["service"].as_str().unwrap_or(""),
        r["candidate"].as_str().unwrap_or(""),
        r["stable"].as_str().unwrap_or(""),
        r["reason"].as_str().unwrap_or(""),
    );
    for c in r["failed_checks"].as_array().into_iter().flatten() {
        out += &format!("  failed: {}\n", c["reason"].as_str().unwrap_or(""));
    }
    for (name, key) in [
        ("baseline ", "baseline"),
        ("candidate", "candidate_metrics"),
    ] {
        if !r[key].is_null() {
            out += &format!("  {name}: {}\n", r[key]);
        }
    }
    for t in r["timeline"].as_array().into_iter().flatten() {
        out += &format!(
            "  step {} {}: {}\n",
            t["step"],
            t["outcome"].as_str().unwrap_or(""),
            t["summary"].as_str().unwrap_or("")
        );
    }
    for e in r["examples"].as_array().into_iter().flatten().take(5) {
        out += &format!(
            "  example {}: stable {} / candidate {}\n",
            e["request_id"], e["stable"], e["candidate"]
        );
    }
    out
}

/// The result of an A/B test from the rewards each variant received: per-variant value with
/// its interval, each variant against the control (the first), the winner if any, and the
/// sample-ratio-mismatch check (`rollgate_core::analysis::ab`). Conversions (0/1 rewards) are
/// compared as rates, other rewards as means.
pub(super) fn ab_conclusion(
    ctl: &Controller,
    service: &str,
    variants: &[(String, u32)],
    start: &AbStart,
) -> (Option<String>, Value) {
    let arms: Vec<Variant> = variants
        .iter()
        .map(|(name, bps)| {
            let now = ctl
                .plane
                .recorder()
                .find(&VersionKey {
                    service: service.to_owned(),
                    version: name.clone(),
                })
                .map(|s| s.outcomes().sums())
                .unwrap_or_default();
            let o = since(&now, start.get(name).map(|(_, o)| o));
            Variant {
                name: name.clone(),
                planned_share: f64::from(*bps),
                rewards: Rewards {
                    n: o.rewards,
                    sum: o.reward_sum,
                    sum_sq: o.reward_sq_sum,
                },
            }
        })
        .collect();
    let binary = arms.iter().all(|a| a.rewards.sum == a.rewards.sum_sq);
    let metric = if binary {
        AbMetric::ConversionRate
    } else {
        AbMetric::MeanReward
    };
    match analyse(&arms, &AbConfig::new(metric)) {
        Ok(r) => {
            let text = render_ab(&r);
            let winner = (!r.srm_mismatch).then(|| r.winner.clone()).flatten();
            (winner, json!({"ab": r, "text": text}))
        }
        Err(e) => (
            None,
            json!({"text": format!("A/B test not analysable: {e}")}),
        ),
    }
}

/// Each variant's request count and outcome sums when its A/B test began: the test is judged
/// on what happened since, not on the service's earlier traffic.
pub(crate) type AbStart = std::collections::BTreeMap<String, (u64, OutcomeSums)>;

/// The rewards between a start and now.
fn since(now: &OutcomeSums, start: Option<&OutcomeSums>) -> OutcomeSums {
    let Some(s) = start else { return *now };
    OutcomeSums {
        rewards: now.rewards.saturating_sub(s.rewards),
        reward_sum: now.reward_sum - s.reward_sum,
        reward_sq_sum: now.reward_sq_sum - s.reward_sq_sum,
        ..OutcomeSums::default()
    }
}

fn render_ab(r: &AbReport) -> String {
    let mut out = match (&r.winner, r.srm_mismatch) {
        (_, true) => format!(
            "A/B test void: sample ratio mismatch (p {:.2e}), the split is not the planned one\n",
            r.srm_p_value
        ),
        (Some(w), false) => format!("A/B test: winner {w}\n"),
        (None, false) => "A/B test: no significant difference\n".to_owned(),
    };
    for v in &r.variants {
        out += &format!(
            "  {}: {:.4} [{:.4}, {:.4}] over {} rewards",
            v.name, v.value, v.interval.0, v.interval.1, v.n
        );
        if let Some(c) = &v.vs_control {
            let lift = c
                .relative_lift
                .map_or("n/a".into(), |l| format!("{:+.1}%", l * 100.0));
            out += &format!(", lift {lift}, p {:.4}", c.p_value);
        }
        out += "\n";
    }
    out
}
