//! Rolling updates of HTTP upstreams: one batch of the core's moves carried out.
//!
//! The service's traffic is carried by the stable version's old instances still serving and
//! the candidate's new instances already admitted, each version's backend holding only its
//! own, with the route's weights in proportion so that every serving instance takes the same
//! share (the per-version metrics and `x-model-version` stay truthful). Which instances serve
//! is decided by `rollgate_core::rollout` ([`Serving`], [`Move`]); this module does the I/O
//! behind [`Fleet`]: readiness probes and putting a serving set in place.
//!
//! A batch runs as its own task, so a slow readiness probe holds neither its rollout's task
//! nor other services; each new instance's report comes back through a channel its rollout's
//! task receives.

use async_trait::async_trait;
use rollgate_core::rollout::{after, InstanceReport, Move, Serving};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

/// What a rolling update needs from the world.
#[async_trait]
pub(crate) trait Fleet: Send + Sync + 'static {
    /// Resolves once `url` answers `GET path` with a 2xx; fails when `timeout` passes first.
    async fn probe(&self, url: &str, path: &str, timeout: Duration) -> Result<(), FleetError>;
    /// Makes `at` the serving set: the instances each version serves from and the weights.
    async fn serve(&self, at: Serving) -> Result<(), FleetError>;
}

/// Why a rolling update's I/O failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FleetError {
    /// A new instance did not answer its readiness path with a 2xx in time.
    #[error("GET {path}: {last} (for {timeout_ms} ms)")]
    NotReady {
        path: String,
        last: ProbeError,
        timeout_ms: u128,
    },
    /// The route change moving the weights with the instances was refused.
    #[error("route change refused: {0}")]
    Route(crate::control::plane::ControlError),
    /// The instance set could not be put in place.
    #[error(transparent)]
    Instances(#[from] crate::control::plane::InstancesError),
    /// A version of the rollout has no instances to replace.
    #[error(transparent)]
    Versions(#[from] super::fleet::NotHttp),
}

/// Why one readiness probe failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("no answer in time")]
    Timeout,
    #[error("{0}")]
    Connect(String),
    #[error("answered {0}")]
    Status(http::StatusCode),
    #[error("bad readiness URL `{0}`")]
    BadUrl(String),
}

/// One new instance's outcome (or a note on the way), addressed to the batch that asked.
#[derive(Debug)]
pub(crate) struct Report {
    /// The batch task that sent it: a late report of a task since stopped is dropped.
    pub(crate) task: u64,
    /// `None` for a note only.
    pub(crate) outcome: Option<InstanceReport>,
    /// What happened, for the event log.
    pub(crate) note: String,
}

/// One batch to carry out.
#[derive(Debug, Clone)]
pub(crate) struct BatchJob {
    pub(crate) service: String,
    /// Unique id of the task running it.
    pub(crate) task: u64,
    pub(crate) batch: usize,
    pub(crate) batches: usize,
    /// Old instances, in the stable version's order.
    pub(crate) old: Vec<String>,
    /// New instances, in the candidate's order.
    pub(crate) new: Vec<String>,
    pub(crate) readiness_path: String,
    pub(crate) readiness_timeout: Duration,
    /// The set serving when the batch starts (a restart resumes mid-batch), already in place.
    pub(crate) start: Serving,
    /// The moves left.
    pub(crate) moves: Vec<Move>,
}

impl BatchJob {
    /// Sends an outcome and/or a note (an empty note is none).
    fn report(&self, tx: &UnboundedSender<Report>, outcome: Option<InstanceReport>, note: String) {
        let note = if note.is_empty() {
            note
        } else {
            let note = format!("rolling batch {}/{}: {note}", self.batch, self.batches);
            tracing::info!(service = %self.service, "{note}");
            note
        };
        // The controller is gone only at shutdown.
        let _ = tx.send(Report {
            task: self.task,
            outcome,
            note,
        });
    }

    fn describe(&self, at: Serving) -> String {
        let old = self.old.len() as u32;
        format!(
            "serving {} old + {} new instance(s), {}% to the new version",
            old.saturating_sub(at.retired),
            at.admitted,
            rollgate_core::route::fmt_bps(at.candidate_bps(old))
        )
    }
}

