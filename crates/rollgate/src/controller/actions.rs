//! Carrying out a rollout's actions: route changes through the control plane, analysis
//! windows, smoke requests, promotion and rollback, notifications and notes.

use super::analysis::{AnalysisRun, Pair};
use super::{fleet, replace, report, route, Controller, RolloutError, Run};
use rollgate_core::analysis::AnalysisTemplate;
use rollgate_core::catalog::Change;
use rollgate_core::config::VersionSpec;
use rollgate_core::rollout::{Action, Batch, Event, SmokeCheck, Step};
use rollgate_core::route::RouteSpec;
use std::collections::BTreeMap;

/// Refuses a plan that names an analysis template nobody defined, or a step this gateway
/// cannot carry out, before anything changes. Returns the instances a rolling update replaces
/// (the candidate's), 0 for other plans.
pub(super) fn check_plan(
    templates: &BTreeMap<String, AnalysisTemplate>,
    steps: &[Step],
    versions: &[VersionSpec],
    (stable, candidate): (&str, &str),
) -> Result<u32, RolloutError> {
    let mut instances = 0;
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::Analysis(a) if !templates.contains_key(&a.template) => {
                let known: Vec<&str> = templates.keys().map(String::as_str).collect();
                return Err(RolloutError::BadPlan(format!(
                    "steps[{i}]: no analysis template `{}` (templates: {})",
                    a.template,
                    known.join(", ")
                )));
            }
            Step::Rolling(_) => {
                let refuse = |e: fleet::NotHttp| {
                    RolloutError::BadPlan(format!(
                        "steps[{i}]: {e}; a rolling update needs both versions to be HTTP \
                         upstreams (use a canary or blue/green plan otherwise)"
                    ))
                };
                fleet::instances_of(versions, stable).map_err(refuse)?;
                let new = fleet::instances_of(versions, candidate).map_err(refuse)?;
                instances = new.len() as u32;
            }
            _ => {}
        }
    }
    Ok(instances)
}

impl Controller {
    /// Carries out one action; returns the event it produced, if any (a smoke result...).
    pub(super) async fn execute(
        &self,
        service: &str,
        run: &mut Run,
        action: Action,
    ) -> Option<Event> {
        let target = run.state.target.clone();
        let (stable, candidate) = (target.stable.as_str(), target.candidate.as_str());
        match action {
            // During a rolling update the weights follow the serving instances.
            Action::SetWeights(_) if rolling_step(run) => self.restart_batch(service, run).await,
            Action::SetWeights(w) => {
                if run.ab_start.is_empty() {
                    if let Some(Step::AbTest(ab)) = run.state.steps.get(run.state.index) {
                        run.ab_start = self.ab_marks(service, &ab.variants);
                    }
                }
                let done = self
                    .reroute(service, |s| route::with_weights(s, &w, stable, candidate))
                    .await;
                run.route_behind |= !done;
                None
            }
            Action::SetMirror { bps } => {
                let done = self
                    .reroute(service, |s| route::with_mirror(s, candidate, bps))
                    .await;
                run.route_behind |= !done;
                None
            }
            Action::SetHeaderRoute(h) => {
                let done = self
                    .reroute(service, |s| route::with_header_route(s, h.as_ref()))
                    .await;
                run.route_behind |= !done;
                None
            }
            Action::StartAnalysis {
                template,
                window_ms,
                ..
            } => {
                let t = self.templates.get(&template)?.clone();
                let pair = Pair {
                    service,
                    baseline: stable,
                    candidate,
                };
                run.analysis = Some(AnalysisRun::start(
                    self.source.as_ref(),
                    &pair,
                    &template,
                    t,
                    window_ms,
                ));
                None
            }
            Action::RunSmoke { checks } => Some(self.smoke(service, candidate, &checks).await),
            Action::ReplaceInstances {
                batch,
                batches,
                count,
                surge,
                readiness_path,
            } => {
                let b = Batch { count, surge };
                self.replace(service, run, (batch, batches), b, readiness_path)
                    .await
            }
            Action::RestoreInstances { count } => {
                self.restore_instances(service, run, count).await;
                let reason = "a new instance failed or the rollout was aborted";
                run.report = Some(report::incident(self, run, reason));
                None
            }
            Action::ConcludeAbTest { variants, .. } => {
                let planned = planned_shares(&run.state, &variants);
                let (winner, result) =
                    report::ab_conclusion(self, service, &planned, &run.ab_start);
                let summary = result["text"]
                    .as_str()
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                run.report = Some(result);
                Some(Event::AbTestConcluded { winner, summary })
            }
            Action::Promote { version, retire } => {
                let rolling = matches!(run.state.current(), Some(Step::Rolling(_)));
                if rolling {
                    replace::stop_batch(run).await;
                }
                self.promote(service, &version).await;
                if let Some(old) = retire {
                    self.retire(service, &old).await;
                }
                if rolling {
                    self.finish_rolling(service, run).await;
                }
                None
            }
            Action::Rollback { reason } => {
                let done = self
                    .reroute(service, |s| route::all_stable(s, stable, candidate))
                    .await;
                run.route_behind |= !done;
                run.report = Some(report::incident(self, run, &reason));
                None
            }
            Action::Notify(n) => {
                self.hooks.send(n);
                None
            }
            Action::RecordEvent(text) => {
                self.note(service, &text).await;
                None
            }
        }
    }

