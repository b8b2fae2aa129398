//! Strategy shorthands into flat steps. One function per strategy so each reads as the
//! recipe it is.

use super::plan::{BlueGreen, Canary, Shadow, Stage, DEFAULT_ANALYSIS_WINDOW_MS};
use super::step::{AnalysisStep, Step};
use crate::route::{fmt_bps, TOTAL_BPS};

/// The steps one stage stands for.
pub(super) fn stage(stage: &Stage) -> Vec<Step> {
    match stage {
        Stage::Step(s) => vec![s.clone()],
        Stage::Canary(c) => canary(c),
        Stage::BlueGreen(b) => blue_green(b),
        Stage::Shadow(s) => shadow(s),
        Stage::AbTest(ab) => vec![Step::AbTest(ab.clone())],
        Stage::Rolling(r) => vec![Step::Rolling(r.clone())],
    }
}

/// Per weight: the manual gate (if any) before raising, the raise, then the hold or the
/// analysis. The 100% stage is not held: stable has no traffic left to compare with.
fn canary(c: &Canary) -> Vec<Step> {
    let mut steps = Vec::new();
    for &bps in &c.weights {
        if c.manual_gates.contains(&bps) {
            steps.push(Step::Approval {
                gate: format!("raise candidate to {}%", fmt_bps(bps)),
            });
        }
        steps.push(Step::SetWeight { bps });
        if bps < TOTAL_BPS {
            steps.extend(canary_hold(c));
        }
    }
    steps
}

fn canary_hold(c: &Canary) -> Option<Step> {
    match &c.analysis {
        Some(template) => Some(Step::Analysis(AnalysisStep {
            template: template.clone(),
            window_ms: c.hold_ms.unwrap_or(DEFAULT_ANALYSIS_WINDOW_MS),
            min_requests: c.min_requests.unwrap_or(0),
            max_inconclusive: c.max_inconclusive,
        })),
        None if c.hold_ms.is_some() || c.min_requests.is_some() => Some(Step::Pause {
            duration_ms: c.hold_ms,
            min_requests: c.min_requests,
        }),
        None => None,
    }
}

/// Preview by header, smoke, switch everything, drop the preview rule, keep blue for the
/// rollback window.
fn blue_green(b: &BlueGreen) -> Vec<Step> {
    let mut steps = vec![Step::HeaderRoute(Some(b.preview.clone()))];
    if !b.smoke.is_empty() {
        steps.push(Step::Smoke {
            checks: b.smoke.clone(),
        });
    }
    steps.push(Step::SetWeight { bps: TOTAL_BPS });
    steps.push(Step::HeaderRoute(None));
    if let Some(window) = b.rollback_window_ms {
        steps.push(Step::Pause {
            duration_ms: Some(window),
            min_requests: None,
        });
    }
    steps
}

/// Mirror, hold or analyse for the duration, stop mirroring.
fn shadow(s: &Shadow) -> Vec<Step> {
    let hold = match &s.analysis {
        Some(template) => Step::Analysis(AnalysisStep {
            template: template.clone(),
            window_ms: s.duration_ms,
            min_requests: s.min_requests.unwrap_or(0),
            max_inconclusive: None,
        }),
        None => Step::Pause {
            duration_ms: Some(s.duration_ms),
            min_requests: s.min_requests,
        },
    };
    vec![Step::Mirror { bps: s.bps }, hold, Step::Mirror { bps: 0 }]
}
