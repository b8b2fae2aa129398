//! The real [`Fleet`]: readiness probes over HTTP, instance sets swapped in the live HTTP
//! backends and weights changed, both through the control plane.

use super::batch::{Fleet, FleetError, ProbeError};
use crate::control::plane::{ControlError, ControlPlane};
use crate::controller::route;
use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rollgate_core::catalog::Change;
use rollgate_core::config::VersionSource;
use rollgate_core::rollout::{Serving, Weights};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Time between two readiness probes of one instance.
const PROBE_EVERY: Duration = Duration::from_millis(200);
/// Tries of a route change the store failed to commit.
const STORE_ATTEMPTS: u32 = 4;

/// One service's stable (old instances) and candidate (new instances).
#[derive(Debug)]
pub(crate) struct LiveFleet {
    plane: Arc<ControlPlane>,
    service: String,
    stable: String,
    candidate: String,
    old: Vec<String>,
    new: Vec<String>,
    /// The set last put in place by this fleet; `None` until the first.
    last: Mutex<Option<Serving>>,
    http: Client<HttpConnector, Empty<Bytes>>,
}

impl LiveFleet {
    pub(crate) fn new(
        plane: Arc<ControlPlane>,
        service: &str,
        (stable, candidate): (&str, &str),
        (old, new): (Vec<String>, Vec<String>),
    ) -> Self {
        Self {
            plane,
            service: service.to_owned(),
            stable: stable.to_owned(),
            candidate: candidate.to_owned(),
            old,
            new,
            last: Mutex::new(None),
            http: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    /// The configured old and new instances.
    pub(crate) fn urls(&self) -> (&[String], &[String]) {
        (&self.old, &self.new)
    }

    /// Sets the instances `version` serves from, through the control plane.
    async fn set(&self, version: &str, urls: &[String]) -> Result<(), FleetError> {
        Ok(self
            .plane
            .set_instances(&self.service, version, urls)
            .await?)
    }

    async fn set_lists(&self, retired: u32, admitted: u32) -> Result<(), FleetError> {
        let from = (retired as usize).min(self.old.len());
        let to = (admitted as usize).min(self.new.len());
        self.set(&self.stable, &self.old[from..]).await?;
        self.set(&self.candidate, &self.new[..to]).await
    }

    /// Routes `bps` to the candidate, unless the route already does.
    async fn weigh(&self, bps: u32) -> Result<(), FleetError> {
        let state = self
            .plane
            .service(&self.service)
            .await
            .map_err(FleetError::Route)?;
        let r = &state.spec.route;
        let current = r.index_of(&self.candidate).map(|i| r.weight(i));
        if current == Some(bps) {
            return Ok(());
        }
        let spec = route::with_weights(
            r.to_spec(),
            &Weights::Candidate(bps),
            &self.stable,
            &self.candidate,
        );
        let mut attempt = 1;
        loop {
            let change = Change::SetRoute(spec.clone());
            match self.plane.change_by_controller(&self.service, change).await {
                Ok(_) => return Ok(()),
                // Nothing was applied: a busy or slow database is worth another try.
                Err(ControlError::Store(e)) if attempt < STORE_ATTEMPTS => {
                    tracing::warn!(service = %self.service, error = %e, attempt, "route change not stored; retrying");
                    tokio::time::sleep(PROBE_EVERY * attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(FleetError::Route(e)),
            }
        }
    }

    async fn probe_once(&self, url: &str, within: Duration) -> Result<(), ProbeError> {
        let req = http::Request::get(url)
            .body(Empty::new())
            .map_err(|_| ProbeError::BadUrl(url.to_owned()))?;
        match tokio::time::timeout(within, self.http.request(req)).await {
            Err(_) => Err(ProbeError::Timeout),
            Ok(Err(e)) => Err(ProbeError::Connect(connect_error(&e))),
            Ok(Ok(resp)) if resp.status().is_success() => Ok(()),
            Ok(Ok(resp)) => Err(ProbeError::Status(resp.status())),
        }
    }
}

#[async_trait]
impl Fleet for LiveFleet {
    async fn probe(&self, url: &str, path: &str, timeout: Duration) -> Result<(), FleetError> {
        let target = format!("{}{path}", url.trim_end_matches('/'));
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let last = match self.probe_once(&target, left.max(PROBE_EVERY)).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() + PROBE_EVERY >= deadline {
                return Err(FleetError::NotReady {
                    path: path.to_owned(),
                    last,
                    timeout_ms: timeout.as_millis(),
                });
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// Instances are added before the weights move and removed after, so no version with a
    /// share of traffic is ever left without the instances it needs. The first set of a batch
    /// moves the weights first: the backends then hold their configured (full) lists or the
    /// previous batch's, which contain it.
    async fn serve(&self, at: Serving) -> Result<(), FleetError> {
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(prev) = last {
            self.set_lists(prev.retired.min(at.retired), prev.admitted.max(at.admitted))
                .await?;
        }
        self.weigh(at.candidate_bps(self.old.len() as u32)).await?;
        self.set_lists(at.retired, at.admitted).await?;
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(at);
        Ok(())
    }
}

/// A version a rolling update cannot replace the instances of.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotHttp {
    #[error("version `{0}` is not an HTTP upstream (rolling updates replace upstream instances)")]
    Kind(String),
    #[error("no version `{0}`")]
    Missing(String),
}

/// The configured instances of an HTTP version, or why it has none.
pub(crate) fn instances_of(
    versions: &[rollgate_core::config::VersionSpec],
    name: &str,
) -> Result<Vec<String>, NotHttp> {
    match versions.iter().find(|v| v.name == name).map(|v| &v.source) {
        Some(VersionSource::Http(h)) => Ok(h.instances.clone()),
        Some(_) => Err(NotHttp::Kind(name.to_owned())),
        None => Err(NotHttp::Missing(name.to_owned())),
    }
}

/// The error chain of a failed connection in one line (hyper's own message is terse).
fn connect_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Puts both versions back on their configured instances and all traffic on stable: a rolling
/// update undone. The stable's full list is in place before the weights move back to it.
pub(crate) async fn restore(fleet: &LiveFleet) -> Result<(), FleetError> {
    fleet.set(&fleet.stable, &fleet.old).await?;
    fleet.weigh(0).await?;
    fleet.set(&fleet.candidate, &fleet.new).await
}

/// Puts `version` back on its configured instances (the old version after a promotion, so a
/// later rollback to it finds them).
pub(crate) async fn reset(fleet: &LiveFleet, version: &str) -> Result<(), FleetError> {
    let urls = if version == fleet.stable {
        &fleet.old
    } else {
        &fleet.new
    };
    fleet.set(version, urls).await
}
