//! Where analysis windows come from: the per-version numbers of one version since the start
//! of an analysis, behind one trait so that the judge does not care whether they were counted
//! in this process or queried from a Prometheus server that scrapes other proxies too.

pub(crate) mod fleet;
pub(crate) mod local;
pub(crate) mod prometheus;

use rollgate_core::analysis::VersionWindow;

/// The start of an analysis window for one version: whatever a source needs to subtract
/// later (counter values, a time).
#[derive(Debug, Clone)]
pub(crate) struct Mark {
    /// When the window opened (monotonic, for sources that filter their own samples).
    pub(crate) at: std::time::Instant,
    /// When the window opened, Unix ms: a remote source asks for the range from here to now.
    pub(crate) at_ms: u64,
    /// Counters at that moment, for sources that count themselves.
    pub(crate) totals: Option<local::Totals>,
    /// Each replica's counters at that moment, by replica, with the incarnation they belong
    /// to (a replica restarted since counts from zero again).
    pub(crate) fleet: Option<fleet::Baseline>,
}

impl Mark {
    /// A mark at this instant, without counters.
    pub(crate) fn now() -> Self {
        Self {
            at: std::time::Instant::now(),
            at_ms: crate::store::now_ms().max(0) as u64,
            totals: None,
            fleet: None,
        }
    }
}

/// A source of per-version analysis windows.
///
/// `window` is async because a remote source answers over the network; `mark` stays sync
/// because opening a window only records the moment (and local counters).
#[async_trait::async_trait]
pub(crate) trait MetricSource: Send + Sync + std::fmt::Debug {
    /// Opens a window for a version now.
    fn mark(&self, service: &str, version: &str) -> Mark;
    /// The version's numbers from `since` until now. Never fails: a source that cannot answer
    /// returns an empty window (the judge then says inconclusive) and logs why.
    async fn window(&self, service: &str, version: &str, since: &Mark) -> VersionWindow;
}
