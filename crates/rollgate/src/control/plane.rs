//! The control plane: the one place that changes what serves.
//!
//! A change is computed by the pure catalog (`rollgate_core::catalog::apply`), its new backends
//! are loaded and warmed aside, it is committed to the store with its event, and only then is
//! the new snapshot swapped into the gateway. A failure at any step leaves the service as it
//! was; a crash between commit and swap is harmless because start-up rebuilds from the store.

use super::loader::{self, LoadError, SHA_PREFIX};
use super::seed::{self, to_stored, SeedError};
use crate::gateway::snapshot::{Backends, Snapshot};
use crate::gateway::Gateway;
use crate::store::{BlobInfo, Event, EventQuery, NewEvent, Store, StoreError};
use crate::telemetry::Recorder;
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

/// Why the gateway could not start from its config and store.
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
    pub(crate) async fn boot(boot: Boot<'_>) -> Result<Arc<Self>, BootError> {
        let store = boot.store;
        let stored = load_states(store.as_ref()).await?;
        for mut spec in boot.config {
            seed::store_models(&mut spec, boot.base, store.as_ref()).await?;
            let name = spec.name.clone();
            seed::reconcile(spec, stored.get(&name), store.as_ref()).await?;
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
        Ok(Arc::new(Self {
            store,
            gateway,
            recorder,
            catalog: Mutex::new(Catalog { states, backends }),
            staged: loader::Staged::default(),
            max_model_bytes: boot.max_model_bytes,
        }))
    }

    /// The data plane this control plane drives.
    pub(crate) fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// The durable store.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The per-version statistics.
    pub(crate) fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
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
            .commit(Some(current.revision), &to_stored(&next), &event)
            .await?;
        catalog.states.insert(service.to_owned(), next.clone());
        catalog.backends = backends;
        self.swap(&catalog);
        tracing::info!(service, change = change.kind(), revision = next.revision, route = %next.spec.route, actor, "change applied");
        Ok(next)
    }

    fn swap(&self, catalog: &Catalog) {
        match Snapshot::assemble(catalog.states.values(), &catalog.backends, &self.recorder) {
            Ok(snapshot) => self.gateway.swap(snapshot),
            Err(e) => tracing::error!(error = %e, "snapshot not swapped"),
        }
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
        self.staged.put(&info.sha256, Arc::new(model));
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
