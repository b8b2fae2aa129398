//! The rollout controller: each service's rollout walked by a task of its own.
//!
//! Every rollout's task (`task.rs`) owns its [`Run`]: at every tick its open analysis window is
//! judged, the pure state machine of `rollgate_core::rollout` is stepped with what was
//! observed, its new state is committed to the store through the control plane (with the event
//! of the transition), and only then are its actions carried out: route changes through the
//! control plane (which commits them too), smoke requests, webhooks. Rollouts share no lock, so
//! an abort of one service never waits behind another's slow metric query. A crash between
//! commit and apply is harmless: on start the stored state is loaded and [`reconcile`]
//! re-applies what it implies. A route change refused after its commit (the store failing in
//! between) is retried every tick until it is written (see `repair`).

mod actions;
mod analysis;
mod batch;
mod fleet;
pub(crate) mod lease;
mod repair;
mod replace;
mod report;
mod route;
mod stored;
mod task;
#[cfg(test)]
mod tests;
pub(crate) mod view;
pub(crate) mod webhook;

use crate::control::plane::{ControlError, ControlPlane};
use crate::metrics_source::MetricSource;
use crate::store::{NewEvent, StoreError};
use analysis::AnalysisRun;
use rollgate_core::analysis::AnalysisTemplate;
use rollgate_core::rollout::{
    parse_plan, reconcile, step, Event, Ignored, Phase, RolloutState, Target,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};
use stored::StoredRollout;
use task::{Command, Handle};
use tokio::sync::{mpsc, oneshot};
use webhook::Webhooks;

/// How often a rollout whose ticks change only its request counter is stored anyway, so a
/// crash loses at most this much of a step's count (transitions are stored at once).
const CHECKPOINT: Duration = Duration::from_secs(5);

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
    #[error("the rollout cannot {verb} now: {}", ignored.reason)]
    NotNow {
        verb: &'static str,
        ignored: Ignored,
    },
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One service's rollout, owned by its task.
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
    /// Where this rollout's batches send their reports (its task receives them).
    reports: mpsc::UnboundedSender<batch::Report>,
    /// A route change of this rollout failed: the live route lags its state (see `repair`).
    route_behind: bool,
    /// When the state was last stored.
    stored_at: Option<Instant>,
}

impl Run {
    /// A run of `stored`, and the receiving end of its batch reports.
    fn new(stored: StoredRollout) -> (Self, mpsc::UnboundedReceiver<batch::Report>) {
        let (reports, rx) = mpsc::unbounded_channel();
        let run = Run {
            state: stored.state,
            started_at_ms: stored.started_at_ms,
            analysis: None,
            report: stored.report,
            ab_start: Default::default(),
            batch: None,
            reports,
            route_behind: false,
            stored_at: None,
        };
        (run, rx)
    }

    /// The rollout as the API shows it, with the latest look of its analysis.
    fn view(&self, service: &str) -> Value {
        let mut v = view::rollout(
            service,
            &self.state,
            self.started_at_ms,
            self.report.as_ref(),
        );
        if let Some(look) = self.analysis.as_ref().and_then(|a| a.last.as_ref()) {
            v["analysis"] = serde_json::to_value(look).unwrap_or_default();
        }
        v
    }

    fn stored(&self) -> StoredRollout {
        StoredRollout {
            state: self.state.clone(),
            started_at_ms: self.started_at_ms,
            report: self.report.clone(),
        }
    }
}

/// Operator verbs on a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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

    /// The verb as operators type it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Pause => "pause",
            Verb::Resume => "resume",
            Verb::Approve => "approve",
            Verb::Abort => "abort",
            Verb::Promote => "promote",
        }
    }
}

/// Drives every service's rollout, each in a task of its own.
#[derive(Debug)]
pub(crate) struct Controller {
    plane: Arc<ControlPlane>,
    source: Arc<dyn MetricSource>,
    templates: BTreeMap<String, AnalysisTemplate>,
    hooks: Webhooks,
    /// Each rollout's task, by service; held only to find or replace a handle, never across
    /// an await.
    tasks: std::sync::Mutex<BTreeMap<String, Handle>>,
    /// Starts one rollout at a time, so two concurrent starts on one service cannot both
    /// begin. Nothing else takes it.
    starting: tokio::sync::Mutex<()>,
}

