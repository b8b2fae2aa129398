#![allow(clippy::unwrap_used)]
use super::*;

/// A small, fast configuration for debug-build unit tests.
fn quick(seed: u64, runs: usize) -> SimulationConfig {
    SimulationConfig {
        horizon: 1_000,
        latency_sample_cap: 300,
        ..SimulationConfig::standard(seed, runs)
    }
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let c = SimulationConfig {
        scenarios: Scenario::standard()[1..2].to_vec(),
        ..quick(3, 5)
    };
    assert_eq!(simulate(&c), simulate(&c));
}

#[test]
fn report_figures() {
    let report = simulate(&quick(0x5EED, 60));
    eprintln!("{}", report.render_table());
    let aa = report.row("healthy A/A", PolicyKind::Sequential).unwrap();
    assert!(
        aa.failure_rate <= 0.05,
        "A/A false failures {}",
        aa.failure_rate
    );
    let errors = report.row("5% errors", PolicyKind::Sequential).unwrap();
    assert!(errors.failure_rate >= 0.95);
    assert!(report.delay_ratio("5% errors").unwrap() <= 0.25);
}

/// The full standard comparison (1000 runs per scenario, horizon 2000): slow in a debug build,
/// so ignored by default; run with
/// `cargo test -p rollgate-core full_standard_report -- --ignored --nocapture`.
#[test]
#[ignore = "minutes in a debug build; the CLI runs it in release"]
fn full_standard_report() {
    let report = simulate(&SimulationConfig::standard(0x5EED_2024, 1_000));
    eprintln!("{}", report.render_table());
    // Measured with this seed (release build, 1 min): A/A false failures 0.3 % with the
    // template's α 0.05 split over its three checks; 5 % errors failed after a median of 90
    // canary requests against 500 for the fixed threshold (18 %). Targets: ≤ 1 % and ≤ 20 %.
    let aa = report.row("healthy A/A", PolicyKind::Sequential).unwrap();
    assert!(
        aa.failure_rate <= 0.01,
        "A/A false failures {}",
        aa.failure_rate
    );
    assert!(report.delay_ratio("5% errors").unwrap() <= 0.20);
}
