//! The incident report of a failed verdict: what failed with its numbers, both versions'
//! metrics side by side, what happened when, and example requests — stored as data, rendered
//! as plain text for the CLI.

use super::judge::{CheckResult, Verdict};
use super::window::{ErrorCounts, VersionWindow};
use super::Outcome;
use crate::time::UnixMillis;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// A failed analysis, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentReport {
    /// The stable version's name.
    pub baseline_version: String,
    /// The failed candidate's name.
    pub candidate_version: String,
    /// The failed checks, with their numbers and reasons.
    pub failed_checks: Vec<CheckResult>,
    /// The stable version's metrics.
    pub baseline: MetricSummary,
    /// The candidate's metrics.
    pub candidate: MetricSummary,
    /// What happened when, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Requests that show the problem.
    pub examples: Vec<ExampleRequest>,
}

/// One event of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When.
    pub at: UnixMillis,
    /// What.
    pub event: String,
}

/// A request that went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExampleRequest {
    /// The request's id.
    pub request_id: String,
    /// What went wrong.
    pub problem: String,
}

/// The headline metrics of one version's window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Requests answered or failed, mirrored ones included (shadow mode).
    pub requests: u64,
    /// Errors by cause.
    pub errors: ErrorCounts,
    /// All errors over requests (0 without requests).
    pub error_rate: f64,
    /// Latency percentiles, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Accuracy over labelled predictions, if any.
    pub accuracy: Option<f64>,
    /// Invalid predictions.
    pub invalid_predictions: u64,
}

impl MetricSummary {
    /// The summary of a window.
    pub fn of(w: &VersionWindow) -> Self {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let errors = w.all_errors();
        Self {
            requests: w.answered(),
            errors,
            error_rate: ratio(errors.total(), w.answered()),
            p50_ms: w.latency.p50_ms,
            p95_ms: w.latency.p95_ms,
            p99_ms: w.latency.p99_ms,
            accuracy: (w.labelled.total > 0).then(|| ratio(w.labelled.correct, w.labelled.total)),
            invalid_predictions: w.invalid_predictions,
        }
    }
}

/// What an incident report is built from.
#[derive(Debug, Clone, Copy)]
pub struct IncidentInput<'a> {
    /// The stable version's name.
    pub baseline_version: &'a str,
    /// The candidate's name.
    pub candidate_version: &'a str,
    /// The verdict.
    pub verdict: &'a Verdict,
    /// The stable version's window.
    pub baseline: &'a VersionWindow,
    /// The candidate's window.
    pub candidate: &'a VersionWindow,
}

impl IncidentReport {
    /// The report of a failed verdict; `None` when the verdict did not fail. The timeline is
    /// sorted by time (stable for equal times).
    pub fn from_failed(
        input: IncidentInput<'_>,
        mut timeline: Vec<(UnixMillis, String)>,
        examples: Vec<(String, String)>,
    ) -> Option<Self> {
        if input.verdict.outcome != Outcome::Fail {
            return None;
        }
        timeline.sort_by_key(|(at, _)| *at);
        Some(Self {
            baseline_version: input.baseline_version.to_owned(),
            candidate_version: input.candidate_version.to_owned(),
            failed_checks: input
                .verdict
                .checks
                .iter()
                .filter(|c| c.outcome == Outcome::Fail)
                .cloned()
                .collect(),
            baseline: MetricSummary::of(input.baseline),
            candidate: MetricSummary::of(input.candidate),
            timeline: timeline
                .into_iter()
                .map(|(at, event)| TimelineEntry { at, event })
                .collect(),
            examples: examples
                .into_iter()
                .map(|(request_id, problem)| ExampleRequest {
                    request_id,
                    problem,
                })
                .collect(),
        })
    }

    /// A readable plain-text report.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "INCIDENT: candidate {} failed analysis against {}\n\nFailed checks\n",
            self.candidate_version, self.baseline_version
        );
        for c in &self.failed_checks {
            let _ = writeln!(
                out,
                "  - {} ({} {}): {}",
                c.metric, c.condition, c.threshold, c.reason
            );
        }
        let _ = writeln!(out, "\nMetrics{:>27}{:>14}", "baseline", "candidate");
        for (name, b, c) in self.metric_rows() {
            let _ = writeln!(out, "  {name:<22}{b:>12}{c:>14}");
        }
        if !self.timeline.is_empty() {
            out.push_str("\nTimeline\n");
            for e in &self.timeline {
                let _ = writeln!(out, "  {}  {}", format_utc(e.at), e.event);
            }
        }
        if !self.examples.is_empty() {
            out.push_str("\nExample requests\n");
            for e in &self.examples {
                let _ = writeln!(out, "  {}: {}", e.request_id, e.problem);
            }
        }
        out
    }

    fn metric_rows(&self) -> Vec<(&'static str, String, String)> {
        let (b, c) = (&self.baseline, &self.candidate);
        let pct = |x: f64| format!("{:.2}%", x * 100.0);
        let ms = |x: f64| format!("{x:.1}ms");
        let acc = |x: Option<f64>| x.map_or("-".to_owned(), pct);
        vec![
            ("requests", b.requests.to_string(), c.requests.to_string()),
            ("error rate", pct(b.error_rate), pct(c.error_rate)),
            (
                "  model errors",
                b.errors.model.to_string(),
                c.errors.model.to_string(),
            ),
            (
                "  upstream 5xx",
                b.errors.upstream_5xx.to_string(),
                c.errors.upstream_5xx.to_string(),
            ),
            (
                "  timeouts",
                b.errors.timeout.to_string(),
                c.errors.timeout.to_string(),
            ),
            (
                "  bad requests",
                b.errors.bad_request.to_string(),
                c.errors.bad_request.to_string(),
            ),
            ("latency p50", ms(b.p50_ms), ms(c.p50_ms)),
            ("latency p95", ms(b.p95_ms), ms(c.p95_ms)),
            ("latency p99", ms(b.p99_ms), ms(c.p99_ms)),
            ("accuracy", acc(b.accuracy), acc(c.accuracy)),
            (
                "invalid predictions",
                b.invalid_predictions.to_string(),
                c.invalid_predictions.to_string(),
            ),
        ]
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmmZ` of Unix milliseconds, by Hinnant's `civil_from_days`
/// (proleptic Gregorian calendar), so the core needs no date crate.
pub fn format_utc(at: UnixMillis) -> String {
    let (days, ms) = (at / 86_400_000, at % 86_400_000);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests;
