//! The assets under `deploy/` checked against the real binary: every metric the Grafana
//! dashboard and the Prometheus rules query is one `/metrics` exposes, `promtool` accepts the
//! rules, their unit tests and the example scrape config, and the Kubernetes base runs one
//! replica on a config Rollgate starts with (scripts/check-kubernetes.sh renders and validates
//! the base and the ha overlay against the Kubernetes API schemas).
//!
//! A dashboard or a rule naming a metric that does not exist shows an empty panel or never
//! fires, and nothing else would notice: this is what notices.

mod common;

use common::http::{predict, Request};
use common::metrics::{scrape, Metrics};
use common::{workspace_root, Rollgate, TempDir, IRIS_ROWS};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// Series Prometheus writes itself for every scrape target; no `/metrics` carries them.
const SYNTHETIC_SERIES: [&str; 1] = ["up"];

/// PromQL words that are not metric names: aggregations, set and comparison modifiers, binary
/// keywords and the number literals that read like identifiers.
const PROMQL_KEYWORDS: [&str; 26] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "and",
    "or",
    "unless",
    "atan2",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
];

/// Keywords followed by a parenthesised list of label names (not metric names).
const LABEL_LIST_KEYWORDS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// A file under `deploy/`.
fn deploy_path(relative: &str) -> PathBuf {
    workspace_root().join("deploy").join(relative)
}

fn read_deploy(relative: &str) -> String {
    let path = deploy_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every YAML document of a file under `deploy/`, as JSON values.
fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read_deploy(relative);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("deploy/{relative}: bad YAML: {e}"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// PromQL: the metric names an expression reads.

/// `text` with quoted strings, label matchers (`{...}`) and ranges (`[...]`) blanked out, so
/// label names and values, regexes and durations cannot be mistaken for metric names.
fn strip_non_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quote = None;
    let mut escaped = false;
    let mut close = None;
    for c in text.chars() {
        if let Some(q) = quote {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, _) if c == q => quote = None,
                _ => escaped = false,
            }
            continue;
        }
        match (close, c) {
            (_, '"' | '\'' | '`') => quote = Some(c),
            (None, '{') => close = Some('}'),
            (None, '[') => close = Some(']'),
            (Some(end), _) if c == end => close = None,
            (None, _) => out.push(c),
            (Some(_), _) => {}
        }
    }
    out.push(' ');
    out
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The index just past the `)` matching the `(` at `open`.
fn skip_parens(chars: &[char], open: usize) -> usize {
    let mut depth = 0;
    for (i, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '(' => depth += 1,
            ')' if depth == 1 => return i + 1,
            ')' => depth -= 1,
            _ => {}
        }
    }
    chars.len()
}

