//! The YAML the operators write: the service config (`rollgate serve --config`) and rollout
//! plans (`rollgate rollout start --plan`, `POST .../rollout`).
//!
//! Input: a selector byte, then the YAML text. Invariants: no panic; a config that validates
//! exports back to the file model and validates again to the same services; a plan that
//! parses expands into steps.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rollgate_core::config::{self, service_file, service_from_file};
use rollgate_core::rollout::parse_plan;

fn check_config(text: &str) {
    let Ok(parsed) = config::parse(text) else {
        return;
    };
    for spec in &parsed.services {
        let again = service_from_file(&spec.name, service_file(spec))
            .unwrap_or_else(|e| panic!("service `{}` does not survive export: {e}", spec.name));
        assert_eq!(
            &again, spec,
            "service `{}` changed through export",
            spec.name
        );
    }
}

fn check_plan(text: &str) {
    if let Ok(plan) = parse_plan(text) {
        let _ = plan.expand();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if selector & 1 == 0 {
        check_config(text);
    } else {
        check_plan(text);
    }
});
