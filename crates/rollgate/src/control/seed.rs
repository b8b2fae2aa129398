//! The YAML config and the store, reconciled at start.
//!
//! A fresh store is seeded from the config. On later starts the store is the truth, because
//! operators change routes through the API: a service the store lacks is added, a version the
//! store lacks is registered at 0%, and any difference in a route table or in a version of the
//! same name is logged and recorded as an event, the stored one kept (versions are immutable).
//! Model files named by path are stored as content-addressed blobs first, so the store holds
//! everything needed to serve.

use super::loader::SHA_PREFIX;
use crate::backend::builtin;
use crate::store::{NewEvent, Store, StoreError, StoredService};
use rollgate_core::catalog::{apply, Change, ServiceState};
use rollgate_core::config::{service_file, ServiceSpec, VersionSource};
use serde_json::json;
use std::path::Path;

/// Why the config could not be reconciled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SeedError {
    #[error("services.{0}.versions.{1}.onnx: cannot read `{2}`: {3}")]
    Read(String, String, String, std::io::Error),
    #[error("services.{0}.versions.{1}.onnx: no bundled model `{2}` (bundled: {3})")]
    UnknownBuiltin(String, String, String, String),
    #[error("services.{0}.versions.{1}.onnx: `{2}`: {3}")]
    Model(String, String, String, crate::backend::onnx::LoadError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

const ACTOR: &str = "config";

/// Replaces model paths (`models/x.onnx`, `builtin:x`) by `sha256:` references to stored blobs.
pub(crate) async fn store_models(
    spec: &mut ServiceSpec,
    base: &Path,
    store: &dyn Store,
) -> Result<(), SeedError> {
    for v in &mut spec.versions {
        let VersionSource::Onnx { path } = &mut v.source else {
            continue;
        };
        if path.starts_with(SHA_PREFIX) {
            continue;
        }
        let bytes = read_model(&spec.name, &v.name, path, base)?;
        // Checked before it is stored: a model that cannot serve must never reach the store,
        // where an immutable version would keep a fixed config from starting.
        super::loader::load_onnx(bytes.clone(), spec.input_width)
            .await
            .map_err(|e| SeedError::Model(spec.name.clone(), v.name.clone(), path.clone(), e))?;
        let info = store.put_blob(&bytes).await?;
        *path = format!("{SHA_PREFIX}{}", info.sha256);
    }
    Ok(())
}

fn read_model(service: &str, version: &str, path: &str, base: &Path) -> Result<Vec<u8>, SeedError> {
    if let Some(name) = path.strip_prefix(builtin::PREFIX) {
        return builtin::get(name).map(<[u8]>::to_vec).ok_or_else(|| {
            SeedError::UnknownBuiltin(
                service.into(),
                version.into(),
                name.into(),
                builtin::names().join(", "),
            )
        });
    }
    let full = base.join(path);
    std::fs::read(&full).map_err(|e| {
        SeedError::Read(
            service.into(),
            version.into(),
            full.display().to_string(),
            e,
        )
    })
}

/// Reconciles one configured service (models already stored) with its stored state.
pub(crate) async fn reconcile(
    config: ServiceSpec,
    stored: Option<&ServiceState>,
    store: &dyn Store,
) -> Result<(), SeedError> {
    let Some(stored) = stored else {
        let state = ServiceState {
            spec: config,
            previous: None,
            revision: 1,
        };
        let event = event(
            &state.spec.name,
            "service_seeded",
            json!(service_file(&state.spec)),
        );
        store.commit(None, &to_stored(&state), &event, None).await?;
        return Ok(());
    };
    let mut state = stored.clone();
    for v in &config.versions {
        match state.spec.versions.iter().find(|s| s.name == v.name) {
            None => state = add(&state, v.clone(), store).await?,
            Some(existing) if existing.source != v.source => {
                tracing::warn!(service = %config.name, version = %v.name, "config differs from the stored version; versions are immutable, keeping the stored one");
                store
                    .record(
                        &event(
                            &config.name,
                            "config_version_ignored",
                            json!({"version": v.name}),
                        ),
                        None,
                    )
                    .await?;
            }
            Some(_) => {}
        }
    }
    if config.route != state.spec.route {
        tracing::warn!(service = %config.name, stored = %state.spec.route, config = %config.route, "config route differs from the stored one; keeping the stored route (change it through the control API)");
    }
    Ok(())
}

async fn add(
    state: &ServiceState,
    v: rollgate_core::config::VersionSpec,
    store: &dyn Store,
) -> Result<ServiceState, SeedError> {
    let name = v.name.clone();
    let Ok(next) = apply(state, &Change::AddVersion(v)) else {
        return Ok(state.clone());
    };
    let e = event(&state.spec.name, "version_added", json!({"version": name}));
    store
        .commit(Some(state.revision), &to_stored(&next), &e, None)
        .await?;
    tracing::info!(service = %state.spec.name, version = %name, "version from config registered at 0%");
    Ok(next)
}

fn event(service: &str, kind: &str, after: serde_json::Value) -> NewEvent {
    NewEvent {
        actor: ACTOR.into(),
        service: Some(service.into()),
        kind: kind.into(),
        before: None,
        after: Some(after),
        detail: None,
    }
}

/// The stored form of a state.
pub(crate) fn to_stored(state: &ServiceState) -> StoredService {
    StoredService {
        name: state.spec.name.clone(),
        doc: service_file(&state.spec),
        previous: state.previous.clone(),
        revision: state.revision,
    }
}
