//! Unit and property tests of the routing decision.

use super::*;
use crate::route::{Overrides, RouteSpec, StickySource};
use crate::testing::SplitMix;
use proptest::prelude::*;

fn table(weights: &[(&str, u32)], stable: &str) -> RouteTable {
    RouteSpec {
        versions: weights.iter().map(|(v, _)| v.to_string()).collect(),
        weights: weights.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
        stable: Some(stable.into()),
        sticky: Some(StickySource::Header("x-user-id".into())),
        salt: "iris".into(),
        overrides: Overrides {
            canary_header: Some("x-canary".into()),
            pin_cookie: Some("rollgate-version".into()),
        },
        ..RouteSpec::default()
    }
    .build()
    .expect("valid table")
}

fn draws(route: u32) -> Draws {
    Draws { route, mirror: 0 }
}

/// Checks an observed count against the binomial expectation within 5 standard deviations.
fn assert_within_tolerance(observed: u64, n: u64, bps: u32) {
    let p = f64::from(bps) / 10_000.0;
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    let dev = (observed as f64 - mean).abs();
    assert!(
        dev <= 5.0 * sd + 1.0,
        "observed {observed} of {n}, expected {mean:.0} ± {:.0}",
        5.0 * sd
    );
}

#[test]
fn random_split_matches_weights_over_100k_requests() {
    let t = table(&[("v1", 9950), ("v2", 50)], "v1");
    let mut rng = SplitMix(7);
    let n = 100_000;
    let to_v2 = (0..n)
        .filter(|_| {
            let d = decide(
                &t,
                &RequestFacts::default(),
                draws((rng.next() % 10_000) as u32),
            );
            d.serve == VersionIdx(1)
        })
        .count() as u64;
    assert_within_tolerance(to_v2, n, 50);
}

#[test]
fn sticky_split_matches_weights_over_100k_users() {
    let t = table(&[("v1", 7500), ("v2", 2500)], "v1");
    let n = 100_000;
    let to_v2 = (0..n)
        .filter(|i| {
            let key = format!("user-{i}");
            let facts = RequestFacts {
                sticky_key: Some(&key),
                ..RequestFacts::default()
            };
            decide(&t, &facts, draws(0)).serve == VersionIdx(1)
        })
        .count() as u64;
    assert_within_tolerance(to_v2, n, 2500);
}

#[test]
fn overrides_win_over_weights() {
    let t = table(&[("v1", 10_000), ("v2", 0)], "v1");
    let always = RequestFacts {
        canary_header: Some("always"),
        sticky_key: Some("u1"),
        ..RequestFacts::default()
    };
    assert_eq!(decide(&t, &always, draws(0)).serve, VersionIdx(1));
    assert_eq!(
        decide(&t, &always, draws(0)).reason,
        Reason::ForcedCandidate
    );
    let t = table(&[("v1", 0), ("v2", 10_000)], "v2");
    let never = RequestFacts {
        canary_header: Some("never"),
        ..RequestFacts::default()
    };
    assert_eq!(decide(&t, &never, draws(0)).serve, VersionIdx(1));
}

#[test]
fn other_header_values_are_ignored() {
    let t = table(&[("v1", 10_000), ("v2", 0)], "v1");
    let facts = RequestFacts {
        canary_header: Some("Always"),
        ..RequestFacts::default()
    };
    assert_eq!(decide(&t, &facts, draws(9999)).serve, VersionIdx(0));
}

#[test]
fn pin_cookie_selects_known_versions_only() {
    let t = table(&[("v1", 10_000), ("v2", 0)], "v1");
    let pinned = RequestFacts {
        pinned: Some("v2"),
        ..RequestFacts::default()
    };
    let d = decide(&t, &pinned, draws(0));
    assert_eq!((d.serve, d.reason), (VersionIdx(1), Reason::Pinned));
    let unknown = RequestFacts {
        pinned: Some("v9"),
        ..RequestFacts::default()
    };
    assert_eq!(decide(&t, &unknown, draws(0)).reason, Reason::Weighted);
}

