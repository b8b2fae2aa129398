//! File form → compiled form, checking everything once so evaluation cannot fail.
//! Every error names the dotted field at fault, e.g. `flags.checkout.rules[1].serve.variant`.

mod clauses;

use super::file::{FlagFile, FlagSetFile, RolloutFile, RuleFile, ServeFile};
use super::flag::{Flag, Rollout, Rule, Serve};
use super::segment::Segment;
use crate::document::{check_name, ConfigError, OrderedMap};
use crate::route::{fmt_bps, percent_to_bps, TOTAL_BPS};
use std::collections::HashMap;
use std::sync::Arc;

/// Segments by name, shared by every flag that references them.
pub(crate) type Segments = HashMap<String, Arc<Segment>>;

/// Compiles every segment, then every flag, in declaration order.
pub(crate) fn compile(file: &FlagSetFile) -> Result<Vec<Flag>, ConfigError> {
    let mut segments = Segments::new();
    for (name, seg) in &file.segments.0 {
        let at = format!("segments.{name}");
        check_name(name).map_err(|p| ConfigError::invalid(&at, p))?;
        let compiled = clauses::segment(&at, seg)?;
        if segments.insert(name.clone(), Arc::new(compiled)).is_some() {
            return Err(ConfigError::invalid(at, "segment is defined twice"));
        }
    }
    let mut flags: Vec<Flag> = Vec::with_capacity(file.flags.0.len());
    for (key, f) in &file.flags.0 {
        let at = format!("flags.{key}");
        if flags.iter().any(|g| g.key == *key) {
            return Err(ConfigError::invalid(at, "flag is defined twice"));
        }
        flags.push(flag(&at, key, f, &segments)?);
    }
    Ok(flags)
}

fn flag(at: &str, key: &str, f: &FlagFile, segments: &Segments) -> Result<Flag, ConfigError> {
    check_name(key).map_err(|p| ConfigError::invalid(at, p))?;
    let variants = variants(&format!("{at}.variants"), &f.variants)?;
    let names: Vec<&str> = variants.iter().map(|(n, _)| n.as_str()).collect();
    let lookup = |field: &str, name: &str| variant_index(&names, &format!("{at}.{field}"), name);
    let salt = f.salt.clone().unwrap_or_else(|| key.to_owned());
    if salt.is_empty() {
        return Err(ConfigError::invalid(
            format!("{at}.salt"),
            "must not be empty",
        ));
    }
    let rules = f
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| rule(&format!("{at}.rules[{i}]"), r, &names, segments))
        .collect::<Result<_, _>>()?;
    Ok(Flag {
        key: key.to_owned(),
        enabled: f.enabled,
        default_variant: lookup("default_variant", &f.default_variant)?,
        off_variant: lookup("off_variant", &f.off_variant)?,
        salt,
        targets: targets(&format!("{at}.targets"), &f.targets, &names)?,
        rules,
        variants,
    })
}

fn variants(at: &str, map: &OrderedMap<String>) -> Result<Vec<(String, String)>, ConfigError> {
    if map.0.is_empty() {
        return Err(ConfigError::invalid(at, "at least one variant is needed"));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(map.0.len());
    for (name, version) in &map.0 {
        let here = format!("{at}.{name}");
        check_name(name).map_err(|p| ConfigError::invalid(&here, p))?;
        check_name(version).map_err(|p| ConfigError::invalid(&here, p))?;
        if out.iter().any(|(n, _)| n == name) {
            return Err(ConfigError::invalid(here, "variant is listed twice"));
        }
        out.push((name.clone(), version.clone()));
    }
    Ok(out)
}

/// The index of a variant name, or an error naming the field that referenced it.
pub(crate) fn variant_index(names: &[&str], at: &str, name: &str) -> Result<usize, ConfigError> {
    names
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| ConfigError::invalid(at, format!("unknown variant `{name}`")))
}

