//! Clause and segment compilation: operands checked against their operator and parsed once.

use super::Segments;
use crate::document::ConfigError;
use crate::flags::clause::{parse_semver, Clause, Test};
use crate::flags::file::{ClauseFile, Op, Scalar, SegmentFile};
use crate::flags::segment::Segment;
use std::cmp::Ordering::{self, Equal, Greater, Less};
use std::collections::HashSet;

/// Compiles a segment; its clauses may not reference segments, so membership cannot loop.
pub(super) fn segment(at: &str, s: &SegmentFile) -> Result<Segment, ConfigError> {
    let included = key_set(&format!("{at}.included"), &s.included)?;
    let excluded = key_set(&format!("{at}.excluded"), &s.excluded)?;
    if let Some(i) = s.excluded.iter().position(|k| included.contains(k)) {
        let problem = format!("user `{}` is also included", s.excluded[i]);
        return Err(ConfigError::invalid(format!("{at}.excluded[{i}]"), problem));
    }
    let clauses = s
        .clauses
        .iter()
        .enumerate()
        .map(|(i, c)| clause(&format!("{at}.clauses[{i}]"), c, None))
        .collect::<Result<_, _>>()?;
    Ok(Segment {
        included,
        excluded,
        clauses,
    })
}

fn key_set(at: &str, keys: &[String]) -> Result<HashSet<String>, ConfigError> {
    let mut set = HashSet::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        if !set.insert(k.clone()) {
            let problem = format!("user `{k}` is listed twice");
            return Err(ConfigError::invalid(format!("{at}[{i}]"), problem));
        }
    }
    Ok(set)
}

/// Compiles a clause. `segments` is `None` inside a segment, where `in_segment` is refused.
pub(super) fn clause(
    at: &str,
    c: &ClauseFile,
    segments: Option<&Segments>,
) -> Result<Clause, ConfigError> {
    let test = match c.op {
        Op::InSegment => {
            if c.attribute.is_some() {
                return Err(ConfigError::invalid(
                    format!("{at}.attribute"),
                    "`in_segment` reads no attribute",
                ));
            }
            in_segment(at, c, segments)?
        }
        op => {
            match c.attribute.as_deref() {
                None | Some("") => {
                    return Err(ConfigError::invalid(format!("{at}.attribute"), "is needed"))
                }
                Some(_) => {}
            }
            operand_test(at, op, c)?
        }
    };
    Ok(Clause {
        attribute: c.attribute.clone().unwrap_or_default(),
        test,
        // `not_equals` and `not_in` are negated `equals` and `in`: same missing-attribute rule.
        negate: c.negate != matches!(c.op, Op::NotEquals | Op::NotIn),
    })
}

fn operand_test(at: &str, op: Op, c: &ClauseFile) -> Result<Test, ConfigError> {
    if matches!(op, Op::In | Op::NotIn) {
        return Ok(Test::In(list(at, op, c)?.to_vec()));
    }
    let v = single(at, op, c)?;
    let field = format!("{at}.value");
    let bad = |problem: &dyn std::fmt::Display| ConfigError::invalid(&field, problem);
    Ok(match op {
        Op::Equals | Op::NotEquals => Test::Equals(v.clone()),
        Op::Regex => Test::Regex(
            regex::Regex::new(string(v).map_err(|e| bad(&e))?)
                .map_err(|e| bad(&format!("invalid regex: {e}")))?,
        ),
        Op::StartsWith => Test::StartsWith(string(v).map_err(|e| bad(&e))?.to_owned()),
        Op::EndsWith => Test::EndsWith(string(v).map_err(|e| bad(&e))?.to_owned()),
        Op::Contains => Test::Contains(string(v).map_err(|e| bad(&e))?.to_owned()),
        Op::Lt | Op::Lte | Op::Gt | Op::Gte => {
            Test::Number(number(v).map_err(|e| bad(&e))?, wanted(op))
        }
        Op::SemverEq | Op::SemverLt | Op::SemverGt => {
            let text = string(v).map_err(|p| bad(&format!("{p} (quote versions: \"2.0\")")))?;
            let ver = parse_semver(text).ok_or_else(|| bad(&format!("invalid semver `{text}`")))?;
            Test::Semver(ver, wanted(op))
        }
        Op::In | Op::NotIn | Op::InSegment => unreachable_op(&field)?,
    })
}

