//! What the control API shows of a service: its route, versions with their role and weight,
//! and each version's live numbers.

use crate::telemetry::{Divergence, ErrorKind, Recorder, ShadowSums, VersionKey, VersionStats};
use rollgate_core::catalog::ServiceState;
use rollgate_core::config::{file::RouteFile, route_file, VersionSource};
use rollgate_core::route::fmt_bps;
use serde::Serialize;

/// A service as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct ServiceView {
    pub(crate) name: String,
    pub(crate) revision: u64,
    pub(crate) input_width: usize,
    pub(crate) stable: String,
    pub(crate) candidate: Option<String>,
    pub(crate) previous: Option<String>,
    pub(crate) route: RouteFile,
    pub(crate) versions: Vec<VersionView>,
}

/// A version as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct VersionView {
    pub(crate) name: String,
    /// `onnx` or `http`.
    pub(crate) kind: &'static str,
    /// `sha256:...` of the model, or the upstream instance URLs.
    pub(crate) source: serde_json::Value,
    /// Share of traffic in percent, exact (`"0.5"`).
    pub(crate) weight_percent: String,
    pub(crate) stats: StatsView,
}

/// Live numbers of a version since the gateway started.
#[derive(Debug, Default, Serialize)]
pub(crate) struct StatsView {
    pub(crate) requests: u64,
    /// Failures that count against the version (not the client's bad requests).
    pub(crate) errors: u64,
    pub(crate) error_rate: f64,
    pub(crate) in_flight: i64,
    pub(crate) p50_ms: f64,
    pub(crate) p95_ms: f64,
    pub(crate) p99_ms: f64,
    /// p95 over the last minute only (the histogram percentiles above are since start).
    pub(crate) recent_p95_ms: Option<f64>,
    /// Labelled rows and the share a classifier got right (`None` before any label).
    pub(crate) labelled: u64,
    pub(crate) accuracy: Option<f64>,
    /// Mean absolute error of labelled regression rows.
    pub(crate) mae: Option<f64>,
    /// Rewards reported and their mean.
    pub(crate) rewards: u64,
    pub(crate) mean_reward: Option<f64>,
    /// Rows invalid on their face (NaN, out of range, undeclared class).
    pub(crate) invalid: u64,
    /// Shadow comparison with the served version on mirrored requests.
    pub(crate) shadow: Option<ShadowView>,
}

/// How a mirrored version compared with the answers users got.
#[derive(Debug, Serialize)]
pub(crate) struct ShadowView {
    #[serde(flatten)]
    pub(crate) sums: ShadowSums,
    /// Mirrored requests the candidate failed, all kinds.
    pub(crate) candidate_errors: u64,
    pub(crate) disagreement_rate: f64,
    /// Median of the candidate's latency over stable's, on the same requests.
    pub(crate) median_latency_ratio: Option<f64>,
    pub(crate) examples: Vec<Divergence>,
}

/// Builds the view of a service.
pub(crate) fn service(state: &ServiceState, recorder: &Recorder) -> ServiceView {
    let route = &state.spec.route;
    let versions = state
        .spec
        .versions
        .iter()
        .map(|v| {
            let weight = route.index_of(&v.name).map_or(0, |i| route.weight(i));
            let (kind, source) = match &v.source {
                VersionSource::Onnx { path } => ("onnx", serde_json::json!(path)),
                VersionSource::Http(h) => ("http", serde_json::json!(h.instances)),
            };
            VersionView {
                name: v.name.clone(),
                kind,
                source,
                weight_percent: fmt_bps(weight),
                stats: stats(recorder, &state.spec.name, &v.name),
            }
        })
        .collect();
    ServiceView {
        name: state.spec.name.clone(),
        revision: state.revision,
        input_width: state.spec.input_width,
        stable: route.name(route.stable()).to_owned(),
        candidate: route.candidate().map(|c| route.name(c).to_owned()),
        previous: state.previous.clone(),
        route: route_file(route),
        versions,
    }
}

fn stats(recorder: &Recorder, service: &str, version: &str) -> StatsView {
    let key = VersionKey {
        service: service.to_owned(),
        version: version.to_owned(),
    };
    let Some(s) = recorder.find(&key) else {
        return StatsView::default();
    };
    let requests = s.requests();
    let errors: u64 = ErrorKind::ALL
        .iter()
        .filter(|k| **k != ErrorKind::BadRequest)
        .map(|k| s.errors(*k))
        .sum();
    let lat = s.latency().summary();
    let ms = |us: u64| us as f64 / 1000.0;
    StatsView {
        requests,
        errors,
        error_rate: if requests == 0 {
            0.0
        } else {
            errors as f64 / requests as f64
        },
        in_flight: s.in_flight(),
        p50_ms: ms(lat.p50_us),
        p95_ms: ms(lat.p95_us),
        p99_ms: ms(lat.p99_us),
        ..outcomes(&s)
    }
}

fn median_ratio(pairs: &[(f64, f64)]) -> Option<f64> {
    let mut r: Vec<f64> = pairs
        .iter()
        .filter(|(a, _)| *a > 0.0)
        .map(|(a, b)| b / a)
        .collect();
    r.sort_by(f64::total_cmp);
    r.get(r.len() / 2).copied()
}

fn ratio(num: f64, den: u64) -> Option<f64> {
    (den > 0).then(|| num / den as f64)
}

/// The feedback, validity and shadow part of a version's numbers.
fn outcomes(s: &VersionStats) -> StatsView {
    let o = s.outcomes().sums();
    let minute_ago = std::time::Instant::now()
        .checked_sub(std::time::Duration::from_secs(60))
        .unwrap_or_else(std::time::Instant::now);
    let mut recent = s.recent().since(minute_ago);
    recent.sort_by(f64::total_cmp);
    let sh = s.shadow().sums();
    // Labels of a regressor leave errors; a perfect regressor reads as a classifier, harmlessly.
    let regression = o.sq_error > 0.0;
    StatsView {
        recent_p95_ms: (!recent.is_empty()).then(|| recent[(recent.len() - 1) * 95 / 100]),
        labelled: o.labelled,
        accuracy: (!regression)
            .then(|| ratio(o.correct as f64, o.labelled))
            .flatten(),
        mae: regression.then(|| ratio(o.abs_error, o.labelled)).flatten(),
        rewards: o.rewards,
        mean_reward: ratio(o.reward_sum, o.rewards),
        invalid: s.outcomes().invalid(),
        shadow: (sh.requests > 0 || sh.compared > 0).then(|| ShadowView {
            disagreement_rate: ratio(sh.disagreements as f64, sh.compared).unwrap_or(0.0),
            median_latency_ratio: median_ratio(&s.shadow().latency_pairs()),
            candidate_errors: sh.candidate_errors(),
            sums: sh,
            examples: s.shadow().examples(),
        }),
        ..StatsView::default()
    }
}
