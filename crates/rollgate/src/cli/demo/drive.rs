//! Sends one phase's planned requests at a steady pace and the late feedback of each, and
//! tallies what came back.
//!
//! The order of requests is the generator's; a few workers only let requests overlap, as
//! real callers' do. Labels (or A/B rewards) are sent from their own tasks after each
//! request's planned delay, so they reach the gateway late and out of order.

use super::http::DataClient;
use super::summary::{Seen, Tally};
use super::traffic::{Generator, Planned};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Requests in flight at once.
const WORKERS: usize = 6;

/// A bound on one phase's requests, whatever happens to the rollout.
const MAX_REQUESTS: u64 = 100_000;

/// What a phase sends to and how its users react.
pub(crate) struct Workload {
    pub(crate) service: String,
    /// For an A/B test, each variant's conversion rate: users send rewards (0 or 1) instead
    /// of labels, converting when their planned draw falls below the rate of the variant
    /// that answered them.
    pub(crate) conversion: Option<Vec<(String, f64)>>,
}

/// Traffic being sent.
pub(crate) struct Drive {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    tally: Arc<Mutex<Tally>>,
    started: Instant,
}

/// Starts sending `requests_per_s` requests; labels arrive after their delay divided by
/// `speed`.
pub(crate) fn start(
    client: &DataClient,
    generator: Generator,
    workload: Workload,
    requests_per_s: f64,
    speed: f64,
) -> Drive {
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let shared = Arc::new(Shared {
        client: client.clone(),
        generator: Mutex::new(generator.take(MAX_REQUESTS as usize)),
        workload,
        speed,
        tally: Arc::clone(&tally),
    });
    let every = Duration::from_secs_f64(WORKERS as f64 / requests_per_s.max(1.0));
    let workers = (0..WORKERS)
        .map(|i| {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            // Staggered starts spread the workers' requests evenly over each interval.
            let offset = every.mul_f64(i as f64 / WORKERS as f64);
            tokio::spawn(async move {
                tokio::time::sleep(offset).await;
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let next = shared
                        .generator
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .next();
                    let Some(planned) = next else { break };
                    shared.send(planned).await;
                }
            })
        })
        .collect();
    Drive {
        stop,
        workers,
        tally,
        started: Instant::now(),
    }
}

impl Drive {
    /// What was seen so far and the achieved request rate.
    pub(crate) fn snapshot(&self) -> (Tally, f64) {
        let tally = self
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rps = tally.requests() as f64 / secs;
        (tally, rps)
    }

    /// Stops sending (feedback already planned still arrives) and returns the tally.
    pub(crate) async fn stop(mut self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for w in std::mem::take(&mut self.workers) {
            let _ = w.await;
        }
        self.snapshot().0
    }
}

struct Shared {
    client: DataClient,
    generator: Mutex<std::iter::Take<Generator>>,
    workload: Workload,
    speed: f64,
    tally: Arc<Mutex<Tally>>,
}

impl Shared {
    /// One prediction, its tally, and its feedback scheduled.
    async fn send(&self, p: Planned) {
        let path = format!("/v1/models/{}/predict", self.workload.service);
        let body = json!({ "instances": [p.features] });
        let mut headers = vec![("x-request-id", p.id.as_str())];
        if let Some(user) = &p.user {
            headers.push(("x-user-id", user.as_str()));
        }
        let began = Instant::now();
        let answer = self.client.post(&path, &body, &headers).await;
        let latency = began.elapsed();
        let version = answer.body["model_version"].as_str().unwrap_or("?");
        let predicted = answer.body["predictions"][0]["label"].as_i64();
        let converted = self.converts(version, p.conversion_draw);
        self.tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(&Seen {
                version,
                ok: answer.ok,
                latency,
                correct: predicted == Some(i64::from(p.label)),
                converted,
            });
        if !answer.ok {
            return;
        }
        let feedback = match self.workload.conversion {
            Some(_) => json!({"request_id": p.id, "reward": u8::from(converted)}),
            None => json!({"request_id": p.id, "label": p.label}),
        };
        let client = self.client.clone();
        let delay = Duration::from_millis(p.delay_ms).div_f64(self.speed);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            client.post("/v1/feedback", &feedback, &[]).await;
        });
    }

    fn converts(&self, version: &str, draw: f64) -> bool {
        self.workload
            .conversion
            .as_ref()
            .and_then(|rates| rates.iter().find(|(v, _)| v == version))
            .is_some_and(|(_, rate)| draw < *rate)
    }
}
