//! Evaluation order: off, targets, rules in order, default; segments; unknown flags.

use super::set;
use crate::flags::{evaluate, Context, EvalError, Evaluation, Reason};

const FLAGS: &str = r#"
segments:
  beta:
    included: [vip]
    excluded: [blocked]
    clauses:
      - { attribute: country, op: in, values: [FR, DE] }
      - { attribute: app_version, op: semver_gt, value: "2.0.0" }
  listed-only:
    included: [listed]
flags:
  model:
    enabled: true
    variants: { stable: m-v1, candidate: m-v2, beta: m-v3 }
    default_variant: stable
    off_variant: stable
    targets:
      candidate: [alice]
      beta: [bob]
    rules:
      - clauses: [{ attribute: country, op: equals, value: FR }]
        serve: { variant: candidate }
      - clauses: [{ op: in_segment, values: [beta, listed-only] }]
        serve: { variant: beta }
  dark:
    enabled: false
    variants: { stable: m-v1, candidate: m-v2 }
    default_variant: candidate
    off_variant: stable
    targets: { candidate: [alice] }
    rules:
      - serve: { variant: candidate }
"#;

fn served<'f>(e: Evaluation<'f>) -> (&'f str, Reason) {
    (e.variant.expect("a variant"), e.reason)
}

#[test]
fn targets_beat_rules() {
    let s = set(FLAGS);
    let ctx = Context::with_key("bob").attr("country", "FR");
    assert_eq!(
        served(s.evaluate("model", &ctx)),
        ("beta", Reason::TargetMatch)
    );
    let e = s.evaluate("model", &Context::with_key("alice"));
    assert_eq!((e.variant, e.version), (Some("candidate"), Some("m-v2")));
}

#[test]
fn first_matching_rule_wins() {
    let s = set(FLAGS);
    let ctx = Context::with_key("u")
        .attr("country", "FR")
        .attr("app_version", "3.0.0");
    let want = ("candidate", Reason::RuleMatch { index: 0 });
    assert_eq!(served(s.evaluate("model", &ctx)), want);
    let ctx = Context::with_key("u")
        .attr("country", "DE")
        .attr("app_version", "3.0.0");
    let want = ("beta", Reason::RuleMatch { index: 1 });
    assert_eq!(served(s.evaluate("model", &ctx)), want);
}

#[test]
fn nothing_matching_falls_through() {
    let s = set(FLAGS);
    let ctx = Context::with_key("u")
        .attr("country", "DE")
        .attr("app_version", "1.9.0");
    assert_eq!(
        served(s.evaluate("model", &ctx)),
        ("stable", Reason::Fallthrough)
    );
    assert_eq!(
        served(s.evaluate("model", &Context::new())),
        ("stable", Reason::Fallthrough)
    );
}

#[test]
fn segment_lists_override_its_clauses() {
    let s = set(FLAGS);
    let beta = ("beta", Reason::RuleMatch { index: 1 });
    assert_eq!(served(s.evaluate("model", &Context::with_key("vip"))), beta);
    assert_eq!(
        served(s.evaluate("model", &Context::with_key("listed"))),
        beta
    );
    let blocked = Context::with_key("blocked")
        .attr("country", "DE")
        .attr("app_version", "3");
    assert_eq!(served(s.evaluate("model", &blocked)).1, Reason::Fallthrough);
}

#[test]
fn off_flag_serves_off_variant_whatever_else_matches() {
    let s = set(FLAGS);
    for ctx in [Context::with_key("alice"), Context::new()] {
        assert_eq!(served(s.evaluate("dark", &ctx)), ("stable", Reason::Off));
    }
}

#[test]
fn unknown_flag_is_an_error_without_variant() {
    let s = set(FLAGS);
    let e = s.evaluate("nope", &Context::new());
    assert_eq!(e, Evaluation::error(EvalError::FlagNotFound));
    assert_eq!(e.version, None);
}

#[test]
fn evaluate_on_a_flag_matches_the_set() {
    let s = set(FLAGS);
    let flag = s.get("model").expect("flag");
    let ctx = Context::with_key("alice");
    assert_eq!(evaluate(flag, &ctx), s.evaluate("model", &ctx));
    assert_eq!(flag.key(), "model");
    assert!(flag.enabled());
    assert_eq!(flag.variants().count(), 3);
    assert_eq!(s.flags().len(), 2);
}
