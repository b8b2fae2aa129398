//! Turns the file model into validated domain types, naming the field of every problem.

use super::file::{
    ConfigFile, HttpFile, RouteFile, ServiceFile, ServiceFlagsFile, StickyFile, VersionFile,
};
use super::{
    Config, ConfigError, HttpSpec, OutputSpec, ServiceFlags, ServiceSpec, VersionSource,
    VersionSpec,
};
use crate::document::check_name;
use crate::route::{percent_to_bps, Overrides, RouteSpec, RouteTable, StickySource};
use std::time::Duration;

/// Validates a parsed file.
pub fn validate(file: ConfigFile) -> Result<Config, ConfigError> {
    let data_addr =
        file.listen.data.parse().map_err(|e| {
            ConfigError::invalid("listen.data", format!("not a socket address: {e}"))
        })?;
    let admin_addr =
        file.listen.admin.parse().map_err(|e| {
            ConfigError::invalid("listen.admin", format!("not a socket address: {e}"))
        })?;
    if file.services.0.is_empty() {
        return Err(ConfigError::invalid(
            "services",
            "at least one service is needed",
        ));
    }
    let services = file
        .services
        .0
        .into_iter()
        .map(|(name, svc)| service_from_file(&name, svc))
        .collect::<Result<Vec<_>, _>>()?;
    let default_service = match file.admin.default_service {
        Some(name) if services.iter().any(|s| s.name == name) => name,
        Some(name) => {
            return Err(ConfigError::invalid(
                "admin.default_service",
                format!("no service `{name}`"),
            ))
        }
        None => services[0].name.clone(),
    };
    check_limits(&file.limits)?;
    if file.feedback.max_records == 0 || file.feedback.ttl_seconds == 0 {
        return Err(ConfigError::invalid(
            "feedback",
            "max_records and ttl_seconds must be at least 1",
        ));
    }
    Ok(Config {
        data_addr,
        admin_addr,
        admin_token: file.admin.token.filter(|t| !t.is_empty()),
        default_service,
        max_model_bytes: file.limits.max_model_bytes,
        max_body_bytes: file.limits.max_body_bytes,
        max_header_bytes: file.limits.max_header_bytes,
        header_read_timeout: Duration::from_millis(file.limits.header_read_timeout_ms),
        body_read_timeout: Duration::from_millis(file.limits.body_read_timeout_ms),
        max_connections: file.limits.max_connections,
        shutdown_grace: Duration::from_millis(file.limits.shutdown_grace_ms),
        feedback_records: file.feedback.max_records,
        feedback_ttl: Duration::from_secs(file.feedback.ttl_seconds),
        rollout_tick: Duration::from_millis(file.rollouts.tick_ms.max(10)),
        webhooks: file.rollouts.webhooks,
        webhook_backoff: Duration::from_millis(file.rollouts.webhook_backoff_ms),
        metrics: super::metrics::metrics_from_file(file.rollouts.metrics)?,
        templates: file.rollouts.templates.0,
        services,
    })
}

/// Validates a service's flags: the set itself, the flag that routes, and that every variant
/// names a version of the service.
fn flags(
    at: &str,
    file: ServiceFlagsFile,
    versions: &[VersionSpec],
) -> Result<ServiceFlags, ConfigError> {
    let doc = crate::flags::file::FlagSetFile {
        segments: file.segments,
        flags: file.flags,
    };
    let set = crate::flags::FlagSet::from_file(doc)
        .map_err(|e| ConfigError::invalid(at, e.to_string()))?;
    let flag = set.get(&file.route_by).ok_or_else(|| {
        ConfigError::invalid(
            format!("{at}.route_by"),
            format!("no flag `{}` in this document", file.route_by),
        )
    })?;
    for (variant, version) in flag.variants() {
        if !versions.iter().any(|v| v.name == version) {
            return Err(ConfigError::invalid(
                format!("{at}.flags.{}.variants.{variant}", file.route_by),
                format!("`{version}` is not a version of this service"),
            ));
        }
    }
    Ok(ServiceFlags {
        route_by: file.route_by,
        set: std::sync::Arc::new(set),
    })
}

/// Largest `limits.max_connections`: far above what file-descriptor limits allow, and within
/// what the semaphore counting them can hold.
pub(crate) const MAX_CONNECTIONS: usize = 10_000_000;

/// Smallest `limits.max_header_bytes`: HTTP/1 needs room for a request line and common headers
/// (and the HTTP server refuses a smaller read buffer).
pub(crate) const MIN_HEADER_BYTES: usize = 8192;

fn check_limits(limits: &super::file::LimitsFile) -> Result<(), ConfigError> {
    if limits.max_header_bytes < MIN_HEADER_BYTES {
        return Err(ConfigError::invalid(
            "limits.max_header_bytes",
            format!("must be at least {MIN_HEADER_BYTES}"),
        ));
    }
    if limits.header_read_timeout_ms == 0 || limits.body_read_timeout_ms == 0 {
        return Err(ConfigError::invalid(
            "limits",
            "header_read_timeout_ms and body_read_timeout_ms must be at least 1",
        ));
    }
    if !(1..=MAX_CONNECTIONS).contains(&limits.max_connections) {
        return Err(ConfigError::invalid(
            "limits.max_connections",
            format!("must be 1 to {MAX_CONNECTIONS}"),
        ));
    }
    Ok(())
}

