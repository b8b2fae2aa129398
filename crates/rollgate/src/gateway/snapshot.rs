//! The routing state the data plane reads: an immutable [`Snapshot`] of every service, its
//! route table and its loaded backends, swapped whole (lock-free) when anything changes.

use crate::backend::{builtin, http::HttpBackend, onnx::OnnxBackend, Backend};
use crate::telemetry::{Recorder, VersionKey, VersionStats};
use rollgate_core::config::{Config, OutputSpec, ServiceSpec, VersionSource, VersionSpec};
use rollgate_core::route::RouteTable;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a version could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// The model file could not be read.
    #[error("services.{service}.versions.{version}.onnx: cannot read `{path}`: {source}")]
    Read {
        service: String,
        version: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// `builtin:NAME` names no bundled model.
    #[error(
        "services.{service}.versions.{version}.onnx: no bundled model `{name}` (bundled: {known})"
    )]
    UnknownBuiltin {
        service: String,
        version: String,
        name: String,
        known: String,
    },
    /// The model file is not one Rollgate can serve.
    #[error("services.{service}.versions.{version}.onnx: `{path}`: {source}")]
    Model {
        service: String,
        version: String,
        path: String,
        source: crate::backend::onnx::LoadError,
    },
}

/// One version, ready to serve.
#[derive(Debug)]
pub(crate) struct VersionRuntime {
    pub(crate) name: String,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) stats: Arc<VersionStats>,
    /// Upstream path for v1 predict requests (HTTP versions), `None` keeps the incoming path.
    pub(crate) predict_path: Option<String>,
    /// Upstream path for v2 infer requests (HTTP versions), `None` keeps the incoming path.
    pub(crate) infer_path: Option<String>,
}

/// One service, ready to serve.
#[derive(Debug)]
pub(crate) struct ServiceRuntime {
    pub(crate) name: String,
    pub(crate) input_width: usize,
    pub(crate) output: OutputSpec,
    pub(crate) route: RouteTable,
    /// Indexed like `route.versions()`.
    pub(crate) versions: Vec<VersionRuntime>,
}

impl ServiceRuntime {
    /// The version a route index points at.
    pub(crate) fn version(&self, idx: rollgate_core::route::VersionIdx) -> &VersionRuntime {
        &self.versions[idx.0 as usize]
    }

    /// Ready when the stable version can take requests.
    pub(crate) fn ready(&self) -> bool {
        self.version(self.route.stable()).backend.ready()
    }
}

/// Every service, by name.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) services: HashMap<String, Arc<ServiceRuntime>>,
}

impl Snapshot {
    /// Loads every version of every service. Model files are read relative to `base`.
    pub(crate) fn build(
        config: &Config,
        base: &Path,
        recorder: &Recorder,
    ) -> Result<Self, LoadError> {
        let mut services = HashMap::new();
        for spec in &config.services {
            let svc = load_service(spec, base, recorder)?;
            services.insert(spec.name.clone(), Arc::new(svc));
        }
        Ok(Self { services })
    }

    /// Names of all services, sorted, for error messages.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.services.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

fn load_service(
    spec: &ServiceSpec,
    base: &Path,
    recorder: &Recorder,
) -> Result<ServiceRuntime, LoadError> {
    let versions = spec
        .versions
        .iter()
        .map(|v| load_version(spec, v, base, recorder))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServiceRuntime {
        name: spec.name.clone(),
        input_width: spec.input_width,
        output: spec.output.clone(),
        route: spec.route.clone(),
        versions,
    })
}

fn load_version(
    svc: &ServiceSpec,
    v: &VersionSpec,
    base: &Path,
    recorder: &Recorder,
) -> Result<VersionRuntime, LoadError> {
    let key = VersionKey {
        service: svc.name.clone(),
        version: v.name.clone(),
    };
    let stats = recorder.stats(key, svc.output.range);
    let (backend, predict_path, infer_path): (Arc<dyn Backend>, _, _) = match &v.source {
        VersionSource::Onnx { path } => (Arc::new(load_onnx(svc, v, path, base)?), None, None),
        VersionSource::Http(spec) => (
            Arc::new(HttpBackend::new(spec)),
            spec.predict_path.clone(),
            spec.infer_path.clone(),
        ),
    };
    Ok(VersionRuntime {
        name: v.name.clone(),
        backend,
        stats,
        predict_path,
        infer_path,
    })
}

fn load_onnx(
    svc: &ServiceSpec,
    v: &VersionSpec,
    path: &str,
    base: &Path,
) -> Result<OnnxBackend, LoadError> {
    let bytes = model_bytes(svc, v, path, base)?;
    OnnxBackend::load(&bytes, svc.input_width).map_err(|source| LoadError::Model {
        service: svc.name.clone(),
        version: v.name.clone(),
        path: path.to_owned(),
        source,
    })
}

fn model_bytes(
    svc: &ServiceSpec,
    v: &VersionSpec,
    path: &str,
    base: &Path,
) -> Result<Vec<u8>, LoadError> {
    if let Some(name) = path.strip_prefix(builtin::PREFIX) {
        return builtin::get(name)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| LoadError::UnknownBuiltin {
                service: svc.name.clone(),
                version: v.name.clone(),
                name: name.to_owned(),
                known: builtin::names().join(", "),
            });
    }
    let full = base.join(path);
    std::fs::read(&full).map_err(|source| LoadError::Read {
        service: svc.name.clone(),
        version: v.name.clone(),
        path: full,
        source,
    })
}
