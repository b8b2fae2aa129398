//! Plan parsing, validation (errors name the field) and expansion.

use crate::rollout::*;

fn pause(ms: u64) -> Step {
    Step::Pause {
        duration_ms: Some(ms),
        min_requests: None,
    }
}

#[test]
fn canary_defaults_to_1_5_25_50_100() {
    let steps = parse_plan("steps: [{canary: {hold: 1m}}]")
        .unwrap()
        .expand();
    let mut expected = Vec::new();
    for bps in [100, 500, 2_500, 5_000] {
        expected.push(Step::SetWeight { bps });
        expected.push(pause(60_000));
    }
    expected.push(Step::SetWeight { bps: 10_000 });
    expected.push(Step::Promote);
    assert_eq!(steps, expected);
}

#[test]
fn canary_analysis_gates_and_requests_expand_in_order() {
    let yaml = "steps:\n- canary: {steps: [10, \"50%\", 100], hold: 2m, min_requests: 300, \
                analysis: error-rate, manual_gates: [50]}";
    let steps = parse_plan(yaml).unwrap().expand();
    let analysis = Step::Analysis(AnalysisStep {
        template: "error-rate".into(),
        window_ms: 120_000,
        min_requests: 300,
        max_inconclusive: None,
    });
    assert_eq!(
        steps,
        vec![
            Step::SetWeight { bps: 1_000 },
            analysis.clone(),
            Step::Approval {
                gate: "raise candidate to 50%".into()
            },
            Step::SetWeight { bps: 5_000 },
            analysis,
            Step::SetWeight { bps: 10_000 },
            Step::Promote,
        ]
    );
}

#[test]
fn blue_green_previews_smokes_switches_and_waits() {
    let yaml = r#"
steps:
  - blue_green:
      preview_header: X-Preview
      smoke: [{body: "{}", max_latency: 200ms}]
      rollback_window: 10m
"#;
    let steps = parse_plan(yaml).unwrap().expand();
    let preview = HeaderMatch {
        header: "x-preview".into(),
        value: None,
    };
    let check = SmokeCheck {
        body: "{}".into(),
        expect_prediction: None,
        max_latency_ms: Some(200),
    };
    assert_eq!(
        steps,
        vec![
            Step::HeaderRoute(Some(preview)),
            Step::Smoke {
                checks: vec![check]
            },
            Step::SetWeight { bps: 10_000 },
            Step::HeaderRoute(None),
            pause(600_000),
            Step::Promote,
        ]
    );
}

#[test]
fn shadow_mirrors_then_stops() {
    let steps = parse_plan("steps: [{shadow: {percent: 25, duration: 10m}}]")
        .unwrap()
        .expand();
    assert_eq!(
        steps,
        vec![
            Step::Mirror { bps: 2_500 },
            pause(600_000),
            Step::Mirror { bps: 0 },
            Step::Promote
        ]
    );
}

#[test]
fn raw_steps_parse_in_every_form() {
    let yaml = r#"
steps:
  - set_weight: 500
  - set_weight: "12.5%"
  - pause: 30s
  - pause: {}
  - pause: {duration: 1m, min_requests: 100}
  - pause: {min_requests: 10}
  - approval: go to half
  - analysis: {template: latency, window: 5m, min_requests: 50, max_inconclusive: 3}
  - mirror: "10%"
  - set_header_route: {header: X-Beta, value: "yes"}
  - set_header_route: null
  - smoke: [{body: "{}", expect_prediction: setosa}]
  - promote
"#;
    let steps = parse_plan(yaml).unwrap().expand();
    assert_eq!(steps.len(), 13);
    assert_eq!(steps[0], Step::SetWeight { bps: 500 });
    assert_eq!(steps[1], Step::SetWeight { bps: 1_250 });
    assert!(steps[3].is_gate() && steps[6].is_gate());
    assert!(!steps[5].is_gate());
    assert_eq!(
        steps[9],
        Step::HeaderRoute(Some(HeaderMatch {
            header: "x-beta".into(),
            value: Some("yes".into())
        }))
    );
    assert_eq!(steps[12], Step::Promote);
}

#[test]
fn a_plan_without_promote_gets_one() {
    let steps = parse_plan("steps: [{set_weight: \"5%\"}]")
        .unwrap()
        .expand();
    assert_eq!(steps, vec![Step::SetWeight { bps: 500 }, Step::Promote]);
    let ab = "steps: [{ab_test: {variants: {v1: 50, v2: 50}, deadline: 1d}}]";
    assert_eq!(parse_plan(ab).unwrap().expand().len(), 1);
}

#[test]
fn show_renders_numbered_steps_and_abort() {
    let yaml = "name: demo\nsteps: [{canary: {steps: [5, 100], hold: 90s, manual_gates: [100]}}]\n\
                abort: {gradual: [\"2.5%\"], interval: 30s}";
    let shown = parse_plan(yaml).unwrap().to_string();
    let expected = "plan: demo\n  \
                    1. set weight: candidate 5%\n  \
                    2. pause: 1m30s\n  \
                    3. manual gate: raise candidate to 100% (approve to continue)\n  \
                    4. set weight: candidate 100%\n  \
                    5. promote\n\
                    abort: gradual through 2.5% then 0%, 30s each\n";
    assert_eq!(shown, expected);
}

#[test]
fn every_step_kind_renders() {
    let yaml = r#"
steps:
  - pause: {}
  - pause: {min_requests: 5}
  - pause: {duration: 1m, min_requests: 5}
  - analysis: {template: t, window: 1m, min_requests: 5, max_inconclusive: 2}
  - mirror: 0
  - mirror: 250
  - set_header_route: {header: x-b}
  - set_header_route: {header: x-b, value: "1"}
  - set_header_route: null
  - smoke: [{body: "{}", max_latency: 1s}]
"#;
    let shown = parse_plan(yaml).unwrap().to_string();
    for part in [
        "pause: until approved",
        "pause: until 5 candidate requests",
        "pause: 1m and 5 candidate requests",
        "analysis: `t` over 1m, at least 5 candidate requests, pause after 2 inconclusive",
        "mirror: off",
        "mirror: 2.5% to candidate",
        "header route: any `x-b` to candidate",
        "header route: `x-b: 1` to candidate",
        "header route: off",
        "smoke: 1 check(s)",
        "abort: instant",
    ] {
        assert!(shown.contains(part), "missing {part:?} in\n{shown}");
    }
    let ab = "steps: [{ab_test: {variants: {v1: 50, v2: 50}, sample_size: 10, deadline: 1d}}]";
    let shown = parse_plan(ab).unwrap().to_string();
    assert!(shown.contains("a/b test: v1=50% v2=50% until 10 requests per variant (deadline 1d), then report the winner"), "{shown}");
    let rolling = parse_plan("steps: [{rolling: {}}]").unwrap().to_string();
    assert!(
        rolling.contains("rolling: max surge 1, max unavailable 0, readiness /health within 30s"),
        "{rolling}"
    );
    let timed = parse_plan("steps: [{rolling: {readiness_timeout: 5s}}]").unwrap();
    assert!(timed.to_string().contains("within 5s"), "{timed}");
}
