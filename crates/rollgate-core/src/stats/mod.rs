//! The statistical tests Rollgate's judge uses to call a candidate version better or worse than
//! the stable one.
//!
//! Every function here is pure: counts or samples in, statistics out; no clock, no I/O, no
//! random draw. Each documents its method and a reference, and is tested against values from
//! scipy/statsmodels. By convention the effect is always *candidate versus stable*: a positive
//! difference or z means the candidate's value is higher, and "greater" one-sided p-values
//! test that direction (for an error rate or a latency, "candidate worse").
//!
//! | question in Rollgate | test |
//! | --- | --- |
//! | error, accuracy or conversion rate, one look | [`two_proportion_z_test`] (large counts, with Newcombe's interval of the difference); [`fisher_exact`] when counts are small or rates near 0; [`wilson_interval`] for one rate |
//! | latency or any continuous metric | [`mann_whitney_u`], distribution-free like Kayenta's canary judge; asymptotic with tie and continuity corrections |
//! | paired shadow traffic (same request to both versions) | [`wilcoxon_signed_rank`] on paired values; [`mcnemar`] on paired right/wrong outcomes |
//! | repeated looks during a rollout stage | [`Msprt`] (or [`mixture_ln_lambda`] with the [`restricted_difference_variance`] of a non-inferiority margin), the always-valid mixture SPRT: peeking at every look keeps the false-alarm rate ≤ α, which a fixed-horizon p-value does not |
//! | A/B experiments | [`sample_size_two_proportions`] to plan, [`sample_ratio_mismatch`] to check the split before trusting any comparison |
//! | drift of the model's outputs | [`population_stability_index`] and [`jensen_shannon_distance`] over histograms of predictions |

mod common;
mod drift;
mod error;
mod paired;
mod power;
mod proportion;
mod rank;
mod restricted;
mod sequential;

pub use common::{Counts, Interval};
pub use drift::{
    jensen_shannon_distance, population_stability_index, psi_level, PsiLevel, PSI_EPSILON,
};
pub use error::StatsError;
pub use paired::{mcnemar, McNemar, McNemarMethod, PairedOutcomes, MCNEMAR_EXACT_BELOW};
pub use power::{sample_ratio_mismatch, sample_size_two_proportions, Srm, SRM_THRESHOLD};
pub use proportion::{
    fisher_exact, two_proportion_z_test, wilson_interval, FisherExact, TwoProportionZ,
};
pub use rank::{mann_whitney_u, wilcoxon_signed_rank, MannWhitney, Wilcoxon};
pub use restricted::restricted_difference_variance;
pub use sequential::{mixture_ln_lambda, Alternative, Msprt, MsprtConfig, SequentialDecision};
