//! What a rollout leaves behind: the incident report of a rollback, and the result of an A/B
//! test.

use super::actions::outcome_word;
use super::{Controller, Run};
use crate::telemetry::VersionKey;
use rollgate_core::analysis::Outcome;
use rollgate_core::stats::{sample_ratio_mismatch, two_proportion_z_test, Counts, SRM_THRESHOLD};
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
        "INCIDENT: rollout of {} `{}` rolled back to `{}` at step {} ({})\n",
        r["service"].as_str().unwrap_or(""),
        r["candidate"].as_str().unwrap_or(""),
        r["stable"].as_str().unwrap_or(""),
        r["step"],
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

/// The winner of an A/B test by conversion rate (rewards of 0/1; any reward above 0 counts as
/// a conversion), each variant against the first (the control) with a two-proportion z-test
/// at 5%, and a sample-ratio-mismatch check that voids the result when the split is broken.
pub(super) fn ab_conclusion(
    ctl: &Controller,
    service: &str,
    variants: &[String],
) -> (Option<String>, String) {
    let arms: Vec<(String, Counts, u64)> = variants
        .iter()
        .map(|v| {
            let s = ctl.plane.recorder().find(&VersionKey {
                service: service.to_owned(),
                version: v.clone(),
            });
            let (rewards, sum, requests) = s.map_or((0, 0.0, 0), |s| {
                let o = s.outcomes().sums();
                (o.rewards, o.reward_sum, s.requests())
            });
            let conversions = (sum.max(0.0).round() as u64).min(requests);
            let counts = Counts::new(conversions, requests.max(1))
                .unwrap_or_else(|_| Counts::new(0, 1).expect("0 of 1"));
            let _ = rewards;
            (v.clone(), counts, requests)
        })
        .collect();
    let observed: Vec<u64> = arms.iter().map(|a| a.2).collect();
    let planned = vec![1.0; arms.len()];
    if let Ok(srm) = sample_ratio_mismatch(&observed, &planned, SRM_THRESHOLD) {
        if srm.mismatch {
            return (
                None,
                format!(
                    "sample ratio mismatch (chi2 {:.1}, p {:.2e}): result void",
                    srm.chi2, srm.p_value
                ),
            );
        }
    }
    let Some((control, base, _)) = arms.first().cloned() else {
        return (None, "no variants".into());
    };
    let mut best: Option<(String, f64)> = None;
    let mut lines = vec![format!("{control}: {:.2}%", base.rate() * 100.0)];
    for (name, counts, _) in arms.iter().skip(1) {
        let Ok(t) = two_proportion_z_test(base, *counts, 0.95) else {
            continue;
        };
        let lift = if base.rate() > 0.0 {
            t.difference / base.rate()
        } else {
            0.0
        };
        lines.push(format!(
            "{name}: {:.2}% (lift {:+.1}%, p {:.3})",
            counts.rate() * 100.0,
            lift * 100.0,
            t.p_two_sided
        ));
        if t.p_two_sided < 0.05
            && best
                .as_ref()
                .is_none_or(|(_, d)| t.difference.abs() > d.abs())
        {
            best = Some((
                if t.difference > 0.0 {
                    name.clone()
                } else {
                    control.clone()
                },
                t.difference,
            ));
        }
    }
    let winner = best.map(|(n, _)| n);
    let verdict = winner
        .as_deref()
        .map_or("no significant difference".to_owned(), |w| {
            format!("winner {w}")
        });
    (winner, format!("{verdict}: {}", lines.join(", ")))
}
