//! Turns the plan file into a validated [`Plan`], naming the dotted field of every problem.

mod strategy;

use super::duration::parse_duration;
use super::file::{
    AbortFile, AnalysisFile, HeaderRouteFile, PauseFile, PercentFile, PlanFile, SmokeFile,
    StageFile, WeightFile,
};
use super::plan::{AbortPolicy, Plan, PlanError, Stage};
use super::step::{AnalysisStep, HeaderMatch, SmokeCheck, Step};
use crate::config::check_name;
use crate::route::{percent_to_bps, TOTAL_BPS};

type Result<T> = std::result::Result<T, PlanError>;

/// Validates a parsed plan file.
pub(super) fn plan(file: PlanFile) -> Result<Plan> {
    if file.steps.is_empty() {
        return Err(PlanError::invalid(
            "steps",
            "a plan needs at least one step",
        ));
    }
    let count = file.steps.len();
    let mut stages = Vec::with_capacity(count);
    for (i, stage_file) in file.steps.into_iter().enumerate() {
        let at = format!("steps[{i}]");
        check_position(&at, &stage_file, i, count)?;
        stages.push(stage(&at, stage_file)?);
    }
    let abort = match file.abort {
        None => AbortPolicy::Instant,
        Some(a) => abort("abort", a)?,
    };
    Ok(Plan {
        name: file.name,
        abort,
        stages,
    })
}

/// `promote` must be last; an A/B test or a rolling update must be the whole plan, because
/// each concludes the rollout on its own terms.
fn check_position(at: &str, stage: &StageFile, i: usize, count: usize) -> Result<()> {
    match stage {
        StageFile::Promote if i + 1 != count => {
            Err(PlanError::invalid(at, "`promote` must be the last step"))
        }
        StageFile::AbTest(_) | StageFile::Rolling(_) if count != 1 => Err(PlanError::invalid(
            at,
            "`ab_test` and `rolling` conclude the rollout and must be the plan's only step",
        )),
        _ => Ok(()),
    }
}

fn stage(at: &str, file: StageFile) -> Result<Stage> {
    let step = match file {
        StageFile::SetWeight(w) => Step::SetWeight {
            bps: weight(&format!("{at}.set_weight"), &w)?,
        },
        StageFile::Pause(p) => pause(&format!("{at}.pause"), p)?,
        StageFile::Approval(gate) => approval(&format!("{at}.approval"), gate)?,
        StageFile::Analysis(a) => Step::Analysis(analysis(&format!("{at}.analysis"), a)?),
        StageFile::Mirror(w) => Step::Mirror {
            bps: weight(&format!("{at}.mirror"), &w)?,
        },
        StageFile::SetHeaderRoute(h) => Step::HeaderRoute(
            h.map(|h| header_route(&format!("{at}.set_header_route"), h))
                .transpose()?,
        ),
        StageFile::Smoke(checks) => Step::Smoke {
            checks: smoke(&format!("{at}.smoke"), checks)?,
        },
        StageFile::Promote => Step::Promote,
        StageFile::Canary(c) => return strategy::canary(&format!("{at}.canary"), c),
        StageFile::BlueGreen(b) => return strategy::blue_green(&format!("{at}.blue_green"), b),
        StageFile::Shadow(s) => return strategy::shadow(&format!("{at}.shadow"), s),
        StageFile::AbTest(ab) => return strategy::ab_test(&format!("{at}.ab_test"), ab),
        StageFile::Rolling(r) => return strategy::rolling(&format!("{at}.rolling"), r),
    };
    Ok(Stage::Step(step))
}

fn approval(at: &str, gate: String) -> Result<Step> {
    if gate.trim().is_empty() {
        return Err(PlanError::invalid(at, "name what is being approved"));
    }
    Ok(Step::Approval { gate })
}

/// A weight in basis points (`500`) or a percentage string (`"5%"`).
fn weight(at: &str, w: &WeightFile) -> Result<u32> {
    match w {
        WeightFile::Bps(bps) if *bps <= u64::from(TOTAL_BPS) => Ok(*bps as u32),
        WeightFile::Bps(bps) => Err(PlanError::invalid(
            at,
            format!("{bps} basis points is above 100% (10000); write \"5%\" for percent"),
        )),
        WeightFile::Text(text) => percent_text(at, text),
    }
}

/// A percentage as a number (`5`) or a string (`"5%"`).
fn percent(at: &str, p: &PercentFile) -> Result<u32> {
    match p {
        PercentFile::Number(n) => percent_to_bps(*n).map_err(|e| PlanError::invalid(at, e)),
        PercentFile::Text(text) => percent_text(at, text),
    }
}

