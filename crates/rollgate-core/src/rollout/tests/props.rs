//! Properties over random event sequences on every example plan.

use super::*;
use crate::analysis::Outcome;
use crate::route::TOTAL_BPS;
use proptest::prelude::*;

const PLANS: [&str; 6] = [
    include_str!("../../../../../examples/plans/canary.yaml"),
    include_str!("../../../../../examples/plans/blue-green.yaml"),
    include_str!("../../../../../examples/plans/shadow-then-canary.yaml"),
    include_str!("../../../../../examples/plans/ab-test.yaml"),
    include_str!("../../../../../examples/plans/rolling.yaml"),
    "steps: [{set_weight: 500}, {pause: {}}, {set_header_route: {header: x-b}}, \
     {mirror: 100}, {smoke: [{body: \"{}\", max_latency: 1s}]}]",
];

fn event() -> impl Strategy<Value = Event> {
    let outcome = prop_oneof![
        Just(Outcome::Pass),
        Just(Outcome::Fail),
        Just(Outcome::Inconclusive)
    ];
    let winner = prop_oneof![
        Just(None),
        Just(Some("v1".to_string())),
        Just(Some("v2".to_string()))
    ];
    prop_oneof![
        6 => (0u64..50_000).prop_map(tick),
        2 => outcome.prop_map(verdict),
        1 => any::<bool>().prop_map(|passed| Event::SmokeResult { passed, summary: String::new() }),
        2 => Just(Event::RollingProgress(InstanceReport::Ready)),
        1 => winner.prop_map(|winner| Event::AbTestConcluded { winner, summary: String::new() }),
        1 => Just(Event::Pause),
        1 => Just(Event::Resume),
        1 => Just(Event::Approve),
        1 => Just(Event::Abort),
        1 => Just(Event::PromoteFull),
        1 => Just(Event::RollingProgress(InstanceReport::Failed { detail: String::new() })),
        1 => Just(Event::ManualIntervention { verb: "/set-canary-ratio".into(), detail: String::new() }),
    ]
}

fn valid(w: &Weights) -> bool {
    match w {
        Weights::Candidate(bps) => *bps <= TOTAL_BPS,
        Weights::Split(split) => split.iter().map(|(_, w)| w).sum::<u32>() == TOTAL_BPS,
    }
}

fn changes_traffic(a: &Action) -> bool {
    !matches!(a, Action::RecordEvent(_) | Action::Notify(_))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold_on_any_event_sequence(
        plan in 0..PLANS.len(),
        events in prop::collection::vec((event(), 0u64..400_000), 1..80),
    ) {
        let mut s = rollout(PLANS[plan]);
        let mut now = 0u64;
        for (event, dt) in events {
            now += dt;
            let t = step(&s, event.clone(), now);
            // Replaying from the persisted (JSON) state gives the same transition.
            let json = serde_json::to_string(&s).unwrap();
            let reloaded: RolloutState = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&step(&reloaded, event.clone(), now), &t);
            // Weights never exceed 100%, in the state or in any action.
            prop_assert!(valid(&t.state.weights));
            prop_assert!(t.state.mirror_bps <= TOTAL_BPS);
            for a in &t.actions {
                if let Action::SetWeights(w) = a {
                    prop_assert!(valid(w), "{:?}", a);
                }
                if let Action::SetMirror { bps } = a {
                    prop_assert!(*bps <= TOTAL_BPS);
                }
            }
            // A terminal state never changes traffic, and never changes at all.
            if s.phase.is_terminal() {
                prop_assert!(!t.actions.iter().any(changes_traffic), "{:?}", t.actions);
                prop_assert_eq!(&t.state, &s);
            }
            prop_assert!(t.state.index <= t.state.steps.len());
            // Elapsed time never exceeds the wall time since the step started.
            prop_assert!(t.state.elapsed(now) <= now - t.state.clock.started_at);
            // Terminal traffic matches how the rollout ended.
            match &t.state.phase {
                Phase::RolledBack { .. } | Phase::Aborted if !matches!(t.state.current(), Some(Step::Rolling(_))) => {
                    prop_assert_eq!(t.state.weights.candidate_bps("v2"), 0);
                    prop_assert_eq!(t.state.mirror_bps, 0);
                }
                Phase::Promoted => prop_assert_eq!(t.state.mirror_bps, 0),
                _ => {}
            }
            s = t.state;
        }
    }

    #[test]
    fn ticks_alone_never_pass_an_analysis_or_gate(ticks in prop::collection::vec((0u64..100_000, 0u64..10_000_000), 1..40)) {
        let mut s = rollout(PLANS[0]);
        let mut now = 0;
        for (requests, dt) in ticks {
            now += dt;
            s = step(&s, tick(requests), now).state;
        }
        // The canary's first stage is an analysis: without a verdict it never moves on.
        prop_assert_eq!(s.index, 1);
        prop_assert_eq!(&s.phase, &Phase::Analysing);
    }
}