/// Carries out `job` from its start set (which the caller has put in place, before the data
/// port opens after a restart): first the new instances already serving are probed again
/// (see [`recheck`]), then each move in turn, probing every new instance before it serves.
/// Stops at the first failure, which is reported (the machine rolls back), or when `stop`
/// turns true; a probe is the only thing a stop interrupts, never a change of the serving
/// set halfway.
///
/// A new instance's `Ready` is reported once the retirements that follow it are done too, so
/// that when the machine counts a batch complete, its whole serving change is in place.
pub(crate) async fn run_batch<F: Fleet>(
    fleet: &F,
    job: BatchJob,
    tx: UnboundedSender<Report>,
    mut stop: watch::Receiver<bool>,
) {
    if !recheck(fleet, &job, &tx, &mut stop).await {
        return;
    }
    let mut at = job.start;
    let mut ready = 0;
    for &m in &job.moves {
        if *stop.borrow() {
            return;
        }
        let next = after(at, &[m]);
        match m {
            Move::Admit(i) => {
                job.flush(&tx, &mut ready);
                let Some(url) = job.new.get(i as usize) else {
                    job.fail(&tx, format!("no new instance #{i}"));
                    return;
                };
                let probe = fleet.probe(url, &job.readiness_path, job.readiness_timeout);
                let probed = tokio::select! {
                    r = probe => r,
                    _ = stop.wait_for(|s| *s) => return,
                };
                if let Err(e) = probed {
                    job.fail(&tx, format!("{url} not ready: {e}"));
                    return;
                }
                if let Err(e) = fleet.serve(next).await {
                    job.fail(&tx, format!("cannot serve: {e}"));
                    return;
                }
                job.report(&tx, None, format!("{url} ready; {}", job.describe(next)));
                ready += 1;
            }
            Move::Retire(_) => {
                if let Err(e) = fleet.serve(next).await {
                    job.fail(&tx, format!("cannot serve: {e}"));
                    return;
                }
                let retired = &job.old[at.retired as usize..next.retired as usize];
                if !retired.is_empty() {
                    let note = format!("retired {}; {}", retired.join(", "), job.describe(next));
                    job.report(&tx, None, note);
                }
            }
        }
        at = next;
    }
    job.flush(&tx, &mut ready);
}

/// Probes again the new instances the start set serves, admitted by earlier batches or by
/// this one before a restart: one that went away meanwhile (while the gateway was down, say)
/// fails the update, which rolls back, rather than staying in the serving set unchecked.
/// False when the batch must not go on (a failure, reported, or a stop).
async fn recheck<F: Fleet>(
    fleet: &F,
    job: &BatchJob,
    tx: &UnboundedSender<Report>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let serving = job.new.iter().take(job.start.admitted as usize);
    for url in serving {
        let probe = fleet.probe(url, &job.readiness_path, job.readiness_timeout);
        let probed = tokio::select! {
            r = probe => r,
            _ = stop.wait_for(|s| *s) => return false,
        };
        if let Err(e) = probed {
            job.fail(tx, format!("{url} no longer ready: {e}"));
            return false;
        }
    }
    true
}

impl BatchJob {
    fn fail(&self, tx: &UnboundedSender<Report>, detail: String) {
        let outcome = InstanceReport::Failed {
            detail: detail.clone(),
        };
        self.report(tx, Some(outcome), detail);
    }

