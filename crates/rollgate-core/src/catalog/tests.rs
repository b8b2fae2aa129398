use super::*;
use crate::config::parse;

fn state() -> ServiceState {
    let text = r#"
services:
  iris:
    input_width: 4
    versions:
      v1: { onnx: "sha256:1" }
      v2: { onnx: "sha256:2" }
    route:
      stable: v1
      weights: { v1: 100 }
"#;
    ServiceState {
        spec: parse(text).expect("valid").services.remove(0),
        previous: None,
        revision: 7,
    }
}

fn onnx(name: &str) -> VersionSpec {
    VersionSpec {
        name: name.into(),
        source: VersionSource::Onnx {
            path: format!("sha256:{name}"),
        },
    }
}

fn weights(s: &ServiceState) -> Vec<(String, u32)> {
    let t = &s.spec.route;
    t.versions()
        .iter()
        .cloned()
        .zip(t.weights().iter().copied())
        .collect()
}

#[test]
fn the_seed_workflow_end_to_end() {
    let s = apply(&state(), &Change::UpdateModel(onnx("v3"))).expect("update");
    assert_eq!(s.revision, 8);
    assert_eq!(
        s.spec.route.candidate().map(|c| s.spec.route.name(c)),
        Some("v3")
    );
    let s = apply(&s, &Change::SetCanaryRatio(1000)).expect("ratio");
    assert_eq!(
        weights(&s),
        vec![("v1".into(), 9000), ("v2".into(), 0), ("v3".into(), 1000)]
    );
    let s = apply(&s, &Change::AcceptNext).expect("accept");
    assert_eq!(s.spec.route.name(s.spec.route.stable()), "v3");
    assert_eq!(s.spec.route.weight(s.spec.route.stable()), 10_000);
    assert_eq!(s.previous.as_deref(), Some("v1"));
    let s = apply(&s, &Change::Rollback).expect("rollback");
    assert_eq!(s.spec.route.name(s.spec.route.stable()), "v1");
    assert_eq!(s.spec.route.weight(s.spec.route.stable()), 10_000);
    assert_eq!(s.previous, None);
    assert_eq!(s.revision, 11);
}

#[test]
fn rollback_during_a_canary_returns_all_traffic_to_stable() {
    let s = apply(&state(), &Change::SetCanaryRatio(2500)).expect("ratio");
    let s = apply(&s, &Change::Rollback).expect("rollback");
    assert_eq!(weights(&s), vec![("v1".into(), 10_000), ("v2".into(), 0)]);
    assert_eq!(
        apply(&s, &Change::Rollback),
        Err(ChangeError::NothingToRollBack)
    );
}

#[test]
fn versions_are_immutable_and_names_checked() {
    assert_eq!(
        apply(&state(), &Change::AddVersion(onnx("v1"))),
        Err(ChangeError::VersionExists("v1".into()))
    );
    assert!(matches!(
        apply(&state(), &Change::AddVersion(onnx("../x"))),
        Err(ChangeError::BadName(_))
    ));
}

#[test]
fn versions_in_use_cannot_be_removed() {
    let s = state();
    assert_eq!(
        apply(&s, &Change::RemoveVersion("v1".into())),
        Err(ChangeError::InUse("v1".into(), "stable"))
    );
    let s2 = apply(&s, &Change::SetCanaryRatio(100)).expect("ratio");
    assert_eq!(
        apply(&s2, &Change::RemoveVersion("v2".into())),
        Err(ChangeError::InUse("v2".into(), "has traffic"))
    );
    let s3 = apply(&s, &Change::RemoveVersion("v2".into())).expect("unused");
    assert_eq!(s3.spec.versions.len(), 1);
    assert_eq!(
        apply(&s, &Change::RemoveVersion("v9".into())),
        Err(ChangeError::UnknownVersion("v9".into()))
    );
}

#[test]
fn ratios_convert_exactly() {
    assert_eq!(ratio_to_bps(0.1), Ok(1000));
    assert_eq!(ratio_to_bps(0.005), Ok(50));
    assert_eq!(ratio_to_bps(1.0), Ok(10_000));
    assert_eq!(ratio_to_bps(1.5), Err(ChangeError::BadRatio));
    assert_eq!(ratio_to_bps(0.00001), Err(ChangeError::BadRatio));
}

#[test]
fn set_route_keeps_the_versions() {
    let mut spec = state().spec.route.to_spec();
    spec.weights = vec![("v1".into(), 5000), ("v2".into(), 5000)];
    spec.versions = vec![];
    let s = apply(&state(), &Change::SetRoute(spec)).expect("route");
    assert_eq!(
        s.spec.route.versions(),
        &["v1".to_string(), "v2".to_string()]
    );
}

#[test]
fn retiring_lets_go_of_the_rollback_target_only_once_nothing_routes_to_it() {
    let s = apply(&state(), &Change::SetCanaryRatio(10_000)).expect("switch");
    assert_eq!(
        apply(&s, &Change::Retire("v1".into())),
        Err(ChangeError::InUse("v1".into(), "stable")),
        "blue is still stable until green is promoted"
    );
    let s = apply(&s, &Change::AcceptNext).expect("promote");
    assert_eq!(
        apply(&s, &Change::RemoveVersion("v1".into())),
        Err(ChangeError::InUse("v1".into(), "kept for rollback"))
    );
    let retired = apply(&s, &Change::Retire("v1".into())).expect("retire");
    assert_eq!(retired.previous, None);
    assert_eq!(retired.spec.versions.len(), 1);
    assert_eq!(retired.spec.route.versions(), &["v2".to_string()]);
    assert_eq!(
        apply(&retired, &Change::Rollback),
        Err(ChangeError::NothingToRollBack)
    );
    assert_eq!(
        apply(&s, &Change::Retire("v2".into())),
        Err(ChangeError::InUse("v2".into(), "stable"))
    );
}
