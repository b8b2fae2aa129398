//! The routing decision: a route table built from arbitrary parts, arbitrary request facts
//! and draws, through `rollgate_core::router::decide`.
//!
//! Invariants: the served version is in the table; a weighted or sticky choice has a nonzero
//! weight; forced and pinned choices happen only for the override that asked for them and
//! name what it asked for; a mirror is the table's mirror target, never the served version,
//! and only when the draw falls in its share; a sticky key decides alone (other draws do not
//! move it), and the decision is deterministic.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rollgate_core::route::{Overrides, RouteSpec, RouteTable, StickySource, TOTAL_BPS};
use rollgate_core::router::{decide, Decision, Draws, Reason, RequestFacts};

#[derive(Debug, Arbitrary)]
struct Input {
    versions: Vec<String>,
    weights: Vec<(u8, u16)>,
    /// Scale the weights to sum to 100% (else they are taken as they come, mostly refused).
    exact_sum: bool,
    stable: Option<u8>,
    candidate: Option<u8>,
    sticky: bool,
    salt: String,
    mirror: Option<(u8, u16)>,
    sticky_key: Option<String>,
    canary: Option<Canary>,
    pinned: Option<PinTo>,
    route_draw: u32,
    mirror_draw: u32,
    other_draw: u32,
}

#[derive(Debug, Arbitrary)]
enum Canary {
    Always,
    Never,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum PinTo {
    Version(u8),
    Other(String),
}

fn name(versions: &[String], i: u8) -> String {
    versions
        .get(usize::from(i) % versions.len().max(1))
        .cloned()
        .unwrap_or_default()
}

fn table(input: &Input) -> Option<RouteTable> {
    let versions: Vec<String> = input.versions.iter().take(8).cloned().collect();
    let pick = |i: u8| name(&versions, i);
    let mut weights: Vec<(String, u32)> = input
        .weights
        .iter()
        .take(8)
        .map(|&(i, bps)| (pick(i), u32::from(bps)))
        .collect();
    if input.exact_sum {
        let mut left = TOTAL_BPS;
        for w in &mut weights {
            w.1 = w.1.min(left);
            left -= w.1;
        }
        if let Some(last) = weights.last_mut() {
            last.1 += left;
        }
    }
    let spec = RouteSpec {
        weights,
        stable: input.stable.map(pick),
        candidate: input.candidate.map(pick),
        sticky: input
            .sticky
            .then(|| StickySource::Header("x-user-id".into())),
        salt: input.salt.clone(),
        overrides: Overrides {
            canary_header: Some("x-canary".into()),
            pin_cookie: Some("rollgate-version".into()),
        },
        mirror: input.mirror.map(|(i, bps)| (pick(i), u32::from(bps))),
        versions: versions.clone(),
    };
    spec.build().ok()
}

fn check(table: &RouteTable, facts: &RequestFacts<'_>, draws: Draws, d: Decision) {
    let served = usize::from(d.serve.0);
    assert!(
        served < table.versions().len(),
        "served index out of the table"
    );
    match d.reason {
        Reason::Weighted | Reason::Sticky => {
            assert!(table.weight(d.serve) > 0, "a 0% version was drawn: {d:?}");
            assert_eq!(d.reason == Reason::Sticky, facts.sticky_key.is_some());
        }
        Reason::ForcedCandidate => {
            assert_eq!(facts.canary_header, Some("always"));
            assert_eq!(d.serve, table.candidate().unwrap_or(table.stable()));
        }
        Reason::ForcedStable => {
            assert_eq!(facts.canary_header, Some("never"));
            assert_eq!(d.serve, table.stable());
        }
        Reason::Pinned => assert_eq!(facts.pinned, Some(table.name(d.serve))),
        Reason::Flag => panic!("decide never answers for a flag"),
    }
    match (d.mirror, table.mirror()) {
        (None, _) => {}
        (Some(m), Some(mirror)) => {
            assert_eq!(m, mirror.target);
            assert_ne!(m, d.serve, "mirrored to the served version");
            assert!(draws.mirror < mirror.bps, "mirrored outside its share");
        }
        (Some(_), None) => panic!("a mirror without a mirror in the table"),
    }
}

fuzz_target!(|input: Input| {
    let Some(table) = table(&input) else {
        return;
    };
    let pinned = match &input.pinned {
        Some(PinTo::Version(i)) => Some(name(table.versions(), *i)),
        Some(PinTo::Other(s)) => Some(s.clone()),
        None => None,
    };
    let canary = match &input.canary {
        Some(Canary::Always) => Some("always"),
        Some(Canary::Never) => Some("never"),
        Some(Canary::Other(s)) => Some(s.as_str()),
        None => None,
    };
    let facts = RequestFacts {
        sticky_key: input.sticky_key.as_deref(),
        canary_header: canary,
        pinned: pinned.as_deref(),
        flag: None,
    };
    let draws = Draws {
        route: input.route_draw,
        mirror: input.mirror_draw,
    };
    let d = decide(&table, &facts, draws);
    check(&table, &facts, draws, d);
    assert_eq!(decide(&table, &facts, draws), d, "not deterministic");
    if d.reason == Reason::Sticky {
        let other = Draws {
            route: input.other_draw,
            mirror: draws.mirror,
        };
        assert_eq!(
            decide(&table, &facts, other).serve,
            d.serve,
            "a sticky key moved"
        );
    }
});