/// The index of the first non-space character at or after `i`.
fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// The metric names (and recording-rule names, which hold a `:`) a PromQL expression reads:
/// identifiers that are not functions (followed by `(`), keywords, label lists of
/// `by`/`on`/`group_left`..., numbers, durations or Grafana variables (`$service`, `${x}`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = strip_non_names(expr).chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' || c.is_ascii_digit() || c == '.' {
            // A variable, a number (`0.95`, `1e3`) or a duration (`5m`): one word, no name.
            i += 1;
            while i < chars.len() && (is_name_char(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if is_name_start(c) {
            let start = i;
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = skip_spaces(&chars, i);
            let opens = chars.get(next) == Some(&'(');
            if LABEL_LIST_KEYWORDS.contains(&word.as_str()) && opens {
                i = skip_parens(&chars, next);
            } else if !opens && !PROMQL_KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The metric names a Grafana variable query reads: `label_values(EXPR, label)` reads those of
/// `EXPR` (the label argument is not a metric); anything else is a PromQL expression.
fn variable_query_names(query: &str) -> BTreeSet<String> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'));
    match inner {
        Some(args) => metric_names(args.rsplit_once(',').map_or(args, |(expr, _)| expr)),
        None => metric_names(query),
    }
}

#[test]
fn metric_names_skip_functions_keywords_labels_and_variables() {
    let expr = r#"histogram_quantile(0.95, sum by (version, le) (rate(a_bucket{service="$service",x=~"b|c"}[$__rate_interval])))
        / ignoring (version) group_left () sum without (le) (b_total offset 5m) > bool 2 * rec:ord:5m
        and on (service) (topk by (service) (1, up)) unless absent(c{d="e{f}"})"#;
    let want = ["a_bucket", "b_total", "rec:ord:5m", "up", "c"];
    assert_eq!(
        metric_names(expr),
        want.iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(
        variable_query_names(r#"label_values(a_total{job=~"$job"}, service)"#),
        BTreeSet::from(["a_total".to_owned()])
    );
}

// ---------------------------------------------------------------------------------------------
// The live exposition.

/// `/metrics` of the binary on its embedded defaults after traffic to stable (the default
/// route), to the candidate (`x-canary: always`) and one client mistake, so counters, the
/// latency histogram and the class counts all have samples.
fn live_metrics() -> Metrics {
    let gw = Rollgate::start_default();
    for canary in ["never", "always", "never", "always"] {
        let body = serde_json::json!({ "instances": IRIS_ROWS }).to_string();
        let resp = Request::post("/v1/models/iris/predict", body)
            .header("x-canary", canary)
            .send(gw.data);
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    assert_eq!(
        predict(gw.data, "iris", &[[1.0, 2.0, 3.0, 4.0]]).status,
        200
    );
    let bad = Request::post("/v1/models/iris/predict", "{").send(gw.data);
    assert_eq!(bad.status, 400, "{}", bad.text());
    scrape(gw.data)
}

/// Panics naming every metric of `used` (from `what`) that neither `/metrics` nor Prometheus
/// itself provides; names with a `:` must be recording rules of `deploy/prometheus/rules.yaml`.
fn assert_names_exist(what: &str, used: &BTreeSet<String>, live: &Metrics) {
    let exposed: BTreeSet<&str> = live.samples.iter().map(|s| s.name.as_str()).collect();
    let recorded = recorded_names();
    let missing: Vec<&String> = used
        .iter()
        .filter(|name| {
            if name.contains(':') {
                !recorded.contains(name.as_str())
            } else {
                !exposed.contains(name.as_str()) && !SYNTHETIC_SERIES.contains(&name.as_str())
            }
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{what} uses metrics that do not exist: {missing:?}\nexposed: {exposed:?}\nrecorded: {recorded:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Grafana.

fn dashboard() -> Value {
    serde_json::from_str(&read_deploy("grafana/rollgate.json"))
        .unwrap_or_else(|e| panic!("deploy/grafana/rollgate.json is not JSON: {e}"))
}

/// The template variables, by name.
fn variable<'a>(dash: &'a Value, name: &str) -> &'a Value {
    dash["templating"]["list"]
        .as_array()
        .and_then(|vars| vars.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("the dashboard has no `{name}` variable"))
}

/// A query variable's query: a string, or (Grafana 10+) an object with a `query` string.
fn variable_query(var: &Value) -> &str {
    var["query"]
        .as_str()
        .or_else(|| var["query"]["query"].as_str())
        .unwrap_or_else(|| panic!("variable without a query: {var}"))
}

/// Every panel's PromQL, with the panel title; panics on a panel with no query, so a panel
/// that can only ever be empty fails here.
fn panel_queries(dash: &Value) -> Vec<(String, String)> {
    let panels = dash["panels"].as_array().expect("the dashboard has panels");
    assert!(!panels.is_empty(), "the dashboard has no panels");
    let mut out = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("<untitled>").to_owned();
        let targets = panel["targets"].as_array().map_or(&[][..], Vec::as_slice);
        assert!(!targets.is_empty(), "panel {title:?} has no target");
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(
                !expr.trim().is_empty(),
                "panel {title:?} has an empty target"
            );
            let uid = target["datasource"]["uid"].as_str().unwrap_or_default();
            assert_eq!(uid, "${datasource}", "panel {title:?} ignores $datasource");
            out.push((title.clone(), expr.to_owned()));
        }
    }
    out
}

#[test]
fn dashboard_has_the_expected_shape() {
    let dash = dashboard();
    assert_eq!(dash["schemaVersion"], 39);
    let ds = variable(&dash, "datasource");
    assert_eq!(
        (ds["type"].as_str(), ds["query"].as_str()),
        (Some("datasource"), Some("prometheus"))
    );
    let service = variable_query(variable(&dash, "service"));
    assert!(service.starts_with("label_values("), "{service}");
    assert!(service.trim_end().ends_with("service)"), "{service}");
    let exprs = panel_queries(&dash);
    assert!(
        exprs
            .iter()
            .all(|(_, e)| e.starts_with("up") || e.contains("$service")),
        "every Rollgate panel is scoped to $service: {exprs:?}"
    );
    let panels = dash["panels"].as_array().map_or(&[][..], Vec::as_slice);
    let ids: BTreeSet<u64> = panels.iter().filter_map(|p| p["id"].as_u64()).collect();
    assert_eq!(ids.len(), panels.len(), "every panel has its own id");
}

/// Every PromQL of the dashboard parses: written into a throwaway rule file (Grafana variables
/// replaced by plausible values) that `promtool check rules` reads.
#[test]
fn dashboard_queries_are_valid_promql() {
    let dash = dashboard();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in panel_queries(&dash).iter().enumerate() {
        let concrete = expr
            .replace("$__rate_interval", "1m")
            .replace("$__range", "1h")
            .replace('$', "");
        rules.push_str(&format!(
            "      - record: dashboard:panel_{i}\n        expr: {}\n",
            serde_json::to_string(&concrete).expect("quote")
        ));
    }
    let dir = TempDir::new();
    let path = dir.write("dashboard-rules.yaml", rules.as_bytes());
    let path = path.to_str().expect("UTF-8 temp path");
    let (ok, out) = promtool(&["check", "rules", path]);
    assert!(ok, "a dashboard query does not parse:\n{out}\n{rules}");
}

#[test]
fn dashboard_metrics_exist_on_the_live_exposition() {
    let dash = dashboard();
    let live = live_metrics();
    for (title, expr) in panel_queries(&dash) {
        let names = metric_names(&expr);
        assert!(!names.is_empty(), "panel {title:?} reads no metric: {expr}");
        assert_names_exist(&format!("panel {title:?}"), &names, &live);
    }
    for var in dash["templating"]["list"].as_array().into_iter().flatten() {
        if var["type"] == "query" {
            let names = variable_query_names(variable_query(var));
            assert_names_exist(&format!("variable {}", var["name"]), &names, &live);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus.

/// Runs `promtool ARGS` in `deploy/prometheus`; `(success, stdout + stderr)`. A missing
/// promtool fails the test: CI installs it (scripts/install-test-deps.sh), so skipping would
/// only hide broken rules.
fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(deploy_path("prometheus"))
        .output()
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => panic!(
                "promtool is not on PATH: install it (Debian/Ubuntu: `apt-get install -y \
                 prometheus`, or scripts/install-test-deps.sh) to check deploy/prometheus; \
                 this test does not skip without it"
            ),
            _ => panic!("running promtool {args:?}: {e}"),
        });
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Every rule of `deploy/prometheus/rules.yaml`.
fn rules() -> Vec<Value> {
    let docs = yaml_documents("prometheus/rules.yaml");
    let groups = docs
        .first()
        .and_then(|d| d["groups"].as_array())
        .expect("rules.yaml has groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The names the rules file records.
fn recorded_names() -> BTreeSet<String> {
    rules()
        .iter()
        .filter_map(|r| r["record"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests() {
    for args in [
        ["check", "rules", "rules.yaml"],
        ["test", "rules", "rules_test.yaml"],
        ["check", "config", "prometheus.yaml"],
    ] {
        let (ok, out) = promtool(&args);
        assert!(ok, "promtool {} failed:\n{out}", args.join(" "));
    }
}

#[test]
fn rules_cover_the_promised_alerts() {
    let alerts: BTreeSet<String> = rules()
        .iter()
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect();
    for want in [
        "RollgateCandidateErrorRatioHigh",
        "RollgateCandidateLatencyRegression",
        "RollgateDown",
        "RollgateMirrorDropping",
        "RollgateShadowFailing",
    ] {
        assert!(alerts.contains(want), "no alert {want}: {alerts:?}");
    }
    let recorded = recorded_names();
    for want in [
        "rollgate:request_rate:5m",
        "rollgate:error_ratio:5m",
        "rollgate:latency_p95:5m",
    ] {
        assert!(recorded.contains(want), "no recording rule {want}");
    }
    let tests = read_deploy("prometheus/rules_test.yaml");
    for alert in &alerts {
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "rules_test.yaml never evaluates {alert}"
        );
    }
}

#[test]
fn rule_metrics_exist_on_the_live_exposition() {
    let live = live_metrics();
    for rule in rules() {
        let name = rule["record"]
            .as_str()
            .or(rule["alert"].as_str())
            .unwrap_or("?");
        let expr = rule["expr"]
            .as_str()
            .unwrap_or_else(|| panic!("rule {name} has no expr"));
        assert_names_exist(&format!("rule {name}"), &metric_names(expr), &live);
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes.

/// Every object of the kustomize base, `deploy/kubernetes/base/*.yaml` but its
/// kustomization.yaml.
fn kubernetes_objects() -> Vec<Value> {
    let dir = deploy_path("kubernetes/base");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            yaml_documents(&format!("kubernetes/base/{name}"))
        })
        .collect()
}

fn object<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    match found.as_slice() {
        [one] => one,
        other => panic!(
            "expected one {kind} in deploy/kubernetes/base, found {}",
            other.len()
        ),
    }
}

/// One replica, replaced not rolled, on a ReadWriteOnce claim: the embedded SQLite store has
/// exactly one writer.
#[test]
fn kubernetes_example_runs_one_writer_on_its_store() {
    let objects = kubernetes_objects();
    let deployment = object(&objects, "Deployment");
    let pvc = object(&objects, "PersistentVolumeClaim");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(
        pvc["spec"]["accessModes"],
        serde_json::json!(["ReadWriteOnce"])
    );
    let volumes = deployment["spec"]["template"]["spec"]["volumes"].to_string();
    for name in [
        &pvc["metadata"]["name"],
        &object(&objects, "ConfigMap")["metadata"]["name"],
    ] {
        let name = name.as_str().expect("named");
        assert!(
            volumes.contains(&format!("\"{name}\"")),
            "the Deployment does not mount {name}"
        );
    }
    assert_eq!(
        object(&objects, "Service")["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

/// The ConfigMap's config is one the binary starts on and serves, and its data port is the
/// one the Deployment and Service expose.
#[test]
fn kubernetes_config_starts_rollgate() {
    let objects = kubernetes_objects();
    let config = object(&objects, "ConfigMap")["data"]["rollgate.yaml"]
        .as_str()
        .expect("the ConfigMap holds rollgate.yaml")
        .to_owned();
    let parsed: Value = serde_yaml_ng::from_str(&config).expect("rollgate.yaml is YAML");
    let data_port = parsed["listen"]["data"]
        .as_str()
        .and_then(|a| a.rsplit_once(':'))
        .map(|(_, port)| port.to_owned())
        .expect("listen.data has a port");
    let ports = object(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        ["ports"]
        .to_string();
    assert!(
        ports.contains(&format!("\"containerPort\":{data_port}")),
        "the container does not expose the data port {data_port}: {ports}"
    );
    let gw = Rollgate::start(&config);
    let resp = predict(gw.data, "iris", &IRIS_ROWS);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let ready = common::http::get(gw.data, "/v2/health/ready");
    assert_eq!(ready.status, 200, "the readiness probe's path answers");
}
