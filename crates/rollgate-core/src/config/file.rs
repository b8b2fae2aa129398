//! The configuration file as written: plain serde structs, unknown keys refused.

use super::OrderedMap;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Listening addresses.
    #[serde(default)]
    pub listen: ListenFile,
    /// Request limits.
    #[serde(default)]
    pub limits: LimitsFile,
    /// Control API settings.
    #[serde(default)]
    pub admin: AdminFile,
    /// How long answers are kept for late labels and rewards.
    #[serde(default)]
    pub feedback: FeedbackFile,
    /// Rollout controller settings and analysis templates.
    #[serde(default)]
    pub rollouts: RolloutsFile,
    /// Services by name.
    pub services: OrderedMap<ServiceFile>,
}

/// `admin:`
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminFile {
    /// Bearer token of the control API (the environment's `ROLLGATE_ADMIN_TOKEN` wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Service the root seed verbs (`/update-model`, ...) act on; defaults to the first one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_service: Option<String>,
}

/// `rollouts:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutsFile {
    /// How often the controller looks at every rollout, milliseconds.
    #[serde(default = "default_tick")]
    pub tick_ms: u64,
    /// URLs that receive a JSON POST at each rollout milestone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<String>,
    /// First retry delay of a failed webhook, milliseconds (doubled at each attempt).
    #[serde(default = "default_webhook_backoff")]
    pub webhook_backoff_ms: u64,
    /// Analysis templates by name (a built-in `default` exists unless redefined here).
    #[serde(default)]
    pub templates: OrderedMap<crate::analysis::AnalysisTemplate>,
    /// Where analysis windows come from (the gateway's own counters unless set).
    #[serde(default)]
    pub metrics: super::metrics::MetricsFile,
}

impl Default for RolloutsFile {
    fn default() -> Self {
        Self {
            tick_ms: default_tick(),
            webhooks: Vec::new(),
            webhook_backoff_ms: default_webhook_backoff(),
            templates: OrderedMap::default(),
            metrics: super::metrics::MetricsFile::default(),
        }
    }
}

fn default_tick() -> u64 {
    1000
}

fn default_webhook_backoff() -> u64 {
    500
}

/// `feedback:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackFile {
    /// Answers kept for joining labels (oldest dropped first).
    #[serde(default = "default_feedback_records")]
    pub max_records: usize,
    /// Seconds an answer waits for its label before it expires.
    #[serde(default = "default_feedback_ttl")]
    pub ttl_seconds: u64,
}

impl Default for FeedbackFile {
    fn default() -> Self {
        Self {
            max_records: default_feedback_records(),
            ttl_seconds: default_feedback_ttl(),
        }
    }
}

fn default_feedback_records() -> usize {
    100_000
}

fn default_feedback_ttl() -> u64 {
    3600
}

/// `listen:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenFile {
    /// Data port address.
    #[serde(default = "default_data_addr")]
    pub data: String,
    /// Admin (control API) port address.
    #[serde(default = "default_admin_addr")]
    pub admin: String,
}

impl Default for ListenFile {
    fn default() -> Self {
        Self {
            data: default_data_addr(),
            admin: default_admin_addr(),
        }
    }
}

fn default_admin_addr() -> String {
    "127.0.0.1:8081".into()
}

fn default_data_addr() -> String {
    "127.0.0.1:8080".into()
}

/// `limits:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Largest request body, bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Grace period for in-flight requests on shutdown, milliseconds.
    #[serde(default = "default_grace")]
    pub shutdown_grace_ms: u64,
    /// Largest model file accepted by the control API, bytes.
    #[serde(default = "default_max_model")]
    pub max_model_bytes: usize,
    /// Largest request head (request line and headers), bytes; 431 above it.
    #[serde(default = "default_max_header")]
    pub max_header_bytes: usize,
    /// Time a client has to send a whole request head, milliseconds (slow-header clients).
    #[serde(default = "default_header_timeout")]
    pub header_read_timeout_ms: u64,
    /// Time a client has to send a whole request body once its head arrived, milliseconds
    /// (slow-body clients); 408 after it.
    #[serde(default = "default_body_timeout")]
    pub body_read_timeout_ms: u64,
    /// Open connections per port, at most, split evenly among the threads accepting on it (at
    /// least one each); at the cap a thread stops accepting until one of its connections
    /// closes (new clients wait in the kernel's backlog), as nginx's `worker_connections`.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for LimitsFile {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body(),
            shutdown_grace_ms: default_grace(),
            max_model_bytes: default_max_model(),
            max_header_bytes: default_max_header(),
            header_read_timeout_ms: default_header_timeout(),
            body_read_timeout_ms: default_body_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_max_model() -> usize {
    64 << 20
}

