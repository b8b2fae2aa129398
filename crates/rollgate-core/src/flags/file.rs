//! Flags as written: plain serde structs with unknown keys refused, so the one schema serves
//! for YAML files, the store and the control API. [`super::compile`] turns them into the
//! evaluable form and names the field of every problem.

use crate::document::OrderedMap;
use serde::{Deserialize, Serialize};

/// A whole flags document: shared segments, then flags by key.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlagSetFile {
    /// Reusable audiences by name, referenced by `in_segment` clauses.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub segments: OrderedMap<SegmentFile>,
    /// Flags by key, in declaration order.
    #[serde(default = "empty_map")]
    pub flags: OrderedMap<FlagFile>,
}

impl Default for FlagSetFile {
    fn default() -> Self {
        Self {
            segments: empty_map(),
            flags: empty_map(),
        }
    }
}

/// `flags.KEY:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlagFile {
    /// A disabled flag serves `off_variant` to everyone, whatever its rules say.
    pub enabled: bool,
    /// Variant name → model version name.
    pub variants: OrderedMap<String>,
    /// Served when the flag is on and neither a target nor a rule matches.
    pub default_variant: String,
    /// Served when the flag is off.
    pub off_variant: String,
    /// Salt of percentage rollouts; defaults to the flag key. Changing it reshuffles users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Variant → user keys served it before any rule is looked at.
    #[serde(default = "empty_map", skip_serializing_if = "is_empty_map")]
    pub targets: OrderedMap<Vec<String>>,
    /// Targeting rules, the first matching one wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleFile>,
}

/// `flags.KEY.rules[i]:` all clauses must match (none: the rule matches everyone).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Conditions, all of which must hold.
    #[serde(default)]
    pub clauses: Vec<ClauseFile>,
    /// What a matching request gets.
    pub serve: ServeFile,
}

/// `serve:` exactly one of `variant` or `rollout`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    /// A fixed variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// A sticky percentage split between variants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutFile>,
}

/// `serve.rollout:` shares given as exactly one of `percent` or `bps` (basis points).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutFile {
    /// Attribute whose value is hashed; defaults to the user key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
    /// Variant → percent (two decimals at most), summing to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<OrderedMap<f64>>,
    /// Variant → basis points, summing to 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bps: Option<OrderedMap<u32>>,
}

/// One condition on the evaluation context.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClauseFile {
    /// Attribute read from the context (`key` is the user key); absent for `in_segment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// The comparison.
    pub op: Op,
    /// Operand of single-valued operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Scalar>,
    /// Operands of `in`, `not_in` and `in_segment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Scalar>>,
    /// Inverts the result when the attribute is present (a missing attribute never matches).
    #[serde(default, skip_serializing_if = "is_false")]
    pub negate: bool,
}

/// Clause operators, named as in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Same type and value.
    Equals,
    /// Not `equals`.
    NotEquals,
    /// Equal to one of `values`.
    In,
    /// Equal to none of `values`.
    NotIn,
    /// String matched by a regular expression (unanchored; use `^…$` for whole strings).
    Regex,
    /// String prefix.
    StartsWith,
    /// String suffix.
    EndsWith,
    /// Substring.
    Contains,
    /// Number below.
    Lt,
    /// Number at most.
    Lte,
    /// Number above.
    Gt,
    /// Number at least.
    Gte,
    /// Same semantic version (build metadata ignored).
    SemverEq,
    /// Older semantic version.
    SemverLt,
    /// Newer semantic version.
    SemverGt,
    /// Member of one of the named segments.
    InSegment,
}

/// A JSON-like scalar as written in YAML: `true`, `2.5`, `FR`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// A number (integers included).
    Num(f64),
    /// A string.
    Str(String),
}

/// `segments.NAME:` included keys, else excluded keys, else all clauses (none: no match).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentFile {
    /// User keys always in the segment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<String>,
    /// User keys never in the segment, whatever the clauses say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    /// Conditions, all of which must hold; `in_segment` is not allowed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<ClauseFile>,
}

fn empty_map<V>() -> OrderedMap<V> {
    OrderedMap(Vec::new())
}

fn is_empty_map<V>(m: &OrderedMap<V>) -> bool {
    m.0.is_empty()
}

fn is_false(b: &bool) -> bool {
    !*b
}