/// User key → variant; a key listed twice (for any variant) is refused as ambiguous.
fn targets(
    at: &str,
    map: &OrderedMap<Vec<String>>,
    names: &[&str],
) -> Result<HashMap<String, usize>, ConfigError> {
    let mut out = HashMap::new();
    for (variant, keys) in &map.0 {
        let here = format!("{at}.{variant}");
        let v = variant_index(names, &here, variant)?;
        for (i, key) in keys.iter().enumerate() {
            if let Some(prev) = out.insert(key.clone(), v) {
                let problem = format!("user `{key}` is already targeted to `{}`", names[prev]);
                return Err(ConfigError::invalid(format!("{here}[{i}]"), problem));
            }
        }
    }
    Ok(out)
}

fn rule(at: &str, r: &RuleFile, names: &[&str], segments: &Segments) -> Result<Rule, ConfigError> {
    let clauses = r
        .clauses
        .iter()
        .enumerate()
        .map(|(i, c)| clauses::clause(&format!("{at}.clauses[{i}]"), c, Some(segments)))
        .collect::<Result<_, _>>()?;
    Ok(Rule {
        clauses,
        serve: serve(&format!("{at}.serve"), &r.serve, names)?,
    })
}

fn serve(at: &str, s: &ServeFile, names: &[&str]) -> Result<Serve, ConfigError> {
    match (&s.variant, &s.rollout) {
        (Some(v), None) => Ok(Serve::Variant(variant_index(
            names,
            &format!("{at}.variant"),
            v,
        )?)),
        (None, Some(r)) => Ok(Serve::Rollout(rollout(&format!("{at}.rollout"), r, names)?)),
        _ => Err(ConfigError::invalid(
            at,
            "give exactly one of `variant` or `rollout`",
        )),
    }
}

fn rollout(at: &str, r: &RolloutFile, names: &[&str]) -> Result<Rollout, ConfigError> {
    let shares = shares(at, r)?;
    let unit = if r.percent.is_some() {
        "percent"
    } else {
        "bps"
    };
    let mut ranges: Vec<(usize, u32)> = Vec::with_capacity(shares.len());
    let mut end = 0u32;
    for (name, bps) in shares {
        let here = format!("{at}.{unit}.{name}");
        let v = variant_index(names, &here, name)?;
        if ranges.iter().any(|&(w, _)| w == v) {
            return Err(ConfigError::invalid(here, "variant is listed twice"));
        }
        end = end.saturating_add(bps);
        ranges.push((v, end));
    }
    if end != TOTAL_BPS {
        let problem = format!("shares sum to {}%, they must sum to 100%", fmt_bps(end));
        return Err(ConfigError::invalid(at, problem));
    }
    if r.bucket_by.as_deref() == Some("") {
        return Err(ConfigError::invalid(
            format!("{at}.bucket_by"),
            "must not be empty",
        ));
    }
    Ok(Rollout {
        bucket_by: r.bucket_by.clone(),
        ranges,
    })
}

/// Shares in basis points by variant name, from whichever of `percent` or `bps` is given.
fn shares<'r>(at: &str, r: &'r RolloutFile) -> Result<Vec<(&'r str, u32)>, ConfigError> {
    match (&r.percent, &r.bps) {
        (Some(pct), None) => pct
            .0
            .iter()
            .map(|(v, p)| {
                percent_to_bps(*p)
                    .map(|bps| (v.as_str(), bps))
                    .map_err(|e| ConfigError::invalid(format!("{at}.percent.{v}"), e))
            })
            .collect(),
        (None, Some(bps)) => bps
            .0
            .iter()
            .map(|(v, b)| match *b <= TOTAL_BPS {
                true => Ok((v.as_str(), *b)),
                false => Err(ConfigError::invalid(
                    format!("{at}.bps.{v}"),
                    "at most 10000 basis points",
                )),
            })
            .collect(),
        _ => Err(ConfigError::invalid(
            at,
            "give exactly one of `percent` or `bps`",
        )),
    }
}
