#![allow(clippy::unwrap_used)]
use super::*;
use crate::analysis::template::{AnalysisTemplate, Check, Condition, Metric};
use crate::analysis::window::Warmup;
use crate::analysis::{judge, JudgeState};

fn window(errors: u64, requests: u64) -> VersionWindow {
    let mut w = VersionWindow {
        requests,
        warmup: Warmup {
            warm: true,
            warmup_requests: 0,
        },
        ..Default::default()
    };
    w.errors.upstream_5xx = errors;
    w.latency.p95_ms = 80.0;
    w
}

fn failed() -> (Verdict, VersionWindow, VersionWindow) {
    let t = AnalysisTemplate::with_checks(vec![
        Check::new(Metric::ErrorRate(None), Condition::MaxIncrease(0.03)),
        Check::new(Metric::Accuracy, Condition::Min(0.8)),
    ]);
    let (b, c) = (window(40, 10_000), window(104, 2_000));
    let verdict = judge(&t, &b, &c, &JudgeState::default()).0;
    (verdict, b, c)
}

#[test]
fn a_failed_verdict_gives_a_readable_report() {
    let (verdict, b, c) = failed();
    let input = IncidentInput {
        baseline_version: "v1",
        candidate_version: "v2",
        verdict: &verdict,
        baseline: &b,
        candidate: &c,
    };
    let timeline = vec![
        (1_714_564_805_250, "analysis failed".to_owned()),
        (1_714_564_800_000, "canary at 10%".to_owned()),
    ];
    let examples = vec![("req-42".to_owned(), "upstream 503".to_owned())];
    let report = IncidentReport::from_failed(input, timeline, examples).unwrap();
    assert_eq!(report.failed_checks.len(), 1);
    assert_eq!(report.timeline[0].event, "canary at 10%");
    let text = report.render_text();
    eprintln!("{text}");
    for needle in [
        "candidate v2 failed analysis against v1",
        "error_rate (max_increase 0.03): error_rate 0.052 (candidate) vs 0.004 (baseline): +4.8 points",
        "0.40%",
        "5.20%",
        "2024-05-01 12:00:00.000Z  canary at 10%",
        "2024-05-01 12:00:05.250Z  analysis failed",
        "req-42: upstream 503",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(
        serde_json::from_str::<IncidentReport>(&json).unwrap(),
        report
    );
}

#[test]
fn no_report_without_a_failure() {
    let (mut verdict, b, c) = failed();
    verdict.outcome = Outcome::Inconclusive;
    let input = IncidentInput {
        baseline_version: "v1",
        candidate_version: "v2",
        verdict: &verdict,
        baseline: &b,
        candidate: &c,
    };
    assert!(IncidentReport::from_failed(input, vec![], vec![]).is_none());
}

#[test]
fn utc_formatting_matches_known_dates() {
    assert_eq!(format_utc(0), "1970-01-01 00:00:00.000Z");
    assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00.000Z");
    assert_eq!(format_utc(4_102_444_799_999), "2099-12-31 23:59:59.999Z");
}

#[test]
fn a_shadow_candidates_summary_counts_its_mirrored_requests() {
    let mut w = window(0, 0);
    w.shadow.requests = 400;
    w.shadow.errors.timeout = 100;
    let s = MetricSummary::of(&w);
    assert_eq!((s.requests, s.errors.timeout), (400, 100));
    assert_eq!(s.error_rate, 0.25);
}
