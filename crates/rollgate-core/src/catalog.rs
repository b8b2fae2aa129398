//! The control state of a service and every change an operator can make to it, as pure
//! transitions: `apply(state, change) -> state'`. The control plane persists the result and
//! swaps it in; nothing here knows about storage or HTTP.
//!
//! The seed verbs map onto the route table: `update-model` registers a *next* version (the
//! candidate) at 0%, `set-canary-ratio` splits traffic between stable and candidate,
//! `accept-next-model` makes the candidate stable at 100% and remembers the old stable, and
//! `rollback` sends everything back at once.

use crate::config::{check_name, ServiceSpec, VersionSource, VersionSpec};
use crate::route::{RouteError, RouteSpec, RouteTable, TOTAL_BPS};

/// A service as stored: its spec, the version a rollback returns to, and its revision.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceState {
    /// Versions and route table.
    pub spec: ServiceSpec,
    /// The stable version before the last `accept-next-model`, kept for instant rollback.
    pub previous: Option<String>,
    /// Incremented by every committed change; clients send it back to detect conflicts.
    pub revision: u64,
}

/// A change an operator asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Register a version at 0%.
    AddVersion(VersionSpec),
    /// Remove a version nothing routes to.
    RemoveVersion(String),
    /// Unload the version a promotion left behind, even though it is kept for rollback:
    /// the end of a blue/green rollback window, after which nothing returns to it.
    Retire(String),
    /// Replace the route table (versions are kept).
    SetRoute(RouteSpec),
    /// `update-model`: register a version and make it the candidate at 0%.
    UpdateModel(VersionSpec),
    /// `set-canary-ratio`: candidate gets this many basis points, stable the rest.
    SetCanaryRatio(u32),
    /// `accept-next-model`: the candidate becomes stable at 100%.
    AcceptNext,
    /// `rollback`: all traffic back to the previous stable version at once.
    Rollback,
    /// Replace the service's feature flags (`None` removes them), already validated against
    /// its versions.
    SetFlags(Option<crate::config::ServiceFlags>),
}

impl Change {
    /// A short name for the event log.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::AddVersion(_) => "version_added",
            Change::RemoveVersion(_) => "version_removed",
            Change::Retire(_) => "version_retired",
            Change::SetRoute(_) => "route_set",
            Change::UpdateModel(_) => "model_updated",
            Change::SetCanaryRatio(_) => "canary_ratio_set",
            Change::AcceptNext => "next_model_accepted",
            Change::Rollback => "rolled_back",
            Change::SetFlags(_) => "flags_set",
        }
    }
}

