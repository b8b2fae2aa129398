//! The control plane: the one place that changes what serves and what is stored.
//!
//! A change is computed by the pure catalog (`rollgate_core::catalog::apply`), its new backends
//! are loaded and warmed aside, the new snapshot is assembled aside, the change is committed to
//! the store with its event, and only then is the snapshot swapped into the gateway. A failure
//! at any step leaves the service as it was; a crash between commit and swap is harmless
//! because start-up rebuilds from the store.
//!
//! Nothing else writes: the rollout controller stores its rollouts and notes through
//! [`ControlPlane::save_rollout`] and [`ControlPlane::note`] (fenced by the controller lease on
//! a shared store), a rolling update swaps instance sets through
//! [`ControlPlane::set_instances`], and a replica of a shared store adopts the others' changes
//! through [`ControlPlane::catch_up`], takes the lease, publishes its counters and relays
//! requests through the plane too. The gateway and the recorder are handed out once, at boot,
//! to what serves them.

use super::loader::{self, LoadError, SHA_PREFIX};
use super::seed::{self, to_stored, SeedError};
use crate::backend::Backend;
use crate::gateway::snapshot::{Backends, Snapshot};
use crate::gateway::Gateway;
use crate::store::{BlobInfo, Event, EventQuery, Fence, NewEvent, Store, StoreError};
use crate::telemetry::{Recorder, VersionKey, VersionStats};
use rollgate_core::catalog::{apply, Change, ChangeError, ServiceState};
use rollgate_core::config::{
    service_file, service_from_file, ConfigError, ServiceSpec, VersionSource,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Why a control request failed; the API maps each to a status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    #[error("no service `{0}`")]
    UnknownService(String),
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error("service `{service}` is at revision {current}, the request was made at revision {expected}: reload and retry")]
    Conflict {
        service: String,
        expected: u64,
        current: u64,
    },
    #[error("the model is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("the model cannot be served: {0}")]
    BadModel(String),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Store(StoreError),
    #[error("the change cannot be served: {0}")]
    Assemble(#[from] crate::gateway::snapshot::NotLoaded),
    /// Another replica changed the service first and this one cannot load that state yet.
    #[error("this replica cannot catch up with a change made on another replica yet: {0}")]
    Behind(Box<BootError>),
}

impl From<StoreError> for ControlError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict {
                service,
                expected,
                current,
            } => ControlError::Conflict {
                service,
                expected,
                current,
            },
            other => ControlError::Store(other),
        }
    }
}

/// Why the gateway could not start from its config and store, or could not adopt what other
/// replicas stored (a catch-up).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BootError {
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("stored service `{0}`: {1}")]
    Stored(String, ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Assemble(#[from] crate::gateway::snapshot::NotLoaded),
}

#[derive(Debug)]
struct Catalog {
    states: BTreeMap<String, ServiceState>,
    backends: Backends,
}

/// Owns the control state; serialises changes.
#[derive(Debug)]
pub(crate) struct ControlPlane {
    store: Arc<dyn Store>,
    gateway: Arc<Gateway>,
    recorder: Arc<Recorder>,
    catalog: Mutex<Catalog>,
    staged: loader::Staged,
    max_model_bytes: usize,
    /// The controller lease this replica holds or last held: the rollout controller's writes
    /// carry it, so they are refused once another replica has taken over. `None` on the
    /// embedded store, whose one process is always the controller.
    fence: arc_swap::ArcSwapOption<Fence>,
}

/// A booted plane with the data plane it drives and the statistics it records into: the
/// server hands the gateway to the data port and the recorder to the metric source, once.
pub(crate) struct Booted {
    pub(crate) plane: Arc<ControlPlane>,
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) recorder: Arc<Recorder>,
}

/// Why a rolling update's instance set could not be put in place.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InstancesError {
    #[error("no version `{version}` of service `{service}` is loaded")]
    NotLoaded { service: String, version: String },
    #[error("version `{0}` is not an HTTP upstream: it has no instances to replace")]
    NotHttp(String),
}

/// What the plane is started with.
pub(crate) struct Boot<'a> {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Vec<ServiceSpec>,
    pub(crate) base: &'a Path,
    pub(crate) max_body: usize,
    pub(crate) max_model_bytes: usize,
    /// Where answers wait for their feedback.
    pub(crate) ledger: Arc<crate::feedback::Ledger>,
}

