//! Which replica runs the rollout controller. On a shared store the replicas elect one through
//! a lease row renewed on the database's clock (`Store::acquire_lease`); the holder starts a
//! controller, which resumes every stored rollout at its step, and stops it when the lease
//! is lost. Every controller write carries the lease's epoch (the plane's fence), so a
//! paused old leader's late writes are refused by the store.

use super::Controller;
use crate::control::plane::ControlPlane;
use arc_swap::ArcSwapOption;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the controller is when this replica runs it.
pub(crate) type Slot = Arc<ArcSwapOption<Controller>>;

/// What this replica leads with: the running controller and the lease it runs under.
struct Leading {
    controller: Arc<Controller>,
    epoch: i64,
    renewed: Instant,
}

/// Takes and renews the lease every third of `lease`, running a controller (from `start`)
/// while it is held. Never returns; the task is aborted at shutdown.
pub(crate) async fn lead<F, Fut>(
    plane: Arc<ControlPlane>,
    replica: String,
    lease: Duration,
    slot: Slot,
    start: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Arc<Controller>>>,
{
    let mut leading: Option<Leading> = None;
    loop {
        // Timed from before the request: the store's clock started the lease no earlier.
        let asked = Instant::now();
        match plane.take_lease(&replica, lease).await {
            Ok(Some(fence)) => match leading.as_mut() {
                Some(l) if l.epoch == fence.epoch => l.renewed = asked,
                _ => {
                    step_down(&mut leading, &slot, "a new epoch");
                    match start().await {
                        Ok(controller) => {
                            tracing::info!(
                                replica,
                                epoch = fence.epoch,
                                "took the controller lease: running rollouts"
                            );
                            slot.store(Some(Arc::clone(&controller)));
                            leading = Some(Leading {
                                controller,
                                epoch: fence.epoch,
                                renewed: asked,
                            });
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot start the controller yet"),
                    }
                }
            },
            Ok(None) => step_down(&mut leading, &slot, "another replica holds the lease"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the controller lease");
                if leading
                    .as_ref()
                    .is_some_and(|l| l.renewed.elapsed() >= lease)
                {
                    step_down(&mut leading, &slot, "the lease ran out unrenewed");
                }
            }
        }
        tokio::time::sleep(lease / 3).await;
    }
}

fn step_down(leading: &mut Option<Leading>, slot: &Slot, why: &str) {
    if let Some(l) = leading.take() {
        tracing::warn!(
            epoch = l.epoch,
            why,
            "no longer the controller: rollouts stop here"
        );
        slot.store(None);
        l.controller.stop();
    }
}
