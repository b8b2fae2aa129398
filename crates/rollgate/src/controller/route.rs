//! What a rollout's actions mean for a route table: pure rewrites of a [`RouteSpec`].

use rollgate_core::rollout::{HeaderMatch, Weights};
use rollgate_core::route::{RouteSpec, TOTAL_BPS};

/// The route with the rollout's weights: the candidate's share, stable the rest (or an explicit
/// split), and the candidate named as such so that `x-canary` and the views follow it.
pub(crate) fn with_weights(
    mut spec: RouteSpec,
    weights: &Weights,
    stable: &str,
    candidate: &str,
) -> RouteSpec {
    spec.weights = match weights {
        Weights::Candidate(bps) => {
            let bps = (*bps).min(TOTAL_BPS);
            vec![
                (stable.to_owned(), TOTAL_BPS - bps),
                (candidate.to_owned(), bps),
            ]
        }
        Weights::Split(split) => split.clone(),
    };
    spec.stable = Some(stable.to_owned());
    spec.candidate = Some(candidate.to_owned());
    spec
}

/// The route with `bps` of requests mirrored to the candidate (none at 0).
pub(crate) fn with_mirror(mut spec: RouteSpec, candidate: &str, bps: u32) -> RouteSpec {
    spec.mirror = (bps > 0).then(|| (candidate.to_owned(), bps.min(TOTAL_BPS)));
    spec
}

/// The route with a preview header: requests carrying `header: always` reach the candidate
/// whatever its weight (the router's canary header), `header: never` stay on stable. Clearing
/// the header route keeps the service's own canary header as it is.
pub(crate) fn with_header_route(mut spec: RouteSpec, route: Option<&HeaderMatch>) -> RouteSpec {
    if let Some(h) = route {
        spec.overrides.canary_header = Some(h.header.clone());
    }
    spec
}

/// Everything back on stable: candidate at 0, no mirror.
pub(crate) fn all_stable(spec: RouteSpec, stable: &str, candidate: &str) -> RouteSpec {
    let spec = with_weights(spec, &Weights::Candidate(0), stable, candidate);
    with_mirror(spec, candidate, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RouteSpec {
        RouteSpec {
            versions: vec!["v1".into(), "v2".into()],
            weights: vec![("v1".into(), TOTAL_BPS)],
            stable: Some("v1".into()),
            candidate: None,
            sticky: None,
            salt: String::new(),
            overrides: Default::default(),
            mirror: None,
        }
    }

    #[test]
    fn weights_give_stable_the_rest() {
        let s = with_weights(spec(), &Weights::Candidate(500), "v1", "v2");
        assert_eq!(s.weights, vec![("v1".into(), 9500), ("v2".into(), 500)]);
        assert_eq!(s.candidate.as_deref(), Some("v2"));
        assert!(s.build().is_ok());
    }

    #[test]
    fn mirror_and_rollback_rewrite_only_their_part() {
        let s = with_mirror(spec(), "v2", 10_000);
        assert_eq!(s.mirror, Some(("v2".into(), 10_000)));
        let back = all_stable(
            with_weights(s, &Weights::Candidate(2500), "v1", "v2"),
            "v1",
            "v2",
        );
        assert_eq!(back.mirror, None);
        assert_eq!(back.weights[1], ("v2".into(), 0));
    }
}