/// Orderings of `attribute.cmp(operand)` that satisfy a comparison operator.
fn wanted(op: Op) -> &'static [Ordering] {
    match op {
        Op::Lt | Op::SemverLt => &[Less],
        Op::Lte => &[Less, Equal],
        Op::Gt | Op::SemverGt => &[Greater],
        Op::Gte => &[Greater, Equal],
        _ => &[Equal],
    }
}

/// Guards the arms the caller already handled, without a panic in library code.
fn unreachable_op(field: &str) -> Result<Test, ConfigError> {
    Err(ConfigError::invalid(
        field,
        "operator takes no single value",
    ))
}

fn single<'c>(at: &str, op: Op, c: &'c ClauseFile) -> Result<&'c Scalar, ConfigError> {
    if c.values.is_some() {
        let problem = format!("`{}` takes one `value`, not `values`", op_name(op));
        return Err(ConfigError::invalid(format!("{at}.values"), problem));
    }
    c.value
        .as_ref()
        .ok_or_else(|| ConfigError::invalid(format!("{at}.value"), "is needed"))
}

fn list<'c>(at: &str, op: Op, c: &'c ClauseFile) -> Result<&'c [Scalar], ConfigError> {
    if c.value.is_some() {
        let problem = format!("`{}` takes a list in `values`, not `value`", op_name(op));
        return Err(ConfigError::invalid(format!("{at}.value"), problem));
    }
    match c.values.as_deref() {
        Some(vs) if !vs.is_empty() => Ok(vs),
        _ => Err(ConfigError::invalid(
            format!("{at}.values"),
            "needs at least one value",
        )),
    }
}

fn in_segment(at: &str, c: &ClauseFile, segments: Option<&Segments>) -> Result<Test, ConfigError> {
    let segments = segments.ok_or_else(|| {
        ConfigError::invalid(format!("{at}.op"), "a segment cannot reference segments")
    })?;
    let names = list(at, Op::InSegment, c)?;
    let found = names.iter().enumerate().map(|(i, name)| {
        let here = format!("{at}.values[{i}]");
        let name = string(name).map_err(|p| ConfigError::invalid(&here, p))?;
        segments
            .get(name)
            .cloned()
            .ok_or_else(|| ConfigError::invalid(here, format!("unknown segment `{name}`")))
    });
    Ok(Test::InSegment(found.collect::<Result<_, _>>()?))
}

/// An operand of the wrong kind for its operator.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum OperandError {
    #[error("expected a string, got {0}")]
    NotAString(Shown),
    #[error("expected a finite number, got {0}")]
    NotANumber(Shown),
}

/// A scalar as a file would write it, for messages.
#[derive(Debug, Clone, PartialEq)]
struct Shown(Scalar);

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Scalar::Bool(b) => write!(f, "the boolean {b}"),
            Scalar::Num(n) => write!(f, "the number {n}"),
            Scalar::Str(s) => write!(f, "the string {s:?}"),
        }
    }
}

fn string(v: &Scalar) -> Result<&str, OperandError> {
    match v {
        Scalar::Str(s) => Ok(s),
        other => Err(OperandError::NotAString(Shown(other.clone()))),
    }
}

fn number(v: &Scalar) -> Result<f64, OperandError> {
    match v {
        Scalar::Num(n) if n.is_finite() => Ok(*n),
        other => Err(OperandError::NotANumber(Shown(other.clone()))),
    }
}

/// The operator's name as written in files, for messages.
fn op_name(op: Op) -> String {
    serde_yaml_ng::to_string(&op)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| format!("{op:?}"))
}
