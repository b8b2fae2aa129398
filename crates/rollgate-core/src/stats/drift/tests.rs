//! Tests of the drift measures against numpy/scipy values, and their properties.
#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn close(actual: f64, expected: f64, tol: f64) {
    assert!(
        (actual - expected).abs() <= tol,
        "{actual} differs from {expected} by more than {tol}"
    );
}

#[test]
fn psi_matches_numpy() {
    // python -c "import numpy as np
    // def psi(e,a,eps=1e-4):
    //     e=np.array(e,float); a=np.array(a,float); e=np.maximum(e/e.sum(),eps); a=np.maximum(a/a.sum(),eps)
    //     return np.sum((a-e)*np.log(a/e))
    // print(psi([100,200,300,250,150],[120,180,280,270,150]), psi([10,20,30,40,0],[0,25,25,25,25]), psi([500,300,200],[200,300,500]))"
    // -> 0.008672719701497213 2.7360876502755715 0.549774439124493
    let cases: [(&[u64], &[u64], f64, PsiLevel); 3] = [
        (
            &[100, 200, 300, 250, 150],
            &[120, 180, 280, 270, 150],
            0.008672719701497213,
            PsiLevel::Stable,
        ),
        (
            &[10, 20, 30, 40, 0],
            &[0, 25, 25, 25, 25],
            2.7360876502755715,
            PsiLevel::Significant,
        ),
        (
            &[500, 300, 200],
            &[200, 300, 500],
            0.549774439124493,
            PsiLevel::Significant,
        ),
    ];
    for (e, a, psi, level) in cases {
        let got = population_stability_index(e, a).unwrap();
        close(got, psi, 1e-12);
        assert_eq!(psi_level(got), level);
    }
    assert_eq!(psi_level(0.15), PsiLevel::Moderate);
}

#[test]
fn js_matches_scipy() {
    // python -c "from scipy.spatial.distance import jensenshannon as js; print(js([100,200,300,250,150],[120,180,280,270,150],base=2), js([10,20,30,40,0],[0,25,25,25,25],base=2), js([1,0],[0,1],base=2), js([1,2,3],[1,2,3],base=2))"
    // -> 0.03953237206858667 0.4373187417036941 1.0 0.0
    let cases: [(&[u64], &[u64], f64); 4] = [
        (
            &[100, 200, 300, 250, 150],
            &[120, 180, 280, 270, 150],
            0.03953237206858667,
        ),
        (
            &[10, 20, 30, 40, 0],
            &[0, 25, 25, 25, 25],
            0.4373187417036941,
        ),
        (&[1, 0], &[0, 1], 1.0),
        (&[1, 2, 3], &[1, 2, 3], 0.0),
    ];
    for (p, q, d) in cases {
        close(jensen_shannon_distance(p, q).unwrap(), d, 1e-12);
    }
}

#[test]
fn invalid_histograms_are_refused() {
    assert!(population_stability_index(&[1, 2], &[1]).is_err());
    assert!(population_stability_index(&[], &[]).is_err());
    assert!(jensen_shannon_distance(&[0, 0], &[1, 1]).is_err());
}

fn histograms() -> impl Strategy<Value = (Vec<u64>, Vec<u64>)> {
    (1usize..12).prop_flat_map(|k| {
        let h = prop::collection::vec(0u64..1000, k)
            .prop_filter("non-empty", |v| v.iter().any(|&c| c > 0));
        (h.clone(), h)
    })
}

proptest! {
    #[test]
    fn measures_are_in_range_and_symmetric((p, q) in histograms()) {
        let (psi, js) = (population_stability_index(&p, &q).unwrap(), jensen_shannon_distance(&p, &q).unwrap());
        prop_assert!(psi >= 0.0 && (0.0..=1.0).contains(&js));
        prop_assert!((psi - population_stability_index(&q, &p).unwrap()).abs() < 1e-12);
        prop_assert!((js - jensen_shannon_distance(&q, &p).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn identical_histograms_show_no_drift((p, _) in histograms(), scale in 1u64..5) {
        let scaled: Vec<u64> = p.iter().map(|c| c * scale).collect();
        prop_assert!(population_stability_index(&p, &scaled).unwrap().abs() < 1e-12);
        prop_assert!(jensen_shannon_distance(&p, &scaled).unwrap() < 1e-6);
    }

    #[test]
    fn measures_ignore_the_order_of_bins(
        (pairs, shuffled) in histograms()
            .prop_map(|(p, q)| p.into_iter().zip(q).collect::<Vec<_>>())
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        let (p, q): (Vec<u64>, Vec<u64>) = pairs.into_iter().unzip();
        let (ps, qs): (Vec<u64>, Vec<u64>) = shuffled.into_iter().unzip();
        let psi = population_stability_index(&p, &q).unwrap();
        prop_assert!((psi - population_stability_index(&ps, &qs).unwrap()).abs() < 1e-12);
        let js = jensen_shannon_distance(&p, &q).unwrap();
        prop_assert!((js - jensen_shannon_distance(&ps, &qs).unwrap()).abs() < 1e-12);
    }
}
