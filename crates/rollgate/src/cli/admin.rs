//! The operator verbs: each calls the control API and prints a table (or the JSON as is).

use super::client::{AdminClient, CallError};
use super::out::outln;
use super::{Output, VersionsCmd};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use serde_json::{json, Value};
use std::path::Path;

/// Where verbs act: a named service, or the server's default service (root verbs).
fn verb_path(service: Option<&str>, verb: &str) -> String {
    match service {
        Some(s) => format!("/api/v1/services/{s}/{verb}"),
        None => format!("/{verb}"),
    }
}

/// `rollgate status [SERVICE]`.
pub(crate) async fn status(
    c: &AdminClient,
    service: Option<&str>,
    out: Output,
) -> Result<(), CallError> {
    let mut doc = match service {
        Some(s) => json!({ "services": [c.get(&format!("/api/v1/services/{s}")).await?] }),
        None => c.get("/api/v1/services").await?,
    };
    // Each service's rollout, so one command shows where a rollout stands.
    if let Some(services) = doc["services"].as_array_mut() {
        for svc in services {
            let name = svc["name"].as_str().unwrap_or_default().to_owned();
            let r = c.get(&format!("/api/v1/services/{name}/rollout")).await?;
            svc["rollout"] = r["rollout"].clone();
        }
    }
    match out {
        Output::Json => print_json(&doc),
        Output::Table => doc["services"]
            .as_array()
            .into_iter()
            .flatten()
            .for_each(print_service),
    }
    Ok(())
}

fn print_service(svc: &Value) {
    outln!(
        "service {}  revision {}  stable {}  candidate {}",
        svc["name"].as_str().unwrap_or("?"),
        svc["revision"],
        svc["stable"].as_str().unwrap_or("-"),
        svc["candidate"].as_str().unwrap_or("-"),
    );
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header([
        "version",
        "role",
        "weight %",
        "requests",
        "error rate",
        "p50 ms",
        "p95 ms",
        "p99 ms",
    ]);
    for v in svc["versions"].as_array().into_iter().flatten() {
        let s = &v["stats"];
        t.add_row([
            text(&v["name"]),
            role(svc, v["name"].as_str().unwrap_or_default()).to_owned(),
            text(&v["weight_percent"]),
            s["requests"].to_string(),
            format!("{:.2}%", s["error_rate"].as_f64().unwrap_or(0.0) * 100.0),
            format!("{:.2}", s["p50_ms"].as_f64().unwrap_or(0.0)),
            format!("{:.2}", s["p95_ms"].as_f64().unwrap_or(0.0)),
            format!("{:.2}", s["p99_ms"].as_f64().unwrap_or(0.0)),
        ]);
    }
    outln!("{t}");
    print_rollout_line(&svc["rollout"]);
    outln!();
}

/// One line on the service's rollout, if it has one.
fn print_rollout_line(r: &Value) {
    if r.is_null() {
        return;
    }
    let steps = r["steps"].as_array().map_or(0, Vec::len);
    outln!(
        "rollout {} {}: {} at step {}/{} ({}), candidate {}%",
        text(&r["strategy"]),
        text(&r["id"]),
        text(&r["phase"]),
        r["step"].as_u64().unwrap_or(0) + 1,
        steps,
        r["steps"][r["step"].as_u64().unwrap_or(0) as usize]
            .as_str()
            .unwrap_or("-"),
        text(&r["candidate_percent"]),
    );
}

