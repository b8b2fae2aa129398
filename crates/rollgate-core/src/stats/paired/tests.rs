//! Tests of McNemar's test against statsmodels values, and its properties.
#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn table(both: u64, stable_only: u64, candidate_only: u64, neither: u64) -> PairedOutcomes {
    PairedOutcomes {
        both,
        stable_only,
        candidate_only,
        neither,
    }
}

fn close(actual: f64, expected: f64, tol: f64) {
    assert!(
        (actual - expected).abs() <= tol,
        "{actual} differs from {expected} by more than {tol}"
    );
}

#[test]
fn chi_square_form_matches_statsmodels() {
    // Agresti (2013) Table 11.1, approval of the president in two surveys:
    // python -c "from statsmodels.stats.contingency_tables import mcnemar; r=mcnemar([[794,150],[86,570]],exact=False,correction=True); print(r.statistic, r.pvalue)"
    // -> 16.81779661016949 4.114562281345944e-05
    let r = mcnemar(&table(794, 150, 86, 570));
    assert_eq!(r.method, McNemarMethod::ChiSquareCorrected);
    assert_eq!((r.stable_only, r.candidate_only), (150, 86));
    close(r.statistic, 16.81779661016949, 1e-12);
    close(r.p_value, 4.114562281345944e-05, 1e-15);
    // python -c "from statsmodels.stats.contingency_tables import mcnemar; r=mcnemar([[20,12],[2,30]],exact=False,correction=True); print(r.statistic, r.pvalue)"
    // -> 5.785714285714286 0.016156931261181322 (b + c = 14 here would use the exact form;
    //    checked through the internal chi-square helper instead)
    close(
        crate::stats::common::chi2_sf(5.785714285714286, 1),
        0.016156931261181322,
        1e-14,
    );
}

#[test]
fn exact_form_matches_statsmodels() {
    // python -c "from statsmodels.stats.contingency_tables import mcnemar; print([(r.statistic, r.pvalue) for r in (mcnemar(t, exact=True) for t in ([[10,3],[9,20]], [[20,12],[2,30]], [[5,0],[0,5]]))])"
    // -> [(3.0, 0.14599609375), (2.0, 0.012939453125), (0.0, 1.0)]
    let cases = [
        (table(10, 3, 9, 20), 3.0, 0.14599609375),
        (table(20, 12, 2, 30), 2.0, 0.012939453125),
        (table(5, 0, 0, 5), 0.0, 1.0),
    ];
    for (t, stat, p) in cases {
        let r = mcnemar(&t);
        assert_eq!(r.method, McNemarMethod::ExactBinomial);
        close(r.statistic, stat, 0.0);
        close(r.p_value, p, 1e-15);
    }
}

#[test]
fn equal_discordant_counts_give_p_one_in_both_forms() {
    assert_eq!(mcnemar(&table(0, 10, 10, 0)).p_value, 1.0);
    assert_eq!(mcnemar(&table(0, 40, 40, 0)).p_value, 1.0);
}

#[test]
fn outcomes_are_tallied() {
    let pairs = [
        (true, true),
        (true, false),
        (false, true),
        (false, true),
        (false, false),
    ];
    assert_eq!(PairedOutcomes::from_pairs(pairs), table(1, 1, 2, 1));
}

proptest! {
    #[test]
    fn p_value_is_in_range_and_symmetric(b in 0u64..200, c in 0u64..200, both in 0u64..50) {
        let (r, s) = (mcnemar(&table(both, b, c, 0)), mcnemar(&table(both, c, b, 0)));
        prop_assert!(r.p_value > 0.0 && r.p_value <= 1.0);
        prop_assert_eq!(r.p_value, s.p_value);
        prop_assert_eq!(mcnemar(&table(both, b, b, 3)).p_value, 1.0);
    }

    #[test]
    fn tally_is_order_invariant(
        (p, q) in prop::collection::vec(any::<(bool, bool)>(), 0..100)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        prop_assert_eq!(PairedOutcomes::from_pairs(p), PairedOutcomes::from_pairs(q));
    }
}