impl Controller {
    /// Loads the stored rollouts, re-applies what the unfinished ones imply, and starts ticking.
    pub(crate) async fn start(
        plane: Arc<ControlPlane>,
        source: Arc<dyn MetricSource>,
        settings: Settings,
    ) -> Result<Arc<Self>, StoreError> {
        let stored = plane.stored_rollouts().await?;
        let me = Arc::new(Self {
            plane,
            source,
            templates: settings.templates,
            hooks: Webhooks::start(settings.webhooks),
            tasks: std::sync::Mutex::new(BTreeMap::new()),
            starting: tokio::sync::Mutex::new(()),
        });
        for (service, doc) in stored {
            match serde_json::from_value::<StoredRollout>(doc) {
                Ok(s) => me.resume(service, s).await,
                Err(e) => {
                    tracing::error!(service, error = %e, "stored rollout unreadable; ignored")
                }
            }
        }
        let ticker = Arc::downgrade(&me);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(settings.tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(ctl) = ticker.upgrade() else { break };
                ctl.tick_all();
            }
        });
        Ok(me)
    }

    /// Stops every rollout task (this replica lost the controller lease): each ends after what
    /// it is doing, and whatever it still tries to store is refused by the fence.
    pub(crate) fn stop(&self) {
        let handles = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        drop(handles);
    }

    /// Puts a stored rollout back to work: re-applies what an unfinished one implies, then
    /// hands it to its task.
    async fn resume(self: &Arc<Self>, service: String, stored: StoredRollout) {
        let (mut run, reports) = Run::new(stored);
        if !run.state.phase.is_terminal() {
            tracing::info!(service, step = run.state.index, "resuming rollout");
            for action in reconcile(&run.state) {
                if let Some(next) = self.execute(&service, &mut run, action).await {
                    self.advance(&service, &mut run, next).await;
                }
            }
        }
        self.install(service, run, reports);
    }

    /// Gives a run its task, replacing (and so stopping) an ended rollout's.
    fn install(
        self: &Arc<Self>,
        service: String,
        run: Run,
        reports: mpsc::UnboundedReceiver<batch::Report>,
    ) {
        let handle = Handle::spawn(Arc::clone(self), service.clone(), run, reports);
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service, handle);
    }

    /// Asks every rollout's task for a tick.
    fn tick_all(&self) {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.values().for_each(Handle::tick);
    }

    /// Whether the service has a rollout in progress.
    fn active(&self, service: &str) -> bool {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.get(service).is_some_and(|h| !h.published().terminal)
    }

    /// Starts a rollout of the service's candidate from a YAML plan.
    pub(crate) async fn begin(
        self: &Arc<Self>,
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
        let _one_at_a_time = self.starting.lock().await;
        if self.active(service) {
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
        let (mut run, reports) = Run::new(StoredRollout {
            state: RolloutState::new(&plan, target, now),
            started_at_ms: now,
            report: None,
        });
        self.persist(
            service,
            &mut run,
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
        let v = run.view(service);
        self.install(service.to_owned(), run, reports);
        Ok(v)
    }

    /// Applies an operator verb to the service's rollout (in its task).
    pub(crate) async fn act(&self, service: &str, verb: Verb) -> Result<Value, RolloutError> {
        let (reply, answer) = oneshot::channel();
        if !self.send(service, Command::Verb(verb, reply)) {
            return Err(RolloutError::NoRollout(service.to_owned()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(RolloutError::NoRollout(service.to_owned())))
    }

    /// An operator changed traffic by hand (a seed verb) during a rollout: it pauses. Returns
    /// once the rollout has taken note.
    pub(crate) async fn intervened(&self, service: &str, verb: &str) {
        let (done, noted) = oneshot::channel();
        if self.send(service, Command::Intervened(verb.to_owned(), done)) {
            let _ = noted.await;
        }
    }

    /// Sends a command to the service's rollout task, if it has an unfinished rollout.
    fn send(&self, service: &str, command: Command) -> bool {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks
            .get(service)
            .filter(|h| !h.published().terminal)
            .is_some_and(|h| h.send(command))
    }

    /// Ticks the service's rollout now and waits for the tick to end (even a finished
    /// rollout's: its route may still need repairing).
    #[cfg(test)]
    async fn tick_now(&self, service: &str) {
        let (done, ticked) = oneshot::channel();
        let sent = {
            let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            tasks
                .get(service)
                .is_some_and(|h| h.send(Command::Tick(done)))
        };
        if sent {
            let _ = ticked.await;
        }
    }

    /// The service's latest rollout, as the API shows it; never waits for its task.
    pub(crate) async fn view(&self, service: &str) -> Option<Value> {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.get(service).map(|h| h.published().view)
    }

    /// An operator verb, in the rollout's task.
    async fn verb(&self, service: &str, run: &mut Run, verb: Verb) -> Result<Value, RolloutError> {
        if run.state.phase.is_terminal() {
            return Err(RolloutError::NoRollout(service.to_owned()));
        }
        if let Some(ignored) = self.advance(service, run, verb.event()).await {
            return Err(RolloutError::NotNow {
                verb: verb.as_str(),
                ignored,
            });
        }
        Ok(run.view(service))
    }

    /// A manual intervention, in the rollout's task.
    async fn intervene(&self, service: &str, run: &mut Run, verb: &str) {
        if run.state.phase.is_terminal() {
            return;
        }
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

    /// One tick of one rollout, in its task.
    async fn tick_one(&self, service: &str, run: &mut Run) {
        self.repair_route(service, run).await;
        if run.state.phase.is_terminal() {
            return;
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
                .stats(&state.target.service, v)
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
    /// transition before carrying out its actions. Returns why `first` was ignored, if it was.
    async fn advance(&self, service: &str, run: &mut Run, first: Event) -> Option<Ignored> {
        let mut queue = VecDeque::from([first]);
        let mut chained = 0;
        let mut first_ignored = None;
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
            if chained == 1 {
                first_ignored = t.ignored.clone();
            }
            let moved = t.state.index != run.state.index || t.state.phase != run.state.phase;
            let notable = moved || !t.actions.is_empty() || !matches!(event, Event::Tick { .. });
            // A tick that changed nothing but the request counter (and the clock) is stored
            // only every CHECKPOINT: an idle rollout writes nothing, a busy one rarely.
            let due = run.stored_at.is_none_or(|at| at.elapsed() >= CHECKPOINT);
            if !notable && (t.state == run.state || !due) {
                run.state = t.state;
                continue;
            }
            let before = std::mem::replace(&mut run.state, t.state);
            let detail = json!({"event": event, "actions": t.actions});
            let kind = notable.then_some("rollout_transition");
            if let Err(e) = self.persist(service, run, kind, Some(detail)).await {
                // Neither the state nor its actions: keeping a state whose actions never ran
                // would leave the route behind it for good. The next tick tries again.
                run.state = before;
                tracing::error!(service, error = %e, "rollout state not stored; transition held");
                return first_ignored;
            }
            for action in t.actions {
                if let Some(next) = self.execute(service, run, action).await {
                    queue.push_back(next);
                }
            }
        }
        first_ignored
    }

    /// Stores the run through the control plane, with an event of `kind` when given.
    async fn persist(
        &self,
        service: &str,
        run: &mut Run,
        kind: Option<&str>,
        detail: Option<Value>,
    ) -> Result<(), StoreError> {
        let doc = serde_json::to_value(run.stored()).map_err(StoreError::Encode)?;
        let event = kind.map(|kind| NewEvent {
            actor: "rollout".into(),
            service: Some(service.to_owned()),
            kind: kind.to_owned(),
            before: None,
            after: Some(json!({
                "phase": run.state.phase.name(),
                "step": run.state.index,
            })),
            detail,
        });
        self.plane
            .save_rollout(service, &doc, event.as_ref())
            .await?;
        run.stored_at = Some(Instant::now());
        Ok(())
    }
}
