//! Putting a route back in line with its rollout after a route change failed.
//!
//! A transition is stored before its actions run, so a route change refused afterwards (the
//! store failing between the two writes) leaves the stored state ahead of the live route:
//! the rollout says 10% while traffic stays at 0%, or says rolled back while the candidate
//! still takes its share. A restart repairs that (`reconcile`); this does it while running:
//! the run is marked, and every tick writes the route its state implies until one write
//! succeeds.

use super::{route, Controller, Run};
use rollgate_core::catalog::Change;
use rollgate_core::rollout::{Phase, Step};

impl Controller {
    /// Re-applies the weights, mirror and header rule the rollout's state records, if a
    /// route change of this run failed. Nothing is written when the route is no longer the
    /// rollout's to set: after a promotion, in a rolling update (its weights follow the
    /// instances) and after an operator changed traffic by hand.
    pub(super) async fn repair_route(&self, service: &str, run: &mut Run) {
        if !run.route_behind {
            return;
        }
        if !owns_route(run) {
            run.route_behind = false;
            return;
        }
        let Ok(live) = self.plane.service(service).await else {
            return;
        };
        let (s, t) = (&run.state, &run.state.target);
        let spec = route::with_weights(
            live.spec.route.to_spec(),
            &s.weights,
            &t.stable,
            &t.candidate,
        );
        let spec = route::with_mirror(spec, &t.candidate, s.mirror_bps);
        let spec = route::with_header_route(spec, s.header_route.as_ref());
        match self
            .plane
            .change_by_controller(service, Change::SetRoute(spec))
            .await
        {
            Ok(_) => {
                run.route_behind = false;
                let text = "route repaired: traffic follows the rollout's state again";
                tracing::info!(service, "{text}");
                self.note(service, text).await;
            }
            // Logged, not noted: the event log would get one note per tick.
            Err(e) => tracing::warn!(service, error = %e, "route still behind the rollout"),
        }
    }
}

/// True when the rollout's state decides the service's route.
fn owns_route(run: &Run) -> bool {
    let rolling = matches!(run.state.current(), Some(Step::Rolling(_)));
    !(run.state.phase.by_hand() || rolling || run.state.phase == Phase::Promoted)
}
