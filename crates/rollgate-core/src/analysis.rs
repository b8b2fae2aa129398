//! Analysis: per-version metric windows, checks, and the judge that turns them into a verdict.

mod outcome;

pub use outcome::Outcome;
