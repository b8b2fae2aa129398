//! What a rollout leaves behind: the incident report of a rollback, and the result of an A/B
//! test.

use super::{Controller, Run};
use crate::telemetry::OutcomeSums;
use rollgate_core::analysis::ab::{analyse, AbConfig, AbMetric, AbReport, Variant};
use rollgate_core::analysis::incident::{IncidentInput, IncidentReport};
use rollgate_core::analysis::window::Rewards;
use serde_json::{json, Value};

/// The incident report of a rollback, built by `rollgate_core::analysis::incident` from the
/// failing look of the judge: failed checks with their numbers, baseline against candidate,
/// the verdict time line and examples of divergent requests. A rollback without a failed
/// analysis (a smoke check, an instance) gets the reason and the time line only.
pub(super) fn incident(ctl: &Controller, run: &Run, reason: &str) -> Value {
    let target = &run.state.target;
    let timeline: Vec<(u64, String)> = run
        .state
        .verdicts
        .iter()
        .map(|v| {
            (
                v.at,
                format!("step {} {}: {}", v.step + 1, v.outcome.as_str(), v.summary),
            )
        })
        .collect();
    let examples: Vec<(String, String)> = ctl
        .plane
        .stats(&target.service, &target.candidate)
        .map(|s| s.shadow().examples())
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            (
                e.request_id,
                format!("stable {} / candidate {}", e.stable, e.candidate),
            )
        })
        .collect();
    let headline = format!(
        "Rollout of {} `{}` rolled back to `{}`: {reason}\n",
        target.service, target.candidate, target.stable
    );
    let failed = run
        .analysis
        .as_ref()
        .and_then(|a| a.last.as_ref())
        .and_then(|l| {
            let input = IncidentInput {
                baseline_version: &target.stable,
                candidate_version: &target.candidate,
                verdict: &l.verdict,
                baseline: &l.baseline,
                candidate: &l.candidate,
            };
            IncidentReport::from_failed(input, timeline.clone(), examples.clone())
        });
    let (mut doc, text) = match failed {
        Some(r) => (
            serde_json::to_value(&r).unwrap_or_default(),
            r.render_text(),
        ),
        None => {
            let lines: Vec<String> = timeline.iter().map(|(_, t)| format!("  {t}")).collect();
            (
                json!({"failed_checks": []}),
                format!("INCIDENT\n{}", lines.join("\n")),
            )
        }
    };
    doc["service"] = json!(target.service);
    doc["reason"] = json!(reason);
    doc["step"] = json!(run.state.index);
    doc["at_ms"] = json!(crate::store::now_ms());
    doc["text"] = json!(format!("{headline}{text}"));
    doc
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
                .stats(service, name)
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
