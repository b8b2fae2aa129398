//! Two one-sided always-valid tests around a margin, with their running maxima kept in the
//! check's state between looks.
//!
//! Both are mSPRTs (Johari, Koomen, Pekelis & Walsh, "Always Valid Inference", Oper. Res.
//! 2022) on a normally approximated estimate θ̂ of "how much worse the candidate is" (in the
//! metric's units, positive = worse), with the half-normal mixture of
//! [`mixture_ln_lambda`](crate::stats::mixture_ln_lambda):
//!
//! - *worse*: H0 θ ≤ δ against θ > δ; rejecting it fails the check;
//! - *within*: H0 θ ≥ δ against θ < δ (a sequential non-inferiority test); rejecting it passes.
//!
//! Each keeps `max ln Λ` over the looks, so each bounds its own type-I error by α however
//! often the judge looks (Ville's inequality). A margin δ > 0 means a tiny but significant
//! degradation never fails the check: only evidence beyond the tolerated effect does.

use super::evaluation::Decision;
use super::CheckState;
use crate::stats::{mixture_ln_lambda, Alternative};

/// Default mixing scale τ of the mSPRT on a difference of rates, in absolute rate units.
/// Tuned by [`simulate`](crate::analysis::simulate): with rates of a few percent it gives the
/// fastest detection of a 5-point regression while false failures stay far below α.
pub const DEFAULT_RATE_TAU: f64 = 0.05;

/// One look of the two tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Look {
    pub(super) decision: Decision,
    /// Always-valid p-value of H0 "not worse than the margin".
    pub(super) p_worse: f64,
    /// Always-valid p-value of H0 "worse than the margin".
    pub(super) p_within: f64,
    /// Λ of the *worse* test at this look.
    pub(super) lambda_worse: f64,
    pub(super) state: CheckState,
}

/// Updates both tests with the estimate `theta` (positive = candidate worse) of variance
/// `variance > 0`, tolerated margin `margin ≥ 0` and mixing scale `tau > 0`.
pub(super) fn look(
    theta: f64,
    variance: f64,
    margin: f64,
    tau: f64,
    alpha: f64,
    prev: CheckState,
) -> Look {
    let ln_worse = mixture_ln_lambda(theta, variance, tau, Alternative::CandidateWorse { margin });
    let ln_within = mixture_ln_lambda(
        -theta,
        variance,
        tau,
        Alternative::CandidateWorse { margin: -margin },
    );
    let state = CheckState {
        max_ln_lambda_worse: prev.max_ln_lambda_worse.max(ln_worse),
        max_ln_lambda_within: prev.max_ln_lambda_within.max(ln_within),
        ..prev
    };
    let bar = -alpha.ln();
    let decision = if state.max_ln_lambda_worse >= bar {
        Decision::Fail
    } else if state.max_ln_lambda_within >= bar {
        Decision::Pass
    } else {
        Decision::Undecided
    };
    Look {
        decision,
        p_worse: (-state.max_ln_lambda_worse).exp().min(1.0),
        p_within: (-state.max_ln_lambda_within).exp().min(1.0),
        lambda_worse: ln_worse.exp(),
        state,
    }
}
