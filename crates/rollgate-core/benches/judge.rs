//! Cost of one analysis step, [`rollgate_core::analysis::judge`], and of the tests behind it.
//!
//! At every analysis step of a rollout the controller judges the candidate's cumulative window
//! against the stable one's, so this cost bounds how often a rollout can look at its metrics.
//! The windows are sized like a 90/10 canary some minutes in: 20,000 stable and 2,000
//! candidate requests, full latency reservoirs (4,096 and 2,000 samples), 5,000 and 500
//! labelled predictions. The template checks the error rate and accuracy with sequential
//! tests and the p95 latency with a rank test; a healthy and a regressed candidate are judged
//! in full and check by check. The `stats` groups time the public primitives one call at a
//! time: the mSPRT and its restricted variance, the proportion tests, and Mann–Whitney.

use criterion::{criterion_group, criterion_main, Criterion};
use rollgate_core::analysis::window::{ErrorCounts, Labelled, LatencySummary, Warmup};
use rollgate_core::analysis::{judge, AnalysisTemplate, JudgeState, VersionWindow};
use rollgate_core::stats::{
    fisher_exact, mann_whitney_u, mixture_ln_lambda, restricted_difference_variance,
    two_proportion_z_test, wilson_interval, Alternative, Counts, Msprt, MsprtConfig,
};
use std::hint::black_box;

/// The template of a model canary: error rate, p95 latency and accuracy against stable.
const TEMPLATE: &str = "
alpha: 0.05
checks:
  - metric: error_rate
    max_increase: 0.01
  - metric: latency_p95
    max_ratio: 1.2
  - metric: accuracy
    max_decrease: 0.02
    min_samples: 500
";

/// What a version measured, before it becomes a [`VersionWindow`].
struct Traffic {
    requests: u64,
    errors: u64,
    latency_samples: usize,
    latency_scale: f64,
    correct: u64,
    labelled: u64,
    seed: u64,
}

const STABLE: Traffic = Traffic {
    requests: 20_000,
    errors: 80,
    latency_samples: 4_096,
    latency_scale: 1.0,
    correct: 4_560,
    labelled: 5_000,
    seed: 1,
};

const HEALTHY: Traffic = Traffic {
    requests: 2_000,
    errors: 9,
    latency_samples: 2_000,
    latency_scale: 1.02,
    correct: 458,
    labelled: 500,
    seed: 2,
};

const REGRESSED: Traffic = Traffic {
    requests: 2_000,
    errors: 64,
    latency_samples: 2_000,
    latency_scale: 1.4,
    correct: 420,
    labelled: 500,
    seed: 3,
};

/// SplitMix64 mapped to a uniform in (0, 1): a fixed, dependency-free source of samples.
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Log-normal latencies in ms (median 40 ms × `scale`, σ = 0.35), by Box–Muller.
fn latencies(n: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            let (u1, u2) = (uniform(&mut state), uniform(&mut state));
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            40.0 * scale * (0.35 * z).exp()
        })
        .collect()
}

fn window(t: &Traffic) -> VersionWindow {
    VersionWindow {
        requests: t.requests,
        errors: ErrorCounts {
            model: t.errors / 2,
            upstream_5xx: t.errors / 4,
            timeout: t.errors - t.errors / 2 - t.errors / 4,
            bad_request: 0,
        },
        latency: LatencySummary::from_samples(latencies(
            t.latency_samples,
            t.latency_scale,
            t.seed,
        )),
        labelled: Labelled {
            correct: t.correct,
            total: t.labelled,
            ..Labelled::default()
        },
        warmup: Warmup {
            warm: true,
            warmup_requests: 0,
        },
        ..VersionWindow::default()
    }
}

fn template() -> AnalysisTemplate {
    AnalysisTemplate::from_yaml(TEMPLATE).expect("the benchmark's template is valid")
}

