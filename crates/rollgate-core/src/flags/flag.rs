//! The compiled flag and its evaluation: the hot path, with no parsing and no allocation
//! except when a rollout buckets by a number attribute.

use super::clause::Clause;
use super::context::{Context, Value};
use crate::router::bucket;
use std::borrow::Cow;
use std::collections::HashMap;

/// A validated flag, ready to evaluate. Build one with [`super::FlagSet`].
#[derive(Debug, Clone)]
pub struct Flag {
    pub(crate) key: String,
    pub(crate) enabled: bool,
    /// `(variant name, model version)` in declaration order; indices below point here.
    pub(crate) variants: Vec<(String, String)>,
    pub(crate) default_variant: usize,
    pub(crate) off_variant: usize,
    pub(crate) salt: String,
    pub(crate) targets: HashMap<String, usize>,
    pub(crate) rules: Vec<Rule>,
}

/// A targeting rule: all clauses, then what to serve.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) clauses: Vec<Clause>,
    pub(crate) serve: Serve,
}

/// What a matching rule serves.
#[derive(Debug, Clone)]
pub(crate) enum Serve {
    Variant(usize),
    Rollout(Rollout),
}

/// A sticky split: each variant owns a range of the 10,000 buckets, laid out cumulatively in
/// declaration order as the router does, so growing the last variant only moves users onto it.
#[derive(Debug, Clone)]
pub(crate) struct Rollout {
    /// Attribute hashed for the bucket; `None` is the user key.
    pub(crate) bucket_by: Option<String>,
    /// `(variant, exclusive end of its range)`, ends increasing up to 10,000.
    pub(crate) ranges: Vec<(usize, u32)>,
}

/// Why a variant was served, as LaunchDarkly and OpenFeature report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The flag is disabled: `off_variant`.
    Off,
    /// The user key is listed in the flag's targets.
    TargetMatch,
    /// The rule at `index` matched.
    RuleMatch {
        /// Position of the rule in the flag's `rules`.
        index: usize,
    },
    /// Nothing matched: `default_variant`.
    Fallthrough,
    /// No variant could be chosen; the caller keeps its own default (the route table).
    Error(EvalError),
}

/// Why evaluation chose nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// No flag has the requested key.
    #[error("no such flag")]
    FlagNotFound,
}

/// The outcome of evaluating a flag, borrowing names from the flag (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation<'f> {
    /// The variant served; `None` only with [`Reason::Error`].
    pub variant: Option<&'f str>,
    /// The model version that variant stands for; `None` only with [`Reason::Error`].
    pub version: Option<&'f str>,
    /// Why.
    pub reason: Reason,
}

impl Evaluation<'_> {
    /// An evaluation that chose nothing.
    pub fn error(error: EvalError) -> Self {
        Self {
            variant: None,
            version: None,
            reason: Reason::Error(error),
        }
    }
}

impl Flag {
    /// The flag's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the flag is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// `(variant, model version)` pairs in declaration order.
    pub fn variants(&self) -> impl Iterator<Item = (&str, &str)> {
        self.variants.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn served(&self, variant: usize, reason: Reason) -> Evaluation<'_> {
        let (name, version) = &self.variants[variant];
        Evaluation {
            variant: Some(name),
            version: Some(version),
            reason,
        }
    }
}

/// Evaluates a flag: off → targets → first matching rule → default. Never panics: indices
/// were checked when the flag was compiled.
pub fn evaluate<'f>(flag: &'f Flag, ctx: &Context<'_>) -> Evaluation<'f> {
    if !flag.enabled {
        return flag.served(flag.off_variant, Reason::Off);
    }
    if let Some(&v) = ctx.key().and_then(|k| flag.targets.get(k)) {
        return flag.served(v, Reason::TargetMatch);
    }
    for (index, rule) in flag.rules.iter().enumerate() {
        if !rule.clauses.iter().all(|c| c.matches(ctx)) {
            continue;
        }
        // A rollout without a bucketing value does not match: see `Rollout::pick`.
        if let Some(v) = rule.serve.pick(&flag.salt, ctx) {
            return flag.served(v, Reason::RuleMatch { index });
        }
    }
    flag.served(flag.default_variant, Reason::Fallthrough)
}

impl Serve {
    fn pick(&self, salt: &str, ctx: &Context<'_>) -> Option<usize> {
        match self {
            Serve::Variant(v) => Some(*v),
            Serve::Rollout(r) => r.pick(salt, ctx),
        }
    }
}

impl Rollout {
    /// The variant owning the context's bucket. `None` when the bucketing value is missing:
    /// hashing a placeholder would pile every anonymous request into one variant, so such
    /// requests fall through to later rules and the default (usually the stable model).
    fn pick(&self, salt: &str, ctx: &Context<'_>) -> Option<usize> {
        let value = match &self.bucket_by {
            None => Cow::Borrowed(ctx.key()?),
            Some(attr) => bucket_text(ctx.get(attr)?),
        };
        let b = bucket(salt, &value);
        self.ranges
            .iter()
            .find(|&&(_, end)| b < end)
            .map(|&(v, _)| v)
    }
}

/// The text hashed for a bucket, so `42` and `"42"` land users in the same place.
fn bucket_text(value: Value<'_>) -> Cow<'_, str> {
    match value {
        Value::Str(s) => Cow::Borrowed(s),
        Value::Num(n) => Cow::Owned(n.to_string()),
        Value::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
    }
}