/// Why a change cannot be made; each maps onto one HTTP status in the control API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// A version name is not acceptable (400).
    #[error("version name: {0}")]
    BadName(String),
    /// The version already exists: versions are immutable (409).
    #[error("version `{0}` already exists; versions are immutable, register a new name")]
    VersionExists(String),
    /// The version does not exist (404).
    #[error("no version `{0}`")]
    UnknownVersion(String),
    /// The version is routed to, stable, candidate, mirrored or kept for rollback (409).
    #[error("version `{0}` is in use ({1}); route traffic away from it first")]
    InUse(String, &'static str),
    /// The route spec is invalid (400).
    #[error("{0}")]
    Route(#[from] RouteError),
    /// A ratio outside 0..=1 (400).
    #[error("ratio must be between 0 and 1 with at most four decimals")]
    BadRatio,
    /// The verb needs a candidate and there is none (409).
    #[error("there is no next version: upload one with update-model first")]
    NoCandidate,
    /// Nothing to roll back to (409).
    #[error("nothing to roll back: no canary traffic and no previous version")]
    NothingToRollBack,
}

/// Converts a `set-canary-ratio` ratio (`0.1`) into basis points, exact to 0.01%.
pub fn ratio_to_bps(ratio: f64) -> Result<u32, ChangeError> {
    let bps = (ratio * f64::from(TOTAL_BPS)).round();
    let exact = (ratio * f64::from(TOTAL_BPS) - bps).abs() < 1e-6;
    if !ratio.is_finite() || !(0.0..=1.0).contains(&ratio) || !exact {
        return Err(ChangeError::BadRatio);
    }
    Ok(bps as u32)
}

/// Applies a change, returning the next state (revision incremented) or why it is refused.
pub fn apply(state: &ServiceState, change: &Change) -> Result<ServiceState, ChangeError> {
    let mut next = state.clone();
    match change {
        Change::AddVersion(v) => add_version(&mut next, v.clone(), false)?,
        Change::UpdateModel(v) => add_version(&mut next, v.clone(), true)?,
        Change::RemoveVersion(name) => remove_version(&mut next, name, false)?,
        Change::Retire(name) => {
            remove_version(&mut next, name, true)?;
            if next.previous.as_deref() == Some(name.as_str()) {
                next.previous = None;
            }
        }
        Change::SetRoute(spec) => set_route(&mut next, spec.clone())?,
        Change::SetCanaryRatio(bps) => set_canary(&mut next, *bps)?,
        Change::AcceptNext => accept(&mut next)?,
        Change::Rollback => rollback(&mut next)?,
        Change::SetFlags(flags) => next.spec.flags = flags.clone(),
    }
    next.revision = state.revision + 1;
    Ok(next)
}

fn add_version(
    s: &mut ServiceState,
    v: VersionSpec,
    make_candidate: bool,
) -> Result<(), ChangeError> {
    check_name(&v.name).map_err(|e| ChangeError::BadName(e.to_string()))?;
    if s.spec.route.index_of(&v.name).is_some() {
        return Err(ChangeError::VersionExists(v.name));
    }
    let mut route = s.spec.route.to_spec();
    route.versions.push(v.name.clone());
    if make_candidate {
        route.candidate = Some(v.name.clone());
        route.weights = vec![(stable_name(&s.spec.route), TOTAL_BPS)];
    }
    s.spec.route = route.build()?;
    s.spec.versions.push(v);
    Ok(())
}

fn stable_name(t: &RouteTable) -> String {
    t.name(t.stable()).to_owned()
}

/// Whether a variant of the service's routing flag names the version.
fn flag_serves(s: &ServiceState, version: &str) -> bool {
    s.spec.flags.as_ref().is_some_and(|f| {
        f.set
            .get(&f.route_by)
            .is_some_and(|flag| flag.variants().any(|(_, v)| v == version))
    })
}

/// Removes `name` unless something still uses it; `retiring` lets go of the version a
/// promotion left behind (the route's candidate pointer and the rollback target).
fn remove_version(s: &mut ServiceState, name: &str, retiring: bool) -> Result<(), ChangeError> {
    let t = &s.spec.route;
    let idx = t
        .index_of(name)
        .ok_or_else(|| ChangeError::UnknownVersion(name.to_owned()))?;
    let in_use = if t.stable() == idx {
        Some("stable")
    } else if t.weight(idx) > 0 {
        Some("has traffic")
    } else if t.candidate() == Some(idx) && s.spec.versions.len() > 2 && !retiring {
        Some("candidate")
    } else if t.mirror().is_some_and(|m| m.target == idx) {
        Some("mirror target")
    } else if s.previous.as_deref() == Some(name) && !retiring {
        Some("kept for rollback")
    } else if flag_serves(s, name) {
        Some("served by a feature flag")
    } else {
        None
    };
    if let Some(why) = in_use {
        return Err(ChangeError::InUse(name.to_owned(), why));
    }
    let mut route = t.to_spec();
    route.versions.retain(|v| v != name);
    if route.candidate.as_deref() == Some(name) {
        route.candidate = None;
    }
    s.spec.route = route.build()?;
    s.spec.versions.retain(|v| v.name != name);
    Ok(())
}

fn set_route(s: &mut ServiceState, mut spec: RouteSpec) -> Result<(), ChangeError> {
    spec.versions = s.spec.route.versions().to_vec();
    s.spec.route = spec.build()?;
    Ok(())
}

fn set_canary(s: &mut ServiceState, bps: u32) -> Result<(), ChangeError> {
    let t = &s.spec.route;
    let candidate = t.candidate().ok_or(ChangeError::NoCandidate)?;
    let mut route = t.to_spec();
    route.weights = vec![
        (stable_name(t), TOTAL_BPS - bps),
        (t.name(candidate).to_owned(), bps),
    ];
    s.spec.route = route.build()?;
    Ok(())
}

fn accept(s: &mut ServiceState) -> Result<(), ChangeError> {
    let t = &s.spec.route;
    let candidate = t
        .name(t.candidate().ok_or(ChangeError::NoCandidate)?)
        .to_owned();
    let old = stable_name(t);
    let mut route = t.to_spec();
    route.weights = vec![(candidate.clone(), TOTAL_BPS)];
    route.stable = Some(candidate);
    route.candidate = Some(old.clone());
    s.spec.route = route.build()?;
    s.previous = Some(old);
    Ok(())
}

fn rollback(s: &mut ServiceState) -> Result<(), ChangeError> {
    let t = &s.spec.route;
    let stable = stable_name(t);
    let mut route = t.to_spec();
    if t.weight(t.stable()) < TOTAL_BPS {
        route.weights = vec![(stable, TOTAL_BPS)];
    } else if let Some(prev) = s.previous.take() {
        route.weights = vec![(prev.clone(), TOTAL_BPS)];
        route.stable = Some(prev);
        route.candidate = Some(stable);
    } else {
        return Err(ChangeError::NothingToRollBack);
    }
    route.mirror = None;
    s.spec.route = route.build()?;
    Ok(())
}

/// True when the version is served from an in-process model (uploads only apply to those).
pub fn is_onnx(v: &VersionSpec) -> bool {
    matches!(v.source, VersionSource::Onnx { .. })
}

#[cfg(test)]
mod tests;