    /// Rewrites the service's route; a refusal is logged and noted, the rollout goes on (and
    /// the caller marks the route behind, see `repair`). True when the route was written.
    async fn reroute(&self, service: &str, f: impl FnOnce(RouteSpec) -> RouteSpec) -> bool {
        let Ok(state) = self.plane.service(service).await else {
            return false;
        };
        let spec = f(state.spec.route.to_spec());
        if let Err(e) = self
            .plane
            .change_by_controller(service, Change::SetRoute(spec))
            .await
        {
            tracing::error!(service, error = %e, "rollout route change refused");
            self.note(service, &format!("route change refused: {e}"))
                .await;
            return false;
        }
        true
    }

    async fn promote(&self, service: &str, version: &str) {
        let Ok(state) = self.plane.service(service).await else {
            return;
        };
        let r = &state.spec.route;
        let is_candidate = r.candidate().is_some_and(|c| r.name(c) == version);
        let stable = r.name(r.stable()).to_owned();
        self.reroute(service, |s| route::with_mirror(s, version, 0))
            .await;
        let change = if is_candidate {
            Change::AcceptNext
        } else if version == stable {
            return;
        } else {
            let mut spec = r.to_spec();
            spec.mirror = None;
            spec.weights = vec![(version.to_owned(), rollgate_core::route::TOTAL_BPS)];
            spec.candidate = Some(stable.clone());
            spec.stable = Some(version.to_owned());
            Change::SetRoute(spec)
        };
        if let Err(e) = self.plane.change_by_controller(service, change).await {
            tracing::error!(service, error = %e, "promotion refused");
            self.note(service, &format!("promotion refused: {e}")).await;
        }
    }

    /// Unloads the version a blue/green promotion left behind: its rollback window is over.
    async fn retire(&self, service: &str, version: &str) {
        let change = Change::Retire(version.to_owned());
        match self.plane.change_by_controller(service, change).await {
            Ok(_) => self.note(service, &format!("unloaded {version}")).await,
            Err(e) => {
                tracing::warn!(service, version, error = %e, "unloading the old version refused");
                self.note(service, &format!("{version} kept loaded: {e}"))
                    .await;
            }
        }
    }

    /// Sends each smoke request to the candidate and checks its answer and latency.
    async fn smoke(&self, service: &str, candidate: &str, checks: &[SmokeCheck]) -> Event {
        let mut failures = Vec::new();
        for (i, c) in checks.iter().enumerate() {
            match self.plane.smoke(service, candidate, &c.body).await {
                Err(e) => failures.push(format!("check {i}: {e}")),
                Ok((answer, took)) => {
                    let got = first_prediction(&answer);
                    if let Some(want) = &c.expect_prediction {
                        if &got != want {
                            failures.push(format!("check {i}: expected {want}, got {got}"));
                        }
                    }
                    let ms = took.as_secs_f64() * 1e3;
                    if c.max_latency_ms.is_some_and(|max| ms > max as f64) {
                        failures.push(format!("check {i}: took {ms:.1} ms"));
                    }
                }
            }
        }
        Event::SmokeResult {
            passed: failures.is_empty(),
            summary: if failures.is_empty() {
                format!("{} smoke checks passed", checks.len())
            } else {
                failures.join("; ")
            },
        }
    }

    /// Each A/B variant's counters as its test begins (requests read as the controller's
    /// sample count reads them, mirrored copies of an earlier shadow stage included).
    fn ab_marks(&self, service: &str, variants: &[(String, u32)]) -> report::AbStart {
        variants
            .iter()
            .map(|(v, _)| {
                let stats = self.plane.stats(service, v);
                let mark = stats.map_or((0, Default::default()), |s| {
                    (s.answered(), s.outcomes().sums())
                });
                (v.clone(), mark)
            })
            .collect()
    }

    pub(super) async fn note(&self, service: &str, text: &str) {
        if let Err(e) = self.plane.note(service, "rollout", text).await {
            tracing::error!(service, error = %e, "rollout note not stored");
        }
    }
}

/// Whether the rollout is in the middle of a rolling update.
fn rolling_step(run: &Run) -> bool {
    matches!(run.state.current(), Some(Step::Rolling(_))) && !run.state.phase.is_terminal()
}

/// The planned share of each concluded variant, from the rollout's A/B step.
fn planned_shares(
    state: &rollgate_core::rollout::RolloutState,
    names: &[String],
) -> Vec<(String, u32)> {
    let planned = state.steps.iter().find_map(|s| match s {
        Step::AbTest(ab) => Some(ab.variants.clone()),
        _ => None,
    });
    names
        .iter()
        .map(|n| {
            let bps = planned
                .as_ref()
                .and_then(|p| p.iter().find(|(v, _)| v == n).map(|(_, b)| *b))
                .unwrap_or(1);
            (n.clone(), bps)
        })
        .collect()
}

/// The first row's prediction as text: a class name, or a number.
fn first_prediction(answer: &serde_json::Value) -> String {
    let first = &answer[0];
    match first.get("class") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => first.to_string(),
    }
}
