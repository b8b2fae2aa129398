//! The plan file as written: plain serde structs, unknown keys refused. Validation into
//! [`Plan`](super::Plan) happens in `validate`, which names the dotted field of each problem.

use crate::config::OrderedMap;
use serde::{Deserialize, Serialize};

/// The whole plan file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Free-form name shown by `plan show` and in notifications.
    #[serde(default)]
    pub name: Option<String>,
    /// What an operator's abort does; instant when absent.
    #[serde(default)]
    pub abort: Option<AbortFile>,
    /// Steps and strategy shorthands, in order. Each is a one-key mapping (`- canary: {..}`)
    /// or a bare word (`- promote`), rather than serde_yaml_ng's default `!tag` for enums.
    #[serde(with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub steps: Vec<StageFile>,
}

/// `abort:` — a gradual shift back instead of an instant one.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AbortFile {
    /// Candidate weights to step down through, e.g. `["25%", "5%"]`.
    pub gradual: Vec<WeightFile>,
    /// Time at each weight, e.g. `30s`.
    pub interval: String,
}

/// A weight: an integer in basis points or a string such as `"5%"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum WeightFile {
    /// Basis points (`500` is 5%).
    Bps(u64),
    /// A percentage with a `%` sign (`"5%"`, `"0.5%"`).
    Text(String),
}

/// A percentage as a canary stage: a plain number means percent here (`[1, 5, 25]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PercentFile {
    /// Percent (`5` is 5%).
    Number(f64),
    /// A percentage with a `%` sign.
    Text(String),
}

/// One entry of `steps:`: a raw step or a strategy shorthand that expands into several.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageFile {
    /// `set_weight: 500` or `set_weight: "5%"`.
    SetWeight(WeightFile),
    /// `pause: 30s`, `pause: {}` (until approved) or `pause: {duration, min_requests}`.
    Pause(PauseFile),
    /// `approval: NAME` — wait for an operator's approve.
    Approval(String),
    /// `analysis: {template, window, min_requests, max_inconclusive}`.
    Analysis(AnalysisFile),
    /// `mirror: "10%"` (or basis points); `0` turns it off.
    Mirror(WeightFile),
    /// `set_header_route: {header, value}`; `null` removes the rule.
    SetHeaderRoute(Option<HeaderRouteFile>),
    /// `smoke: [{body, expect_prediction, max_latency}]`.
    Smoke(Vec<SmokeFile>),
    /// `promote`.
    Promote,
    /// Canary shorthand.
    Canary(CanaryFile),
    /// Blue/green shorthand.
    BlueGreen(BlueGreenFile),
    /// Shadow (mirroring) shorthand.
    Shadow(ShadowFile),
    /// A/B test shorthand.
    AbTest(AbTestFile),
    /// Rolling replacement shorthand.
    Rolling(RollingFile),
}

/// `pause:` — a duration string or a mapping.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PauseFile {
    /// `pause: 30s`.
    Duration(String),
    /// `pause: {duration: 5m, min_requests: 1000}`; `pause: {}` waits for an approve.
    Hold(HoldFile),
}

/// `pause: {..}`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HoldFile {
    /// Minimum running time.
    #[serde(default)]
    pub duration: Option<String>,
    /// Minimum candidate requests.
    #[serde(default)]
    pub min_requests: Option<u64>,
}

/// `analysis:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisFile {
    /// Analysis template name.
    pub template: String,
    /// Minimum running time before a pass counts.
    pub window: String,
    /// Minimum candidate requests before a pass counts.
    #[serde(default)]
    pub min_requests: u64,
    /// Inconclusive verdicts in a row before pausing for an operator.
    #[serde(default)]
    pub max_inconclusive: Option<u32>,
}

/// `set_header_route:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRouteFile {
    /// Header name.
    pub header: String,
    /// Exact value; absent matches any value.
    #[serde(default)]
    pub value: Option<String>,
}

/// One smoke check.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeFile {
    /// Request body (JSON text).
    pub body: String,
    /// Expected prediction (class name or number, as text).
    #[serde(default)]
    pub expect_prediction: Option<String>,
    /// Largest acceptable latency, e.g. `200ms`.
    #[serde(default)]
    pub max_latency: Option<String>,
}

/// `canary:`
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryFile {
    /// Candidate percentages, increasing; default `[1, 5, 25, 50, 100]`.
    #[serde(default)]
    pub steps: Option<Vec<PercentFile>>,
    /// Time at each stage below 100%.
    #[serde(default)]
    pub hold: Option<String>,
    /// Candidate requests at each stage below 100%.
    #[serde(default)]
    pub min_requests: Option<u64>,
    /// Analysis template judged at each stage below 100%.
    #[serde(default)]
    pub analysis: Option<String>,
    /// Pause after this many inconclusive verdicts in a row.
    #[serde(default)]
    pub max_inconclusive: Option<u32>,
    /// Percentages an operator must approve before traffic is raised to them.
    #[serde(default)]
    pub manual_gates: Vec<PercentFile>,
}

/// `blue_green:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BlueGreenFile {
    /// Requests carrying this header reach the candidate (green) before the switch.
    pub preview_header: String,
    /// Smoke checks on the candidate before the switch.
    #[serde(default)]
    pub smoke: Vec<SmokeFile>,
    /// Time after the switch during which an abort returns to blue instantly.
    #[serde(default)]
    pub rollback_window: Option<String>,
    /// Whether blue is unloaded once green is promoted after the window (default true).
    #[serde(default)]
    pub unload_blue: Option<bool>,
}

/// `shadow:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowFile {
    /// Share of requests mirrored to the candidate; default 100%.
    #[serde(default)]
    pub percent: Option<PercentFile>,
    /// How long to mirror.
    pub duration: String,
    /// Analysis template judging the shadow answers.
    #[serde(default)]
    pub analysis: Option<String>,
    /// Mirrored requests needed.
    #[serde(default)]
    pub min_requests: Option<u64>,
}

/// `ab_test:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AbTestFile {
    /// Version → percent share; the first is the control.
    pub variants: OrderedMap<PercentFile>,
    /// Requests per variant before concluding.
    #[serde(default)]
    pub sample_size: Option<u64>,
    /// Longest running time, e.g. `7d`.
    #[serde(default)]
    pub deadline: Option<String>,
    /// Promote the winner the caller computes.
    #[serde(default)]
    pub promote_winner: bool,
}

/// `rolling:`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RollingFile {
    /// Extra instances allowed during the update; default 1.
    #[serde(default = "one")]
    pub max_surge: u32,
    /// Missing instances allowed during the update; default 0.
    #[serde(default)]
    pub max_unavailable: u32,
    /// Readiness path probed on new instances; default `/health`.
    #[serde(default = "default_readiness")]
    pub readiness_path: String,
    /// How long a new instance may take to answer its readiness path with a 2xx; default 30s.
    #[serde(default)]
    pub readiness_timeout: Option<String>,
}

fn one() -> u32 {
    1
}

fn default_readiness() -> String {
    "/health".into()
}
