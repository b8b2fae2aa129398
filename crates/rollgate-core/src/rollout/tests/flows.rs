//! Whole rollouts per strategy, driven event by event.

use super::*;
use crate::analysis::Outcome;

const CANARY: &str = "steps: [{canary: {steps: [10, 50, 100], hold: 1m, min_requests: 100}}]";

#[test]
fn canary_walks_its_stages_on_time_and_requests() {
    let s = rollout(CANARY);
    let t = step(&s, tick(0), 1_000);
    assert_eq!(effects(&t.actions), vec![candidate(1_000)]);
    assert_eq!(
        notified(&t.actions),
        vec![NotifyKind::PreRollout, NotifyKind::Step, NotifyKind::Step]
    );
    assert_eq!(t.state.index, 1);
    assert_eq!(t.state.phase, Phase::Progressing);
    // Time alone or requests alone do not finish the hold.
    let (s, a) = run(&t.state, &[(tick(50), 30_000), (tick(60), 61_000)]);
    assert_eq!(effects(&a), vec![], "time is up but 60 of 100 requests");
    let (s, a) = run(&s, &[(tick(30), 62_000)]);
    assert_eq!(
        effects(&a),
        vec![],
        "a counter reset: 30 more since it, 90 in all"
    );
    assert_eq!(s.requests.in_step, 90);
    let (s, a) = run(&s, &[(tick(40), 62_000)]);
    assert_eq!(effects(&a), vec![candidate(5_000)]);
    let (s, a) = run(&s, &[(tick(700), 122_000), (tick(700), 200_000)]);
    assert_eq!(effects(&a), vec![candidate(10_000), promote_v2()]);
    assert_eq!(s.phase, Phase::Promoted);
    assert_eq!(notified(&a).last(), Some(&NotifyKind::Promoted));
}

const ANALYSED: &str = "steps: [{canary: {steps: [20, 100], hold: 1m, min_requests: 10, \
                        analysis: error-rate, max_inconclusive: 2}}]";

fn analysing() -> RolloutState {
    step(&rollout(ANALYSED), tick(0), 0).state
}

#[test]
fn analysis_starts_on_entry_and_a_pass_needs_window_and_requests() {
    let t = step(&rollout(ANALYSED), tick(0), 0);
    assert_eq!(t.state.phase, Phase::Analysing);
    assert!(t.actions.contains(&Action::StartAnalysis {
        template: "error-rate".into(),
        window_ms: 60_000,
        min_requests: 10,
    }));
    let early = step(&t.state, verdict(Outcome::Pass), 30_000);
    assert_eq!(effects(&early.actions), vec![]);
    assert_eq!(early.state.phase, Phase::Analysing);
    let (s, _) = run(&early.state, &[(tick(5), 60_000)]);
    let few = step(&s, verdict(Outcome::Pass), 60_000);
    assert_eq!(effects(&few.actions), vec![], "5 of 10 requests");
    let (s, a) = run(
        &few.state,
        &[(tick(10), 61_000), (verdict(Outcome::Pass), 61_000)],
    );
    assert_eq!(effects(&a), vec![candidate(10_000), promote_v2()]);
    assert_eq!(s.verdicts.len(), 3);
    assert!(s.verdicts.iter().all(|v| v.outcome == Outcome::Pass));
}

#[test]
fn a_failed_analysis_rolls_back_at_once() {
    let t = step(&analysing(), verdict(Outcome::Fail), 5_000);
    assert!(matches!(
        &effects(&t.actions)[..],
        [Action::Rollback { .. }]
    ));
    assert_eq!(
        t.state.phase,
        Phase::RolledBack {
            reason: RollbackReason::AnalysisFailed
        }
    );
    assert_eq!(t.state.weights, Weights::Candidate(0));
    assert_eq!(notified(&t.actions), vec![NotifyKind::RolledBack]);
}

#[test]
fn inconclusive_holds_then_asks_an_operator() {
    let (s, a) = run(
        &analysing(),
        &[(tick(50), 70_000), (verdict(Outcome::Inconclusive), 70_000)],
    );
    assert_eq!(effects(&a), vec![], "never a silent pass");
    assert_eq!(s.phase, Phase::Analysing);
    let t = step(&s, verdict(Outcome::Inconclusive), 80_000);
    assert_eq!(
        t.state.phase,
        Phase::Paused {
            reason: PauseReason::Inconclusive
        }
    );
    assert_eq!(notified(&t.actions), vec![NotifyKind::ManualGate]);
    // Resume re-analyses with a fresh streak; approve accepts and moves on.
    let resumed = step(&t.state, Event::Resume, 90_000);
    assert_eq!(resumed.state.phase, Phase::Analysing);
    assert_eq!(resumed.state.inconclusive_streak, 0);
    assert!(matches!(
        effects(&resumed.actions)[..],
        [Action::StartAnalysis { .. }]
    ));
    let approved = step(&t.state, Event::Approve, 90_000);
    assert_eq!(
        effects(&approved.actions),
        vec![candidate(10_000), promote_v2()]
    );
}

