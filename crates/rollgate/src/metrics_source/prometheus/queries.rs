//! The PromQL a Prometheus source runs: one template per number of a window, with
//! `{{service}}`, `{{version}}` and `{{window}}` filled in at each look (as Flagger's and Argo
//! Rollouts' metric templates do), each replaceable from the config for deployments whose
//! proxies export other names.

use rollgate_core::config::metrics::PROMETHEUS_QUERIES;
use std::collections::BTreeMap;

/// The selector every default template filters on.
const SEL: &str = r#"service="{{service}}",version="{{version}}""#;

/// The default template of a query (`None` for an unknown name). An empty template means
/// "not queried": its numbers stay zero.
pub(crate) fn default_template(name: &str) -> Option<String> {
    let counter = |metric: &str| format!("sum(increase({metric}{{{SEL}}}[{{{{window}}}}]))");
    let errors = |kinds: &str| {
        format!(
            "sum(increase(rollgate_request_errors_total{{{SEL},kind=~\"{kinds}\"}}[{{{{window}}}}]))"
        )
    };
    let quantile = |q: &str| {
        format!(
            "histogram_quantile({q}, sum by (le) \
             (rate(rollgate_request_duration_seconds_bucket{{{SEL}}}[{{{{window}}}}])))"
        )
    };
    Some(match name {
        "requests" => counter("rollgate_requests_total"),
        "errors_model" => errors("model_error"),
        // "No instance available" counts as a 5xx, as in the local source.
        "errors_upstream_5xx" => errors("upstream_5xx|unavailable"),
        "errors_timeout" => errors("timeout"),
        "errors_bad_request" => errors("bad_request"),
        "latency_p50" => quantile("0.5"),
        "latency_p95" => quantile("0.95"),
        "latency_p99" => quantile("0.99"),
        "labelled" => counter("rollgate_labelled_predictions_total"),
        "correct" => counter("rollgate_correct_predictions_total"),
        "abs_error" => counter("rollgate_prediction_abs_error_total"),
        "squared_error" => counter("rollgate_prediction_squared_error_total"),
        "rewards" => counter("rollgate_rewards_total"),
        // A gauge (rewards may be negative), so `delta`, not `increase`.
        "reward_sum" => format!("sum(delta(rollgate_reward_amount{{{SEL}}}[{{{{window}}}}]))"),
        // Not exported by the gateway: Σ reward is used instead (exact for 0/1 conversions).
        "reward_squared" => String::new(),
        "invalid" => counter("rollgate_invalid_predictions_total"),
        "classes" => format!(
            "sum by (class) (increase(rollgate_predictions_total{{{SEL}}}[{{{{window}}}}]))"
        ),
        "shadow_compared" => counter("rollgate_shadow_compared_total"),
        "shadow_disagreements" => counter("rollgate_shadow_disagreements_total"),
        "shadow_requests" => counter("rollgate_shadow_requests_total"),
        // One series per kind, as `classes` has one per class.
        "shadow_errors" => format!(
            "sum by (kind) (increase(rollgate_shadow_errors_total{{{SEL}}}[{{{{window}}}}]))"
        ),
        // The gateway has no warm-up phase of its own.
        "warmup_requests" => String::new(),
        _ => return None,
    })
}

/// Every query's template: the defaults, with the config's overrides.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Templates(BTreeMap<&'static str, String>);

impl Templates {
    /// The defaults with `overrides` (names checked by the config validation; unknown ones
    /// are ignored here).
    pub(crate) fn new(overrides: &BTreeMap<String, String>) -> Self {
        let map = PROMETHEUS_QUERIES
            .iter()
            .map(|&name| {
                let t = overrides
                    .get(name)
                    .cloned()
                    .or_else(|| default_template(name))
                    .unwrap_or_default();
                (name, t)
            })
            .collect();
        Self(map)
    }

    /// The query `name` for a version over a window, `None` when the query is disabled.
    pub(crate) fn query(&self, name: &str, vars: &Vars<'_>) -> Option<String> {
        let t = self.0.get(name).filter(|t| !t.trim().is_empty())?;
        Some(fill(t, vars))
    }
}

/// The values of the placeholders.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vars<'a> {
    pub(crate) service: &'a str,
    pub(crate) version: &'a str,
    /// A PromQL range, e.g. `90s`.
    pub(crate) window: &'a str,
}

/// Replaces `{{service}}`, `{{version}}` and `{{window}}` (spaces inside the braces allowed).
/// Service and version names are restricted to `[A-Za-z0-9._-]` by the config, so they need
/// no escaping inside PromQL strings.
pub(crate) fn fill(template: &str, vars: &Vars<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        match after[..close].trim() {
            "service" => out.push_str(vars.service),
            "version" => out.push_str(vars.version),
            "window" => out.push_str(vars.window),
            _ => out.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// The PromQL range from a window's start to now: whole seconds, rounded up, at least one.
pub(crate) fn range(start_ms: u64, now_ms: u64) -> String {
    let secs = now_ms.saturating_sub(start_ms).div_ceil(1000).max(1);
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: Vars<'static> = Vars {
        service: "iris",
        version: "v2",
        window: "90s",
    };

    #[test]
    fn placeholders_are_filled() {
        let t = Templates::new(&BTreeMap::new());
        assert_eq!(
            t.query("requests", &VARS).as_deref(),
            Some(r#"sum(increase(rollgate_requests_total{service="iris",version="v2"}[90s]))"#)
        );
        assert_eq!(
            t.query("latency_p95", &VARS).as_deref(),
            Some(
                r#"histogram_quantile(0.95, sum by (le) (rate(rollgate_request_duration_seconds_bucket{service="iris",version="v2"}[90s])))"#
            )
        );
        assert_eq!(
            t.query("errors_upstream_5xx", &VARS).as_deref(),
            Some(
                r#"sum(increase(rollgate_request_errors_total{service="iris",version="v2",kind=~"upstream_5xx|unavailable"}[90s]))"#
            )
        );
        assert_eq!(
            fill("a{{ window }}b{{other}}c{{", &VARS),
            "a90sb{{other}}c{{"
        );
    }

    #[test]
    fn every_query_has_a_default_and_overrides_win() {
        for name in PROMETHEUS_QUERIES {
            assert!(default_template(name).is_some(), "{name}");
        }
        let mine = BTreeMap::from([(
            "requests".to_owned(),
            r#"sum(increase(envoy_rq_total{app="{{service}}-{{version}}"}[{{window}}]))"#
                .to_owned(),
        )]);
        let t = Templates::new(&mine);
        assert_eq!(
            t.query("requests", &VARS).as_deref(),
            Some(r#"sum(increase(envoy_rq_total{app="iris-v2"}[90s]))"#)
        );
        assert_eq!(
            t.query("reward_squared", &VARS),
            None,
            "disabled by default"
        );
    }

    #[test]
    fn the_range_is_whole_seconds_rounded_up() {
        assert_eq!(range(1_000, 91_000), "90s");
        assert_eq!(range(1_000, 91_001), "91s");
        assert_eq!(range(5_000, 5_000), "1s");
        assert_eq!(range(9_000, 5_000), "1s", "a clock step back");
    }
}
