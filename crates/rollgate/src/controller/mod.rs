//! The rollout controller: the loop that walks each service's rollout.
//!
//! At every tick, for every rollout in progress: open analysis windows are judged, the pure
//! state machine of `rollgate_core::rollout` is stepped with what was observed, its new state
//! is committed to the store (with the event of the transition), and only then are its
//! actions carried out: route changes through the control plane (which commits them too),
//! smoke requests, webhooks. A crash between commit and apply is harmless: on start the stored
//! state is loaded and [`reconcile`] re-applies what it implies. A route change refused after
//! its commit (the store failing in between) is retried every tick until it is written (see
//! `repair`).

mod actions;
mod analysis;
mod repair;
mod replace;
mod report;
mod rolling;
mod route;
#[cfg(test)]
mod tests;
pub(crate) mod view;
pub(crate) mod webhook;

use crate::control::plane::{ControlError, ControlPlane};
use crate::metrics_source::MetricSource;
use crate::store::{NewEvent, StoreError};
use analysis::AnalysisRun;
use rollgate_core::analysis::AnalysisTemplate;
use rollgate_core::rollout::{parse_plan, reconcile, step, Event, Phase, RolloutState, Target};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex};
use webhook::Webhooks;

/// Follow-up events one transition may trigger (smoke results, A/B conclusions) before the
/// controller stops and waits for the next tick: a bound against a plan that loops.
const MAX_CHAIN: usize = 32;

/// How the controller runs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) tick: Duration,
    pub(crate) templates: BTreeMap<String, AnalysisTemplate>,
    pub(crate) webhooks: webhook::WebhookConfig,
}

/// The analysis template plans get without defining one: the candidate's error rate no more
/// than 2 points above stable's and its p95 latency at most 1.5 times stable's. Accuracy
/// needs labels, which not every service receives: templates that judge it are declared in
/// the config (`rollouts.templates`).
const DEFAULT_TEMPLATE: &str = "
checks:
  - metric: error_rate
    max_increase: 0.02
  - metric: latency_p95
    max_ratio: 1.5
";

/// The templates every gateway has (`default`).
pub(crate) fn builtin_templates(
) -> Result<BTreeMap<String, AnalysisTemplate>, rollgate_core::analysis::TemplateError> {
    let t = AnalysisTemplate::from_yaml(DEFAULT_TEMPLATE)?;
    Ok(BTreeMap::from([("default".to_owned(), t)]))
}

/// Why a rollout request was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RolloutError {
    #[error("plan: {0}")]
    BadPlan(String),
    #[error("service `{0}` already has a rollout in progress: abort or finish it first")]
    Active(String),
    #[error("service `{0}` has no rollout in progress")]
    NoRollout(String),
    #[error(
        "service `{0}` has no candidate version: register one first (update-model or versions add)"
    )]
    NoCandidate(String),
    #[error("the rollout cannot {verb} now (phase {phase})")]
    NotNow { verb: String, phase: String },
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One service's rollout.
#[derive(Debug)]
struct Run {
    state: RolloutState,
    started_at_ms: u64,
    analysis: Option<AnalysisRun>,
    report: Option<Value>,
    /// Counters of the A/B variants when the test began (empty outside A/B tests).
    ab_start: report::AbStart,
    /// The rolling batch in flight, if any (not persisted: a restart starts it again).
    batch: Option<replace::BatchTask>,
    /// A route change of this rollout failed: the live route lags its state (see `repair`).
    route_behind: bool,
}

/// Operator verbs on a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Pause,
    Resume,
    Approve,
    Abort,
    Promote,
}

impl Verb {
    fn event(self) -> Event {
        match self {
            Verb::Pause => Event::Pause,
            Verb::Resume => Event::Resume,
            Verb::Approve => Event::Approve,
            Verb::Abort => Event::Abort,
            Verb::Promote => Event::PromoteFull,
        }
    }
}

/// Drives every service's rollout.
#[derive(Debug)]
pub(crate) struct Controller {
    plane: Arc<ControlPlane>,
    source: Arc<dyn MetricSource>,
    templates: BTreeMap<String, AnalysisTemplate>,
    hooks: Webhooks,
    runs: Mutex<BTreeMap<String, Run>>,
    /// Rolling batches report here; every tick drains it.
    reports: (
        mpsc::UnboundedSender<rolling::Report>,
        Mutex<mpsc::UnboundedReceiver<rolling::Report>>,
    ),
}

