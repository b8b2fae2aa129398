//! The controller's side of a rolling update: starting a batch's task, feeding its reports to
//! the machine, and undoing or finishing the instance sets.

use super::batch::{self, BatchJob, Fleet, FleetError, Report};
use super::fleet::{self, LiveFleet};
use super::{Controller, Run};
use rollgate_core::rollout::{batches, resume, Batch, Event, InstanceReport, Step};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

impl Controller {
    /// The fleet of the rollout's two versions, from their configured instances.
    async fn fleet(&self, service: &str, run: &Run) -> Result<LiveFleet, FleetError> {
        let svc = self
            .plane
            .service(service)
            .await
            .map_err(FleetError::Route)?;
        let t = &run.state.target;
        let old = fleet::instances_of(&svc.spec.versions, &t.stable)?;
        let new = fleet::instances_of(&svc.spec.versions, &t.candidate)?;
        Ok(LiveFleet::new(
            self.plane.clone(),
            service,
            (&t.stable, &t.candidate),
            (old, new),
        ))
    }

    /// Starts the batch in flight (resuming after its instances already reported ready);
    /// returns a failure at once when it cannot start.
    pub(super) async fn replace(
        &self,
        service: &str,
        run: &mut Run,
        (batch, batches): (usize, usize),
        b: Batch,
        readiness_path: String,
    ) -> Option<Event> {
        stop_batch(run).await;
        let fleet = match self.fleet(service, run).await {
            Ok(f) => f,
            Err(e) => {
                let detail = e.to_string();
                return Some(Event::RollingProgress(InstanceReport::Failed { detail }));
            }
        };
        let timeout = match run.state.current() {
            Some(Step::Rolling(r)) => r.readiness_timeout_ms,
            _ => rollgate_core::rollout::DEFAULT_READINESS_TIMEOUT_MS,
        };
        let (old, new) = (fleet.urls().0.to_vec(), fleet.urls().1.to_vec());
        let p = run.state.rolling;
        let (start, moves) = resume(b, p.replaced, p.ready, old.len() as u32, new.len() as u32);
        let job = BatchJob {
            service: service.to_owned(),
            task: NEXT_TASK.fetch_add(1, Ordering::Relaxed),
            batch,
            batches,
            old,
            new,
            readiness_path,
            readiness_timeout: Duration::from_millis(timeout),
            start,
            moves,
        };
        // In place before the task starts: after a restart, before the data port opens.
        if let Err(e) = fleet.serve(start).await {
            let detail = format!("cannot serve: {e}");
            return Some(Event::RollingProgress(InstanceReport::Failed { detail }));
        }
        let tx = run.reports.clone();
        let (stop, stopped) = watch::channel(false);
        let id = job.task;
        let task = tokio::spawn(async move {
            batch::run_batch(&fleet, job, tx, stopped).await;
        });
        run.batch = Some(BatchTask { id, stop, task });
        None
    }

    /// Puts the rolling update's serving set back (where the machine would set weights: the
    /// resume after a manual intervention, a restart): the batch in flight starts again from
    /// the stored progress, which also brings back the weights that follow the instances.
    pub(super) async fn restart_batch(&self, service: &str, run: &mut Run) -> Option<Event> {
        let Some(Step::Rolling(r)) = run.state.current().cloned() else {
            return None;
        };
        let all = batches(run.state.target.instances, r.max_surge, r.max_unavailable);
        let i = run.state.rolling.batch;
        let b = *all.get(i)?;
        self.replace(service, run, (i + 1, all.len()), b, r.readiness_path)
            .await
    }

    /// A failed or aborted rolling update: the batch stops, old instances serve again.
    pub(super) async fn restore_instances(&self, service: &str, run: &mut Run, count: u32) {
        stop_batch(run).await;
        let text = match self.fleet(service, run).await {
            Ok(fleet) => match fleet::restore(&fleet).await {
                Ok(()) => format!(
                    "rolling update undone: {} replaced instance(s) restored, all {} old \
                     instances serving",
                    count,
                    fleet.urls().0.len()
                ),
                Err(e) => format!("restoring the old instances failed: {e}"),
            },
            Err(e) => format!("restoring the old instances failed: {e}"),
        };
        tracing::info!(service, "{text}");
        self.note(service, &text).await;
    }

    /// After a rolling update's promotion: the old version gets its configured instances
    /// back (it no longer takes traffic), so a later rollback to it finds them.
    pub(super) async fn finish_rolling(&self, service: &str, run: &mut Run) {
        stop_batch(run).await;
        let reset = match self.fleet(service, run).await {
            Ok(fleet) => fleet::reset(&fleet, &run.state.target.stable).await,
            Err(e) => Err(e),
        };
        if let Err(e) = reset {
            let text = format!("the old version's instances were not put back: {e}");
            tracing::warn!(service, "{text}");
            self.note(service, &text).await;
        }
    }

    /// Feeds a report of the rollout's batch to its machine; a report of a task since stopped
    /// (an abort, a batch started again) is dropped.
    pub(super) async fn batch_report(&self, service: &str, run: &mut Run, r: Report) {
        let current =
            run.batch.as_ref().is_some_and(|b| b.id == r.task) && !run.state.phase.is_terminal();
        if !current {
            return;
        }
        if !r.note.is_empty() {
            self.note(service, &r.note).await;
        }
        if let Some(outcome) = r.outcome {
            self.advance(service, run, Event::RollingProgress(outcome))
                .await;
        }
    }
}

/// Ids of batch tasks, unique in the process.
static NEXT_TASK: AtomicU64 = AtomicU64::new(1);

/// A batch's task and the flag that stops it.
#[derive(Debug)]
pub(super) struct BatchTask {
    id: u64,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Stops the batch task and waits for it, so it changes nothing afterwards. It is never
/// cancelled halfway through a change of the serving set (a route change commits to the
/// store), only between changes or during a probe.
pub(super) async fn stop_batch(run: &mut Run) {
    if let Some(b) = run.batch.take() {
        b.stop.send_replace(true);
        let _ = b.task.await;
    }
}
