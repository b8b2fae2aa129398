//! Configuration in two stages: the YAML file model ([`file`]) is parsed with unknown keys
//! refused, then validated into domain types ([`Config`]) that cannot hold an invalid value.
//! Reading the file and loading model artefacts is the binary's job; this module only judges.

mod export;
pub mod file;
pub mod metrics;
mod validate;

pub use crate::document::{check_name, ConfigError, NameError, OrderedMap};
pub use export::{route_file, service_file};
pub use validate::{route_from_file, service_from_file, validate};

use crate::route::RouteTable;
use std::net::SocketAddr;
use std::time::Duration;

/// Parses and validates a configuration text.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let file: file::ConfigFile =
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
    validate(file)
}

/// The validated configuration of a gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address of the data port (predictions, health, metrics).
    pub data_addr: SocketAddr,
    /// Address of the admin port (control API).
    pub admin_addr: SocketAddr,
    /// Bearer token of the control API, if configured in the file.
    pub admin_token: Option<String>,
    /// Service the root seed verbs act on.
    pub default_service: String,
    /// Largest model upload, in bytes.
    pub max_model_bytes: usize,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// How long a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request body once its head arrived.
    pub body_read_timeout: Duration,
    /// Open connections per port, at most.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Answers kept for late feedback, at most.
    pub feedback_records: usize,
    /// How long an answer waits for its feedback.
    pub feedback_ttl: Duration,
    /// How often the rollout controller ticks.
    pub rollout_tick: Duration,
    /// Webhook receivers of rollout milestones.
    pub webhooks: Vec<String>,
    /// First retry delay of a webhook.
    pub webhook_backoff: Duration,
    /// Analysis templates declared in the file, by name.
    pub templates: Vec<(String, crate::analysis::AnalysisTemplate)>,
    /// Where the rollout controller reads analysis windows from.
    pub metrics: metrics::MetricsSpec,
    /// The services, in declaration order.
    pub services: Vec<ServiceSpec>,
}

/// One model endpoint with its versions and route table.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// Service name, as in `/v1/models/{name}/predict`.
    pub name: String,
    /// Features per input row.
    pub input_width: usize,
    /// What the model's outputs mean.
    pub output: OutputSpec,
    /// Versions in declaration order; the route table indexes the same order.
    pub versions: Vec<VersionSpec>,
    /// Who gets which version.
    pub route: RouteTable,
    /// Feature flags evaluated before the route's weights, if any.
    pub flags: Option<ServiceFlags>,
}

/// A service's flags: the validated set and the flag that picks the version.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFlags {
    /// Key of the flag evaluated per request.
    pub route_by: String,
    /// The flags, shared by every snapshot that serves them.
    pub set: std::sync::Arc<crate::flags::FlagSet>,
}

/// What a service's predictions are, for naming classes and spotting invalid outputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputSpec {
    /// Class names by label index; empty when classes are unnamed or the model is a regressor.
    pub classes: Vec<String>,
    /// Declared range of a regression output, inclusive.
    pub range: Option<(f64, f64)>,
}

/// One version of a service and where it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSpec {
    /// Version name, unique within the service.
    pub name: String,
    /// How it is served.
    pub source: VersionSource,
}

/// Where a version's predictions come from.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionSource {
    /// An ONNX file run in process; `builtin:NAME` names a model bundled in the binary.
    Onnx {
        /// Path (relative to the config file) or `builtin:NAME`.
        path: String,
    },
    /// Instances of an HTTP model server.
    Http(HttpSpec),
}

/// An HTTP upstream: instances of any model server and how to talk to them.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    /// Base URLs of the instances, e.g. `http://127.0.0.1:9001`.
    pub instances: Vec<String>,
    /// Upstream path for v1 predict requests; `None` keeps the incoming path.
    pub predict_path: Option<String>,
    /// Upstream path for Open Inference infer requests; `None` keeps the incoming path.
    pub infer_path: Option<String>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for the whole answer head.
    pub request_timeout: Duration,
    /// Consecutive failures after which an instance is ejected.
    pub eject_after: u32,
    /// How long an ejected instance rests before it is tried again.
    pub eject_for: Duration,
}