#[test]
fn mirror_follows_its_draw_and_skips_the_served_version() {
    let mut spec = RouteSpec {
        versions: vec!["v1".into(), "v2".into()],
        weights: vec![("v1".into(), 10_000)],
        mirror: Some(("v2".into(), 2500)),
        ..RouteSpec::default()
    };
    let t = spec.clone().build().unwrap();
    let facts = RequestFacts::default();
    let d = decide(
        &t,
        &facts,
        Draws {
            route: 0,
            mirror: 2499,
        },
    );
    assert_eq!(d.mirror, Some(VersionIdx(1)));
    let d = decide(
        &t,
        &facts,
        Draws {
            route: 0,
            mirror: 2500,
        },
    );
    assert_eq!(d.mirror, None);
    spec.weights = vec![("v1".into(), 5000), ("v2".into(), 5000)];
    spec.stable = Some("v1".into());
    let t = spec.build().unwrap();
    let d = decide(
        &t,
        &facts,
        Draws {
            route: 0,
            mirror: 0,
        },
    );
    assert_eq!((d.serve, d.mirror), (VersionIdx(1), None));
}

#[test]
fn bucket_is_stable_and_salted() {
    assert_eq!(bucket("iris", "user-42"), bucket("iris", "user-42"));
    let moved = (0..1000)
        .filter(|i| bucket("a", &i.to_string()) != bucket("b", &i.to_string()))
        .count();
    assert!(moved > 900, "a new salt reshuffles users, moved {moved}");
}

proptest! {
    #[test]
    fn same_key_same_version(key in ".{0,40}", w in 0u32..=10_000) {
        let t = table(&[("v1", 10_000 - w), ("v2", w)], "v1");
        let facts = RequestFacts { sticky_key: Some(&key), ..RequestFacts::default() };
        let first = decide(&t, &facts, draws(0)).serve;
        for r in [1, 5000, 9999] {
            prop_assert_eq!(decide(&t, &facts, draws(r)).serve, first);
        }
    }

    #[test]
    fn raising_candidate_weight_only_moves_users_onto_it(
        key in "[a-z0-9]{1,20}", low in 0u32..=10_000, extra in 0u32..=10_000,
    ) {
        let high = (low + extra).min(10_000);
        let before = table(&[("v1", 10_000 - low), ("v2", low)], "v1");
        let after = table(&[("v1", 10_000 - high), ("v2", high)], "v1");
        let facts = RequestFacts { sticky_key: Some(&key), ..RequestFacts::default() };
        let was = decide(&before, &facts, draws(0)).serve;
        let now = decide(&after, &facts, draws(0)).serve;
        prop_assert!(was == now || now == VersionIdx(1), "moved off the candidate");
    }

    #[test]
    fn three_way_raise_of_last_candidate_never_moves_users_between_candidates(
        key in "[a-z0-9]{1,20}", a in 0u32..=5000, b in 0u32..=2500, extra in 0u32..=2500,
    ) {
        let before = table(&[("v1", 10_000 - a - b), ("v2", a), ("v3", b)], "v1");
        let after = table(&[("v1", 10_000 - a - b - extra), ("v2", a), ("v3", b + extra)], "v1");
        let facts = RequestFacts { sticky_key: Some(&key), ..RequestFacts::default() };
        let was = decide(&before, &facts, draws(0)).serve;
        let now = decide(&after, &facts, draws(0)).serve;
        prop_assert!(was == now || (was == VersionIdx(0) && now == VersionIdx(2)));
    }

    #[test]
    fn every_draw_lands_on_a_version_with_weight(
        w in 0u32..=10_000, draw in 0u32..10_000,
    ) {
        let t = table(&[("v1", 10_000 - w), ("v2", w)], "v1");
        let d = decide(&t, &RequestFacts::default(), draws(draw));
        prop_assert!(t.weight(d.serve) > 0);
    }
}

