//! Shadow divergence: how a mirrored candidate's answers differ from stable's on the same
//! requests.
//!
//! Both versions answered the same input, so every comparison is paired: a disagreement rate
//! (classes) or mean absolute difference (regression) needs far fewer requests than comparing
//! two independent samples, and McNemar's test on paired correctness (once labels arrive) and
//! Wilcoxon's on paired latencies use the pairs kept here. Recorded off the client's path, in
//! the mirror task.

use super::ErrorKind;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// Paired latencies kept for rank tests; older pairs are overwritten.
const MAX_PAIRS: usize = 2048;
/// Divergent requests kept as examples for reports.
const MAX_EXAMPLES: usize = 20;

/// One request on which the candidate disagreed with stable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Divergence {
    pub(crate) request_id: String,
    pub(crate) stable: String,
    pub(crate) candidate: String,
}

/// Paired correctness once labels are joined: the four cells of McNemar's table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(crate) struct PairedCorrect {
    pub(crate) both: u64,
    pub(crate) only_stable: u64,
    pub(crate) only_candidate: u64,
    pub(crate) neither: u64,
}

/// Everything measured about a shadow candidate against stable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct ShadowSums {
    /// Rows compared.
    pub(crate) compared: u64,
    /// Rows whose class differed.
    pub(crate) disagreements: u64,
    /// Sum of absolute differences of regression outputs.
    pub(crate) abs_diff: f64,
    /// Mirrored requests the candidate answered or failed while stable's answer succeeded:
    /// the candidate's own requests in shadow mode, the trials of its error and
    /// invalid-output rates.
    pub(crate) requests: u64,
    /// Those of `requests` the candidate failed, by kind (indexed by [`ErrorKind`]); the API
    /// shows their total ([`ShadowSums::candidate_errors`]).
    #[serde(skip)]
    pub(crate) errors: [u64; 5],
    pub(crate) paired: PairedCorrect,
}

impl ShadowSums {
    /// Failed mirrored requests of one kind.
    pub(crate) fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }

    /// Failed mirrored requests, all kinds.
    pub(crate) fn candidate_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

#[derive(Debug, Default)]
struct Inner {
    sums: ShadowSums,
    latency_pairs: VecDeque<(f64, f64)>,
    examples: VecDeque<Divergence>,
}

/// A version's shadow comparisons (only versions that receive mirrored traffic have any).
#[derive(Debug, Default)]
pub(crate) struct Shadow(Mutex<Inner>);

impl Shadow {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one compared request: rows compared, rows that disagreed, summed absolute
    /// difference, both latencies in milliseconds, and an example if it diverged.
    pub(crate) fn record(
        &self,
        rows: u64,
        disagreements: u64,
        abs_diff: f64,
        latency_ms: (f64, f64),
        example: Option<Divergence>,
    ) {
        let mut inner = self.lock();
        inner.sums.compared += rows;
        inner.sums.disagreements += disagreements;
        inner.sums.abs_diff += abs_diff;
        push_bounded(&mut inner.latency_pairs, latency_ms, MAX_PAIRS);
        if let Some(e) = example {
            push_bounded(&mut inner.examples, e, MAX_EXAMPLES);
        }
    }

    /// Records one mirrored request the candidate answered (`None`) or failed, counted only
    /// when stable's answer to it succeeded, as a served request would be.
    pub(crate) fn record_request(&self, error: Option<ErrorKind>) {
        let sums = &mut self.lock().sums;
        sums.requests += 1;
        if let Some(kind) = error {
            sums.errors[kind.index()] += 1;
        }
    }

    /// Records a labelled row both versions answered: who was right.
    pub(crate) fn record_paired(&self, stable: bool, candidate: bool) {
        let p = &mut self.lock().sums.paired;
        match (stable, candidate) {
            (true, true) => p.both += 1,
            (true, false) => p.only_stable += 1,
            (false, true) => p.only_candidate += 1,
            (false, false) => p.neither += 1,
        }
    }

    /// A copy of the sums.
    pub(crate) fn sums(&self) -> ShadowSums {
        self.lock().sums.clone()
    }

    /// The paired `(stable, candidate)` latencies kept, oldest first.
    pub(crate) fn latency_pairs(&self) -> Vec<(f64, f64)> {
        self.lock().latency_pairs.iter().copied().collect()
    }

    /// Recent divergent requests.
    pub(crate) fn examples(&self) -> Vec<Divergence> {
        self.lock().examples.iter().cloned().collect()
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_and_pairs_accumulate_within_bounds() {
        let s = Shadow::default();
        for i in 0..(MAX_EXAMPLES + 5) {
            let e = Divergence {
                request_id: i.to_string(),
                stable: "a".into(),
                candidate: "b".into(),
            };
            s.record(2, 1, 0.0, (1.0, 2.0), Some(e));
        }
        s.record_paired(true, false);
        s.record_paired(false, false);
        s.record_request(None);
        s.record_request(Some(ErrorKind::Timeout));
        let sums = s.sums();
        assert_eq!((sums.requests, sums.candidate_errors()), (2, 1));
        assert_eq!(sums.errors(ErrorKind::Timeout), 1);
        assert_eq!(sums.errors(ErrorKind::Model), 0);
        assert_eq!((sums.compared, sums.disagreements), (50, 25));
        assert_eq!(sums.paired.only_stable, 1);
        assert_eq!(sums.paired.neither, 1);
        assert_eq!(s.examples().len(), MAX_EXAMPLES);
        assert_eq!(s.examples()[0].request_id, "5", "oldest examples go first");
        assert_eq!(s.latency_pairs().len(), MAX_EXAMPLES + 5);
    }
}
