//! An always-valid sequential test for two rates: the mixture SPRT (mSPRT).
//!
//! # Why
//!
//! A canary stage looks at its metrics again and again and stops at the first significant
//! result. A fixed-horizon p-value (such as [`two_proportion_z_test`](super::two_proportion_z_test))
//! only controls the false-alarm rate at one pre-planned look: checked at every look it
//! inflates it many times over (with 100 looks, about 0.3 instead of 0.05 — the simulation in
//! this module's tests shows it). The mSPRT of Johari, Koomen, Pekelis & Walsh ("Peeking at
//! A/B Tests: Why it matters, and what to do about it", KDD 2017; "Always Valid Inference:
//! Continuous Monitoring of A/B Tests", Operations Research 70(3), 2022) bounds the type-I
//! error by α at *any* stopping time, however often one peeks: its mixture likelihood ratio
//! `Λ_n` is a non-negative martingale with mean 1 under H0, so by Ville's inequality
//! `P(sup_n Λ_n ≥ 1/α) ≤ α`.
//!
//! # Method
//!
//! With the normal approximation `θ̂ ~ N(θ, V)` of the difference of rates
//! `θ̂ = rate(candidate) - rate(stable)` and a normal mixing distribution `N(0, τ²)` on the
//! effect, the mixture likelihood ratio against H0: θ = 0 has the closed form
//!
//! `Λ_n = sqrt(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²)))`.
//!
//! H0 is rejected as soon as `Λ_n ≥ 1/α`; the always-valid p-value is
//! `min(1, 1 / max_{k ≤ n} Λ_k)`, non-increasing over the looks.
//!
//! For the one-sided question "is the candidate worse than stable by more than a margin δ"
//! (H0: θ ≤ δ), θ̂ is shifted to `θ̂ - δ` and the mixing distribution is the half-normal on
//! positive effects, which multiplies the ratio above by `2 Φ(x τ / sqrt(V (V + τ²)))` with
//! `x = θ̂ - δ` (the normal integral restricted to θ > δ). That ratio is still a martingale at
//! θ = δ and a supermartingale for every θ < δ, so the same bound holds over the whole
//! composite null; evidence that the candidate is *better* never accumulates.
//!
//! `V` is estimated at each look with the Agresti–Caffo adjusted rates `(x + 1) / (n + 2)`
//! (Agresti & Caffo, "Simple and effective confidence intervals for proportions and
//! differences of proportions", Am. Stat. 2000): the plain plug-in variance is 0 while an arm
//! has seen no event, which would make `Λ` undefined, and underestimates V at small counts.
//!
//! τ sets the scale of the effects the test is tuned to detect (an absolute difference of
//! rates, e.g. 0.01 for one point of error rate). Validity holds for every τ; only the power
//! and the detection delay depend on it (Johari et al. 2022 choose it from past
//! experiments).

use super::common::{check_unit_open, norm_cdf};
use super::{Counts, StatsError};

/// The alternative hypothesis of an [`Msprt`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Alternative {
    /// H1: the two rates differ (H0: θ = 0).
    TwoSided,
    /// H1: the candidate's rate exceeds the stable's by more than `margin` (H0: θ ≤ margin).
    CandidateWorse {
        /// Tolerated excess δ ≥ 0 of the candidate's rate, absolute (0.005 = half a point).
        margin: f64,
    },
}

/// Parameters of an [`Msprt`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MsprtConfig {
    /// Type-I error bound α, in (0, 1).
    pub alpha: f64,
    /// Standard deviation τ > 0 of the normal mixing distribution on the effect.
    pub tau: f64,
    /// What counts as a difference.
    pub alternative: Alternative,
}

/// What to do after a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequentialDecision {
    /// Not enough evidence yet: keep collecting.
    Continue,
    /// H0 rejected with type-I error at most α, whenever the look happened.
    Reject,
}

/// State of an mSPRT, updated with cumulative counts at each look. Pure: [`Msprt::observe`]
/// returns the next state and leaves this one unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Msprt {
    config: MsprtConfig,
    looks: u64,
    estimate: f64,
    ln_lambda: f64,
    max_ln_lambda: f64,
}

