//! Analysis windows over every replica's traffic. Each replica publishes, a few times a
//! second, its cumulative counters per version (and the latencies it recorded since its last
//! publication) to the shared store; the controller's source keeps the latest of each replica
//! in memory, refreshed as often, and a window is the sum over replicas of each one's counters
//! since the mark. So a canary behind N replicas is judged on all its requests, not the
//! leader's share, at the cost of at most two publication periods of delay.

use super::local::{difference, totals, Totals};
use super::{Mark, MetricSource};
use crate::control::plane::ControlPlane;
use crate::telemetry::Recorder;
use rollgate_core::analysis::window::{LatencySummary, VersionWindow, Warmup};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often replicas publish and the controller reads.
pub(crate) const PERIOD: Duration = Duration::from_millis(250);

/// Latency samples kept per version, as the local ring does.
const SAMPLES: usize = crate::telemetry::recent::CAPACITY;

/// What one replica publishes for one version.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Published {
    /// The replica process: counters restart from zero with a new one.
    incarnation: String,
    /// Publication number, so the reader takes each batch of latencies once.
    seq: u64,
    totals: Totals,
    /// Latencies recorded since the previous publication, ms.
    latency_ms: Vec<f64>,
}

/// Each replica's counters at a mark: replica → (incarnation, counters).
pub(crate) type Baseline = BTreeMap<String, (String, Totals)>;

/// Publishes this replica's counters until the task is dropped. Failures (the store down) are
/// logged once per outage and retried at the next period.
pub(crate) async fn publish(plane: Arc<ControlPlane>, recorder: Arc<Recorder>, replica: String) {
    let incarnation = uuid::Uuid::new_v4().simple().to_string();
    let (mut seq, mut last, mut failing) = (0u64, Instant::now(), false);
    loop {
        tokio::time::sleep(PERIOD).await;
        seq += 1;
        let now = Instant::now();
        let docs: Vec<(String, String, String)> = recorder
            .all()
            .into_iter()
            .filter_map(|(key, stats)| {
                let doc = Published {
                    incarnation: incarnation.clone(),
                    seq,
                    totals: totals(&stats),
                    latency_ms: stats.recent().since(last),
                };
                let text = serde_json::to_string(&doc).ok()?;
                Some((key.service, key.version, text))
            })
            .collect();
        last = now;
        match plane.publish_windows(&replica, &docs).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot publish this replica's analysis counters");
            }
            Err(_) => {}
        }
    }
}

/// One version's fleet-wide state as last read.
#[derive(Debug, Default)]
struct Seen {
    /// replica → its latest publication.
    latest: BTreeMap<String, Published>,
    /// Latencies from every replica, with when they were read (Unix ms).
    latencies: VecDeque<(u64, f64)>,
}

/// Windows summed over the replicas' publications.
#[derive(Debug)]
pub(crate) struct FleetSource {
    plane: Arc<ControlPlane>,
    seen: Mutex<BTreeMap<(String, String), Seen>>,
}

impl FleetSource {
    /// A source reading through `plane`, read once before it is returned (a mark taken at
    /// once has every replica's counters to start from); its refresh runs in the background
    /// while it lives.
    pub(crate) async fn start(plane: Arc<ControlPlane>) -> Arc<Self> {
        let me = Arc::new(Self {
            plane,
            seen: Mutex::new(BTreeMap::new()),
        });
        me.refresh().await;
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PERIOD).await;
                let Some(me) = weak.upgrade() else { break };
                me.refresh().await;
            }
        });
        me
    }

    /// Reads every service's publications and takes in what is new.
    async fn refresh(&self) {
        for state in self.plane.services().await {
            let service = state.spec.name;
            let rows = match self.plane.fleet_windows(&service).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::debug!(error = %e, "fleet windows not read");
                    return;
                }
            };
            let at = crate::store::now_ms().max(0) as u64;
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            for (replica, version, doc) in rows {
                let Ok(published) = serde_json::from_str::<Published>(&doc) else {
                    continue;
                };
                take_in(
                    seen.entry((service.clone(), version)).or_default(),
                    replica,
                    published,
                    at,
                );
            }
        }
    }

    fn with_seen<T>(&self, service: &str, version: &str, f: impl FnOnce(Option<&Seen>) -> T) -> T {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        f(seen.get(&(service.to_owned(), version.to_owned())))
    }
}

/// Keeps a replica's newest publication, and its latencies the first time they are seen.
fn take_in(seen: &mut Seen, replica: String, published: Published, at_ms: u64) {
    let fresh = seen
        .latest
        .get(&replica)
        .is_none_or(|old| old.incarnation != published.incarnation || old.seq < published.seq);
    if !fresh {
        return;
    }
    for ms in &published.latency_ms {
        if seen.latencies.len() == SAMPLES {
            seen.latencies.pop_front();
        }
        seen.latencies.push_back((at_ms, *ms));
    }
    seen.latest.insert(replica, published);
}

/// Each replica's counters now.
fn baseline(seen: Option<&Seen>) -> Baseline {
    seen.map(|s| {
        s.latest
            .iter()
            .map(|(r, p)| (r.clone(), (p.incarnation.clone(), p.totals.clone())))
            .collect()
    })
    .unwrap_or_default()
}

/// The fleet's window since `base`: each replica's counters minus its baseline (zero for a
/// replica, or an incarnation, that appeared since), summed.
fn fleet_window(seen: Option<&Seen>, base: &Baseline, since_ms: u64) -> VersionWindow {
    let Some(seen) = seen else {
        return VersionWindow::default();
    };
    let zero = Totals::default();
    let mut sum: Option<VersionWindow> = None;
    for (replica, p) in &seen.latest {
        let start = match base.get(replica) {
            Some((incarnation, t)) if *incarnation == p.incarnation => t,
            _ => &zero,
        };
        let part = difference(&p.totals, start);
        sum = Some(match sum {
            Some(s) => s.plus(&part),
            None => part,
        });
    }
    let mut w = sum.unwrap_or_default();
    let samples = seen
        .latencies
        .iter()
        .filter(|(at, _)| *at >= since_ms)
        .map(|(_, ms)| *ms)
        .collect();
    w.latency = LatencySummary::from_samples(samples);
    w.warmup = Warmup {
        warm: true,
        warmup_requests: 0,
    };
    w
}

#[async_trait::async_trait]
impl MetricSource for FleetSource {
    fn mark(&self, service: &str, version: &str) -> Mark {
        Mark {
            fleet: Some(self.with_seen(service, version, baseline)),
            ..Mark::now()
        }
    }

    async fn window(&self, service: &str, version: &str, since: &Mark) -> VersionWindow {
        let empty = Baseline::new();
        let base = since.fleet.as_ref().unwrap_or(&empty);
        self.with_seen(service, version, |seen| {
            fleet_window(seen, base, since.at_ms)
        })
    }
}

#[cfg(test)]
mod tests;
