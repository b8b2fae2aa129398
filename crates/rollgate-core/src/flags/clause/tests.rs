//! Table-driven operator tests, through the whole pipeline: YAML clause → compile → evaluate.

use super::parse_semver;
use crate::flags::{Context, FlagSet, Reason, Value};

/// Whether a single-clause rule matches a context holding `attr = value` (or nothing).
fn matches(clause: &str, value: Option<Value<'_>>) -> bool {
    let yaml = format!(
        "flags:\n  f:\n    enabled: true\n    variants: {{a: v1, b: v2}}\n    default_variant: a\n    \
         off_variant: a\n    rules:\n      - clauses: [{clause}]\n        serve: {{variant: b}}\n"
    );
    let set = FlagSet::from_yaml(&yaml).unwrap_or_else(|e| panic!("{clause}: {e}"));
    let mut ctx = Context::with_key("user-1");
    if let Some(v) = value {
        ctx.set("x", v);
    }
    match set.evaluate("f", &ctx).reason {
        Reason::RuleMatch { index: 0 } => true,
        Reason::Fallthrough => false,
        other => panic!("unexpected {other:?}"),
    }
}

use Value::{Bool, Num, Str};

type Row = (&'static str, Option<Value<'static>>, bool);

/// Rows give the clause after `attribute: x, op: `.
fn check(rows: &[Row]) {
    for (rest, value, want) in rows {
        let clause = format!("{{attribute: x, op: {rest}}}");
        assert_eq!(matches(&clause, *value), *want, "{clause} on {value:?}");
    }
}

#[test]
fn equality_is_typed() {
    check(&[
        ("equals, value: FR", Some(Str("FR")), true),
        ("equals, value: FR", Some(Str("fr")), false),
        ("equals, value: 3", Some(Num(3.0)), true),
        ("equals, value: 3", Some(Str("3")), false),
        ("equals, value: true", Some(Bool(true)), true),
        ("equals, value: true", Some(Str("true")), false),
        ("equals, value: FR", None, false),
        ("not_equals, value: FR", Some(Str("DE")), true),
        ("not_equals, value: FR", Some(Str("FR")), false),
        ("not_equals, value: FR", Some(Num(1.0)), true),
        ("not_equals, value: FR", None, false),
    ]);
}

#[test]
fn membership() {
    check(&[
        ("in, values: [FR, DE]", Some(Str("DE")), true),
        ("in, values: [FR, DE]", Some(Str("US")), false),
        ("in, values: [1, 2]", Some(Num(2.0)), true),
        ("in, values: [FR]", None, false),
        ("not_in, values: [FR, DE]", Some(Str("US")), true),
        ("not_in, values: [FR, DE]", Some(Str("FR")), false),
        ("not_in, values: [FR]", None, false),
    ]);
}

#[test]
fn strings() {
    check(&[
        ("regex, value: '^v[0-9]+$'", Some(Str("v12")), true),
        ("regex, value: '^v[0-9]+$'", Some(Str("v1x")), false),
        ("regex, value: 'b'", Some(Str("abc")), true),
        ("regex, value: '1'", Some(Num(1.0)), false),
        ("starts_with, value: ab", Some(Str("abc")), true),
        ("starts_with, value: bc", Some(Str("abc")), false),
        ("ends_with, value: bc", Some(Str("abc")), true),
        ("ends_with, value: ab", Some(Str("abc")), false),
        ("contains, value: b", Some(Str("abc")), true),
        ("contains, value: d", Some(Str("abc")), false),
        ("contains, value: t", Some(Bool(true)), false),
        ("contains, value: a", None, false),
    ]);
}

#[test]
fn numbers_accept_numeric_strings() {
    check(&[
        ("lt, value: 10", Some(Num(9.5)), true),
        ("lt, value: 10", Some(Num(10.0)), false),
        ("lte, value: 10", Some(Num(10.0)), true),
        ("lte, value: 10", Some(Num(10.1)), false),
        ("gt, value: 10", Some(Num(11.0)), true),
        ("gt, value: 10", Some(Num(10.0)), false),
        ("gte, value: 10", Some(Num(10.0)), true),
        ("gte, value: 10", Some(Num(-1.0)), false),
        ("gt, value: 10", Some(Str(" 12 ")), true),
        ("gt, value: 10", Some(Str("twelve")), false),
        ("gt, value: 10", Some(Str("NaN")), false),
        ("gt, value: 10", Some(Num(f64::NAN)), false),
        ("lt, value: 10", Some(Bool(false)), false),
        ("lt, value: 10", None, false),
    ]);
}

#[test]
fn semantic_versions() {
    check(&[
        ("semver_eq, value: '2.0.0'", Some(Str("2.0.0")), true),
        ("semver_eq, value: '2.0.0'", Some(Str("v2")), true),
        ("semver_eq, value: '2.0.0'", Some(Str("2.0.0+b7")), true),
        ("semver_eq, value: '2.0.0'", Some(Str("2.0.1")), false),
        ("semver_lt, value: '2.0.0'", Some(Str("1.9.9")), true),
        ("semver_lt, value: '2.0.0'", Some(Str("2.0.0-rc.1")), true),
        ("semver_lt, value: '2.0.0'", Some(Str("2.0.0")), false),
        ("semver_gt, value: '2.0.0'", Some(Str("2.10")), true),
        ("semver_gt, value: '2.0.0'", Some(Str("2.0.0")), false),
        ("semver_gt, value: '2.0.0'", Some(Str("banana")), false),
        ("semver_gt, value: '2.0.0'", Some(Num(3.0)), false),
        ("semver_gt, value: '2.0.0'", None, false),
    ]);
}

#[test]
fn negate_inverts_only_present_attributes() {
    check(&[
        ("equals, value: FR, negate: true", Some(Str("FR")), false),
        ("equals, value: FR, negate: true", Some(Str("DE")), true),
        ("equals, value: FR, negate: true", None, false),
        ("not_in, values: [FR], negate: true", Some(Str("FR")), true),
        ("gt, value: 1, negate: true", Some(Str("abc")), true),
    ]);
}

#[test]
fn key_attribute_reads_the_user_key() {
    assert!(matches(
        "{attribute: key, op: starts_with, value: user-}",
        None
    ));
    assert!(!matches(
        "{attribute: key, op: starts_with, value: admin-}",
        None
    ));
}

#[test]
fn lenient_semver_parsing() {
    let v = |s: &str| parse_semver(s).map(|v| v.to_string());
    assert_eq!(v("2"), Some("2.0.0".into()));
    assert_eq!(v("v2.1"), Some("2.1.0".into()));
    assert_eq!(v("2.1-beta"), Some("2.1.0-beta".into()));
    assert_eq!(v("1.2.3+x"), Some("1.2.3+x".into()));
    assert_eq!(v("1.2.3.4"), None);
    assert_eq!(v(""), None);
    assert_eq!(v("x.y"), None);
}