fn default_max_header() -> usize {
    64 << 10
}

fn default_header_timeout() -> u64 {
    30_000
}

fn default_body_timeout() -> u64 {
    60_000
}

fn default_max_connections() -> usize {
    10_000
}

fn default_max_body() -> usize {
    1 << 20
}

fn default_grace() -> u64 {
    10_000
}

/// `services.NAME:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    /// Features per input row.
    pub input_width: usize,
    /// What outputs mean.
    #[serde(default)]
    pub output: OutputFile,
    /// Versions by name.
    pub versions: OrderedMap<VersionFile>,
    /// Route table.
    pub route: RouteFile,
    /// Feature flags that pick the version per request, before the route's weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<ServiceFlagsFile>,
}

/// `services.NAME.flags:` a flags document and the flag whose variants choose the version.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFlagsFile {
    /// Key of the flag evaluated for every request of the service.
    pub route_by: String,
    /// Reusable audiences by name.
    #[serde(default)]
    pub segments: OrderedMap<crate::flags::file::SegmentFile>,
    /// Flags by key; their variants name versions of the service.
    pub flags: OrderedMap<crate::flags::file::FlagFile>,
}

/// `services.NAME.output:`
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputFile {
    /// Class names by label index.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Inclusive range `[min, max]` of a regression output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
}

/// `services.NAME.versions.VERSION:` — exactly one of `onnx` or `http`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VersionFile {
    /// ONNX file path (relative to the config file) or `builtin:NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onnx: Option<String>,
    /// HTTP upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpFile>,
}

/// `services.NAME.versions.VERSION.http:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    /// Instance base URLs.
    pub instances: Vec<String>,
    /// Upstream path for v1 predict requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predict_path: Option<String>,
    /// Upstream path for Open Inference infer requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infer_path: Option<String>,
    /// Connect timeout, milliseconds.
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    /// Request timeout, milliseconds.
    #[serde(default = "default_request_ms")]
    pub request_timeout_ms: u64,
    /// Consecutive failures before ejection.
    #[serde(default = "default_eject_after")]
    pub eject_after_failures: u32,
    /// Ejection cool-off, milliseconds.
    #[serde(default = "default_eject_ms")]
    pub eject_for_ms: u64,
}

fn default_connect_ms() -> u64 {
    1_000
}
fn default_request_ms() -> u64 {
    10_000
}
fn default_eject_after() -> u32 {
    5
}
fn default_eject_ms() -> u64 {
    10_000
}

/// `services.NAME.route:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    /// Stable version; defaults to the heaviest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable: Option<String>,
    /// Candidate for `x-canary: always`; defaults to the heaviest other version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
    /// Percent per version (two decimals at most); must sum to 100.
    pub weights: OrderedMap<f64>,
    /// Sticky key source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky: Option<StickyFile>,
    /// Salt for sticky hashing; defaults to the service name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Honoured overrides.
    #[serde(default)]
    pub overrides: OverridesFile,
    /// Mirroring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<MirrorFile>,
}

/// `route.sticky:` — exactly one source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StickyFile {
    /// Header name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Cookie name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Top-level JSON body field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_field: Option<String>,
}

/// `route.overrides:`; `null` disables one.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OverridesFile {
    /// Header with `always` / `never`.
    #[serde(default = "default_canary_header")]
    pub canary_header: Option<String>,
    /// Cookie naming a version.
    #[serde(default = "default_pin_cookie")]
    pub pin_cookie: Option<String>,
}

impl Default for OverridesFile {
    fn default() -> Self {
        Self {
            canary_header: default_canary_header(),
            pin_cookie: default_pin_cookie(),
        }
    }
}

fn default_canary_header() -> Option<String> {
    Some("x-canary".into())
}

fn default_pin_cookie() -> Option<String> {
    Some("rollgate-version".into())
}

/// `route.mirror:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorFile {
    /// Version receiving copies.
    pub to: String,
    /// Share of requests mirrored, percent.
    pub percent: f64,
}
