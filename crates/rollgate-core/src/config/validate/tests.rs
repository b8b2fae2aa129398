use crate::config::{parse, ConfigError, VersionSource};

const GOOD: &str = r#"
listen:
  data: 127.0.0.1:9080
services:
  iris:
    input_width: 4
    output:
      classes: [setosa, versicolor, virginica]
    versions:
      v1:
        onnx: models/iris-v1.onnx
      v2:
        http:
          instances: ["http://127.0.0.1:9001", "http://127.0.0.1:9002/"]
          predict_path: /predict
    route:
      stable: v1
      weights: { v1: 99.5, v2: 0.5 }
      sticky: { header: X-User-Id }
      mirror: { to: v2, percent: 10 }
"#;

fn field_error(text: &str) -> (String, String) {
    match parse(text) {
        Err(ConfigError::Invalid { field, problem }) => (field, problem),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn good_config_validates() {
    let c = parse(GOOD).expect("valid");
    assert_eq!(c.data_addr.port(), 9080);
    let iris = &c.services[0];
    assert_eq!(iris.route.weights(), &[9950, 50]);
    assert_eq!(iris.output.classes.len(), 3);
    assert!(matches!(iris.versions[1].source, VersionSource::Http(_)));
    assert_eq!(iris.route.mirror().map(|m| m.bps), Some(1000));
    assert_eq!(
        iris.route.overrides().canary_header.as_deref(),
        Some("x-canary")
    );
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    let text = GOOD.replace("input_width: 4", "input_width: 4\n    colour: blue");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("unknown field `colour`"), "{err}");
    assert!(err.contains("line"), "names the line: {err}");
}

#[test]
fn weights_not_summing_to_100_name_the_route() {
    let text = GOOD.replace("v2: 0.5 }", "v2: 1 }");
    let (field, problem) = field_error(&text);
    assert_eq!(field, "services.iris.route");
    assert_eq!(problem, "weights sum to 100.5%, they must sum to 100%");
}

#[test]
fn duplicate_versions_are_refused() {
    let text = GOOD.replace("      v2:\n        http", "      v1:\n        http");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("duplicate name `v1`"), "{err}");
}

#[test]
fn a_version_needs_exactly_one_source() {
    let text = GOOD.replace("onnx: models/iris-v1.onnx", "{}");
    let text = text.replace("      v1:\n        {}", "      v1: {}");
    let (field, problem) = field_error(&text);
    assert_eq!(field, "services.iris.versions.v1");
    assert!(problem.contains("needs `onnx"), "{problem}");
}

#[test]
fn bad_names_and_urls_are_refused() {
    let (field, _) = field_error(&GOOD.replace("  iris:", "  ir/is:"));
    assert_eq!(field, "services.ir/is");
    let (field, problem) = field_error(&GOOD.replace("http://127.0.0.1:9001\"", "https://x\""));
    assert_eq!(field, "services.iris.versions.v2.http.instances[0]");
    assert!(problem.contains("http://"));
}

#[test]
fn fine_percentages_and_unknown_weights_are_refused() {
    let (field, _) = field_error(&GOOD.replace("v1: 99.5, v2: 0.5", "v1: 99.995, v2: 0.005"));
    assert_eq!(field, "services.iris.route.weights.v1");
    let (_, problem) = field_error(&GOOD.replace("v2: 0.5 }", "v2: 0.5, v3: 0 }"));
    assert_eq!(problem, "unknown version `v3`");
}

#[test]
fn sticky_needs_one_source_and_listen_must_parse() {
    let (field, _) =
        field_error(&GOOD.replace("{ header: X-User-Id }", "{ header: a, cookie: b }"));
    assert_eq!(field, "services.iris.route.sticky");
    let (field, _) = field_error(&GOOD.replace("127.0.0.1:9080", "nowhere"));
    assert_eq!(field, "listen.data");
}

#[test]
fn connection_limits_default_and_are_checked() {
    let c = parse(GOOD).expect("valid");
    assert_eq!(c.max_header_bytes, 64 << 10);
    assert_eq!(c.header_read_timeout, std::time::Duration::from_secs(30));
    assert_eq!(c.body_read_timeout, std::time::Duration::from_secs(60));
    let small = format!("limits: {{ max_header_bytes: 4096 }}\n{GOOD}");
    let (field, problem) = field_error(&small);
    assert_eq!(field, "limits.max_header_bytes");
    assert!(problem.contains("8192"), "{problem}");
    let zero = format!("limits: {{ body_read_timeout_ms: 0 }}\n{GOOD}");
    assert_eq!(field_error(&zero).0, "limits");
    assert_eq!(c.max_connections, 10_000);
    let none = format!("limits: {{ max_connections: 0 }}\n{GOOD}");
    assert_eq!(field_error(&none).0, "limits.max_connections");
    let absurd = format!("limits: {{ max_connections: 18446744073709551615 }}\n{GOOD}");
    let (field, problem) = field_error(&absurd);
    assert_eq!(field, "limits.max_connections");
    assert!(problem.contains("10000000"), "{problem}");
}
