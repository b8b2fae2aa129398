//! Flag tests beyond single operators: loading, evaluation order, rollouts, properties.

mod eval;
mod load;
mod props;
mod rollout;

use super::FlagSet;

/// A flag set from YAML, panicking with the error (tests only).
fn set(yaml: &str) -> FlagSet {
    FlagSet::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}