fn percent_text(at: &str, text: &str) -> Result<u32> {
    let number = text
        .trim()
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .ok_or_else(|| {
            PlanError::invalid(at, format!("`{text}` is not a percentage like \"5%\""))
        })?;
    percent_to_bps(number).map_err(|e| PlanError::invalid(at, e))
}

/// A duration that must be longer than zero.
fn duration(at: &str, text: &str) -> Result<u64> {
    match parse_duration(text) {
        Ok(0) => Err(PlanError::invalid(at, "must be longer than zero")),
        Ok(ms) => Ok(ms),
        Err(e) => Err(PlanError::invalid(at, e)),
    }
}

fn pause(at: &str, p: PauseFile) -> Result<Step> {
    let (duration_ms, min_requests) = match p {
        PauseFile::Duration(d) => (Some(duration(at, &d)?), None),
        PauseFile::Hold(h) => {
            let d = h
                .duration
                .map(|d| duration(&format!("{at}.duration"), &d))
                .transpose()?;
            if h.min_requests == Some(0) {
                return Err(PlanError::invalid(
                    format!("{at}.min_requests"),
                    "must be at least 1 (leave it out for none)",
                ));
            }
            (d, h.min_requests)
        }
    };
    Ok(Step::Pause {
        duration_ms,
        min_requests,
    })
}

fn template(at: &str, name: &str) -> Result<String> {
    check_name(name).map_err(|p| PlanError::invalid(at, p))?;
    Ok(name.to_owned())
}

fn analysis(at: &str, a: AnalysisFile) -> Result<AnalysisStep> {
    if a.max_inconclusive == Some(0) {
        return Err(PlanError::invalid(
            format!("{at}.max_inconclusive"),
            "must be at least 1 (leave it out to hold until conclusive)",
        ));
    }
    Ok(AnalysisStep {
        template: template(&format!("{at}.template"), &a.template)?,
        window_ms: duration(&format!("{at}.window"), &a.window)?,
        min_requests: a.min_requests,
        max_inconclusive: a.max_inconclusive,
    })
}

/// Header names are lower-cased (HTTP headers are case-insensitive) and must be tokens.
fn header_route(at: &str, h: HeaderRouteFile) -> Result<HeaderMatch> {
    Ok(HeaderMatch {
        header: header_name(&format!("{at}.header"), &h.header)?,
        value: h.value,
    })
}

fn header_name(at: &str, name: &str) -> Result<String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(PlanError::invalid(
            at,
            format!("`{name}` is not an HTTP header name"),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

fn smoke(at: &str, checks: Vec<SmokeFile>) -> Result<Vec<SmokeCheck>> {
    if checks.is_empty() {
        return Err(PlanError::invalid(at, "at least one smoke check is needed"));
    }
    checks
        .into_iter()
        .enumerate()
        .map(|(i, c)| smoke_check(&format!("{at}[{i}]"), c))
        .collect()
}

fn smoke_check(at: &str, c: SmokeFile) -> Result<SmokeCheck> {
    if c.expect_prediction.is_none() && c.max_latency.is_none() {
        return Err(PlanError::invalid(
            at,
            "give `expect_prediction`, `max_latency` or both",
        ));
    }
    let max_latency_ms = c
        .max_latency
        .map(|d| duration(&format!("{at}.max_latency"), &d))
        .transpose()?;
    Ok(SmokeCheck {
        body: c.body,
        expect_prediction: c.expect_prediction,
        max_latency_ms,
    })
}

/// Gradual abort weights must decrease strictly and stay between 0% and 100% exclusive.
fn abort(at: &str, a: AbortFile) -> Result<AbortPolicy> {
    if a.gradual.is_empty() {
        return Err(PlanError::invalid(
            format!("{at}.gradual"),
            "list at least one weight (leave `abort` out for an instant abort)",
        ));
    }
    let mut weights = Vec::with_capacity(a.gradual.len());
    for (i, w) in a.gradual.iter().enumerate() {
        let field = format!("{at}.gradual[{i}]");
        let bps = weight(&field, w)?;
        if bps == 0 || bps >= TOTAL_BPS || weights.last().is_some_and(|&prev| bps >= prev) {
            return Err(PlanError::invalid(
                field,
                "weights must decrease, each above 0% and below 100%",
            ));
        }
        weights.push(bps);
    }
    Ok(AbortPolicy::Gradual {
        weights,
        interval_ms: duration(&format!("{at}.interval"), &a.interval)?,
    })
}