#[test]
fn blue_green_previews_smokes_switches_and_keeps_a_rollback_window() {
    let yaml = "steps: [{blue_green: {preview_header: x-preview, \
                smoke: [{body: \"{}\", max_latency: 1s}], rollback_window: 5m}}]";
    let t = step(&rollout(yaml), tick(0), 0);
    let preview = Some(HeaderMatch {
        header: "x-preview".into(),
        value: None,
    });
    assert!(matches!(
        &effects(&t.actions)[..],
        [Action::SetHeaderRoute(h), Action::RunSmoke { checks }] if *h == preview && checks.len() == 1
    ));
    let pass = Event::SmokeResult {
        passed: true,
        summary: "1/1".into(),
    };
    let switched = step(&t.state, pass, 1_000);
    assert_eq!(
        effects(&switched.actions),
        vec![candidate(10_000), Action::SetHeaderRoute(None)]
    );
    let (s, a) = run(&switched.state, &[(tick(0), 200_000), (tick(0), 301_000)]);
    let unload_blue = Action::Promote {
        version: "v2".into(),
        retire: Some("v1".into()),
    };
    assert_eq!(
        effects(&a),
        vec![unload_blue],
        "blue unloaded after the window"
    );
    assert_eq!(s.phase, Phase::Promoted);
    let keep = yaml.replace(
        "rollback_window: 5m",
        "rollback_window: 5m, unload_blue: false",
    );
    let kept = step(&rollout(&keep), tick(0), 0);
    let kept = step(
        &kept.state,
        Event::SmokeResult {
            passed: true,
            summary: "1/1".into(),
        },
        1_000,
    );
    let (_, a) = run(&kept.state, &[(tick(0), 200_000), (tick(0), 301_000)]);
    assert_eq!(
        effects(&a),
        vec![promote_v2()],
        "unload_blue: false keeps it"
    );
    // Abort inside the window returns to blue instantly.
    let aborted = step(&switched.state, Event::Abort, 100_000);
    assert!(matches!(
        &effects(&aborted.actions)[..],
        [Action::Rollback { .. }]
    ));
    assert_eq!(aborted.state.phase, Phase::Aborted);
    // A failed smoke check rolls back.
    let fail = Event::SmokeResult {
        passed: false,
        summary: "latency 3s".into(),
    };
    let failed = step(&t.state, fail, 1_000);
    assert_eq!(
        failed.state.phase,
        Phase::RolledBack {
            reason: RollbackReason::SmokeFailed
        }
    );
    assert_eq!(failed.state.header_route, None);
}

#[test]
fn shadow_mirrors_analyses_and_stops_mirroring_before_the_canary() {
    let yaml = "steps:\n- shadow: {percent: 50, duration: 10m, analysis: agree}\n\
                - canary: {steps: [100], hold: 1m}";
    let t = step(&rollout(yaml), tick(0), 0);
    assert_eq!(effects(&t.actions)[0], Action::SetMirror { bps: 5_000 });
    assert_eq!(t.state.mirror_bps, 5_000);
    let (s, a) = run(&t.state, &[(verdict(Outcome::Pass), 600_000)]);
    assert_eq!(
        effects(&a),
        vec![
            Action::SetMirror { bps: 0 },
            candidate(10_000),
            promote_v2()
        ]
    );
    assert_eq!(s.mirror_bps, 0);
}

const AB: &str = "steps: [{ab_test: {variants: {v1: 50, v2: 50}, sample_size: 1000, \
                  deadline: 7d, promote_winner: true}}]";

