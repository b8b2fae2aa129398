//! Operator events and edge cases, table-driven over phases.

use super::*;
use crate::analysis::Outcome;

const CANARY: &str = "steps: [{canary: {steps: [10, 50, 100], hold: 1m}}]";
const GATED: &str = "steps: [{set_weight: \"10%\"}, {approval: more}, {set_weight: \"50%\"}]";

/// A canary at 10%, holding, started at time 0.
fn holding() -> RolloutState {
    step(&rollout(CANARY), tick(0), 0).state
}

fn gated() -> RolloutState {
    step(&rollout(GATED), tick(0), 0).state
}

fn paused(reason: PauseReason) -> Phase {
    Phase::Paused { reason }
}

fn records_only(actions: &[Action]) -> bool {
    actions.iter().all(|a| matches!(a, Action::RecordEvent(_)))
}

#[test]
fn pausing_stops_the_clock_and_resuming_keeps_elapsed_time() {
    let (s, _) = run(&holding(), &[(Event::Pause, 20_000), (tick(0), 500_000)]);
    assert_eq!(s.phase, paused(PauseReason::Manual));
    assert_eq!(s.elapsed(900_000), 20_000, "paused time does not count");
    let (s, a) = run(&s, &[(Event::Resume, 1_000_000), (tick(0), 1_039_000)]);
    assert_eq!(effects(&a), vec![], "20s + 39s is not yet a minute");
    assert_eq!(s.index, 1);
    let t = step(&s, tick(0), 1_040_000);
    assert_eq!(effects(&t.actions), vec![candidate(5_000)]);
}

#[test]
fn a_gate_waits_for_approve_only() {
    let s = gated();
    assert_eq!(s.phase, paused(PauseReason::Gate));
    let (s2, a) = run(
        &s,
        &[(tick(10_000), 10_000_000), (Event::Resume, 10_000_001)],
    );
    assert_eq!(effects(&a), vec![]);
    assert_eq!(s2.index, s.index);
    // A manual pause on top of a gate still needs the approve.
    let (s3, _) = run(&s, &[(Event::Pause, 5), (Event::Resume, 6)]);
    assert_eq!(s3.phase, paused(PauseReason::Gate));
    let t = step(&s3, Event::Approve, 7);
    assert_eq!(effects(&t.actions), vec![candidate(5_000), promote_v2()]);
}

#[test]
fn the_gate_notifies_a_manual_gate_webhook() {
    let t = step(&rollout(GATED), tick(0), 0);
    assert!(notified(&t.actions).contains(&NotifyKind::ManualGate));
    let indefinite = step(&rollout("steps: [{pause: {}}]"), tick(0), 0);
    assert_eq!(indefinite.state.phase, paused(PauseReason::Gate));
}

/// (event, phase it leaves the 10% holding canary in, whether it changes traffic)
#[test]
fn operator_events_on_a_holding_canary() {
    let cases: Vec<(Event, Phase, Vec<Action>)> = vec![
        (Event::Pause, paused(PauseReason::Manual), vec![]),
        (Event::Resume, Phase::Progressing, vec![]),
        (Event::Approve, Phase::Progressing, vec![]),
        (
            Event::PromoteFull,
            Phase::Promoted,
            vec![candidate(10_000), promote_v2()],
        ),
        (
            Event::Abort,
            Phase::Aborted,
            vec![Action::Rollback {
                reason: "aborted by operator at step 2/6 (pause)".into(),
            }],
        ),
        (
            Event::ManualIntervention {
                verb: "/set-canary-ratio".into(),
                detail: "ratio 0.3".into(),
            },
            paused(PauseReason::Intervention {
                verb: "/set-canary-ratio".into(),
            }),
            vec![],
        ),
        (verdict(Outcome::Pass), Phase::Progressing, vec![]),
        (
            Event::SmokeResult {
                passed: false,
                summary: String::new(),
            },
            Phase::Progressing,
            vec![],
        ),
        (
            Event::RollingProgress(InstanceReport::Ready),
            Phase::Progressing,
            vec![],
        ),
    ];
    for (event, phase, expected) in cases {
        let t = step(&holding(), event.clone(), 10_000);
        assert_eq!(t.state.phase, phase, "{event:?}");
        assert_eq!(effects(&t.actions), expected, "{event:?}");
    }
}

