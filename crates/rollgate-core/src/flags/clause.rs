//! Compiled clauses and how they match a context.
//!
//! Operands are parsed at load (regexes compiled, versions parsed), so matching does no
//! parsing of flag data. Typing follows LaunchDarkly: a missing attribute never matches, even
//! negated, and operators only match values of their own type, except that number and semver
//! operators parse string attributes, because headers only carry strings.

use super::context::{Context, Value};
use super::file::Scalar;
use super::segment::Segment;
use regex::Regex;
use semver::Version;
use std::cmp::Ordering;
use std::sync::Arc;

/// A validated condition on one attribute (or on segment membership).
#[derive(Debug, Clone)]
pub(crate) struct Clause {
    pub(crate) attribute: String,
    pub(crate) test: Test,
    pub(crate) negate: bool,
}

/// What a clause checks, with its operands in evaluable form.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Equals(Scalar),
    In(Vec<Scalar>),
    Regex(Regex),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    /// The attribute compared with the operand must give one of these orderings.
    Number(f64, &'static [Ordering]),
    Semver(Version, &'static [Ordering]),
    /// Segment membership; reads the whole context, not one attribute.
    InSegment(Vec<Arc<Segment>>),
}

impl Clause {
    /// Whether the context satisfies the clause; `false` when the attribute is missing.
    pub(crate) fn matches(&self, ctx: &Context<'_>) -> bool {
        let hit = match &self.test {
            Test::InSegment(segments) => segments.iter().any(|s| s.contains(ctx)),
            test => match ctx.get(&self.attribute) {
                Some(value) => test.holds(value),
                None => return false,
            },
        };
        hit != self.negate
    }
}

impl Test {
    fn holds(&self, value: Value<'_>) -> bool {
        match self {
            Test::Equals(s) => Value::from(s) == value,
            Test::In(list) => list.iter().any(|s| Value::from(s) == value),
            Test::Regex(re) => as_str(value).is_some_and(|v| re.is_match(v)),
            Test::StartsWith(p) => as_str(value).is_some_and(|v| v.starts_with(p.as_str())),
            Test::EndsWith(p) => as_str(value).is_some_and(|v| v.ends_with(p.as_str())),
            Test::Contains(p) => as_str(value).is_some_and(|v| v.contains(p.as_str())),
            Test::Number(n, want) => as_number(value)
                .and_then(|v| v.partial_cmp(n))
                .is_some_and(|o| want.contains(&o)),
            Test::Semver(ver, want) => as_str(value)
                .and_then(parse_semver)
                .is_some_and(|v| want.contains(&v.cmp_precedence(ver))),
            Test::InSegment(_) => false,
        }
    }
}

fn as_str(value: Value<'_>) -> Option<&str> {
    match value {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// Numbers, and strings that parse as finite numbers (header values).
fn as_number(value: Value<'_>) -> Option<f64> {
    match value {
        Value::Num(n) => Some(n),
        Value::Str(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        Value::Bool(_) => None,
    }
}

/// Parses a semantic version, accepting a leading `v` and a missing minor or patch (`2`,
/// `v2.1`) because apps report versions that way; the strict form is what gets stored.
pub(crate) fn parse_semver(text: &str) -> Option<Version> {
    let text = text.strip_prefix('v').unwrap_or(text);
    if let Ok(v) = Version::parse(text) {
        return Some(v);
    }
    let core_end = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(core_end);
    let padding = match core.matches('.').count() {
        0 => ".0.0",
        1 => ".0",
        _ => return None,
    };
    Version::parse(&format!("{core}{padding}{rest}")).ok()
}

#[cfg(test)]
mod tests;
