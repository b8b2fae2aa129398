//! Properties over arbitrary contexts: evaluation never panics and always serves a variant.

use super::set;
use crate::flags::{Context, Value};
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../../../../examples/flags.yaml");
const NAMES: [&str; 6] = ["country", "app_version", "email", "key", "org", "x"];

#[derive(Debug, Clone)]
enum Raw {
    Str(String),
    Num(f64),
    Bool(bool),
}

fn raw() -> impl Strategy<Value = Raw> {
    prop_oneof![
        any::<String>().prop_map(Raw::Str),
        "[0-9v.+-]{0,12}".prop_map(Raw::Str),
        prop_oneof![Just("FR".to_owned()), Just("DE".to_owned())].prop_map(Raw::Str),
        any::<f64>().prop_map(Raw::Num),
        any::<bool>().prop_map(Raw::Bool),
    ]
}

fn value(r: &Raw) -> Value<'_> {
    match r {
        Raw::Str(s) => Value::Str(s),
        Raw::Num(n) => Value::Num(*n),
        Raw::Bool(b) => Value::Bool(*b),
    }
}

proptest! {
    #[test]
    fn evaluate_never_panics_and_serves_a_declared_variant(
        key in proptest::option::of(any::<String>()),
        attrs in proptest::collection::vec((0..NAMES.len(), raw()), 0..8),
    ) {
        let s = set(EXAMPLE);
        let mut ctx = key.as_deref().map_or_else(Context::new, Context::with_key);
        for (i, r) in &attrs {
            ctx.set(NAMES[*i], value(r));
        }
        for flag in s.flags() {
            let e = s.evaluate(flag.key(), &ctx);
            let variant = e.variant.expect("a variant");
            let pair = flag.variants().find(|(n, _)| *n == variant).expect("declared");
            prop_assert_eq!(Some(pair.1), e.version);
            prop_assert_eq!(s.evaluate(flag.key(), &ctx), e);
        }
    }
}

fn split(candidate_bps: u32) -> crate::flags::FlagSet {
    set(&format!(
        "flags:\n  f:\n    enabled: true\n    variants: {{stable: v1, candidate: v2}}\n    \
         default_variant: stable\n    off_variant: stable\n    rules:\n      - serve:\n          \
         rollout: {{bps: {{stable: {}, candidate: {candidate_bps}}}}}\n",
        10_000 - candidate_bps
    ))
}

proptest! {
    #[test]
    fn a_larger_share_keeps_every_user_it_had(key in any::<String>(), a in 0u32..=10_000, b in 0u32..=10_000) {
        let (lo, hi) = (a.min(b), a.max(b));
        let ctx = Context::with_key(&key);
        let serves_candidate = |bps| split(bps).evaluate("f", &ctx).variant == Some("candidate");
        prop_assert!(!serves_candidate(lo) || serves_candidate(hi));
    }
}
