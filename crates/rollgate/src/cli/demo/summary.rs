//! What the demo's users saw, per phase and per version that answered them: counted on the
//! client side, so the final table reads as a user's view of each rollout.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Requests answered (or failed) by one version.
#[derive(Debug, Clone)]
pub(crate) struct VersionTally {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    /// Answers whose class matched the true label.
    pub(crate) correct: u64,
    pub(crate) conversions: u64,
    latency_us: Option<Histogram<u64>>,
}

impl Default for VersionTally {
    fn default() -> Self {
        Self {
            requests: 0,
            errors: 0,
            correct: 0,
            conversions: 0,
            // Three significant figures from 1 µs to 60 s; `None` only if hdrhistogram refuses
            // these bounds, and then p95 is simply not shown.
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).ok(),
        }
    }
}

impl VersionTally {
    pub(crate) fn error_rate(&self) -> f64 {
        ratio(self.errors, self.requests)
    }

    /// Share of answered requests whose class was right.
    pub(crate) fn accuracy(&self) -> Option<f64> {
        let answered = self.requests - self.errors;
        (answered > 0).then(|| ratio(self.correct, answered))
    }

    pub(crate) fn conversion_rate(&self) -> Option<f64> {
        let answered = self.requests - self.errors;
        (answered > 0).then(|| ratio(self.conversions, answered))
    }

    pub(crate) fn p95_ms(&self) -> Option<f64> {
        let h = self.latency_us.as_ref()?;
        (!h.is_empty()).then(|| h.value_at_quantile(0.95) as f64 / 1000.0)
    }
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// The outcome of one request as the client saw it.
pub(crate) struct Seen<'a> {
    /// The version that answered (`?` when the request failed before one was named).
    pub(crate) version: &'a str,
    pub(crate) ok: bool,
    pub(crate) latency: Duration,
    pub(crate) correct: bool,
    pub(crate) converted: bool,
}

/// Per-version tallies of one phase.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    pub(crate) versions: BTreeMap<String, VersionTally>,
}

impl Tally {
    pub(crate) fn record(&mut self, seen: &Seen<'_>) {
        let v = self.versions.entry(seen.version.to_owned()).or_default();
        v.requests += 1;
        if !seen.ok {
            v.errors += 1;
            return;
        }
        v.correct += u64::from(seen.correct);
        v.conversions += u64::from(seen.converted);
        if let Some(h) = v.latency_us.as_mut() {
            let us = u64::try_from(seen.latency.as_micros()).unwrap_or(u64::MAX);
            let _ = h.record(us.clamp(1, 60_000_000));
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        self.versions.values().map(|v| v.requests).sum()
    }

    /// One line for the live summary: requests, then each version's share, errors and
    /// accuracy (or conversion rate in an A/B test).
    pub(crate) fn line(&self, rps: f64, ab: bool) -> String {
        let total = self.requests();
        let parts: Vec<String> = self
            .versions
            .iter()
            .map(|(name, v)| {
                let quality = if ab {
                    v.conversion_rate()
                        .map_or("-".into(), |c| format!("conv {:.1}%", c * 100.0))
                } else {
                    v.accuracy()
                        .map_or("-".into(), |a| format!("acc {:.1}%", a * 100.0))
                };
                format!(
                    "{name} {:.0}% err {:.1}% {quality}",
                    ratio(v.requests, total) * 100.0,
                    v.error_rate() * 100.0
                )
            })
            .collect();
        format!("{total} req, {rps:.0} req/s │ {}", parts.join(" │ "))
    }
}

/// How a phase ended, for the final table.
#[derive(Debug, Clone)]
pub(crate) struct PhaseRow {
    pub(crate) name: String,
    pub(crate) tally: Tally,
    pub(crate) decision: String,
    pub(crate) time_to_decision: Duration,
}

/// The final table: one row per phase and version.
pub(crate) fn table(phases: &[PhaseRow]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "phase",
        "version",
        "requests",
        "error rate",
        "p95",
        "accuracy",
        "decision",
        "time to decision",
    ]);
    for phase in phases {
        for (i, (name, v)) in phase.tally.versions.iter().enumerate() {
            let first = i == 0;
            let accuracy = v
                .accuracy()
                .map_or("-".into(), |a| format!("{:.1}%", a * 100.0));
            t.add_row(vec![
                Cell::new(if first { phase.name.as_str() } else { "" }),
                Cell::new(name),
                Cell::new(v.requests).set_alignment(CellAlignment::Right),
                Cell::new(format!("{:.2}%", v.error_rate() * 100.0))
                    .set_alignment(CellAlignment::Right),
                Cell::new(v.p95_ms().map_or("-".into(), |p| format!("{p:.1} ms")))
                    .set_alignment(CellAlignment::Right),
                Cell::new(accuracy).set_alignment(CellAlignment::Right),
                Cell::new(if first { phase.decision.as_str() } else { "" }),
                Cell::new(if first {
                    format!("{:.1} s", phase.time_to_decision.as_secs_f64())
                } else {
                    String::new()
                })
                .set_alignment(CellAlignment::Right),
            ]);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(version: &str, ok: bool, ms: u64, correct: bool) -> Seen<'_> {
        Seen {
            version,
            ok,
            latency: Duration::from_millis(ms),
            correct,
            converted: correct,
        }
    }

    #[test]
    fn a_tally_counts_errors_accuracy_and_latency_per_version() {
        let mut t = Tally::default();
        for i in 0..100 {
            t.record(&seen("v1", true, 1 + i % 10, i % 4 != 0));
        }
        t.record(&seen("v2", false, 5, false));
        assert_eq!(t.requests(), 101);
        let v1 = &t.versions["v1"];
        assert_eq!(v1.accuracy(), Some(0.75));
        assert!(v1.p95_ms().is_some_and(|p| (9.9..=10.1).contains(&p)));
        let v2 = &t.versions["v2"];
        assert_eq!((v2.error_rate(), v2.accuracy()), (1.0, None));
        assert!(t.line(10.0, false).contains("v1 99%"));
    }

    #[test]
    fn the_table_names_each_phase_once_with_its_decision() {
        let mut tally = Tally::default();
        tally.record(&seen("v1", true, 2, true));
        tally.record(&seen("v2", true, 2, true));
        let rows = vec![PhaseRow {
            name: "canary".into(),
            tally,
            decision: "promoted".into(),
            time_to_decision: Duration::from_millis(12_300),
        }];
        let text = table(&rows).to_string();
        assert_eq!(text.matches("promoted").count(), 1, "{text}");
        assert!(text.contains("12.3 s"), "{text}");
    }
}
