//! Tests of the mSPRT: closed form against numerical integration, properties, and simulations
//! of its type-I error under continuous peeking and of its detection delay.
#![allow(clippy::unwrap_used)]
use crate::testing::SplitMix;

use super::*;
use crate::stats::two_proportion_z_test;
use proptest::prelude::*;

fn counts(events: u64, trials: u64) -> Counts {
    Counts::new(events, trials).unwrap()
}

fn close(actual: f64, expected: f64, tol: f64) {
    assert!(
        (actual - expected).abs() <= tol,
        "{actual} differs from {expected} by more than {tol}"
    );
}

fn config(alternative: Alternative, tau: f64) -> MsprtConfig {
    MsprtConfig {
        alpha: 0.05,
        tau,
        alternative,
    }
}

#[test]
fn closed_form_matches_numerical_integration() {
    // ln ∫ N(θ; 0, τ²) exp((θ x - θ²/2) / V) dθ over ℝ (two-sided) and 2 ∫ over θ > 0
    // (one-sided), by scipy quadrature:
    // python -c "import numpy as np; from scipy import integrate, stats as st; x,V,t=0.03,1e-4,0.02; f=lambda th: st.norm.pdf(th,0,t)*np.exp((th*x-th**2/2)/V); print(np.log(integrate.quad(f,-np.inf,np.inf,epsrel=1e-12)[0]), np.log(2*integrate.quad(f,0,np.inf,epsrel=1e-12)[0]))"
    let cases = [
        (0.03, 1e-4, 0.02, 2.795281043782949, 3.4847763854428218),
        (0.0, 4e-4, 0.05, -0.9905007344332917, -0.9905007344332917),
        (-0.01, 2.5e-5, 0.01, 0.7952810437829501, -1.8133093701435972),
        (0.045, 1.75e-4, 0.05, 4.043750270113793, 4.736393760779445),
    ];
    for (x, v, tau, two, one) in cases {
        close(
            mixture_ln_lambda(x, v, tau, Alternative::TwoSided),
            two,
            1e-10,
        );
        let worse = Alternative::CandidateWorse { margin: 0.0 };
        close(mixture_ln_lambda(x, v, tau, worse), one, 1e-10);
        let shifted = Alternative::CandidateWorse { margin: 0.005 };
        close(mixture_ln_lambda(x + 0.005, v, tau, shifted), one, 1e-10);
    }
}

#[test]
fn state_follows_the_looks() {
    let t = Msprt::new(config(Alternative::TwoSided, 0.02)).unwrap();
    assert_eq!((t.looks(), t.p_value(), t.lambda()), (0, 1.0, 1.0));
    assert_eq!(t.decision(), SequentialDecision::Continue);
    assert_eq!(t.observe(counts(0, 0), counts(3, 10)), t);
    let t1 = t.observe(counts(5, 1000), counts(50, 1000));
    assert_eq!(t1.looks(), 1);
    close(t1.estimate(), 0.045, 1e-15);
    assert_eq!(t1.decision(), SequentialDecision::Reject);
    assert!(t1.p_value() < 0.05 && t1.max_lambda() >= 20.0);
    // Rejection stays when later data look null: the p-value is a running minimum.
    let t2 = t1.observe(counts(60, 10_000), counts(60, 10_000));
    assert!(t2.lambda() < 1.0);
    assert_eq!(
        (t2.decision(), t2.p_value()),
        (SequentialDecision::Reject, t1.p_value())
    );
}

#[test]
fn one_sided_ignores_a_better_candidate_and_respects_the_margin() {
    let worse = |margin| Msprt::new(config(Alternative::CandidateWorse { margin }, 0.02)).unwrap();
    let better = worse(0.0).observe(counts(50, 1000), counts(5, 1000));
    assert_eq!(
        (better.decision(), better.p_value()),
        (SequentialDecision::Continue, 1.0)
    );
    let within_margin = worse(0.05).observe(counts(5, 1000), counts(50, 1000));
    assert_eq!(within_margin.decision(), SequentialDecision::Continue);
    let beyond = worse(0.01).observe(counts(5, 1000), counts(50, 1000));
    assert_eq!(beyond.decision(), SequentialDecision::Reject);
}

#[test]
fn invalid_configs_are_refused() {
    let bad = [
        MsprtConfig {
            alpha: 0.0,
            ..config(Alternative::TwoSided, 0.02)
        },
        MsprtConfig {
            alpha: 1.0,
            ..config(Alternative::TwoSided, 0.02)
        },
        config(Alternative::TwoSided, 0.0),
        config(Alternative::TwoSided, f64::INFINITY),
        config(Alternative::CandidateWorse { margin: -0.01 }, 0.02),
        config(Alternative::CandidateWorse { margin: f64::NAN }, 0.02),
    ];
    for c in bad {
        assert!(Msprt::new(c).is_err(), "{c:?}");
    }
}

/// Bernoulli draws over the shared generator.
trait Draw {
    fn events(&mut self, n: u64, p: f64) -> u64;
}

impl Draw for SplitMix {
    /// Number of events among `n` Bernoulli(`p`) trials.
    fn events(&mut self, n: u64, p: f64) -> u64 {
        let threshold = (p * (1u64 << 53) as f64) as u64;
        (0..n).filter(|_| self.next() >> 11 < threshold).count() as u64
    }
}

const LOOK_EVERY: u64 = 50;
const MAX_PER_ARM: u64 = 5_000;

