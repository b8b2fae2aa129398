//! Cost of one routing decision, [`rollgate_core::router::decide`].
//!
//! The gateway calls `decide` on every request it proxies, before any model work, so its cost
//! is added to every request's latency. The benchmarks cover the paths a request can take on a
//! 90/10 canary: a weighted random draw (with and without mirroring), a sticky user key hashed
//! into its bucket, and the two per-request overrides (`x-canary: always` and the pin cookie).
//! Route tables and inputs are built once; each iteration cycles through a set of
//! pre-generated draws or user keys so the branch predictor does not learn a single answer.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use rollgate_core::route::{Overrides, RouteSpec, RouteTable, StickySource};
use rollgate_core::router::{bucket, decide, Draws, RequestFacts};
use std::hint::black_box;

/// Distinct inputs cycled through by each benchmark (a power of two, for a cheap wrap).
const INPUTS: usize = 1024;

/// A 90/10 split of `v1` (stable) and `v2` with sticky key, overrides and optional mirror.
fn canary_table(mirror: Option<(&str, u32)>) -> RouteTable {
    RouteSpec {
        versions: vec!["v1".into(), "v2".into()],
        weights: vec![("v1".into(), 9_000), ("v2".into(), 1_000)],
        stable: Some("v1".into()),
        sticky: Some(StickySource::Header("x-user-id".into())),
        salt: "fraud-scorer".into(),
        overrides: Overrides {
            canary_header: Some("x-canary".into()),
            pin_cookie: Some("rollgate-version".into()),
        },
        mirror: mirror.map(|(name, bps)| (name.to_owned(), bps)),
        ..RouteSpec::default()
    }
    .build()
    .expect("the benchmark's route table is valid")
}

/// SplitMix64: a fixed, dependency-free source of well-mixed inputs.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform draws in `0..10_000`, as the gateway's random source supplies them.
fn draws() -> Vec<Draws> {
    let mut state = 42;
    (0..INPUTS)
        .map(|_| Draws {
            route: (splitmix(&mut state) % 10_000) as u32,
            mirror: (splitmix(&mut state) % 10_000) as u32,
        })
        .collect()
}

/// User ids as they arrive in an `x-user-id` header.
fn user_keys() -> Vec<String> {
    let mut state = 7;
    (0..INPUTS)
        .map(|_| format!("user-{:012}", splitmix(&mut state) % 1_000_000_000_000))
        .collect()
}

/// Decisions for requests without sticky key or override, one draw each.
fn bench_weighted(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, table: &RouteTable) {
    let draws = draws();
    let facts = RequestFacts::default();
    let mut i = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % INPUTS;
            decide(black_box(table), black_box(&facts), black_box(draws[i]))
        })
    });
}

fn weighted(c: &mut Criterion) {
    let mut group = c.benchmark_group("router_weighted");
    bench_weighted(&mut group, "90_10", &canary_table(None));
    bench_weighted(
        &mut group,
        "90_10_mirror",
        &canary_table(Some(("v2", 2_500))),
    );
    group.finish();
}

/// Decisions for requests carrying a user key (the consistent-hash path), and the hash alone.
fn sticky(c: &mut Criterion) {
    let table = canary_table(None);
    let keys = user_keys();
    let draw = Draws {
        route: 0,
        mirror: 0,
    };
    let mut group = c.benchmark_group("router_sticky");
    let mut i = 0;
    group.bench_function("user_key", |b| {
        b.iter(|| {
            i = (i + 1) % INPUTS;
            let facts = RequestFacts {
                sticky_key: Some(&keys[i]),
                ..RequestFacts::default()
            };
            decide(black_box(&table), black_box(&facts), black_box(draw))
        })
    });
    group.bench_function("bucket_only", |b| {
        b.iter(|| {
            i = (i + 1) % INPUTS;
            bucket(black_box(table.salt()), black_box(&keys[i]))
        })
    });
    group.finish();
}

/// Decisions for one overridden request, which skip hashing and draws.
fn bench_override(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, facts: RequestFacts<'_>) {
    let table = canary_table(None);
    let draw = Draws {
        route: 5_000,
        mirror: 5_000,
    };
    group.bench_function(name, |b| {
        b.iter(|| decide(black_box(&table), black_box(&facts), black_box(draw)))
    });
}

fn overrides(c: &mut Criterion) {
    let user = Some("user-000000000042");
    let mut group = c.benchmark_group("router_override");
    let always = RequestFacts {
        canary_header: Some("always"),
        sticky_key: user,
        ..RequestFacts::default()
    };
    bench_override(&mut group, "canary_always", always);
    let pinned = RequestFacts {
        pinned: Some("v2"),
        sticky_key: user,
        ..RequestFacts::default()
    };
    bench_override(&mut group, "pin_cookie", pinned);
    group.finish();
}

criterion_group!(benches, weighted, sticky, overrides);
criterion_main!(benches);
