//! Analysis windows from a Prometheus server, as Flagger and Argo Rollouts read theirs: at each
//! look, one instant query per number (`/api/v1/query` at `time=now`), each a PromQL template
//! over the range from the window's start to now. This lets the controller judge traffic that
//! other proxies served, as long as a Prometheus scrapes them all.
//!
//! What Prometheus cannot give is left empty rather than guessed: raw latency samples (it keeps
//! histogram buckets, so p50/p95/p99 come from `histogram_quantile` and rank tests have no
//! samples), shadow latency pairs, paired correctness and output differences. `increase` is
//! extrapolated to the range's ends, so counts are rounded and may be off by a few percent.
//!
//! A window is all or nothing: if any query fails, the look gets an empty window (the judge
//! says inconclusive) and a warning is logged, so a half-answered window never passes.

mod answer;
mod client;
pub(crate) mod queries;

use super::{Mark, MetricSource};
use answer::{QueryError, Sample};
use client::PromClient;
use queries::{Templates, Vars};
use rollgate_core::analysis::window::{
    ErrorCounts, Labelled, LatencySummary, Rewards, ShadowPairs, VersionWindow, Warmup,
};
use rollgate_core::config::metrics::PROMETHEUS_QUERIES;
use std::collections::BTreeMap;
use std::time::Duration;

/// Longest a query may take; looks run under the controller's lock, so this bounds a tick.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Highest class index read from the `class` label (bounds a histogram built from labels).
const MAX_CLASSES: usize = 4096;

/// Windows from a Prometheus server's query API.
#[derive(Debug)]
pub(crate) struct PrometheusSource {
    client: PromClient,
    templates: Templates,
}

impl PrometheusSource {
    /// A source querying the server at `url` with the default templates, replaced by
    /// `overrides` where given.
    pub(crate) fn new(url: &str, overrides: &BTreeMap<String, String>, timeout: Duration) -> Self {
        Self {
            client: PromClient::new(url.trim_end_matches('/').to_owned(), timeout),
            templates: Templates::new(overrides),
        }
    }

    async fn fetch(
        &self,
        service: &str,
        version: &str,
        since: &Mark,
    ) -> Result<VersionWindow, QueryError> {
        let now_ms = crate::store::now_ms().max(0) as u64;
        let window = queries::range(since.at_ms, now_ms);
        let vars = Vars {
            service,
            version,
            window: &window,
        };
        let time = format!("{}.{:03}", now_ms / 1000, now_ms % 1000);
        let answers = futures_util::future::try_join_all(PROMETHEUS_QUERIES.map(|name| {
            let query = self.templates.query(name, &vars);
            let time = &time;
            async move {
                let samples = match query {
                    Some(q) => Some(self.client.query(&q, time).await?),
                    None => None,
                };
                Ok::<_, QueryError>((name, samples))
            }
        }))
        .await?;
        Ok(assemble(&answers.into_iter().collect()))
    }
}

#[async_trait::async_trait]
impl MetricSource for PrometheusSource {
    fn mark(&self, _service: &str, _version: &str) -> Mark {
        Mark::now()
    }

    async fn window(&self, service: &str, version: &str, since: &Mark) -> VersionWindow {
        match self.fetch(service, version, since).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(service, version, error = %e, "no analysis window from Prometheus; this look has no data");
                VersionWindow::default()
            }
        }
    }
}

/// Answers by query name; `None` for a disabled query.
type Answers = BTreeMap<&'static str, Option<Vec<Sample>>>;

/// Builds a window from the answers, the way the local source fills one.
fn assemble(got: &Answers) -> VersionWindow {
    let samples = |n: &str| got.get(n).and_then(|s| s.as_deref());
    let count = |n: &str| samples(n).map_or(0, answer::count);
    let value = |n: &str| samples(n).map_or(0.0, answer::total);
    let ms = |n: &str| value(n) * 1000.0;
    // As in the local source: squared errors mean a regressor, whose labels count in `n`.
    let regression = value("squared_error") > 0.0;
    let labelled = count("labelled");
    let reward_sum = value("reward_sum");
    VersionWindow {
        requests: count("requests"),
        errors: ErrorCounts {
            model: count("errors_model"),
            upstream_5xx: count("errors_upstream_5xx"),
            timeout: count("errors_timeout"),
            bad_request: count("errors_bad_request"),
        },
        latency: LatencySummary {
            p50_ms: ms("latency_p50"),
            p95_ms: ms("latency_p95"),
            p99_ms: ms("latency_p99"),
            samples_ms: Vec::new(),
        },
        labelled: Labelled {
            correct: if regression {
                0
            } else {
                count("correct").min(labelled)
            },
            total: if regression { 0 } else { labelled },
            sum_abs_error: value("abs_error").max(0.0),
            sum_sq_error: value("squared_error").max(0.0),
            n: if regression { labelled } else { 0 },
        },
        rewards: Rewards {
            n: count("rewards"),
            sum: reward_sum,
            // Σ reward² is not exported: Σ reward is exact for 0/1 conversions.
            sum_sq: samples("reward_squared").map_or(reward_sum, answer::total),
        },
        invalid_predictions: count("invalid"),
        output_histogram: classes(samples("classes").unwrap_or_default()),
        shadow: ShadowPairs {
            requests: count("shadow_requests"),
            errors: error_kinds(samples("shadow_errors").unwrap_or_default()),
            n: count("shadow_compared"),
            disagreements: count("shadow_disagreements"),
            ..ShadowPairs::default()
        },
        warmup: Warmup {
            warm: true,
            warmup_requests: count("warmup_requests"),
        },
    }
}

/// Error counts from series labelled `kind="timeout"`, ... (the gateway's error kinds;
/// "unavailable" counts as a 5xx, as in the local source; other kinds are ignored).
fn error_kinds(samples: &[Sample]) -> ErrorCounts {
    let mut out = ErrorCounts::default();
    for s in samples {
        let n = answer::count(std::slice::from_ref(s));
        match s.labels.get("kind").map(String::as_str) {
            Some("model_error") => out.model += n,
            Some("upstream_5xx" | "unavailable") => out.upstream_5xx += n,
            Some("timeout") => out.timeout += n,
            Some("bad_request") => out.bad_request += n,
            _ => {}
        }
    }
    out
}

/// Counts per class index from series labelled `class="0"`, `"1"`, ... (others ignored, as the
/// local source ignores undeclared classes).
fn classes(samples: &[Sample]) -> Vec<u64> {
    let mut out = Vec::new();
    for s in samples {
        let Some(i) = s.labels.get("class").and_then(|c| c.parse::<usize>().ok()) else {
            continue;
        };
        if i >= MAX_CLASSES {
            continue;
        }
        if out.len() <= i {
            out.resize(i + 1, 0);
        }
        out[i] += answer::count(std::slice::from_ref(s));
    }
    out
}

#[cfg(test)]
mod tests;