impl Msprt {
    /// A test with no look yet (Λ = 1, p = 1). Fails when α is not in (0, 1), τ is not a
    /// positive finite number or the margin is negative or not finite.
    pub fn new(config: MsprtConfig) -> Result<Self, StatsError> {
        check_unit_open("alpha", config.alpha)?;
        check_positive("tau", config.tau)?;
        if let Alternative::CandidateWorse { margin } = config.alternative {
            if !(margin.is_finite() && margin >= 0.0) {
                return Err(StatsError::OutOfRange {
                    name: "margin",
                    value: margin,
                    expected: "[0, ∞)",
                });
            }
        }
        Ok(Self {
            config,
            looks: 0,
            estimate: 0.0,
            ln_lambda: 0.0,
            max_ln_lambda: 0.0,
        })
    }

    /// The state after a look at the *cumulative* counts of both arms since the test began.
    /// A look where an arm has no trial yet carries no information and changes nothing.
    pub fn observe(&self, stable: Counts, candidate: Counts) -> Self {
        if stable.trials() == 0 || candidate.trials() == 0 {
            return *self;
        }
        let estimate = candidate.rate() - stable.rate();
        let variance = adjusted_variance(stable) + adjusted_variance(candidate);
        let ln_lambda =
            mixture_ln_lambda(estimate, variance, self.config.tau, self.config.alternative);
        Self {
            looks: self.looks + 1,
            estimate,
            ln_lambda,
            max_ln_lambda: self.max_ln_lambda.max(ln_lambda),
            ..*self
        }
    }

    /// Reject as soon as some look reached `Λ ≥ 1/α`; the decision then stays.
    pub fn decision(&self) -> SequentialDecision {
        if self.max_ln_lambda >= -self.config.alpha.ln() {
            SequentialDecision::Reject
        } else {
            SequentialDecision::Continue
        }
    }

    /// The always-valid p-value `min(1, 1 / max Λ)`, non-increasing over the looks.
    pub fn p_value(&self) -> f64 {
        (-self.max_ln_lambda).exp().min(1.0)
    }

    /// The mixture likelihood ratio Λ at the last look (1 before any look).
    pub fn lambda(&self) -> f64 {
        self.ln_lambda.exp()
    }

    /// The largest Λ seen so far (at least 1, its value before any look).
    pub fn max_lambda(&self) -> f64 {
        self.max_ln_lambda.exp()
    }

    /// Observed `rate(candidate) - rate(stable)` at the last look (0 before any look).
    pub fn estimate(&self) -> f64 {
        self.estimate
    }

    /// Looks taken into account.
    pub fn looks(&self) -> u64 {
        self.looks
    }

    /// The parameters.
    pub fn config(&self) -> MsprtConfig {
        self.config
    }
}

/// `ln Λ` of the normal-mixture SPRT for an observed difference `theta_hat` with variance
/// `variance > 0` and mixing scale `tau` (see the module documentation for the formula).
/// The one-sided form subtracts the margin and weighs in `2 Φ(·)`; where `Φ(·)` underflows
/// (evidence far on the favourable side) it returns `-∞`, i.e. Λ = 0, where the exact value
/// is below 0.03 — either way far from any rejection.
pub fn mixture_ln_lambda(theta_hat: f64, variance: f64, tau: f64, alternative: Alternative) -> f64 {
    let tau2 = tau * tau;
    let x = match alternative {
        Alternative::TwoSided => theta_hat,
        Alternative::CandidateWorse { margin } => theta_hat - margin,
    };
    let total = variance + tau2;
    let two_sided = 0.5 * (variance / total).ln() + tau2 * x * x / (2.0 * variance * total);
    match alternative {
        Alternative::TwoSided => two_sided,
        Alternative::CandidateWorse { .. } => {
            let a = x * tau / (variance * total).sqrt();
            two_sided + std::f64::consts::LN_2 + norm_cdf(a).ln()
        }
    }
}

/// Variance of one arm's rate with the Agresti–Caffo adjustment: `p̃ (1 - p̃) / (n + 2)` with
/// `p̃ = (x + 1) / (n + 2)`; positive for every arm.
fn adjusted_variance(counts: Counts) -> f64 {
    let n = counts.trials() as f64 + 2.0;
    let p = (counts.events() as f64 + 1.0) / n;
    p * (1.0 - p) / n
}

fn check_positive(name: &'static str, value: f64) -> Result<f64, StatsError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(StatsError::OutOfRange {
            name,
            value,
            expected: "(0, ∞)",
        })
    }
}

#[cfg(test)]
mod tests;