/// A service mirroring 100% to v2 whose flag `new-model` sends the user `alice` to v2 and
/// everyone else to v1.
fn mirrored_with_flag() -> (RouteTable, ServiceFlags) {
    let t = RouteSpec {
        versions: vec!["v1".into(), "v2".into()],
        weights: vec![("v1".into(), 10_000)],
        mirror: Some(("v2".into(), 10_000)),
        overrides: Overrides {
            canary_header: Some("x-canary".into()),
            pin_cookie: None,
        },
        ..RouteSpec::default()
    }
    .build()
    .expect("valid table");
    let set = crate::flags::FlagSet::from_yaml(
        "flags:
  new-model:
    enabled: true
    variants: { stable: v1, candidate: v2 }
    default_variant: stable
    off_variant: stable
    targets: { candidate: [alice] }
",
    )
    .expect("valid flags");
    let flags = ServiceFlags {
        route_by: "new-model".into(),
        set: std::sync::Arc::new(set),
    };
    (t, flags)
}

/// The facts of a request with the service's routing flag and the request's context.
fn with_flag<'a>(flags: &'a ServiceFlags, context: &'a Context<'a>) -> RequestFacts<'a> {
    RequestFacts {
        flag: Some(FlagFacts { flags, context }),
        ..RequestFacts::default()
    }
}

#[test]
fn a_flag_choosing_the_mirror_target_serves_it_without_a_copy() {
    let (t, flags) = mirrored_with_flag();
    let alice = Context::with_key("alice");
    let facts = with_flag(&flags, &alice);
    let d = decide(&t, &facts, draws(0));
    assert_eq!(
        (d.serve, d.reason, d.mirror),
        (VersionIdx(1), Reason::Flag, None)
    );
    let carol = Context::with_key("carol");
    let facts = with_flag(&flags, &carol);
    let d = decide(&t, &facts, draws(0));
    assert_eq!((d.serve, d.reason), (VersionIdx(0), Reason::Flag));
    assert_eq!(
        d.mirror,
        Some(VersionIdx(1)),
        "stable's requests are mirrored"
    );
}

#[test]
fn overrides_win_over_the_flag() {
    let (t, flags) = mirrored_with_flag();
    let carol = Context::with_key("carol");
    let facts = RequestFacts {
        canary_header: Some("always"),
        ..with_flag(&flags, &carol)
    };
    let d = decide(&t, &facts, draws(0));
    assert_eq!(
        (d.serve, d.reason, d.mirror),
        (VersionIdx(1), Reason::ForcedCandidate, None)
    );
}

#[test]
fn a_flag_naming_no_version_of_the_table_leaves_the_weights() {
    let (t, mut flags) = mirrored_with_flag();
    flags.route_by = "no-such-flag".into();
    let alice = Context::with_key("alice");
    let facts = with_flag(&flags, &alice);
    assert_eq!(decide(&t, &facts, draws(0)).reason, Reason::Weighted);
}

proptest! {
    /// Whatever the facts, draws and flag outcome, a request is never mirrored to the
    /// version that serves it.
    #[test]
    fn the_mirror_is_never_the_served_version(
        user in "[a-z]{1,8}",
        alice in any::<bool>(),
        header in prop::option::of(prop_oneof![Just("always"), Just("never"), Just("x")]),
        route in 0u32..10_000,
        mirror in 0u32..10_000,
    ) {
        let (t, flags) = mirrored_with_flag();
        let ctx = Context::with_key(if alice { "alice" } else { &user });
        let facts = RequestFacts {
            canary_header: header,
            flag: Some(FlagFacts { flags: &flags, context: &ctx }),
            ..RequestFacts::default()
        };
        let d = decide(&t, &facts, Draws { route, mirror });
        prop_assert_ne!(d.mirror, Some(d.serve));
    }
}
