//! One analysis step of a rollout in progress: windows opened on the baseline and the
//! candidate when the step starts, judged at every tick.
//!
//! The judge is sequential (always-valid), so looking at every tick is sound: a clearly bad
//! candidate is failed as soon as the evidence is there, not at the end of the window; a pass
//! or an inconclusive verdict is only reported once the window has run.

use crate::metrics_source::{Mark, MetricSource};
use rollgate_core::analysis::{judge, AnalysisTemplate, JudgeState, Outcome, Verdict};
use serde::Serialize;
use std::time::{Duration, Instant};

/// An analysis being run.
#[derive(Debug)]
pub(crate) struct AnalysisRun {
    pub(crate) template_name: String,
    template: AnalysisTemplate,
    window_ms: u64,
    started: Instant,
    baseline: Mark,
    candidate: Mark,
    state: JudgeState,
    /// When a verdict other than a failure was last reported (they are held, then re-sent).
    reported: Option<Instant>,
    /// The latest look, kept for the API, the dashboard and the incident report.
    pub(crate) last: Option<Look>,
}

/// One look of the judge with the numbers it saw.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Look {
    pub(crate) at_ms: u64,
    pub(crate) verdict: Verdict,
    pub(crate) baseline: rollgate_core::analysis::VersionWindow,
    pub(crate) candidate: rollgate_core::analysis::VersionWindow,
}

/// Who is compared with whom.
pub(crate) struct Pair<'a> {
    pub(crate) service: &'a str,
    pub(crate) baseline: &'a str,
    pub(crate) candidate: &'a str,
}

impl AnalysisRun {
    /// Opens the windows now.
    pub(crate) fn start(
        source: &dyn MetricSource,
        pair: &Pair<'_>,
        template_name: &str,
        template: AnalysisTemplate,
        window_ms: u64,
    ) -> Self {
        Self {
            template_name: template_name.to_owned(),
            template,
            window_ms,
            started: Instant::now(),
            baseline: source.mark(pair.service, pair.baseline),
            candidate: source.mark(pair.service, pair.candidate),
            state: JudgeState::default(),
            reported: None,
            last: None,
        }
    }

    /// Judges the windows so far; returns a verdict to report to the rollout, if one is due:
    /// a failure at once, anything else once the window has run.
    pub(crate) async fn look(
        &mut self,
        source: &dyn MetricSource,
        pair: &Pair<'_>,
    ) -> Option<(Outcome, String)> {
        let (baseline, candidate) = tokio::join!(
            source.window(pair.service, pair.baseline, &self.baseline),
            source.window(pair.service, pair.candidate, &self.candidate)
        );
        let (verdict, state) = judge(&self.template, &baseline, &candidate, &self.state);
        self.state = state;
        let outcome = verdict.outcome;
        let summary = summarize(&self.template_name, &verdict);
        self.last = Some(Look {
            at_ms: crate::store::now_ms() as u64,
            verdict,
            baseline,
            candidate,
        });
        let window_done = self.started.elapsed().as_millis() as u64 >= self.window_ms;
        // A held verdict (pass before enough requests, inconclusive) is re-sent at most every
        // fifth of the window (and at most every second), so the time line stays readable.
        let spacing = Duration::from_millis((self.window_ms / 5).max(1000));
        let due = self.reported.is_none_or(|t| t.elapsed() >= spacing);
        if outcome == Outcome::Fail || (window_done && due) {
            self.reported = Some(Instant::now());
            return Some((outcome, summary));
        }
        None
    }
}

/// One line per check: what decided, with the numbers. Failed checks come first, then the
/// undecided ones, so that a line cut short for display still names the cause.
pub(crate) fn summarize(template: &str, verdict: &Verdict) -> String {
    let mut checks: Vec<_> = verdict.checks.iter().collect();
    checks.sort_by_key(|c| match c.outcome {
        Outcome::Fail => 0,
        Outcome::Inconclusive => 1,
        Outcome::Pass => 2,
    });
    let reasons: Vec<String> = checks
        .iter()
        .map(|c| format!("{} {}", word(c.outcome), c.reason))
        .collect();
    format!(
        "{template} {}: {}",
        word(verdict.outcome),
        reasons.join("; ")
    )
}

fn word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::Inconclusive => "inconclusive",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollgate_core::analysis::CheckResult;

    fn check(outcome: Outcome, reason: &str) -> CheckResult {
        CheckResult {
            metric: rollgate_core::analysis::Metric::Accuracy,
            condition: "max_decrease".into(),
            outcome,
            baseline_value: None,
            candidate_value: None,
            threshold: 0.05,
            p_value: None,
            statistic: None,
            samples: 0,
            reason: reason.into(),
        }
    }

    #[test]
    fn the_summary_leads_with_the_failed_check() {
        let verdict = Verdict {
            outcome: Outcome::Fail,
            checks: vec![
                check(Outcome::Pass, "errors fine"),
                check(Outcome::Inconclusive, "latency unsure"),
                check(Outcome::Fail, "accuracy down"),
            ],
        };
        assert_eq!(
            summarize("quality", &verdict),
            "quality FAIL: FAIL accuracy down; inconclusive latency unsure; pass errors fine"
        );
    }
}
