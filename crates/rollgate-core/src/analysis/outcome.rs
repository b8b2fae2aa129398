//! The three-valued result of judging a candidate.

use serde::{Deserialize, Serialize};

/// What an analysis concluded: the vocabulary every strategy acts on.
///
/// `Inconclusive` is a first-class answer (too little data, still warming up), never folded
/// silently into a pass or a failure: what it means for a rollout is the plan's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every check passed with enough data.
    Pass,
    /// At least one check failed beyond its failure limit.
    Fail,
    /// Not enough evidence either way yet.
    Inconclusive,
}

impl Outcome {
    /// The outcome as reports and records name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
