use super::*;

fn published(
    incarnation: &str,
    seq: u64,
    requests: u64,
    errors: u64,
    latency: &[f64],
) -> Published {
    let mut totals = Totals {
        requests,
        ..Totals::default()
    };
    totals.errors[crate::telemetry::ErrorKind::Model as usize] = errors;
    Published {
        incarnation: incarnation.into(),
        seq,
        totals,
        latency_ms: latency.to_vec(),
    }
}

#[test]
fn a_window_sums_every_replica_since_the_mark() {
    let mut seen = Seen::default();
    take_in(
        &mut seen,
        "a".into(),
        published("a1", 1, 100, 1, &[]),
        1_000,
    );
    take_in(&mut seen, "b".into(), published("b1", 1, 50, 0, &[]), 1_000);
    let base = baseline(Some(&seen));
    take_in(
        &mut seen,
        "a".into(),
        published("a1", 2, 130, 4, &[2.0]),
        2_000,
    );
    take_in(
        &mut seen,
        "b".into(),
        published("b1", 2, 70, 2, &[3.0]),
        2_000,
    );
    let w = fleet_window(Some(&seen), &base, 1_500);
    assert_eq!(w.requests, 30 + 20);
    assert_eq!(w.errors.model, 3 + 2);
    assert_eq!(w.latency.samples_ms.len(), 2);
}

#[test]
fn a_replica_that_appeared_or_restarted_since_the_mark_counts_from_zero() {
    let mut seen = Seen::default();
    take_in(
        &mut seen,
        "a".into(),
        published("a1", 9, 500, 0, &[]),
        1_000,
    );
    let base = baseline(Some(&seen));
    take_in(&mut seen, "a".into(), published("a2", 1, 40, 0, &[]), 2_000);
    take_in(&mut seen, "c".into(), published("c1", 1, 25, 0, &[]), 2_000);
    let w = fleet_window(Some(&seen), &base, 0);
    assert_eq!(w.requests, 40 + 25, "not 40 - 500, and c's counts whole");
}

#[test]
fn a_publication_read_twice_adds_its_latencies_once() {
    let mut seen = Seen::default();
    let p = published("a1", 1, 1, 0, &[5.0, 6.0]);
    take_in(&mut seen, "a".into(), p.clone(), 1_000);
    take_in(&mut seen, "a".into(), p, 1_250);
    assert_eq!(seen.latencies.len(), 2);
    let w = fleet_window(Some(&seen), &Baseline::new(), 0);
    assert_eq!(w.latency.samples_ms, vec![5.0, 6.0]);
}

#[test]
fn latencies_before_the_mark_are_left_out() {
    let mut seen = Seen::default();
    take_in(
        &mut seen,
        "a".into(),
        published("a1", 1, 1, 0, &[100.0]),
        1_000,
    );
    take_in(
        &mut seen,
        "a".into(),
        published("a1", 2, 2, 0, &[1.0]),
        3_000,
    );
    let w = fleet_window(Some(&seen), &Baseline::new(), 2_000);
    assert_eq!(w.latency.samples_ms, vec![1.0]);
}

#[test]
fn nothing_published_is_an_empty_window() {
    assert_eq!(
        fleet_window(None, &Baseline::new(), 0),
        VersionWindow::default()
    );
}