#[test]
fn ignored_events_change_nothing_but_the_record() {
    let s = holding();
    for event in [Event::Resume, Event::Approve, verdict(Outcome::Fail)] {
        let t = step(&s, event.clone(), 10_000);
        assert_eq!(t.state, s, "{event:?}");
        assert!(records_only(&t.actions), "{event:?}");
        assert_eq!(t.actions.len(), 1, "{event:?}");
    }
}

#[test]
fn an_intervention_pauses_and_resume_restores_the_plan() {
    let hand = Event::ManualIntervention {
        verb: "/set-canary-ratio".into(),
        detail: "ratio 0.3".into(),
    };
    let t = step(&holding(), hand, 30_000);
    assert_eq!(notified(&t.actions), vec![NotifyKind::ManualGate]);
    let (s, a) = run(&t.state, &[(tick(0), 400_000), (Event::Resume, 500_000)]);
    assert_eq!(
        effects(&a),
        vec![
            candidate(1_000),
            Action::SetMirror { bps: 0 },
            Action::SetHeaderRoute(None)
        ]
    );
    assert_eq!(s.elapsed(500_000), 30_000);
}

#[test]
fn a_gradual_abort_steps_down_then_rolls_back() {
    let yaml = "steps: [{canary: {steps: [50, 100], hold: 1m}}]\n\
                abort: {gradual: [\"60%\", \"25%\", \"5%\"], interval: 30s}";
    let s = step(&rollout(yaml), tick(0), 0).state;
    let t = step(&s, Event::Abort, 1_000);
    assert_eq!(
        effects(&t.actions),
        vec![candidate(2_500)],
        "60% is above 50%: skipped"
    );
    assert_eq!(t.state.phase, Phase::Aborting { next: 1 });
    let (s2, a) = run(&t.state, &[(tick(0), 30_000), (tick(0), 31_000)]);
    assert_eq!(effects(&a), vec![candidate(500)]);
    let (s3, a) = run(&s2, &[(tick(0), 61_000)]);
    assert!(matches!(&effects(&a)[..], [Action::Rollback { .. }]));
    assert_eq!(s3.phase, Phase::Aborted);
    // Operator events other than abort do not interrupt the way back; a second abort hurries.
    for event in [Event::PromoteFull, Event::Pause, Event::Approve] {
        let u = step(&t.state, event.clone(), 2_000);
        assert!(records_only(&u.actions), "{event:?}");
    }
    let hurry = step(&t.state, Event::Abort, 2_000);
    assert_eq!(hurry.state.phase, Phase::Aborted);
}

#[test]
fn aborting_a_pending_rollout_touches_no_traffic() {
    let t = step(&rollout(CANARY), Event::Abort, 0);
    assert_eq!(t.state.phase, Phase::Aborted);
    assert!(records_only(&t.actions));
}

#[test]
fn terminal_states_ignore_everything() {
    let promoted = step(&holding(), Event::PromoteFull, 1).state;
    let aborted = step(&holding(), Event::Abort, 1).state;
    for s in [promoted, aborted] {
        assert!(step(&s, tick(5), 99).actions.is_empty());
        for event in [
            Event::Abort,
            Event::Resume,
            Event::PromoteFull,
            verdict(Outcome::Fail),
        ] {
            let t = step(&s, event.clone(), 99);
            assert_eq!(t.state, s);
            assert!(records_only(&t.actions), "{event:?}");
        }
    }
}

#[test]
fn a_failure_while_paused_still_rolls_back() {
    let yaml = "steps: [{canary: {steps: [10, 100], analysis: err}}]";
    let s = step(&rollout(yaml), tick(0), 0).state;
    let (s, _) = run(&s, &[(Event::Pause, 1)]);
    let pass = step(&s, verdict(Outcome::Pass), 100_000);
    assert_eq!(pass.state.phase, paused(PauseReason::Manual));
    assert_eq!(pass.state.verdicts.len(), 1, "recorded");
    let fail = step(&s, verdict(Outcome::Fail), 100_000);
    assert!(matches!(fail.state.phase, Phase::RolledBack { .. }));
}

