//! Percentage rollouts: split accuracy, stickiness, monotone growth, bucketing attribute.

use super::set;
use crate::flags::{Context, FlagSet, Reason};

fn rollout(candidate_bps: u32, extra: &str) -> FlagSet {
    set(&format!(
        "flags:\n  f:\n    enabled: true\n    variants: {{stable: v1, candidate: v2}}\n    \
         default_variant: stable\n    off_variant: stable\n    rules:\n      - serve:\n          \
         rollout: {{bps: {{stable: {}, candidate: {candidate_bps}}}{extra}}}\n",
        10_000 - candidate_bps
    ))
}

fn variant(s: &FlagSet, ctx: &Context<'_>) -> String {
    s.evaluate("f", ctx).variant.expect("a variant").to_owned()
}

fn users() -> impl Iterator<Item = String> {
    (0..100_000).map(|i| format!("user-{i}"))
}

#[test]
fn split_is_within_tolerance_over_100k_users() {
    let s = rollout(1_000, "");
    let hits = users()
        .filter(|u| variant(&s, &Context::with_key(u)) == "candidate")
        .count();
    // 10% of 100k: sd ≈ 95, so ±600 is over 6 sigma.
    assert!((9_400..=10_600).contains(&hits), "{hits}");
}

#[test]
fn same_user_same_variant() {
    let s = rollout(5_000, "");
    for u in users().take(2_000) {
        let ctx = Context::with_key(&u).attr("noise", 1i64);
        let first = variant(&s, &ctx);
        assert_eq!(variant(&s, &Context::with_key(&u)), first);
        assert_eq!(variant(&rollout(5_000, ""), &ctx), first);
    }
}

#[test]
fn growing_a_share_only_moves_users_onto_it() {
    let steps = [0, 100, 1_000, 2_500, 5_000, 10_000];
    let sets: Vec<FlagSet> = steps.iter().map(|&b| rollout(b, "")).collect();
    for u in users().take(20_000) {
        let ctx = Context::with_key(&u);
        let seen: Vec<String> = sets.iter().map(|s| variant(s, &ctx)).collect();
        let first = seen
            .iter()
            .position(|v| v == "candidate")
            .unwrap_or(seen.len());
        assert!(
            seen[first..].iter().all(|v| v == "candidate"),
            "{u}: {seen:?}"
        );
    }
}

#[test]
fn agrees_with_the_router_buckets() {
    let s = rollout(2_000, "");
    for u in users().take(1_000) {
        let want = if crate::router::bucket("f", &u) < 8_000 {
            "stable"
        } else {
            "candidate"
        };
        assert_eq!(variant(&s, &Context::with_key(&u)), want);
    }
}

#[test]
fn bucket_by_attribute_shares_buckets_across_users() {
    let s = rollout(5_000, ", bucket_by: org");
    let a = Context::with_key("x").attr("org", "acme");
    let b = Context::with_key("y").attr("org", "acme");
    assert_eq!(variant(&s, &a), variant(&s, &b));
    let n = Context::with_key("x").attr("org", 42i64);
    let t = Context::with_key("y").attr("org", "42");
    assert_eq!(variant(&s, &n), variant(&s, &t));
    let without = Context::with_key("x");
    assert_eq!(s.evaluate("f", &without).reason, Reason::Fallthrough);
}

#[test]
fn anonymous_requests_fall_through() {
    let s = rollout(10_000, "");
    let e = s.evaluate("f", &Context::new());
    assert_eq!((e.variant, e.reason), (Some("stable"), Reason::Fallthrough));
}

#[test]
fn salt_reshuffles() {
    let plain = rollout(5_000, "");
    let yaml = plain
        .to_yaml()
        .expect("yaml")
        .replace("enabled: true", "enabled: true\n    salt: other");
    let salted = set(&yaml);
    let moved = users()
        .take(1_000)
        .filter(|u| {
            variant(&plain, &Context::with_key(u)) != variant(&salted, &Context::with_key(u))
        })
        .count();
    assert!((350..=650).contains(&moved), "{moved}");
}