/// One look of the full template at a healthy and at a regressed candidate.
fn full_template(c: &mut Criterion) {
    let template = template();
    let stable = window(&STABLE);
    let state = JudgeState::default();
    let mut group = c.benchmark_group("judge_look");
    for (name, traffic) in [("healthy", &HEALTHY), ("regressed", &REGRESSED)] {
        let candidate = window(traffic);
        group.bench_function(name, |b| {
            b.iter(|| {
                judge(
                    black_box(&template),
                    black_box(&stable),
                    black_box(&candidate),
                    black_box(&state),
                )
            })
        });
    }
    group.finish();
}

/// One look of each check of the template alone, on the healthy candidate.
fn per_check(c: &mut Criterion) {
    let full = template();
    let (stable, candidate) = (window(&STABLE), window(&HEALTHY));
    let state = JudgeState::default();
    let mut group = c.benchmark_group("judge_check");
    for check in &full.checks {
        let single = AnalysisTemplate {
            checks: vec![check.clone()],
            ..full.clone()
        };
        group.bench_function(check.metric.to_string(), |b| {
            b.iter(|| {
                judge(
                    black_box(&single),
                    black_box(&stable),
                    black_box(&candidate),
                    black_box(&state),
                )
            })
        });
    }
    group.finish();
}

fn counts(events: u64, trials: u64) -> Counts {
    Counts::new(events, trials).expect("events never exceed trials here")
}

/// The sequential test of a rate check: one mSPRT look and its two building blocks.
fn sequential(c: &mut Criterion) {
    let (stable, candidate) = (counts(80, 20_000), counts(9, 2_000));
    let alternative = Alternative::CandidateWorse { margin: 0.01 };
    let config = MsprtConfig {
        alpha: 0.05 / 3.0,
        tau: 0.05,
        alternative,
    };
    let msprt = Msprt::new(config).expect("the benchmark's mSPRT parameters are valid");
    let mut group = c.benchmark_group("stats_sequential");
    group.bench_function("msprt_observe", |b| {
        b.iter(|| black_box(&msprt).observe(black_box(stable), black_box(candidate)))
    });
    group.bench_function("mixture_ln_lambda", |b| {
        b.iter(|| {
            mixture_ln_lambda(
                black_box(0.0005),
                black_box(2.5e-6),
                black_box(0.05),
                black_box(alternative),
            )
        })
    });
    group.bench_function("restricted_difference_variance", |b| {
        b.iter(|| {
            restricted_difference_variance(black_box(stable), black_box(candidate), black_box(0.01))
        })
    });
    group.finish();
}

/// The fixed-horizon tests on rates: z-test with Newcombe's interval, Wilson, Fisher.
fn proportion(c: &mut Criterion) {
    let (stable, candidate) = (counts(80, 20_000), counts(9, 2_000));
    // Fisher confirms failures only below 20 events in both arms together.
    let (few_stable, few_candidate) = (counts(4, 1_000), counts(12, 300));
    let mut group = c.benchmark_group("stats_proportion");
    group.bench_function("two_proportion_z_test", |b| {
        b.iter(|| two_proportion_z_test(black_box(stable), black_box(candidate), black_box(0.95)))
    });
    group.bench_function("wilson_interval", |b| {
        b.iter(|| wilson_interval(black_box(candidate), black_box(0.95)))
    });
    group.bench_function("fisher_exact_small_counts", |b| {
        b.iter(|| fisher_exact(black_box(few_stable), black_box(few_candidate)))
    });
    group.finish();
}

/// The rank test behind a relative latency check, on full latency reservoirs.
fn rank(c: &mut Criterion) {
    let stable = latencies(STABLE.latency_samples, STABLE.latency_scale, STABLE.seed);
    let candidate = latencies(HEALTHY.latency_samples, HEALTHY.latency_scale, HEALTHY.seed);
    let mut group = c.benchmark_group("stats_rank");
    group.bench_function("mann_whitney_u_4096_vs_2000", |b| {
        b.iter(|| mann_whitney_u(black_box(&stable), black_box(&candidate)))
    });
    group.finish();
}

criterion_group!(
    benches,
    full_template,
    per_check,
    sequential,
    proportion,
    rank
);
criterion_main!(benches);
