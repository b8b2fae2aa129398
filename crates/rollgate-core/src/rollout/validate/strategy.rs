//! Validation of the strategy shorthands.

use super::{duration, header_name, percent, smoke, template, Result};
use crate::config::check_name;
use crate::rollout::file::{AbTestFile, BlueGreenFile, CanaryFile, RollingFile, ShadowFile};
use crate::rollout::plan::{BlueGreen, Canary, PlanError, Shadow, Stage, DEFAULT_CANARY_BPS};
use crate::rollout::step::{AbTestStep, HeaderMatch, RollingStep, DEFAULT_READINESS_TIMEOUT_MS};
use crate::route::{fmt_bps, TOTAL_BPS};

pub(super) fn canary(at: &str, c: CanaryFile) -> Result<Stage> {
    let weights = match &c.steps {
        None => DEFAULT_CANARY_BPS.to_vec(),
        Some(list) => canary_weights(&format!("{at}.steps"), list)?,
    };
    let mut manual_gates = Vec::with_capacity(c.manual_gates.len());
    for (i, g) in c.manual_gates.iter().enumerate() {
        let field = format!("{at}.manual_gates[{i}]");
        let bps = percent(&field, g)?;
        if !weights.contains(&bps) {
            return Err(PlanError::invalid(
                field,
                format!("{}% is not one of the canary's steps", fmt_bps(bps)),
            ));
        }
        manual_gates.push(bps);
    }
    let hold_ms = c
        .hold
        .map(|h| duration(&format!("{at}.hold"), &h))
        .transpose()?;
    let analysis = c
        .analysis
        .map(|t| template(&format!("{at}.analysis"), &t))
        .transpose()?;
    if hold_ms.is_none() && c.min_requests.is_none() && analysis.is_none() {
        return Err(PlanError::invalid(
            at,
            "give `hold`, `min_requests` or `analysis`: otherwise every stage passes at once",
        ));
    }
    if c.min_requests == Some(0) || c.max_inconclusive == Some(0) {
        return Err(PlanError::invalid(
            at,
            "`min_requests` and `max_inconclusive` must be at least 1 when given",
        ));
    }
    Ok(Stage::Canary(Canary {
        weights,
        hold_ms,
        min_requests: c.min_requests,
        analysis,
        max_inconclusive: c.max_inconclusive,
        manual_gates,
    }))
}

/// Canary weights must increase strictly and stay above 0%.
fn canary_weights(at: &str, list: &[crate::rollout::file::PercentFile]) -> Result<Vec<u32>> {
    if list.is_empty() {
        return Err(PlanError::invalid(at, "list at least one percentage"));
    }
    let mut weights: Vec<u32> = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let field = format!("{at}[{i}]");
        let bps = percent(&field, p)?;
        if bps == 0 || weights.last().is_some_and(|&prev| bps <= prev) {
            return Err(PlanError::invalid(
                field,
                "percentages must increase, each above 0%",
            ));
        }
        weights.push(bps);
    }
    Ok(weights)
}

pub(super) fn blue_green(at: &str, b: BlueGreenFile) -> Result<Stage> {
    let preview = HeaderMatch {
        header: header_name(&format!("{at}.preview_header"), &b.preview_header)?,
        value: None,
    };
    let smoke = if b.smoke.is_empty() {
        Vec::new()
    } else {
        smoke(&format!("{at}.smoke"), b.smoke)?
    };
    let rollback_window_ms = b
        .rollback_window
        .map(|w| duration(&format!("{at}.rollback_window"), &w))
        .transpose()?;
    Ok(Stage::BlueGreen(BlueGreen {
        preview,
        smoke,
        rollback_window_ms,
        unload_blue: b.unload_blue.unwrap_or(true),
    }))
}

pub(super) fn shadow(at: &str, s: ShadowFile) -> Result<Stage> {
    let bps = match &s.percent {
        None => TOTAL_BPS,
        Some(p) => percent(&format!("{at}.percent"), p)?,
    };
    if bps == 0 {
        return Err(PlanError::invalid(
            format!("{at}.percent"),
            "must be above 0%",
        ));
    }
    if s.min_requests == Some(0) {
        return Err(PlanError::invalid(
            format!("{at}.min_requests"),
            "must be at least 1 when given",
        ));
    }
    Ok(Stage::Shadow(Shadow {
        bps,
        duration_ms: duration(&format!("{at}.duration"), &s.duration)?,
        analysis: s
            .analysis
            .map(|t| template(&format!("{at}.analysis"), &t))
            .transpose()?,
        min_requests: s.min_requests,
    }))
}

pub(super) fn ab_test(at: &str, ab: AbTestFile) -> Result<Stage> {
    if ab.variants.0.len() < 2 {
        return Err(PlanError::invalid(
            format!("{at}.variants"),
            "an A/B test needs at least two variants",
        ));
    }
    let mut variants = Vec::with_capacity(ab.variants.0.len());
    for (name, share) in &ab.variants.0 {
        let field = format!("{at}.variants.{name}");
        check_name(name).map_err(|p| PlanError::invalid(&field, p))?;
        variants.push((name.clone(), percent(&field, share)?));
    }
    let sum: u32 = variants.iter().map(|(_, w)| w).sum();
    if sum != TOTAL_BPS {
        return Err(PlanError::invalid(
            format!("{at}.variants"),
            format!("shares sum to {}%, they must sum to 100%", fmt_bps(sum)),
        ));
    }
    let deadline_ms = ab
        .deadline
        .map(|d| duration(&format!("{at}.deadline"), &d))
        .transpose()?;
    if ab.sample_size.unwrap_or(0) == 0 && deadline_ms.is_none() {
        return Err(PlanError::invalid(
            at,
            "give a `sample_size` (at least 1) or a `deadline`: otherwise the test never ends",
        ));
    }
    Ok(Stage::AbTest(AbTestStep {
        variants,
        sample_size: ab.sample_size.filter(|&n| n > 0),
        deadline_ms,
        promote_winner: ab.promote_winner,
    }))
}

pub(super) fn rolling(at: &str, r: RollingFile) -> Result<Stage> {
    if r.max_surge == 0 && r.max_unavailable == 0 {
        return Err(PlanError::invalid(
            at,
            "`max_surge` and `max_unavailable` cannot both be 0: nothing could be replaced",
        ));
    }
    if !r.readiness_path.starts_with('/') {
        return Err(PlanError::invalid(
            format!("{at}.readiness_path"),
            "must start with `/`",
        ));
    }
    let readiness_timeout_ms = r
        .readiness_timeout
        .map(|t| duration(&format!("{at}.readiness_timeout"), &t))
        .transpose()?
        .unwrap_or(DEFAULT_READINESS_TIMEOUT_MS);
    Ok(Stage::Rolling(RollingStep {
        max_surge: r.max_surge,
        max_unavailable: r.max_unavailable,
        readiness_path: r.readiness_path,
        readiness_timeout_ms,
    }))
}
