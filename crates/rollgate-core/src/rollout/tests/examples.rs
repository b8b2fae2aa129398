//! Every plan in `examples/plans` parses, validates and expands.

use crate::rollout::{parse_plan, Step};
use std::path::PathBuf;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/plans")
}

#[test]
fn every_example_plan_validates() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).expect("examples/plans exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable plan");
        let plan = parse_plan(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let steps = plan.expand();
        assert!(!steps.is_empty(), "{}", path.display());
        assert!(plan.to_string().contains("plan: "), "{}", path.display());
        names.push(
            path.file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    assert_eq!(
        names,
        [
            "ab-test.yaml",
            "blue-green.yaml",
            "canary.yaml",
            "rolling.yaml",
            "shadow-then-canary.yaml"
        ]
    );
}

#[test]
fn shadow_then_canary_mirrors_before_raising_weights() {
    let text = std::fs::read_to_string(examples_dir().join("shadow-then-canary.yaml"))
        .expect("example exists");
    let steps = parse_plan(&text).expect("valid").expand();
    let kinds: Vec<&str> = steps.iter().map(Step::kind).collect();
    assert_eq!(
        kinds,
        [
            "mirror",
            "analysis",
            "mirror",
            "set_weight",
            "analysis",
            "set_weight",
            "analysis",
            "set_weight",
            "promote"
        ]
    );
}