/// Validates one service document (from a config file, the store or the control API).
pub fn service_from_file(name: &str, file: ServiceFile) -> Result<ServiceSpec, ConfigError> {
    let at = format!("services.{name}");
    check_name(name).map_err(|p| ConfigError::invalid(&at, p))?;
    if file.input_width == 0 {
        return Err(ConfigError::invalid(
            format!("{at}.input_width"),
            "must be at least 1",
        ));
    }
    if file.versions.0.is_empty() {
        return Err(ConfigError::invalid(
            format!("{at}.versions"),
            "at least one version is needed",
        ));
    }
    let versions = file
        .versions
        .0
        .into_iter()
        .map(|(v, f)| version(&format!("{at}.versions.{v}"), v, f))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<String> = versions.iter().map(|v| v.name.clone()).collect();
    let route = route(&format!("{at}.route"), name, names, file.route)?;
    let output = OutputSpec {
        classes: file.output.classes,
        range: file.output.range.map(|[lo, hi]| (lo, hi)),
    };
    if let Some((lo, hi)) = output.range {
        if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
            return Err(ConfigError::invalid(
                format!("{at}.output.range"),
                "min must be below max",
            ));
        }
    }
    let flags = file
        .flags
        .map(|f| flags(&format!("{at}.flags"), f, &versions))
        .transpose()?;
    Ok(ServiceSpec {
        name: name.to_owned(),
        input_width: file.input_width,
        output,
        flags,
        versions,
        route,
    })
}

fn version(at: &str, name: String, file: VersionFile) -> Result<VersionSpec, ConfigError> {
    check_name(&name).map_err(|p| ConfigError::invalid(at, p))?;
    let source = match (file.onnx, file.http) {
        (Some(path), None) if !path.is_empty() => VersionSource::Onnx { path },
        (None, Some(http)) => VersionSource::Http(http_spec(&format!("{at}.http"), http)?),
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                at,
                "give either `onnx` or `http`, not both",
            ))
        }
        _ => {
            return Err(ConfigError::invalid(
                at,
                "needs `onnx: PATH` or `http: {instances: [...]}`",
            ))
        }
    };
    Ok(VersionSpec { name, source })
}

fn http_spec(at: &str, file: HttpFile) -> Result<HttpSpec, ConfigError> {
    if file.instances.is_empty() {
        return Err(ConfigError::invalid(
            format!("{at}.instances"),
            "at least one instance URL is needed",
        ));
    }
    for (i, url) in file.instances.iter().enumerate() {
        check_instance_url(url)
            .map_err(|p| ConfigError::invalid(format!("{at}.instances[{i}]"), p))?;
    }
    for (field, path) in [
        ("predict_path", &file.predict_path),
        ("infer_path", &file.infer_path),
    ] {
        if path.as_deref().is_some_and(|p| !p.starts_with('/')) {
            return Err(ConfigError::invalid(
                format!("{at}.{field}"),
                "must start with `/`",
            ));
        }
    }
    if file.connect_timeout_ms == 0 || file.request_timeout_ms == 0 {
        return Err(ConfigError::invalid(at, "timeouts must be at least 1 ms"));
    }
    Ok(HttpSpec {
        instances: file.instances,
        predict_path: file.predict_path,
        infer_path: file.infer_path,
        connect_timeout: Duration::from_millis(file.connect_timeout_ms),
        request_timeout: Duration::from_millis(file.request_timeout_ms),
        eject_after: file.eject_after_failures.max(1),
        eject_for: Duration::from_millis(file.eject_for_ms),
    })
}

/// Only plain `http://host:port` bases: Rollgate talks to model servers on a trusted network.
/// Why an upstream instance URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum InstanceUrlError {
    #[error("`{0}` must start with http://")]
    Scheme(String),
    #[error("`{0}` must be a base URL like http://host:port, without a path")]
    NotBase(String),
}

fn check_instance_url(url: &str) -> Result<(), InstanceUrlError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| InstanceUrlError::Scheme(url.to_owned()))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') || authority.contains('?') {
        return Err(InstanceUrlError::NotBase(url.to_owned()));
    }
    Ok(())
}

/// Validates a route document (from the control API) against a service's versions.
pub fn route_from_file(
    service: &str,
    versions: Vec<String>,
    file: RouteFile,
) -> Result<RouteTable, ConfigError> {
    route("route", service, versions, file)
}

fn route(
    at: &str,
    service: &str,
    versions: Vec<String>,
    file: RouteFile,
) -> Result<RouteTable, ConfigError> {
    let weights = file
        .weights
        .0
        .iter()
        .map(|(v, pct)| {
            percent_to_bps(*pct)
                .map(|bps| (v.clone(), bps))
                .map_err(|e| ConfigError::invalid(format!("{at}.weights.{v}"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mirror = match file.mirror {
        None => None,
        Some(m) => Some((
            m.to,
            percent_to_bps(m.percent)
                .map_err(|e| ConfigError::invalid(format!("{at}.mirror.percent"), e))?,
        )),
    };
    let sticky = file
        .sticky
        .map(|s| sticky(&format!("{at}.sticky"), s))
        .transpose()?;
    RouteSpec {
        versions,
        weights,
        stable: file.stable,
        candidate: file.candidate,
        sticky,
        salt: file.salt.unwrap_or_else(|| service.to_owned()),
        overrides: Overrides {
            canary_header: file.overrides.canary_header.map(|h| h.to_ascii_lowercase()),
            pin_cookie: file.overrides.pin_cookie,
        },
        mirror,
    }
    .build()
    .map_err(|e| ConfigError::invalid(at, e))
}

fn sticky(at: &str, file: StickyFile) -> Result<StickySource, ConfigError> {
    match (file.header, file.cookie, file.json_field) {
        (Some(h), None, None) => Ok(StickySource::Header(h.to_ascii_lowercase())),
        (None, Some(c), None) => Ok(StickySource::Cookie(c)),
        (None, None, Some(f)) => Ok(StickySource::JsonField(f)),
        _ => Err(ConfigError::invalid(
            at,
            "give exactly one of `header`, `cookie` or `json_field`",
        )),
    }
}

#[cfg(test)]
mod tests;
