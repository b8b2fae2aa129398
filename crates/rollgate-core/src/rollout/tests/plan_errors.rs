//! Invalid plans: every value problem names its dotted field; structural ones are parse
//! errors naming the key.

use crate::rollout::*;

fn field_error(yaml: &str) -> (String, String) {
    match parse_plan(yaml) {
        Err(PlanError::Invalid { field, problem }) => (field, problem),
        other => panic!("expected a field error for {yaml:?}, got {other:?}"),
    }
}

#[test]
fn invalid_values_name_their_field() {
    let cases: &[(&str, &str)] = &[
        ("steps: []", "steps"),
        ("steps: [{set_weight: 20000}]", "steps[0].set_weight"),
        ("steps: [{set_weight: \"5\"}]", "steps[0].set_weight"),
        ("steps: [{set_weight: \"150%\"}]", "steps[0].set_weight"),
        ("steps: [{mirror: \"0.001%\"}]", "steps[0].mirror"),
        ("steps: [{pause: \"30\"}]", "steps[0].pause"),
        (
            "steps: [{pause: {duration: 0s}}]",
            "steps[0].pause.duration",
        ),
        (
            "steps: [{pause: {min_requests: 0}}]",
            "steps[0].pause.min_requests",
        ),
        ("steps: [{approval: \" \"}]", "steps[0].approval"),
        (
            "steps: [{analysis: {template: \"bad name\", window: 1m}}]",
            "steps[0].analysis.template",
        ),
        (
            "steps: [{analysis: {template: t, window: soon}}]",
            "steps[0].analysis.window",
        ),
        (
            "steps: [{analysis: {template: t, window: 1m, max_inconclusive: 0}}]",
            "steps[0].analysis.max_inconclusive",
        ),
        (
            "steps: [{set_header_route: {header: \"x y\"}}]",
            "steps[0].set_header_route.header",
        ),
        ("steps: [{smoke: []}]", "steps[0].smoke"),
        ("steps: [{smoke: [{body: \"{}\"}]}]", "steps[0].smoke[0]"),
        ("steps: [promote, {set_weight: 5}]", "steps[0]"),
        ("steps: [{canary: {}}]", "steps[0].canary"),
        (
            "steps: [{canary: {steps: [5, 1], hold: 1m}}]",
            "steps[0].canary.steps[1]",
        ),
        (
            "steps: [{canary: {steps: [0], hold: 1m}}]",
            "steps[0].canary.steps[0]",
        ),
        (
            "steps: [{canary: {steps: [], hold: 1m}}]",
            "steps[0].canary.steps",
        ),
        (
            "steps: [{canary: {hold: 1m, manual_gates: [30]}}]",
            "steps[0].canary.manual_gates[0]",
        ),
        ("steps: [{canary: {hold: 1x}}]", "steps[0].canary.hold"),
        (
            "steps: [{canary: {analysis: \"a/b\"}}]",
            "steps[0].canary.analysis",
        ),
        (
            "steps: [{blue_green: {preview_header: \"\"}}]",
            "steps[0].blue_green.preview_header",
        ),
        (
            "steps: [{blue_green: {preview_header: x, rollback_window: forever}}]",
            "steps[0].blue_green.rollback_window",
        ),
        (
            "steps: [{shadow: {percent: 0, duration: 1m}}]",
            "steps[0].shadow.percent",
        ),
        (
            "steps: [{shadow: {duration: 1q}}]",
            "steps[0].shadow.duration",
        ),
        (
            "steps: [{ab_test: {variants: {v1: 100}, deadline: 1d}}]",
            "steps[0].ab_test.variants",
        ),
        (
            "steps: [{ab_test: {variants: {v1: 50, v2: 40}, deadline: 1d}}]",
            "steps[0].ab_test.variants",
        ),
        (
            "steps: [{ab_test: {variants: {v1: 50, \"v 2\": 50}, deadline: 1d}}]",
            "steps[0].ab_test.variants.v 2",
        ),
        (
            "steps: [{ab_test: {variants: {v1: 50, v2: 50}}}]",
            "steps[0].ab_test",
        ),
        (
            "steps: [{ab_test: {variants: {v1: 50, v2: 50}, deadline: 1d}}, promote]",
            "steps[0]",
        ),
        (
            "steps: [{rolling: {max_surge: 0, max_unavailable: 0}}]",
            "steps[0].rolling",
        ),
        (
            "steps: [{rolling: {readiness_path: healthz}}]",
            "steps[0].rolling.readiness_path",
        ),
        (
            "steps: [{rolling: {readiness_timeout: soon}}]",
            "steps[0].rolling.readiness_timeout",
        ),
        (
            "steps: [promote]\nabort: {gradual: [\"5%\", \"10%\"], interval: 1m}",
            "abort.gradual[1]",
        ),
        (
            "steps: [promote]\nabort: {gradual: [\"100%\"], interval: 1m}",
            "abort.gradual[0]",
        ),
        (
            "steps: [promote]\nabort: {gradual: [], interval: 1m}",
            "abort.gradual",
        ),
        (
            "steps: [promote]\nabort: {gradual: [500], interval: 0s}",
            "abort.interval",
        ),
    ];
    for (yaml, field) in cases {
        let (got, problem) = field_error(yaml);
        assert_eq!(&got, field, "{yaml}: {problem}");
        assert!(!problem.is_empty());
    }
}

#[test]
fn structural_mistakes_are_parse_errors_with_the_key() {
    let err = parse_plan("steps: [{canary: {hold: 1m, colour: blue}}]").unwrap_err();
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    let err = parse_plan("steps: [{teleport: 5}]").unwrap_err();
    assert!(err.to_string().contains("teleport"), "{err}");
    let err = parse_plan("steps: [{analysis: {template: t}}]").unwrap_err();
    assert!(err.to_string().contains("window"), "{err}");
    let dup = "steps: [{ab_test: {variants: {v1: 50, v1: 50}, deadline: 1d}}]";
    assert!(parse_plan(dup)
        .unwrap_err()
        .to_string()
        .contains("duplicate"));
}
