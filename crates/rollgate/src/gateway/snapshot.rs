//! The routing state the data plane reads: an immutable [`Snapshot`] of every service, its
//! route table and its loaded backends, assembled aside and swapped whole (lock-free) when
//! anything changes. Requests in flight keep the snapshot they started with.

use crate::backend::Backend;
use crate::telemetry::{Recorder, VersionKey, VersionStats};
use rollgate_core::catalog::ServiceState;
use rollgate_core::config::{OutputSpec, VersionSource};
use rollgate_core::route::RouteTable;
use std::collections::HashMap;
use std::sync::Arc;

/// Loaded backends by `(service, version)`. Versions are immutable, so a backend loaded once
/// serves every later snapshot that still routes to its version.
pub(crate) type Backends = HashMap<(String, String), Arc<Backend>>;

/// One version, ready to serve.
#[derive(Debug)]
pub(crate) struct VersionRuntime {
    /// Shareable without an allocation (feedback records hold it).
    pub(crate) name: Arc<str>,
    /// `x-model-version` value, built once per snapshot rather than per answer.
    pub(crate) header: http::HeaderValue,
    pub(crate) backend: Arc<Backend>,
    pub(crate) stats: Arc<VersionStats>,
    /// Upstream path of v1 predict requests (HTTP versions).
    pub(crate) predict_path: UpstreamPath,
    /// Upstream path of v2 infer requests (HTTP versions).
    pub(crate) infer_path: UpstreamPath,
}

/// Where an HTTP version takes the requests of one protocol. Parsed once per snapshot, so
/// the usual request without a query gets a clone rather than a URI built and parsed.
#[derive(Debug, Clone)]
pub(crate) enum UpstreamPath {
    /// The incoming path, unchanged (no `predict_path`/`infer_path` configured).
    Incoming,
    /// The configured path.
    Mapped(http::Uri),
    /// A configured path that is no URI path: its requests are refused, naming it.
    Unparseable(String),
}

impl UpstreamPath {
    fn of(configured: Option<&String>) -> Self {
        match configured {
            None => UpstreamPath::Incoming,
            Some(p) => p.parse().map_or_else(
                |_| UpstreamPath::Unparseable(p.clone()),
                UpstreamPath::Mapped,
            ),
        }
    }
}

/// One service, ready to serve.
#[derive(Debug)]
pub(crate) struct ServiceRuntime {
    /// Shareable without an allocation (feedback records hold it).
    pub(crate) name: Arc<str>,
    pub(crate) input_width: usize,
    pub(crate) output: OutputSpec,
    pub(crate) route: RouteTable,
    /// Feature flags picking the version before the weights.
    pub(crate) flags: Option<rollgate_core::config::ServiceFlags>,
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

/// A version the snapshot needs but whose backend was not loaded (a bug in the caller).
#[derive(Debug, thiserror::Error)]
#[error("version `{1}` of service `{0}` has no loaded backend")]
pub(crate) struct NotLoaded(pub(crate) String, pub(crate) String);

impl Snapshot {
    /// Assembles a snapshot from service states and already loaded backends.
    pub(crate) fn assemble<'a>(
        states: impl IntoIterator<Item = &'a ServiceState>,
        backends: &Backends,
        recorder: &Recorder,
    ) -> Result<Self, NotLoaded> {
        let mut services = HashMap::new();
        for state in states {
            let svc = service(state, backends, recorder)?;
            services.insert(svc.name.to_string(), Arc::new(svc));
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

fn service(
    state: &ServiceState,
    backends: &Backends,
    recorder: &Recorder,
) -> Result<ServiceRuntime, NotLoaded> {
    let spec = &state.spec;
    let mut versions = Vec::with_capacity(spec.route.versions().len());
    for name in spec.route.versions() {
        let key = (spec.name.clone(), name.clone());
        let backend = backends
            .get(&key)
            .cloned()
            .ok_or_else(|| NotLoaded(key.0.clone(), key.1.clone()))?;
        let source = spec
            .versions
            .iter()
            .find(|v| v.name == *name)
            .map(|v| &v.source);
        let (predict_path, infer_path) = match source {
            Some(VersionSource::Http(h)) => (
                UpstreamPath::of(h.predict_path.as_ref()),
                UpstreamPath::of(h.infer_path.as_ref()),
            ),
            _ => (UpstreamPath::Incoming, UpstreamPath::Incoming),
        };
        let stats = recorder.stats(
            VersionKey {
                service: key.0,
                version: key.1,
            },
            spec.output.range,
        );
        versions.push(VersionRuntime {
            header: http::HeaderValue::from_str(name)
                .unwrap_or_else(|_| http::HeaderValue::from_static("invalid")),
            name: name.as_str().into(),
            backend,
            stats,
            predict_path,
            infer_path,
        });
    }
    Ok(ServiceRuntime {
        name: spec.name.as_str().into(),
        input_width: spec.input_width,
        output: spec.output.clone(),
        route: spec.route.clone(),
        flags: spec.flags.clone(),
        versions,
    })
}
