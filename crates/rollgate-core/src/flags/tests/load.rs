//! Loading: the shipped example, the round trip, and errors naming the field at fault.

use super::set;
use crate::config::ConfigError;
use crate::flags::{Context, FlagSet, Reason};

const EXAMPLE: &str = include_str!("../../../../../examples/flags.yaml");

#[test]
fn example_loads_and_routes() {
    let s = set(EXAMPLE);
    let e = s.evaluate("checkout-model", &Context::with_key("alice"));
    assert_eq!(
        (e.version, e.reason),
        (Some("fraud-v2"), Reason::TargetMatch)
    );
    let beta = Context::with_key("u1")
        .attr("country", "FR")
        .attr("app_version", "2.1.0");
    assert_eq!(
        s.evaluate("ranking-model", &beta).version,
        Some("ranker-v4")
    );
    let old = beta.clone().attr("app_version", "2.0.0");
    assert_eq!(s.evaluate("ranking-model", &old).version, Some("ranker-v3"));
    let internal = beta.attr("email", "x@internal.example");
    assert_eq!(
        s.evaluate("ranking-model", &internal).version,
        Some("ranker-v3")
    );
}

#[test]
fn round_trips_through_file_and_yaml() {
    let s = set(EXAMPLE);
    assert_eq!(FlagSet::from_file(s.to_file()).expect("valid"), s);
    assert_eq!(set(&s.to_yaml().expect("yaml")), s);
}

const BASE: &str = r#"
segments:
  seg: { included: [a] }
flags:
  checkout-model:
    enabled: true
    variants: { stable: m-v1, candidate: m-v2 }
    default_variant: stable
    off_variant: stable
    targets: { candidate: [a] }
    rules:
      - clauses: [{ attribute: x, op: equals, value: 1 }]
        serve: { variant: candidate }
      - clauses: [{ attribute: x, op: regex, value: "ok" }]
        serve: { rollout: { percent: { stable: 50, candidate: 50 } } }
"#;

/// The field and problem of an edit of [`BASE`] that must be refused.
fn refused(from: &str, to: &str) -> (String, String) {
    assert!(BASE.contains(from), "{from}");
    match FlagSet::from_yaml(&BASE.replacen(from, to, 1)) {
        Err(ConfigError::Invalid { field, problem }) => (field, problem),
        other => panic!("{to}: expected a field error, got {other:?}"),
    }
}

fn refused_at(from: &str, to: &str, field: &str, says: &str) {
    let (f, p) = refused(from, to);
    assert_eq!(f, field, "{to}: {p}");
    assert!(p.contains(says), "{to}: `{p}` lacks `{says}`");
}

#[test]
fn base_is_valid() {
    set(BASE);
}

#[test]
fn bad_references_name_their_field() {
    let at = "flags.checkout-model";
    refused_at(
        "default_variant: stable",
        "default_variant: nope",
        &format!("{at}.default_variant"),
        "unknown variant `nope`",
    );
    refused_at(
        "off_variant: stable",
        "off_variant: nope",
        &format!("{at}.off_variant"),
        "unknown",
    );
    refused_at(
        "targets: { candidate: [a] }",
        "targets: { ghost: [a] }",
        &format!("{at}.targets.ghost"),
        "unknown",
    );
    refused_at(
        "targets: { candidate: [a] }",
        "targets: { candidate: [a], stable: [b, a] }",
        &format!("{at}.targets.stable[1]"),
        "already targeted",
    );
    refused_at(
        "serve: { variant: candidate }",
        "serve: { variant: ghost }",
        &format!("{at}.rules[0].serve.variant"),
        "unknown",
    );
    refused_at(
        "serve: { variant: candidate }",
        "serve: {}",
        &format!("{at}.rules[0].serve"),
        "exactly one",
    );
    refused_at(
        "{ attribute: x, op: equals, value: 1 }",
        "{ op: in_segment, values: [ghost] }",
        &format!("{at}.rules[0].clauses[0].values[0]"),
        "unknown segment",
    );
    refused_at(
        "variants: { stable: m-v1, candidate: m-v2 }",
        "variants: {}",
        &format!("{at}.variants"),
        "at least one",
    );
    refused_at(
        "variants: { stable: m-v1,",
        "variants: { stable: 'm v1',",
        &format!("{at}.variants.stable"),
        "may only hold",
    );
}