impl ControlPlane {
    /// Reconciles the config with the store, loads every version and builds the gateway.
    pub(crate) async fn boot(boot: Boot<'_>) -> Result<Booted, BootError> {
        let store = boot.store;
        for mut spec in boot.config {
            seed::store_models(&mut spec, boot.base, store.as_ref()).await?;
            seed_one(spec, store.as_ref()).await?;
        }
        let states = load_states(store.as_ref()).await?;
        let mut backends = Backends::new();
        loader::sync(
            &states.values().collect::<Vec<_>>(),
            &mut backends,
            store.as_ref(),
            &loader::Staged::default(),
        )
        .await?;
        let recorder = Arc::new(Recorder::default());
        let snapshot = Snapshot::assemble(states.values(), &backends, &recorder)?;
        let gateway = Arc::new(Gateway::new(
            snapshot,
            Arc::clone(&recorder),
            boot.max_body,
            boot.ledger,
        ));
        let plane = Arc::new(Self {
            store,
            gateway: Arc::clone(&gateway),
            recorder: Arc::clone(&recorder),
            catalog: Mutex::new(Catalog { states, backends }),
            staged: loader::Staged::default(),
            max_model_bytes: boot.max_model_bytes,
            fence: arc_swap::ArcSwapOption::empty(),
        });
        Ok(Booted {
            plane,
            gateway,
            recorder,
        })
    }

    /// A version's statistics (read-only), if the version serves.
    pub(crate) fn stats(&self, service: &str, version: &str) -> Option<Arc<VersionStats>> {
        self.recorder.find(&VersionKey {
            service: service.to_owned(),
            version: version.to_owned(),
        })
    }

    /// Sends one smoke request to a version of the live snapshot: its answer and latency.
    pub(crate) async fn smoke(
        &self,
        service: &str,
        version: &str,
        body: &str,
    ) -> Result<(serde_json::Value, std::time::Duration), crate::gateway::smoke::SmokeError> {
        self.gateway.smoke(service, version, body).await
    }

    /// The stored rollouts, by service, as the controller last saved them.
    pub(crate) async fn stored_rollouts(
        &self,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        self.store.rollouts().await
    }