fn role<'a>(svc: &Value, name: &str) -> &'a str {
    if svc["stable"] == name {
        "stable"
    } else if svc["candidate"] == name {
        "candidate"
    } else if svc["previous"] == name {
        "previous"
    } else {
        ""
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn print_json(v: &Value) {
    outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Prints the service a change left behind.
fn changed(doc: &Value, out: Output, what: &str) {
    match out {
        Output::Json => print_json(doc),
        Output::Table => {
            outln!("{what}");
            print_service(doc);
        }
    }
}

/// `rollgate versions ...`.
pub(crate) async fn versions(
    c: &AdminClient,
    cmd: VersionsCmd,
    out: Output,
) -> Result<(), CallError> {
    match cmd {
        VersionsCmd::List { service } => status(c, Some(&service), out).await,
        VersionsCmd::Add {
            service,
            name,
            file,
            upstream,
        } => {
            let path = format!("/api/v1/services/{service}/versions");
            let doc = match file {
                Some(file) => {
                    c.post_bytes(&format!("{path}?version={name}"), read(&file)?)
                        .await?
                }
                None => {
                    c.post_json(
                        &path,
                        &json!({"name": name, "http": {"instances": upstream}}),
                    )
                    .await?
                }
            };
            changed(&doc, out, &format!("registered {name} at 0%"));
            Ok(())
        }
        VersionsCmd::Rm { service, name } => {
            let doc = c
                .delete(&format!("/api/v1/services/{service}/versions/{name}"))
                .await?;
            changed(&doc, out, &format!("removed {name}"));
            Ok(())
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CallError> {
    std::fs::read(path).map_err(|e| CallError::Refused {
        status: http::StatusCode::BAD_REQUEST,
        code: "unreadable_file".into(),
        message: format!("cannot read `{}`: {e}", path.display()),
    })
}

/// `rollgate set-ratio [--service S] RATIO`.
pub(crate) async fn set_ratio(
    c: &AdminClient,
    service: Option<&str>,
    ratio: f64,
    out: Output,
) -> Result<(), CallError> {
    let doc = c
        .post_json(
            &verb_path(service, "set-canary-ratio"),
            &json!({"ratio": ratio}),
        )
        .await?;
    changed(&doc, out, &format!("canary ratio set to {ratio}"));
    Ok(())
}

/// `rollgate update-model FILE [--service S] [--version NAME]`.
pub(crate) async fn update_model(
    c: &AdminClient,
    service: Option<&str>,
    file: &Path,
    version: Option<&str>,
    out: Output,
) -> Result<(), CallError> {
    let mut path = verb_path(service, "update-model");
    if let Some(v) = version {
        path.push_str(&format!("?version={v}"));
    }
    let doc = c.post_bytes(&path, read(file)?).await?;
    changed(&doc, out, "uploaded: the next version is registered at 0%");
    Ok(())
}

/// `rollgate promote` / `rollgate rollback`: verbs without a body.
pub(crate) async fn verb(
    c: &AdminClient,
    service: Option<&str>,
    verb: &str,
    out: Output,
    what: &str,
) -> Result<(), CallError> {
    let doc = c.post_json(&verb_path(service, verb), &json!({})).await?;
    changed(&doc, out, what);
    Ok(())
}

/// `rollgate events [--service S] [--limit N]`.
pub(crate) async fn events(
    c: &AdminClient,
    service: Option<&str>,
    limit: u32,
    out: Output,
) -> Result<(), CallError> {
    let mut path = format!("/api/v1/events?limit={limit}");
    if let Some(s) = service {
        path.push_str(&format!("&service={s}"));
    }
    let doc = c.get(&path).await?;
    if out == Output::Json {
        print_json(&doc);
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(["id", "time (UTC)", "actor", "service", "event"]);
    for e in doc["events"].as_array().into_iter().flatten() {
        t.add_row([
            e["id"].to_string(),
            time(e["at_ms"].as_i64().unwrap_or(0)),
            text(&e["actor"]),
            text(&e["service"]),
            text(&e["kind"]),
        ]);
    }
    outln!("{t}");
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) from Unix milliseconds.
fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_format_in_utc() {
        assert_eq!(super::time(0), "1970-01-01 00:00:00");
        assert_eq!(super::time(1_795_305_600_000), "2026-11-22 00:00:00");
    }

    #[test]
    fn verbs_go_to_the_default_service_without_a_name() {
        assert_eq!(super::verb_path(None, "rollback"), "/rollback");
        assert_eq!(
            super::verb_path(Some("iris"), "rollback"),
            "/api/v1/services/iris/rollback"
        );
    }
}