#[test]
fn bad_rollouts_name_their_field() {
    let at = "flags.checkout-model.rules[1].serve.rollout";
    refused_at("candidate: 50 }", "candidate: 40 }", at, "sum to 90%");
    refused_at(
        "candidate: 50 }",
        "candidate: 50.001 }",
        &format!("{at}.percent.candidate"),
        "two decimals",
    );
    refused_at(
        "candidate: 50 }",
        "ghost: 50 }",
        &format!("{at}.percent.ghost"),
        "unknown",
    );
    refused_at(
        "{ percent: { stable: 50, candidate: 50 } }",
        "{ bps: { stable: 5000, candidate: 5001 } }",
        at,
        "100.01%",
    );
    refused_at(
        "{ percent: { stable: 50, candidate: 50 } }",
        "{ bps: { stable: 20000 } }",
        &format!("{at}.bps.stable"),
        "at most",
    );
    refused_at(
        "{ percent: { stable: 50, candidate: 50 } }",
        "{ bucket_by: org }",
        at,
        "exactly one",
    );
}

#[test]
fn bad_clauses_name_their_field() {
    let at = "flags.checkout-model.rules[1].clauses[0]";
    refused_at(
        r#"value: "ok""#,
        r#"value: "(""#,
        &format!("{at}.value"),
        "invalid regex",
    );
    refused_at(
        "op: regex",
        "op: semver_gt",
        &format!("{at}.value"),
        "invalid semver `ok`",
    );
    refused_at(
        r#"op: regex, value: "ok""#,
        "op: semver_gt, value: 2.0",
        &format!("{at}.value"),
        "quote",
    );
    refused_at(
        "op: regex",
        "op: lt",
        &format!("{at}.value"),
        "expected a finite number",
    );
    refused_at(
        r#"op: regex, value: "ok""#,
        "op: starts_with, value: 1",
        &format!("{at}.value"),
        "expected a string",
    );
    refused_at(
        r#"value: "ok""#,
        "values: [ok]",
        &format!("{at}.values"),
        "takes one `value`",
    );
    refused_at(
        r#"op: regex, value: "ok""#,
        "op: in, value: ok",
        &format!("{at}.value"),
        "`in` takes a list",
    );
    refused_at(
        r#"op: regex, value: "ok""#,
        "op: in, values: []",
        &format!("{at}.values"),
        "at least one",
    );
    refused_at(
        "attribute: x, op: regex",
        "op: regex",
        &format!("{at}.attribute"),
        "is needed",
    );
    refused_at(
        r#"attribute: x, op: regex, value: "ok""#,
        "attribute: x, op: in_segment, values: [seg]",
        &format!("{at}.attribute"),
        "no attribute",
    );
}

#[test]
fn bad_segments_name_their_field() {
    refused_at(
        "seg: { included: [a] }",
        "seg: { included: [a, a] }",
        "segments.seg.included[1]",
        "twice",
    );
    refused_at(
        "seg: { included: [a] }",
        "seg: { included: [a], excluded: [b, a] }",
        "segments.seg.excluded[1]",
        "also included",
    );
    refused_at(
        "seg: { included: [a] }",
        "seg: { clauses: [{ op: in_segment, values: [seg] }] }",
        "segments.seg.clauses[0].op",
        "cannot reference",
    );
    refused_at(
        "seg: { included: [a] }",
        "seg: { clauses: [{ attribute: v, op: semver_lt, value: x }] }",
        "segments.seg.clauses[0].value",
        "invalid semver",
    );
}

#[test]
fn duplicate_and_unknown_keys_are_parse_errors() {
    let again = "  checkout-model: { enabled: true, variants: { a: m }, default_variant: a, off_variant: a }\n";
    let dup = format!("{BASE}{again}");
    let Err(ConfigError::Parse(p)) = FlagSet::from_yaml(&dup) else {
        panic!("duplicate flag accepted")
    };
    assert!(
        p.starts_with("flags: duplicate name `checkout-model`"),
        "{p}"
    );
    let unknown = BASE.replace("enabled: true", "enabled: true\n    colour: red");
    assert!(matches!(
        FlagSet::from_yaml(&unknown),
        Err(ConfigError::Parse(_))
    ));
}

#[test]
fn duplicates_built_in_code_are_refused_too() {
    let mut file = set(BASE).to_file();
    let first = file.flags.0[0].clone();
    file.flags.0.push(first);
    let err = FlagSet::from_file(file).expect_err("duplicate");
    assert_eq!(
        err,
        ConfigError::invalid("flags.checkout-model", "flag is defined twice")
    );
}
