//! `rollouts.metrics:`: where the rollout controller reads its analysis windows from — the
//! gateway's own counters (`local`, the default) or a Prometheus server that scrapes this and
//! other proxies (`prometheus`), with PromQL templates overridable one by one.
//!
//! Kept in its own file so the file model and the validation of this section stay together.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The queries a Prometheus source runs for each version, by name. Their default PromQL lives
/// with the source in the binary; a config may override any of them.
pub const PROMETHEUS_QUERIES: [&str; 22] = [
    "requests",
    "errors_model",
    "errors_upstream_5xx",
    "errors_timeout",
    "errors_bad_request",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "labelled",
    "correct",
    "abs_error",
    "squared_error",
    "rewards",
    "reward_sum",
    "reward_squared",
    "invalid",
    "classes",
    "shadow_compared",
    "shadow_disagreements",
    "shadow_requests",
    "shadow_errors",
    "warmup_requests",
];

/// Placeholders a query template may use.
pub const PLACEHOLDERS: [&str; 3] = ["service", "version", "window"];

/// `rollouts.metrics:` as written.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    /// `local` (the gateway's own counters) or `prometheus`.
    #[serde(default)]
    pub source: SourceKind,
    /// Base URL of the Prometheus server, e.g. `http://127.0.0.1:9090`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_url: Option<String>,
    /// PromQL templates replacing the defaults, by query name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub queries: BTreeMap<String, String>,
}

/// Which source answers analysis windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The gateway's own recorder.
    #[default]
    Local,
    /// A Prometheus server's query API.
    Prometheus,
}

/// The validated `rollouts.metrics` section.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum MetricsSpec {
    /// The gateway's own recorder.
    #[default]
    Local,
    /// A Prometheus server.
    Prometheus {
        /// Base URL without a trailing slash.
        url: String,
        /// Overridden templates by query name (the rest keep their defaults).
        queries: BTreeMap<String, String>,
    },
}

/// Validates the section; every error names the field.
pub(crate) fn metrics_from_file(file: MetricsFile) -> Result<MetricsSpec, ConfigError> {
    const AT: &str = "rollouts.metrics";
    for (name, template) in &file.queries {
        let field = format!("{AT}.queries.{name}");
        if !PROMETHEUS_QUERIES.contains(&name.as_str()) {
            let known = PROMETHEUS_QUERIES.join(", ");
            return Err(ConfigError::invalid(
                field,
                format!("unknown query (known: {known})"),
            ));
        }
        check_placeholders(template).map_err(|p| ConfigError::invalid(field, p))?;
    }
    match file.source {
        SourceKind::Local => Ok(MetricsSpec::Local),
        SourceKind::Prometheus => {
            let field = format!("{AT}.prometheus_url");
            let url = file
                .prometheus_url
                .ok_or_else(|| ConfigError::invalid(&field, "required with source: prometheus"))?;
            let rest = url.strip_prefix("http://").ok_or_else(|| {
                ConfigError::invalid(&field, format!("`{url}` must start with http://"))
            })?;
            if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#']) {
                return Err(ConfigError::invalid(
                    &field,
                    format!("`{url}` must be a base URL like http://host:9090"),
                ));
            }
            Ok(MetricsSpec::Prometheus {
                url: url.trim_end_matches('/').to_owned(),
                queries: file.queries,
            })
        }
    }
}

/// Why a query template's placeholders were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum PlaceholderError {
    #[error("a `{{{{` placeholder is not closed")]
    Unclosed,
    #[error("unknown placeholder `{{{{{0}}}}}` (known: {known})", known = PLACEHOLDERS.join(", "))]
    Unknown(String),
}

/// Refuses `{{name}}` placeholders other than [`PLACEHOLDERS`], and unclosed ones.
fn check_placeholders(template: &str) -> Result<(), PlaceholderError> {
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or(PlaceholderError::Unclosed)?;
        let name = after[..close].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(PlaceholderError::Unknown(name.to_owned()));
        }
        rest = &after[close + 2..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(yaml: &str) -> Result<MetricsSpec, ConfigError> {
        let f: MetricsFile =
            serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::Parse(e.to_string()))?;
        metrics_from_file(f)
    }

    fn field(r: Result<MetricsSpec, ConfigError>) -> String {
        match r {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_to_local() {
        assert_eq!(file("{}").ok(), Some(MetricsSpec::Local));
    }

    #[test]
    fn prometheus_needs_a_plain_http_url() {
        let url = "rollouts.metrics.prometheus_url";
        assert_eq!(field(file("source: prometheus")), url);
        assert_eq!(
            field(file(
                "{source: prometheus, prometheus_url: 'https://p:9090'}"
            )),
            url
        );
        let ok = file("{source: prometheus, prometheus_url: 'http://p:9090/'}");
        assert_eq!(
            ok.ok(),
            Some(MetricsSpec::Prometheus {
                url: "http://p:9090".into(),
                queries: BTreeMap::new()
            })
        );
    }

    #[test]
    fn queries_are_checked_by_name_and_placeholder() {
        let base = "source: prometheus\nprometheus_url: http://p:9090\nqueries:\n";
        let unknown = file(&format!("{base}  requets: 'x'"));
        assert_eq!(field(unknown), "rollouts.metrics.queries.requets");
        let bad = file(&format!("{base}  requests: 'sum(x{{{{servce}}}})'"));
        assert_eq!(field(bad), "rollouts.metrics.queries.requests");
        let good = file(&format!(
            "{base}  requests: 'sum(increase(hits{{svc=\"{{{{service}}}}\"}}[{{{{window}}}}]))'"
        ));
        assert!(good.is_ok(), "{good:?}");
        assert!(matches!(file("{source: locl}"), Err(ConfigError::Parse(_))));
    }
}