/// One simulated stage: arms at rates `p_stable`, `p_candidate`, a look every 50 observations
/// per arm. Returns the per-arm count at the first look where each criterion rejects:
/// the two-sided mSPRT, the one-sided mSPRT (margin 0) and the naive fixed-horizon z-test.
fn run(rng: &mut SplitMix, p_stable: f64, p_candidate: f64, tau: f64) -> [Option<u64>; 3] {
    let mut two = Msprt::new(config(Alternative::TwoSided, tau)).unwrap();
    let mut one = Msprt::new(config(Alternative::CandidateWorse { margin: 0.0 }, tau)).unwrap();
    let (mut xs, mut xc, mut first) = (0, 0, [None; 3]);
    for n in (LOOK_EVERY..=MAX_PER_ARM).step_by(LOOK_EVERY as usize) {
        xs += rng.events(LOOK_EVERY, p_stable);
        xc += rng.events(LOOK_EVERY, p_candidate);
        let (s, c) = (counts(xs, n), counts(xc, n));
        (two, one) = (two.observe(s, c), one.observe(s, c));
        let naive = two_proportion_z_test(s, c, 0.95).unwrap().p_two_sided < 0.05;
        let rejects = [two.decision(), one.decision()].map(|d| d == SequentialDecision::Reject);
        for (slot, hit) in first.iter_mut().zip([rejects[0], rejects[1], naive]) {
            if hit && slot.is_none() {
                *slot = Some(n);
            }
        }
    }
    first
}

/// Fraction of `runs` simulated stages where each criterion ever rejected, and the median
/// per-arm count at the first rejection of the two-sided and the one-sided mSPRT.
fn simulate(
    seed: u64,
    runs: usize,
    p_stable: f64,
    p_candidate: f64,
    tau: f64,
) -> ([f64; 3], [u64; 2]) {
    let mut rng = SplitMix(seed);
    let results: Vec<_> = (0..runs)
        .map(|_| run(&mut rng, p_stable, p_candidate, tau))
        .collect();
    let rate = |k: usize| results.iter().filter(|r| r[k].is_some()).count() as f64 / runs as f64;
    let median = |k: usize| {
        let mut delays: Vec<u64> = results.iter().map(|r| r[k].unwrap_or(u64::MAX)).collect();
        delays.sort_unstable();
        delays[runs / 2]
    };
    ([rate(0), rate(1), rate(2)], [median(0), median(1)])
}

#[test]
fn peeking_keeps_the_false_alarm_rate_below_alpha_where_a_z_test_does_not() {
    // A/A: 1000 stages, both arms at a 5 % error rate, 100 looks of 50 up to 5000 per arm.
    let ([two, one, naive], _) = simulate(0x5EED_0001, 1000, 0.05, 0.05, 0.02);
    eprintln!("A/A false rejections: mSPRT two-sided {two}, one-sided {one}, naive z {naive}");
    assert!(two <= 0.06, "two-sided mSPRT false-rejection rate {two}");
    assert!(one <= 0.06, "one-sided mSPRT false-rejection rate {one}");
    assert!(naive >= 0.15, "naive peeking only reached {naive}");
}

#[test]
fn a_much_worse_candidate_is_caught_early() {
    // Stable at 0.5 % errors, candidate at 5 %: median detection well under 500 per arm.
    let ([two, one, _], [median_two, median_one]) = simulate(0x5EED_0002, 200, 0.005, 0.05, 0.02);
    eprintln!(
        "0.5 % vs 5 %: detected {two} / {one}, median at {median_two} / {median_one} per arm"
    );
    assert!(
        two == 1.0 && one == 1.0,
        "not always detected: {two}, {one}"
    );
    assert!(
        median_two < 500 && median_one < 500,
        "median at {median_two} / {median_one}"
    );
}

fn cumulative_looks() -> impl Strategy<Value = Vec<(Counts, Counts)>> {
    prop::collection::vec((0u64..30, 0u64..30, 1u64..60, 1u64..60), 1..20).prop_map(|steps| {
        let (mut xs, mut ns, mut xc, mut nc) = (0, 0, 0, 0);
        steps
            .into_iter()
            .map(|(es, ec, ts, tc)| {
                (ns, nc) = (ns + ts.max(es), nc + tc.max(ec));
                (xs, xc) = (xs + es, xc + ec);
                (counts(xs, ns), counts(xc, nc))
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn p_value_is_in_range_and_never_increases(looks in cumulative_looks(), tau in 0.001f64..0.5, margin in 0.0f64..0.1) {
        for alternative in [Alternative::TwoSided, Alternative::CandidateWorse { margin }] {
            let mut t = Msprt::new(config(alternative, tau)).unwrap();
            for &(s, c) in &looks {
                let next = t.observe(s, c);
                prop_assert!(next.p_value() >= 0.0 && next.p_value() <= t.p_value());
                t = next;
            }
        }
    }

    #[test]
    fn identical_arms_never_reject(looks in cumulative_looks(), tau in 0.001f64..0.5) {
        let mut t = Msprt::new(config(Alternative::TwoSided, tau)).unwrap();
        for &(s, _) in &looks {
            t = t.observe(s, s);
            prop_assert!(t.lambda() <= 1.0);
        }
        prop_assert_eq!(t.p_value(), 1.0);
    }

    #[test]
    fn two_sided_is_symmetric_in_the_arms(looks in cumulative_looks(), tau in 0.001f64..0.5) {
        let c = config(Alternative::TwoSided, tau);
        let (mut a, mut b) = (Msprt::new(c).unwrap(), Msprt::new(c).unwrap());
        for &(s, k) in &looks {
            (a, b) = (a.observe(s, k), b.observe(k, s));
            prop_assert!((a.lambda().ln() - b.lambda().ln()).abs() < 1e-9);
            prop_assert_eq!(a.estimate(), -b.estimate());
        }
    }
}
