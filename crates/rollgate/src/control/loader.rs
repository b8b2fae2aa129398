//! Turns versions into running backends: fetches model blobs from the store and optimises them
//! on the blocking pool, or builds HTTP upstream clients. Only versions not loaded yet are
//! loaded, so a route change costs no model load.

use crate::backend::{http::HttpBackend, onnx::OnnxBackend, Backend};
use crate::gateway::snapshot::Backends;
use crate::store::{Store, StoreError};
use rollgate_core::catalog::ServiceState;
use rollgate_core::config::{VersionSource, VersionSpec};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Models already loaded and checked at upload, by sha256, waiting for the change that
/// registers them: an upload is parsed and optimised once, not again when it is registered.
#[derive(Debug, Default)]
pub(crate) struct Staged(Mutex<HashMap<String, Arc<Backend>>>);

/// Uploads whose change never came (refused, conflicting) are forgotten past this many.
const MAX_STAGED: usize = 4;

impl Staged {
    /// Keeps a checked model for the change that will name it.
    pub(crate) fn put(&self, sha256: &str, backend: Arc<Backend>) {
        let mut staged = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if staged.len() >= MAX_STAGED {
            staged.clear();
        }
        staged.insert(sha256.to_owned(), backend);
    }

    fn take(&self, sha256: &str) -> Option<Arc<Backend>> {
        let mut staged = self.0.lock().unwrap_or_else(|p| p.into_inner());
        staged.remove(sha256)
    }
}

/// The prefix of a model reference into the store's content-addressed blobs.
pub(crate) const SHA_PREFIX: &str = "sha256:";

/// Why a version could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// The version names a model that is not a stored blob.
    #[error("services.{0}.versions.{1}: model reference `{2}` is not a stored model (sha256:...)")]
    Unresolved(String, String, String),
    /// The store failed or lacks the blob.
    #[error("services.{0}.versions.{1}: {2}")]
    Store(String, String, StoreError),
    /// tract cannot serve the model.
    #[error("services.{0}.versions.{1}: {2}")]
    Model(String, String, crate::backend::onnx::LoadError),
}

/// Loads every version of `states` missing from `backends`; drops backends of versions gone.
pub(crate) async fn sync(
    states: &[&ServiceState],
    backends: &mut Backends,
    store: &dyn Store,
    staged: &Staged,
) -> Result<(), LoadError> {
    let mut wanted = Vec::new();
    for state in states {
        for v in &state.spec.versions {
            let key = (state.spec.name.clone(), v.name.clone());
            if !backends.contains_key(&key) {
                let backend = load(state, v, store, staged).await?;
                backends.insert(key.clone(), backend);
            }
            wanted.push(key);
        }
    }
    backends.retain(|k, _| wanted.contains(k));
    Ok(())
}

async fn load(
    state: &ServiceState,
    v: &VersionSpec,
    store: &dyn Store,
    staged: &Staged,
) -> Result<Arc<Backend>, LoadError> {
    let svc = &state.spec.name;
    match &v.source {
        VersionSource::Http(spec) => Ok(Arc::new(Backend::Http(Arc::new(HttpBackend::new(spec))))),
        VersionSource::Onnx { path } => {
            let sha = path
                .strip_prefix(SHA_PREFIX)
                .ok_or_else(|| LoadError::Unresolved(svc.clone(), v.name.clone(), path.clone()))?;
            if let Some(ready) = staged.take(sha) {
                return Ok(ready);
            }
            let bytes = store
                .blob(sha)
                .await
                .map_err(|e| LoadError::Store(svc.clone(), v.name.clone(), e))?;
            let model = load_onnx(bytes, state.spec.input_width)
                .await
                .map_err(|e| LoadError::Model(svc.clone(), v.name.clone(), e))?;
            Ok(Arc::new(Backend::Onnx(Arc::new(model))))
        }
    }
}

/// Parses and optimises a model on the blocking pool (it is CPU work of milliseconds to seconds).
pub(crate) async fn load_onnx(
    bytes: Vec<u8>,
    width: usize,
) -> Result<OnnxBackend, crate::backend::onnx::LoadError> {
    tokio::task::spawn_blocking(move || OnnxBackend::load(&bytes, width))
        .await
        .unwrap_or_else(|e| {
            Err(crate::backend::onnx::LoadError::Unsupported(format!(
                "loader task failed: {e}"
            )))
        })
}