    /// Takes or renews the controller lease for `replica`; when it is held, the controller's
    /// writes from now on carry it.
    pub(crate) async fn take_lease(
        &self,
        replica: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Fence>, StoreError> {
        let fence = self.store.acquire_lease(replica, ttl).await?;
        if let Some(f) = &fence {
            self.fence.store(Some(Arc::new(f.clone())));
        }
        Ok(fence)
    }

    /// Publishes this replica's per-version counters for the controller's fleet windows.
    pub(crate) async fn publish_windows(
        &self,
        replica: &str,
        windows: &[(String, String, String)],
    ) -> Result<(), StoreError> {
        self.store.publish_windows(replica, windows).await
    }

    /// Every replica's last published counters for a service's versions.
    pub(crate) async fn fleet_windows(
        &self,
        service: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.store.fleet_windows(service).await
    }

    /// Holds a request for the other replicas (see `relay`).
    pub(crate) async fn relay_put(
        &self,
        kind: &str,
        from: &str,
        body: &str,
    ) -> Result<i64, StoreError> {
        self.store.relay_put(kind, from, body).await
    }

    /// The answer to a relayed request, once a replica took it.
    pub(crate) async fn relay_answer(&self, id: i64) -> Result<Option<(u16, String)>, StoreError> {
        self.store.relay_answer(id).await
    }

    /// Relayed requests of a kind not answered yet.
    pub(crate) async fn relay_pending(
        &self,
        kind: &str,
        max_age: std::time::Duration,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        self.store.relay_pending(kind, max_age).await
    }

    /// Answers a relayed request.
    pub(crate) async fn relay_reply(
        &self,
        id: i64,
        status: u16,
        answer: &str,
    ) -> Result<(), StoreError> {
        self.store.relay_reply(id, status, answer).await
    }

    /// Gives the controller lease up (shutting down), so another replica takes over at once.
    pub(crate) async fn release_lease(&self, replica: &str) -> Result<(), StoreError> {
        self.store.release_lease(replica).await
    }

    /// Stores a service's rollout document, with its event when something happened (a
    /// controller write: fenced).
    pub(crate) async fn save_rollout(
        &self,
        service: &str,
        doc: &serde_json::Value,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError> {
        let fence = self.fence.load_full();
        self.store
            .save_rollout(service, doc, event, fence.as_deref())
            .await
    }

    /// Writes a note to the event log.
    pub(crate) async fn note(
        &self,
        service: &str,
        actor: &str,
        text: &str,
    ) -> Result<(), StoreError> {
        let event = NewEvent {
            actor: actor.to_owned(),
            service: Some(service.to_owned()),
            kind: "rollout_note".into(),
            before: None,
            after: None,
            detail: Some(json!({ "note": text })),
        };
        let fence = self.fence.load_full();
        self.store
            .record(&event, fence.as_deref())
            .await
            .map(|_| ())
    }

    /// Puts a rolling update's instance set in place in a live HTTP version, serialised with
    /// every other change. Not stored: the rollout's stored progress implies it, and a restart
    /// puts it back before the data port opens.
    pub(crate) async fn set_instances(
        &self,
        service: &str,
        version: &str,
        urls: &[String],
    ) -> Result<(), InstancesError> {
        let catalog = self.catalog.lock().await;
        let key = (service.to_owned(), version.to_owned());
        let backend = catalog
            .backends
            .get(&key)
            .ok_or_else(|| InstancesError::NotLoaded {
                service: key.0.clone(),
                version: key.1.clone(),
            })?;
        match backend.as_ref() {
            Backend::Http(http) => {
                http.set_instances(urls);
                Ok(())
            }
            Backend::Onnx(_) => Err(InstancesError::NotHttp(version.to_owned())),
        }
    }

    /// Every service's state.
    pub(crate) async fn services(&self) -> Vec<ServiceState> {
        self.catalog.lock().await.states.values().cloned().collect()
    }

    /// One service's state.
    pub(crate) async fn service(&self, name: &str) -> Result<ServiceState, ControlError> {
        let catalog = self.catalog.lock().await;
        catalog
            .states
            .get(name)
            .cloned()
            .ok_or_else(|| ControlError::UnknownService(name.to_owned()))
    }

    /// Applies a change: compute, load aside, commit with its event, then swap.
    pub(crate) async fn change(
        &self,
        service: &str,
        expected: Option<u64>,
        change: Change,
        actor: &str,
    ) -> Result<ServiceState, ControlError> {
        self.apply_fresh(service, expected, change, actor, None)
            .await
    }

    /// Applies a change; when it was asked for without a revision and lost to a change
    /// another replica made first (this replica has not caught up yet), catches up and
    /// applies it once more on the newer state.
    async fn apply_fresh(
        &self,
        service: &str,
        expected: Option<u64>,
        change: Change,
        actor: &str,
        fence: Option<&Fence>,
    ) -> Result<ServiceState, ControlError> {
        let first = self
            .apply(service, expected, change.clone(), actor, fence)
            .await;
        match first {
            Err(ControlError::Conflict { .. }) if expected.is_none() => {
                self.catch_up().await.map_err(|e| match e {
                    BootError::Store(s) => ControlError::Store(s),
                    other => ControlError::Behind(Box::new(other)),
                })?;
                self.apply(service, None, change, actor, fence).await
            }
            other => other,
        }
    }

    /// A change the rollout controller makes: fenced by its lease, so a replica that lost
    /// the lease cannot change a route behind the new controller's back.
    pub(crate) async fn change_by_controller(
        &self,
        service: &str,
        change: Change,
    ) -> Result<ServiceState, ControlError> {
        let fence = self.fence.load_full();
        self.apply_fresh(service, None, change, "rollout", fence.as_deref())
            .await
    }

    async fn apply(
        &self,
        service: &str,
        expected: Option<u64>,
        change: Change,
        actor: &str,
        fence: Option<&Fence>,
    ) -> Result<ServiceState, ControlError> {
        let mut catalog = self.catalog.lock().await;
        let current = catalog
            .states
            .get(service)
            .ok_or_else(|| ControlError::UnknownService(service.to_owned()))?;
        if let Some(expected) = expected.filter(|e| *e != current.revision) {
            return Err(ControlError::Conflict {
                service: service.to_owned(),
                expected,
                current: current.revision,
            });
        }
        let next = apply(current, &change)?;
        let mut backends = catalog.backends.clone();
        let mut states: Vec<&ServiceState> = catalog
            .states
            .values()
            .filter(|s| s.spec.name != service)
            .collect();
        states.push(&next);
        loader::sync(&states, &mut backends, self.store.as_ref(), &self.staged).await?;
        // Assembled before the commit: a change whose snapshot cannot be built is refused with
        // nothing stored, rather than stored and then not served.
        let others = catalog.states.values().filter(|s| s.spec.name != service);
        let snapshot = Snapshot::assemble(others.chain([&next]), &backends, &self.recorder)?;
        let event = NewEvent {
            actor: actor.to_owned(),
            service: Some(service.to_owned()),
            kind: change.kind().to_owned(),
            before: Some(
                json!({"revision": current.revision, "service": service_file(&current.spec)}),
            ),
            after: Some(json!({"revision": next.revision, "service": service_file(&next.spec)})),
            detail: None,
        };
        self.store
            .commit(Some(current.revision), &to_stored(&next), &event, fence)
            .await?;
        catalog.states.insert(service.to_owned(), next.clone());
        catalog.backends = backends;
        self.gateway.swap(snapshot);
        tracing::info!(service, change = change.kind(), revision = next.revision, route = %next.spec.route, actor, "change applied");
        Ok(next)
    }

    /// Adopts what other replicas committed to the shared store: every stored service at a
    /// newer revision than here (or new here) has its new versions loaded (blobs from the
    /// store) and is swapped in together; nothing is written. Until every new version has
    /// loaded, this replica keeps serving what it had, so a route naming a version it cannot
    /// serve yet is never applied here. Returns the services adopted, with their revisions.
    pub(crate) async fn catch_up(&self) -> Result<Vec<(String, u64)>, BootError> {
        let stored = load_states(self.store.as_ref()).await?;
        let mut catalog = self.catalog.lock().await;
        let newer: Vec<ServiceState> = stored
            .into_values()
            .filter(|s| {
                catalog
                    .states
                    .get(&s.spec.name)
                    .is_none_or(|here| here.revision < s.revision)
            })
            .collect();
        if newer.is_empty() {
            return Ok(Vec::new());
        }
        let mut states = catalog.states.clone();
        let adopted = newer
            .iter()
            .map(|s| (s.spec.name.clone(), s.revision))
            .collect();
        for state in newer {
            states.insert(state.spec.name.clone(), state);
        }
        let mut backends = catalog.backends.clone();
        let all: Vec<&ServiceState> = states.values().collect();
        loader::sync(&all, &mut backends, self.store.as_ref(), &self.staged).await?;
        let snapshot = Snapshot::assemble(states.values(), &backends, &self.recorder)?;
        catalog.states = states;
        catalog.backends = backends;
        self.gateway.swap(snapshot);
        Ok(adopted)
    }

    /// Checks and stores an uploaded model for a service: size, then a real load with the
    /// service's input width. Returns the version source that references it.
    pub(crate) async fn store_model(
        &self,
        service: &str,
        bytes: Vec<u8>,
    ) -> Result<(VersionSource, BlobInfo), ControlError> {
        if bytes.len() > self.max_model_bytes {
            return Err(ControlError::TooLarge {
                size: bytes.len(),
                limit: self.max_model_bytes,
            });
        }
        let width = self.service(service).await?.spec.input_width;
        let model = loader::load_onnx(bytes.clone(), width)
            .await
            .map_err(|e| ControlError::BadModel(e.to_string()))?;
        let info = self.store.put_blob(&bytes).await?;
        self.staged
            .put(&info.sha256, Arc::new(Backend::Onnx(Arc::new(model))));
        let source = VersionSource::Onnx {
            path: format!("{SHA_PREFIX}{}", info.sha256),
        };
        Ok((source, info))
    }

    /// A page of the event log.
    pub(crate) async fn events(&self, query: &EventQuery) -> Result<Vec<Event>, ControlError> {
        Ok(self.store.events(query).await?)
    }

    /// The largest model upload accepted.
    pub(crate) fn max_model_bytes(&self) -> usize {
        self.max_model_bytes
    }
}

/// A plane booted for a unit test: `yaml` served over `store`, small limits.
#[cfg(test)]
pub(crate) async fn boot_for_test(store: Arc<dyn Store>, yaml: &str) -> Booted {
    let config = rollgate_core::config::parse(yaml).expect("test config");
    ControlPlane::boot(Boot {
        store,
        config: config.services,
        base: Path::new("."),
        max_body: 1 << 20,
        max_model_bytes: 1 << 20,
        ledger: Arc::new(crate::feedback::Ledger::new(
            100,
            std::time::Duration::from_secs(60),
        )),
    })
    .await
    .expect("the plane boots")
}

/// Seeds one configured service, reading the store afresh: when replicas start together, the
/// one that loses the race to seed finds the service stored by another and reconciles with it.
async fn seed_one(spec: ServiceSpec, store: &dyn Store) -> Result<(), BootError> {
    const ATTEMPTS: usize = 3;
    for attempt in 1..=ATTEMPTS {
        let stored = load_states(store).await?;
        match seed::reconcile(spec.clone(), stored.get(&spec.name), store).await {
            Err(SeedError::Store(StoreError::Conflict { .. })) if attempt < ATTEMPTS => {
                tracing::info!(service = %spec.name, "another replica seeded it first; reconciling again");
            }
            other => return Ok(other?),
        }
    }
    unreachable!("the last attempt returns")
}

async fn load_states(store: &dyn Store) -> Result<BTreeMap<String, ServiceState>, BootError> {
    let mut states = BTreeMap::new();
    for s in store.services().await? {
        let spec =
            service_from_file(&s.name, s.doc).map_err(|e| BootError::Stored(s.name.clone(), e))?;
        states.insert(
            s.name,
            ServiceState {
                spec,
                previous: s.previous,
                revision: s.revision,
            },
        );
    }
    Ok(states)
}
