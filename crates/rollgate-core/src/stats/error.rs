//! The one error type of the statistics module: every way an input can be unusable.

/// Why a statistical function refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A sample, histogram or table holds no observation at all.
    #[error("{what} has no observations")]
    Empty {
        /// Which input was empty.
        what: &'static str,
    },
    /// More events than trials were reported for one arm.
    #[error("{events} events out of only {trials} trials")]
    EventsExceedTrials {
        /// The reported event count.
        events: u64,
        /// The reported trial count.
        trials: u64,
    },
    /// A parameter lies outside the range where the method is defined.
    #[error("{name} = {value} is outside {expected}")]
    OutOfRange {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The admissible range, in words.
        expected: &'static str,
    },
    /// A sample contains NaN, which cannot be ranked.
    #[error("{what} contains NaN")]
    NaN {
        /// Which input held the NaN.
        what: &'static str,
    },
    /// Two inputs that must be aligned (pairs, bins, shares) have different lengths.
    #[error("lengths differ: {left} vs {right}")]
    LengthMismatch {
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
    /// An input has fewer entries than the method needs.
    #[error("{what} needs at least {min} entries, got {got}")]
    TooFew {
        /// Which input was too short.
        what: &'static str,
        /// The least number of entries accepted.
        min: usize,
        /// The number given.
        got: usize,
    },
}