#[test]
fn a_restart_resumes_the_same_step_with_its_weights_and_elapsed_time() {
    let yaml = "steps: [{canary: {steps: [10, 100], hold: 2m, analysis: err, min_requests: 5}}]";
    let (s, _) = run(&rollout(yaml), &[(tick(0), 0), (tick(3), 50_000)]);
    let json = serde_json::to_string(&s).unwrap();
    let reloaded: RolloutState = serde_json::from_str(&json).unwrap();
    assert_eq!(reloaded, s);
    assert_eq!(
        reconcile(&reloaded),
        vec![
            candidate(1_000),
            Action::SetMirror { bps: 0 },
            Action::SetHeaderRoute(None),
            Action::StartAnalysis {
                template: "err".into(),
                window_ms: 120_000,
                min_requests: 5
            }
        ]
    );
    // The new process's counter starts from 0: 2 more requests make 5.
    let (after, a) = run(
        &reloaded,
        &[(tick(2), 120_000), (verdict(Outcome::Pass), 120_000)],
    );
    assert_eq!(effects(&a), vec![candidate(10_000), promote_v2()]);
    assert_eq!(after.phase, Phase::Promoted);
    assert!(reconcile(&after).is_empty());
    assert!(reconcile(&rollout(yaml)).is_empty());
}

#[test]
fn verdict_history_is_bounded() {
    let yaml = "steps: [{canary: {steps: [10, 100], analysis: err}}]";
    let mut s = step(&rollout(yaml), tick(0), 0).state;
    for i in 0..(MAX_VERDICTS as u64 + 10) {
        s = step(&s, verdict(Outcome::Inconclusive), i).state;
    }
    assert_eq!(s.verdicts.len(), MAX_VERDICTS);
    assert_eq!(s.verdicts[0].at, 10, "the oldest are dropped");
}

#[test]
fn notifications_carry_the_rollout_context() {
    let t = step(&rollout(CANARY), tick(0), 0);
    let Some(Action::Notify(n)) = t.actions.iter().rfind(|a| matches!(a, Action::Notify(_))) else {
        panic!("no notification");
    };
    assert_eq!(n.service, "iris");
    assert_eq!(n.candidate, "v2");
    assert_eq!((n.step, n.steps), (2, 6));
    assert_eq!(n.candidate_bps, 1_000);
}

#[test]
fn a_restart_during_an_intervention_keeps_the_operators_traffic() {
    let hand = Event::ManualIntervention {
        verb: "/set-canary-ratio".into(),
        detail: "ratio 0.3".into(),
    };
    let s = step(&holding(), hand, 1).state;
    let reloaded: RolloutState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert!(reconcile(&reloaded).is_empty());
    let gate = gated();
    assert_eq!(
        reconcile(&gate),
        vec![
            candidate(1_000),
            Action::SetMirror { bps: 0 },
            Action::SetHeaderRoute(None)
        ]
    );
}

#[test]
fn a_verb_that_does_not_apply_says_why() {
    let applied = step(&holding(), Event::Pause, 1_000);
    assert_eq!(applied.ignored, None);
    let t = step(&applied.state, Event::Pause, 2_000);
    assert_eq!(t.state, applied.state, "nothing changes");
    let ignored = t.ignored.expect("a second pause is ignored");
    assert_eq!(ignored.event, "pause");
    assert_eq!(
        ignored.to_string(),
        "pause ignored: the rollout is paused at step 2/6 (pause)",
    );
    assert!(records_only(&t.actions), "only the note of it");
    let at_gate = step(&gated(), tick(0), 1).state;
    let t = step(&at_gate, Event::Resume, 2);
    let reason = t.ignored.expect("a gate is not resumed").reason;
    assert!(reason.contains("waits for an approve"), "{reason}");
}
