//! How a replica follows the shared store: it catches up whenever the change feed says so,
//! and on a slow poll besides, since a notification sent while the feed was reconnecting is
//! lost. Every replica follows, the one that made a change too (its catch-up finds nothing
//! newer).

use super::plane::ControlPlane;
use crate::store::ChangeFeed;
use std::sync::Arc;
use std::time::Duration;

/// How often a replica reads the store even when the feed is quiet: the backstop for missed
/// notifications.
pub(crate) const POLL: Duration = Duration::from_secs(5);

/// Catches up on every wake of the feed or the poll, until the task is dropped.
pub(crate) async fn follow(plane: Arc<ControlPlane>, mut feed: impl ChangeFeed, poll: Duration) {
    loop {
        tokio::select! {
            () = feed.changed() => {}
            () = tokio::time::sleep(poll) => {}
        }
        match plane.catch_up().await {
            Ok(adopted) => {
                for (service, revision) in adopted {
                    tracing::info!(%service, revision, "adopted a change made elsewhere");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot catch up with the store yet; serving what this replica has");
            }
        }
    }
}

#[cfg(test)]
mod tests;
