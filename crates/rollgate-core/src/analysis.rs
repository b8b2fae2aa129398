//! Analysis: per-version metric windows, checks, and the judge that turns them into a verdict.
//!
//! - [`window`]: what one version measured ([`VersionWindow`]), filled by the binary;
//! - [`template`]: the checks to apply ([`AnalysisTemplate`]), read from YAML;
//! - [`judge`](judge()): the verdict of a candidate against its baseline, with the small state
//!   sequential testing needs between looks ([`JudgeState`]);
//! - [`ab`]: per-variant statistics of an A/B experiment;
//! - [`incident`]: a report of a failed verdict;
//! - [`simulate`]: seeded replays comparing the judge with a fixed-threshold policy.

pub mod ab;
pub mod incident;
mod judge;
mod outcome;
pub mod simulate;
pub mod template;
pub mod window;

pub use judge::{judge, CheckResult, CheckState, JudgeState, Verdict, DEFAULT_RATE_TAU};
pub use outcome::Outcome;
pub use template::{AnalysisTemplate, Check, Condition, Metric, OnInconclusive, TemplateError};
pub use window::VersionWindow;