#[test]
fn ab_test_runs_to_its_sample_size_and_promotes_the_winner() {
    let t = step(&rollout(AB), tick(0), 0);
    let split = Weights::Split(vec![("v1".into(), 5_000), ("v2".into(), 5_000)]);
    assert_eq!(effects(&t.actions), vec![Action::SetWeights(split)]);
    let (s, a) = run(&t.state, &[(tick(999), 1_000), (tick(1_000), 2_000)]);
    assert_eq!(
        effects(&a),
        vec![Action::ConcludeAbTest {
            variants: vec!["v1".into(), "v2".into()],
            reason: ConcludeReason::SampleSize
        }]
    );
    assert_eq!(s.phase, Phase::Concluding);
    let won = Event::AbTestConcluded {
        winner: Some("v2".into()),
        summary: "v2 +3% conversion".into(),
    };
    let done = step(&s, won, 3_000);
    assert_eq!(
        effects(&done.actions),
        vec![
            Action::SetWeights(Weights::Split(vec![("v2".into(), 10_000)])),
            promote_v2()
        ]
    );
    let none = Event::AbTestConcluded {
        winner: None,
        summary: "no difference".into(),
    };
    let kept = step(&s, none, 3_000);
    assert_eq!(
        kept.state.phase,
        Phase::RolledBack {
            reason: RollbackReason::NoWinner
        }
    );
    let bogus = Event::AbTestConcluded {
        winner: Some("v9".into()),
        summary: String::new(),
    };
    let ignored = step(&s, bogus, 3_000);
    assert_eq!(ignored.state, s);
    assert_eq!(effects(&ignored.actions), vec![]);
}

#[test]
fn ab_test_concludes_at_the_deadline_and_may_only_report() {
    let yaml = "steps: [{ab_test: {variants: {v1: 90, v2: 10}, deadline: 1h}}]";
    let (s, a) = run(&rollout(yaml), &[(tick(0), 0), (tick(5), 3_600_000)]);
    assert!(effects(&a).contains(&Action::ConcludeAbTest {
        variants: vec!["v1".into(), "v2".into()],
        reason: ConcludeReason::Deadline
    }));
    let won = Event::AbTestConcluded {
        winner: Some("v1".into()),
        summary: String::new(),
    };
    let t = step(&s, won, 3_700_000);
    assert_eq!(
        t.state.phase,
        Phase::Concluded {
            winner: Some("v1".into())
        }
    );
    assert_eq!(
        effects(&t.actions),
        vec![],
        "the split is left for the operator"
    );
    assert_eq!(notified(&t.actions), vec![NotifyKind::Concluded]);
}

const ROLLING: &str = "steps: [{rolling: {max_surge: 1, max_unavailable: 1}}]";

fn batch(batch: usize) -> Action {
    Action::ReplaceInstances {
        batch,
        batches: 2,
        count: 2,
        surge: 1,
        readiness_path: "/health".into(),
    }
}

fn ready() -> Event {
    Event::RollingProgress(InstanceReport::Ready)
}

#[test]
fn rolling_replaces_batches_as_instances_become_ready() {
    let t = step(&rollout(ROLLING), tick(0), 0);
    assert_eq!(effects(&t.actions), vec![batch(1)]);
    let (s, a) = run(&t.state, &[(ready(), 1), (ready(), 2)]);
    assert_eq!(effects(&a), vec![batch(2)]);
    assert_eq!(s.rolling.replaced, 2);
    let (s, a) = run(&s, &[(ready(), 3), (ready(), 4)]);
    assert_eq!(effects(&a), vec![promote_v2()]);
    assert_eq!(s.phase, Phase::Promoted);
}

#[test]
fn a_failed_instance_restores_the_old_ones() {
    let (s, _) = run(
        &rollout(ROLLING),
        &[(tick(0), 0), (ready(), 1), (ready(), 2)],
    );
    let failed = Event::RollingProgress(InstanceReport::Failed {
        detail: "readiness 503".into(),
    });
    let t = step(&s, failed, 3);
    assert_eq!(
        effects(&t.actions),
        vec![Action::RestoreInstances { count: 4 }]
    );
    assert_eq!(
        t.state.phase,
        Phase::RolledBack {
            reason: RollbackReason::InstanceFailed
        }
    );
}

#[test]
fn rolling_with_no_instances_promotes_at_once() {
    let mut s = rollout(ROLLING);
    s.target.instances = 0;
    let t = step(&s, tick(0), 0);
    assert_eq!(effects(&t.actions), vec![promote_v2()]);
}

#[test]
fn a_pause_in_a_rolling_update_holds_the_next_batch() {
    let (s, _) = run(
        &rollout(ROLLING),
        &[(tick(0), 0), (Event::Pause, 1), (ready(), 2), (ready(), 3)],
    );
    assert_eq!(s.rolling.ready, 2);
    assert_eq!(s.rolling.batch, 0);
    let t = step(&s, Event::Resume, 4);
    assert_eq!(effects(&t.actions), vec![batch(2)]);
}