    /// Hands the machine the `Ready` of instances already noted as serving.
    fn flush(&self, tx: &UnboundedSender<Report>, ready: &mut u32) {
        for _ in 0..std::mem::take(ready) {
            self.report(tx, Some(InstanceReport::Ready), String::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollgate_core::rollout::{batch_moves, Batch};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Fake {
        unready: Option<String>,
        served: Mutex<Vec<Serving>>,
    }

    #[async_trait]
    impl Fleet for Fake {
        async fn probe(&self, url: &str, _: &str, _: Duration) -> Result<(), FleetError> {
            match &self.unready {
                Some(u) if u == url => Err(FleetError::NotReady {
                    path: "/ready".into(),
                    last: ProbeError::Status(http::StatusCode::SERVICE_UNAVAILABLE),
                    timeout_ms: 1000,
                }),
                _ => Ok(()),
            }
        }
        async fn serve(&self, at: Serving) -> Result<(), FleetError> {
            self.served.lock().unwrap().push(at);
            Ok(())
        }
    }

    fn job(batch: Batch) -> BatchJob {
        let urls = |p: &str| (0..3).map(|i| format!("{p}{i}")).collect();
        BatchJob {
            service: "s".into(),
            task: 1,
            batch: 1,
            batches: 2,
            old: urls("old"),
            new: urls("new"),
            readiness_path: "/ready".into(),
            readiness_timeout: Duration::from_secs(1),
            start: Serving::default(),
            moves: batch_moves(batch, 0, 3, 3),
        }
    }

    fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Report>) -> Vec<Report> {
        let mut out = Vec::new();
        while let Ok(r) = rx.try_recv() {
            out.push(r);
        }
        out
    }

    #[tokio::test]
    async fn a_batch_serves_each_set_in_turn_and_reports_every_new_instance() {
        let fleet = Fake::default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (_stop, stopped) = watch::channel(false);
        fleet.serve(Serving::default()).await.unwrap();
        run_batch(&fleet, job(Batch { count: 2, surge: 1 }), tx, stopped).await;
        let served = fleet.served.lock().unwrap().clone();
        let pairs: Vec<(u32, u32)> = served.iter().map(|s| (s.retired, s.admitted)).collect();
        assert_eq!(pairs, vec![(0, 0), (0, 1), (2, 1), (2, 2)]);
        let reports = drain(&mut rx);
        let ready = reports
            .iter()
            .filter(|r| r.outcome == Some(InstanceReport::Ready))
            .count();
        assert_eq!(ready, 2);
        let seq: Vec<(bool, &str)> = reports
            .iter()
            .map(|r| (r.outcome.is_some(), r.note.as_str()))
            .collect();
        assert!(seq[0].1.contains("new0 ready") && !seq[0].0, "{seq:?}");
        assert!(seq[1].1.contains("retired old0, old1"), "{seq:?}");
        assert_eq!(
            seq[2],
            (true, ""),
            "new0's Ready after the retirement: {seq:?}"
        );
    }

    #[tokio::test]
    async fn a_stop_interrupts_a_probe_and_changes_nothing_more() {
        struct Hanging(Mutex<Vec<Serving>>);
        #[async_trait]
        impl Fleet for Hanging {
            async fn probe(&self, _: &str, _: &str, _: Duration) -> Result<(), FleetError> {
                std::future::pending().await
            }
            async fn serve(&self, at: Serving) -> Result<(), FleetError> {
                self.0.lock().unwrap().push(at);
                Ok(())
            }
        }
        let fleet = std::sync::Arc::new(Hanging(Mutex::new(Vec::new())));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop, stopped) = watch::channel(false);
        let f = std::sync::Arc::clone(&fleet);
        let task = tokio::spawn(async move {
            run_batch(f.as_ref(), job(Batch { count: 2, surge: 1 }), tx, stopped).await;
        });
        tokio::task::yield_now().await;
        stop.send_replace(true);
        task.await.unwrap();
        assert!(fleet.0.lock().unwrap().is_empty());
        assert!(drain(&mut rx).is_empty());
    }

    #[tokio::test]
    async fn admitted_instances_are_probed_again_before_the_batch_goes_on() {
        let fleet = Fake {
            unready: Some("new0".into()),
            ..Fake::default()
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (_stop, stopped) = watch::channel(false);
        let resumed = BatchJob {
            start: Serving {
                retired: 1,
                admitted: 1,
            },
            moves: batch_moves(Batch { count: 2, surge: 1 }, 1, 3, 3),
            ..job(Batch { count: 2, surge: 1 })
        };
        run_batch(&fleet, resumed, tx, stopped).await;
        assert!(
            fleet.served.lock().unwrap().is_empty(),
            "nothing more served"
        );
        assert_one_failure(&mut rx, "new0 no longer ready");
    }

    /// The batch sent one report: a failure whose detail says `what`.
    fn assert_one_failure(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Report>, what: &str) {
        let reports = drain(rx);
        assert_eq!(reports.len(), 1);
        assert!(
            matches!(
                &reports[0].outcome,
                Some(InstanceReport::Failed { detail }) if detail.contains(what)
            ),
            "{:?}",
            reports[0].outcome
        );
    }

    #[tokio::test]
    async fn an_unready_instance_is_reported_and_never_served() {
        let fleet = Fake {
            unready: Some("new0".into()),
            ..Fake::default()
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (_stop, stopped) = watch::channel(false);
        fleet.serve(Serving::default()).await.unwrap();
        run_batch(&fleet, job(Batch { count: 2, surge: 1 }), tx, stopped).await;
        assert_eq!(*fleet.served.lock().unwrap(), vec![Serving::default()]);
        assert_one_failure(&mut rx, "new0 not ready: GET /ready: answered 503");
    }
}
