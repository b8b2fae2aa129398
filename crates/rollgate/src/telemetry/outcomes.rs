//! What a version's predictions turned out to be worth: ground-truth labels joined after the
//! fact, business rewards, and outputs that were invalid on their face.
//!
//! Labels arrive seconds to hours after the answer, through `POST /v1/feedback`, far off the
//! request path; only the invalid-output count is touched per request, and it is an atomic.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

/// Running sums of the feedback a version received.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub(crate) struct OutcomeSums {
    /// Predictions with a ground-truth label joined.
    pub(crate) labelled: u64,
    /// Of those, how many a classifier got right.
    pub(crate) correct: u64,
    /// Sum of absolute errors of a regressor's labelled predictions.
    pub(crate) abs_error: f64,
    /// Sum of squared errors of a regressor's labelled predictions.
    pub(crate) sq_error: f64,
    /// Rewards (conversions as 0/1) reported.
    pub(crate) rewards: u64,
    /// Sum of the rewards.
    pub(crate) reward_sum: f64,
    /// Sum of the squared rewards (for a variance).
    pub(crate) reward_sq_sum: f64,
}

/// A version's outcome counters.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    invalid: AtomicU64,
    sums: Mutex<OutcomeSums>,
}

impl Outcomes {
    /// Counts predictions that were invalid on their face (NaN, out of range, unknown class).
    pub(crate) fn record_invalid(&self, n: u64) {
        self.invalid.fetch_add(n, Relaxed);
    }

    /// Invalid predictions so far.
    pub(crate) fn invalid(&self) -> u64 {
        self.invalid.load(Relaxed)
    }

    /// Records a classifier's labelled prediction.
    pub(crate) fn record_label(&self, correct: bool) {
        let mut s = self.lock();
        s.labelled += 1;
        s.correct += u64::from(correct);
    }

    /// Records a regressor's labelled prediction by its error.
    pub(crate) fn record_error(&self, error: f64) {
        let mut s = self.lock();
        s.labelled += 1;
        s.abs_error += error.abs();
        s.sq_error += error * error;
    }

    /// Records a business reward (a conversion is 1, no conversion 0).
    pub(crate) fn record_reward(&self, reward: f64) {
        let mut s = self.lock();
        s.rewards += 1;
        s.reward_sum += reward;
        s.reward_sq_sum += reward * reward;
    }

    /// A copy of the sums.
    pub(crate) fn sums(&self) -> OutcomeSums {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutcomeSums> {
        self.sums.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_errors_and_rewards_accumulate() {
        let o = Outcomes::default();
        o.record_label(true);
        o.record_label(false);
        o.record_error(-2.0);
        o.record_reward(1.0);
        o.record_reward(0.0);
        o.record_invalid(3);
        let s = o.sums();
        assert_eq!((s.labelled, s.correct), (3, 1));
        assert_eq!((s.abs_error, s.sq_error), (2.0, 4.0));
        assert_eq!((s.rewards, s.reward_sum, s.reward_sq_sum), (2, 1.0, 1.0));
        assert_eq!(o.invalid(), 3);
    }
}