impl Controller {
    /// Loads the stored rollouts, re-applies what the unfinished ones imply, and starts ticking.
    pub(crate) async fn start(
        plane: Arc<ControlPlane>,
        source: Arc<dyn MetricSource>,
        settings: Settings,
    ) -> Result<Arc<Self>, StoreError> {
        let mut runs = BTreeMap::new();
        for (service, doc) in plane.store().rollouts().await? {
            match serde_json::from_value::<RolloutState>(doc["state"].clone()) {
                Ok(state) => {
                    let run = Run {
                        state,
                        started_at_ms: doc["started_at_ms"].as_u64().unwrap_or(0),
                        analysis: None,
                        report: doc.get("report").cloned().filter(|r| !r.is_null()),
                        ab_start: Default::default(),
                        batch: None,
                        route_behind: false,
                    };
                    runs.insert(service, run);
                }
                Err(e) => {
                    tracing::error!(service, error = %e, "stored rollout unreadable; ignored")
                }
            }
        }
        let me = Arc::new(Self {
            plane,
            source,
            templates: settings.templates,
            hooks: Webhooks::start(settings.webhooks),
            runs: Mutex::new(BTreeMap::new()),
            reports: {
                let (tx, rx) = mpsc::unbounded_channel();
                (tx, Mutex::new(rx))
            },
        });
        me.resume_all(runs).await;
        let ticker = Arc::clone(&me);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(settings.tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                ticker.tick().await;
            }
        });
        Ok(me)
    }

    async fn resume_all(&self, stored: BTreeMap<String, Run>) {
        let mut runs = self.runs.lock().await;
        for (service, mut run) in stored {
            if !run.state.phase.is_terminal() {
                tracing::info!(service, step = run.state.index, "resuming rollout");
                for action in reconcile(&run.state) {
                    if let Some(next) = self.execute(&service, &mut run, action).await {
                        self.advance(&service, &mut run, next).await;
                    }
                }
            }
            runs.insert(service, run);
        }
    }

    /// Starts a rollout of the service's candidate from a YAML plan.
    pub(crate) async fn begin(
        &self,
        service: &str,
        plan_text: &str,
    ) -> Result<Value, RolloutError> {
        let plan = parse_plan(plan_text).map_err(|e| RolloutError::BadPlan(e.to_string()))?;
        let svc = self.plane.service(service).await?;
        let route = &svc.spec.route;
        let candidate = route
            .candidate()
            .map(|c| route.name(c).to_owned())
            .ok_or_else(|| RolloutError::NoCandidate(service.to_owned()))?;
        let mut runs = self.runs.lock().await;
        if runs
            .get(service)
            .is_some_and(|r| !r.state.phase.is_terminal())
        {
            return Err(RolloutError::Active(service.to_owned()));
        }
        let stable = route.name(route.stable()).to_owned();
        let instances = actions::check_plan(
            &self.templates,
            &plan.expand(),
            &svc.spec.versions,
            (&stable, &candidate),
        )?;
        let target = Target {
            service: service.to_owned(),
            stable,
            candidate,
            instances,
        };
        let now = crate::store::now_ms() as u64;
        let mut run = Run {
            state: RolloutState::new(&plan, target, now),
            started_at_ms: now,
            analysis: None,
            report: None,
            ab_start: Default::default(),
            batch: None,
            route_behind: false,
        };
        self.persist(
            service,
            &run,
            Some("rollout_started"),
            Some(json!({"plan": plan_text})),
        )
        .await?;
        let requests = self.candidate_requests(&run.state, &run.ab_start);
        self.advance(
            service,
            &mut run,
            Event::Tick {
                candidate_requests: requests,
            },
        )
        .await;
        let v = view::rollout(service, &run.state, run.started_at_ms, run.report.as_ref());
        runs.insert(service.to_owned(), run);
        Ok(v)
    }

    /// Applies an operator verb to the service's rollout.
    pub(crate) async fn act(&self, service: &str, verb: Verb) -> Result<Value, RolloutError> {
        let mut runs = self.runs.lock().await;
        let run = runs
            .get_mut(service)
            .filter(|r| !r.state.phase.is_terminal())
            .ok_or_else(|| RolloutError::NoRollout(service.to_owned()))?;
        let before = run.state.clone();
        self.advance(service, run, verb.event()).await;
        if run.state == before {
            return Err(RolloutError::NotNow {
                verb: format!("{verb:?}").to_lowercase(),
                phase: view::phase_name(&run.state.phase).to_owned(),
            });
        }
        Ok(view::rollout(
            service,
            &run.state,
            run.started_at_ms,
            run.report.as_ref(),
        ))
    }

    /// An operator changed traffic by hand (a seed verb) during a rollout: it pauses.
    pub(crate) async fn intervened(&self, service: &str, verb: &str) {
        let mut runs = self.runs.lock().await;
        if let Some(run) = runs
            .get_mut(service)
            .filter(|r| !r.state.phase.is_terminal())
        {
            let event = Event::ManualIntervention {
                verb: verb.to_owned(),
                detail: "changed through the control API during the rollout".into(),
            };
            self.advance(service, run, event).await;
            // A rolling batch would move the weights again: it stops until the resume.
            if matches!(run.state.phase, Phase::Paused { .. }) {
                replace::stop_batch(run).await;
            }
        }
    }

    /// The service's latest rollout, as the API shows it.
    pub(crate) async fn view(&self, service: &str) -> Option<Value> {
        let runs = self.runs.lock().await;
        runs.get(service).map(|r| {
            let mut v = view::rollout(service, &r.state, r.started_at_ms, r.report.as_ref());
            if let Some(look) = r.analysis.as_ref().and_then(|a| a.last.as_ref()) {
                v["analysis"] = serde_json::to_value(look).unwrap_or_default();
            }
            v
        })
    }

    async fn tick(&self) {
        let mut runs = self.runs.lock().await;
        self.drain_reports(&mut runs).await;
        for (service, run) in runs.iter_mut() {
            self.repair_route(service, run).await;
            if run.state.phase.is_terminal() {
                continue;
            }
            if let Some(event) = self.look(service, run).await {
                self.advance(service, run, event).await;
            }
            let requests = self.candidate_requests(&run.state, &run.ab_start);
            self.advance(
                service,
                run,
                Event::Tick {
                    candidate_requests: requests,
                },
            )
            .await;
        }
    }

    /// Judges the open analysis, if the rollout is waiting for one.
    async fn look(&self, service: &str, run: &mut Run) -> Option<Event> {
        if run.state.phase != Phase::Analysing {
            return None;
        }
        let target = run.state.target.clone();
        let pair = analysis::Pair {
            service,
            baseline: &target.stable,
            candidate: &target.candidate,
        };
        let (outcome, summary) = run
            .analysis
            .as_mut()?
            .look(self.source.as_ref(), &pair)
            .await?;
        Some(Event::AnalysisResult { outcome, summary })
    }

    /// Requests the candidate has answered, mirrored ones included so that a shadow stage's
    /// `min_requests` counts them (for an A/B test: the least-served variant).
    fn candidate_requests(&self, state: &RolloutState, ab_start: &report::AbStart) -> u64 {
        let count = |v: &str| {
            self.plane
                .recorder()
                .find(&crate::telemetry::VersionKey {
                    service: state.target.service.clone(),
                    version: v.to_owned(),
                })
                .map_or(0, |s| s.answered())
        };
        match state.steps.get(state.index) {
            Some(rollgate_core::rollout::Step::AbTest(ab)) => ab
                .variants
                .iter()
                .map(|(v, _)| {
                    let start = ab_start.get(v).map_or(0, |(n, _)| *n);
                    count(v).saturating_sub(start)
                })
                .min()
                .unwrap_or(0),
            _ => count(&state.target.candidate),
        }
    }

    /// Steps the machine with `first` and whatever its actions report back, persisting each
    /// transition before carrying out its actions.
    async fn advance(&self, service: &str, run: &mut Run, first: Event) {
        let mut queue = VecDeque::from([first]);
        let mut chained = 0;
        while let Some(event) = queue.pop_front() {
            chained += 1;
            if chained > MAX_CHAIN {
                tracing::warn!(
                    service,
                    "rollout transitions chained too long; waiting a tick"
                );
                break;
            }
            let now = crate::store::now_ms() as u64;
            let t = step(&run.state, event.clone(), now);
            let moved = t.state.index != run.state.index || t.state.phase != run.state.phase;
            let before = std::mem::replace(&mut run.state, t.state);
            // Every state is stored (a tick's request count and clock included); only
            // transitions that did something are events.
            let notable = moved || !t.actions.is_empty() || !matches!(event, Event::Tick { .. });
            let detail = json!({"event": event, "actions": t.actions});
            let kind = notable.then_some("rollout_transition");
            if let Err(e) = self.persist(service, run, kind, Some(detail)).await {
                // Neither the state nor its actions: keeping a state whose actions never ran
                // would leave the route behind it for good. The next tick tries again.
                run.state = before;
                tracing::error!(service, error = %e, "rollout state not stored; transition held");
                return;
            }
            for action in t.actions {
                if let Some(next) = self.execute(service, run, action).await {
                    queue.push_back(next);
                }
            }
        }
    }

    async fn persist(
        &self,
        service: &str,
        run: &Run,
        kind: Option<&str>,
        detail: Option<Value>,
    ) -> Result<(), StoreError> {
        let doc = json!({
            "state": run.state,
            "started_at_ms": run.started_at_ms,
            "report": run.report,
        });
        let event = kind.map(|kind| NewEvent {
            actor: "rollout".into(),
            service: Some(service.to_owned()),
            kind: kind.to_owned(),
            before: None,
            after: Some(json!({
                "phase": view::phase_name(&run.state.phase),
                "step": run.state.index,
            })),
            detail,
        });
        self.plane
            .store()
            .save_rollout(service, &doc, event.as_ref())
            .await
    }
}
