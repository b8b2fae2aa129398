//! One simulated canary analysis: a synthetic request stream for both versions, judged at the
//! same time by the sequential judge and by the fixed-threshold policy.

use super::rng::SplitMix64;
use super::{FlaggerPolicy, SimulationConfig, VersionModel};
use crate::analysis::window::{nearest_rank, LatencySummary, Warmup};
use crate::analysis::{judge, JudgeState, Outcome, VersionWindow};

/// Canary requests seen when each policy first failed the candidate, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RunResult {
    pub(super) sequential: Option<u64>,
    pub(super) fixed: Option<u64>,
}

/// One request's outcome.
struct Request {
    error: bool,
    latency_ms: f64,
    correct: bool,
}

fn draw(rng: &mut SplitMix64, m: &VersionModel) -> Request {
    Request {
        error: rng.bernoulli(m.error_rate),
        latency_ms: rng.lognormal(m.latency_median_ms, m.latency_sigma),
        correct: rng.bernoulli(m.accuracy),
    }
}

/// A version's cumulative window, with a bounded uniform latency sample (reservoir sampling,
/// Vitter's algorithm R, 1985) as the binary would keep.
struct Accumulator {
    window: VersionWindow,
    cap: usize,
}

impl Accumulator {
    fn new(cap: usize) -> Self {
        let mut window = VersionWindow {
            warmup: Warmup {
                warm: true,
                warmup_requests: 0,
            },
            ..VersionWindow::default()
        };
        window.latency.samples_ms.reserve(cap);
        Self { window, cap }
    }

    fn add(&mut self, rng: &mut SplitMix64, r: &Request) {
        let w = &mut self.window;
        w.requests += 1;
        w.errors.model += u64::from(r.error);
        w.labelled.total += 1;
        w.labelled.correct += u64::from(r.correct);
        let samples = &mut w.latency.samples_ms;
        if samples.len() < self.cap {
            samples.push(r.latency_ms);
        } else {
            let j = rng.below(w.requests) as usize;
            if j < self.cap {
                samples[j] = r.latency_ms;
            }
        }
    }

    /// The window with its percentiles brought up to date.
    fn snapshot(&mut self) -> &VersionWindow {
        let samples = std::mem::take(&mut self.window.latency.samples_ms);
        self.window.latency = LatencySummary::from_samples(samples);
        &self.window
    }
}

/// The fixed-threshold policy's interval: the candidate's requests since the last check.
#[derive(Default)]
struct Interval {
    requests: u64,
    errors: u64,
    correct: u64,
    latencies: Vec<f64>,
}

impl Interval {
    fn add(&mut self, r: &Request) {
        self.requests += 1;
        self.errors += u64::from(r.error);
        self.correct += u64::from(r.correct);
        self.latencies.push(r.latency_ms);
    }

    /// Whether any metric of the interval breaks the policy's thresholds.
    fn fails(&mut self, p: &FlaggerPolicy) -> bool {
        self.latencies.sort_by(f64::total_cmp);
        let n = self.requests as f64;
        self.errors as f64 / n > p.max_error_rate
            || nearest_rank(&self.latencies, 0.95) > p.max_latency_p95_ms
            || (self.correct as f64 / n) < p.min_accuracy
    }
}

/// Runs one analysis of `config.horizon` canary requests; stops early once both policies
/// have failed the candidate.
pub(super) fn run(
    rng: &mut SplitMix64,
    config: &SimulationConfig,
    stable: &VersionModel,
    candidate: &VersionModel,
) -> RunResult {
    let (mut s, mut c) = (
        Accumulator::new(config.latency_sample_cap),
        Accumulator::new(config.latency_sample_cap),
    );
    let mut state = JudgeState::default();
    let mut interval = Interval::default();
    let mut failed_checks = 0u32;
    let mut result = RunResult {
        sequential: None,
        fixed: None,
    };
    for n in 1..=config.horizon {
        let r = draw(rng, candidate);
        c.add(rng, &r);
        interval.add(&r);
        for _ in 0..config.stable_per_candidate {
            let r = draw(rng, stable);
            s.add(rng, &r);
        }
        if result.fixed.is_none() && interval.requests >= config.flagger.interval_requests {
            failed_checks += u32::from(interval.fails(&config.flagger));
            interval = Interval::default();
            if failed_checks >= config.flagger.threshold {
                result.fixed = Some(n);
            }
        }
        if result.sequential.is_none() && n % config.look_every == 0 {
            let baseline = s.snapshot().clone();
            let (verdict, next) = judge(&config.template, &baseline, c.snapshot(), &state);
            state = next;
            if verdict.outcome == Outcome::Fail {
                result.sequential = Some(n);
            }
        }
        if result.sequential.is_some() && result.fixed.is_some() {
            break;
        }
    }
    result
}
