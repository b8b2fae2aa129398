//! Feature flags: targeting rules evaluated per request to choose a model version.
//!
//! Modelled on LaunchDarkly and flagd so operators meet familiar ideas: a flag has variants
//! (each naming a model version), individual targets, ordered rules whose clauses must all
//! match, reusable segments, and sticky percentage rollouts that hash with the router's
//! [`crate::router::bucket`], so a flag and a route split users the same way.
//!
//! Flags are written as [`file::FlagSetFile`] (YAML or the control API), compiled once into a
//! [`FlagSet`] that cannot hold an invalid reference, and evaluated on the hot path by
//! [`evaluate`], which never fails or panics.
//!
//! ```
//! use rollgate_core::flags::{Context, FlagSet, Reason};
//!
//! let flags = FlagSet::from_yaml(r#"
//! flags:
//!   checkout-model:
//!     enabled: true
//!     variants: { stable: fraud-v1, candidate: fraud-v2 }
//!     default_variant: stable
//!     off_variant: stable
//!     targets: { candidate: [alice] }
//!     rules:
//!       - clauses: [{ attribute: country, op: in, values: [FR, DE] }]
//!         serve: { rollout: { percent: { stable: 90, candidate: 10 } } }
//! "#)?;
//! // The gateway borrows attribute values from the request: no copies.
//! let ctx = Context::with_key("alice").attr("country", "FR");
//! let e = flags.evaluate("checkout-model", &ctx);
//! assert_eq!((e.version, e.reason), (Some("fraud-v2"), Reason::TargetMatch));
//! # Ok::<(), rollgate_core::config::ConfigError>(())
//! ```

mod clause;
mod compile;
mod context;
pub mod file;
mod flag;
mod segment;

pub use context::{Context, Value, KEY_ATTRIBUTE};
pub use flag::{evaluate, EvalError, Evaluation, Flag, Reason};

use crate::document::ConfigError;
use file::FlagSetFile;

/// A validated set of flags, with the document it was built from.
#[derive(Debug, Clone)]
pub struct FlagSet {
    flags: Vec<Flag>,
    /// Kept verbatim so [`FlagSet::to_file`] returns exactly what was written, comments aside.
    source: FlagSetFile,
}

impl FlagSet {
    /// Parses and validates a YAML flags document.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let file: FlagSetFile =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        Self::from_file(file)
    }

    /// Validates a flags document (from YAML, the store or the control API).
    pub fn from_file(file: FlagSetFile) -> Result<Self, ConfigError> {
        Ok(Self {
            flags: compile::compile(&file)?,
            source: file,
        })
    }

    /// The document form, for showing and editing; `from_file(to_file())` gives the same set.
    pub fn to_file(&self) -> FlagSetFile {
        self.source.clone()
    }

    /// The document as YAML.
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        serde_yaml_ng::to_string(&self.source).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// The flags in declaration order.
    pub fn flags(&self) -> &[Flag] {
        &self.flags
    }

    /// A flag by key. A linear scan: sets hold few flags and keys are short.
    pub fn get(&self, key: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.key == key)
    }

    /// Evaluates the flag `key`; an unknown key gives [`Reason::Error`] and no variant.
    pub fn evaluate(&self, key: &str, ctx: &Context<'_>) -> Evaluation<'_> {
        match self.get(key) {
            Some(flag) => evaluate(flag, ctx),
            None => Evaluation::error(EvalError::FlagNotFound),
        }
    }
}

impl PartialEq for FlagSet {
    /// Two sets are equal when built from equal documents (compiled regexes cannot compare).
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

#[cfg(test)]
mod tests;
