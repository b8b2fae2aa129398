//! Where analysis windows come from: the per-version numbers of one version since the start
//! of an analysis, behind one trait so that the judge does not care whether they were counted
//! in this process or queried from a Prometheus server that scrapes other proxies too.

pub(crate) mod local;

use rollgate_core::analysis::VersionWindow;

/// The start of an analysis window for one version: whatever a source needs to subtract
/// later (counter values, a time).
#[derive(Debug, Clone)]
pub(crate) struct Mark {
    /// When the window opened.
    pub(crate) at: std::time::Instant,
    /// Counters at that moment, for sources that count themselves.
    pub(crate) totals: Option<local::Totals>,
}

/// A source of per-version analysis windows.
pub(crate) trait MetricSource: Send + Sync + std::fmt::Debug {
    /// Opens a window for a version now.
    fn mark(&self, service: &str, version: &str) -> Mark;
    /// The version's numbers from `since` until now.
    fn window(&self, service: &str, version: &str, since: &Mark) -> VersionWindow;
}
