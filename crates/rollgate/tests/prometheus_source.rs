//! Analysis windows read from a real Prometheus: gateway A serves traffic and labels and is
//! scraped every second; gateway B serves nothing, reads its windows from that Prometheus
//! (`rollouts.metrics.source: prometheus`) and runs a canary whose analysis must show A's
//! numbers. B's own counters stay at zero, so whatever its analysis sees came from Prometheus.
//!
//! Needs `prometheus` (Debian: `apt-get install -y prometheus`); `ROLLGATE_PROMETHEUS` may name
//! another binary. The test fails, never skips, without it.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::Request;
use common::metrics::scrape;
use common::Rollgate;
use common::{eventually, TempDir};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Prometheus server on loopback, killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Prometheus {
    /// Starts one scraping `target`'s `/metrics` every second, on `addr`.
    fn start(dir: &TempDir, addr: SocketAddr, target: SocketAddr) -> Self {
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
             - job_name: rollgate\n    static_configs:\n      - targets: [\"{target}\"]\n"
        );
        let config = dir.write("prometheus.yml", config);
        let log = dir.path().join("prometheus.log");
        let bin = std::env::var("ROLLGATE_PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
        let spawned = Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`{bin}` is not on PATH: install Prometheus (Debian/Ubuntu: `apt-get install -y \
                 prometheus`) or set ROLLGATE_PROMETHEUS; this test does not skip without it"
            ),
            Err(e) => panic!("running {bin}: {e}"),
        };
        let me = Self { child, addr, log };
        let ready = eventually(Duration::from_secs(60), || {
            Request::get("/-/ready")
                .try_send(addr)
                .is_ok_and(|r| r.status == 200)
        });
        assert!(ready, "Prometheus never became ready:\n{}", me.log());
        me
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of an instant query giving one number (`None` for an empty answer).
    fn number(&self, promql: &str) -> Option<f64> {
        let path = format!("/api/v1/query?query={}", encode(promql));
        let r = Request::get(&path).send(self.addr);
        assert_eq!(r.status, 200, "{promql}: {}", r.text());
        let v = r.json();
        let first = v["data"]["result"].as_array()?.first()?.clone();
        first["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn config(metrics: &str) -> String {
    format!(
        r#"
rollouts:
  tick_ms: 200
{metrics}  templates:
    quality:
      checks:
        - metric: error_rate
          max_increase: 0.05
        - metric: accuracy
          max_decrease: 0.10
          min_samples: 1000
services:
  iris:
    input_width: 4
    output: {{ classes: [setosa, versicolor, virginica] }}
    versions:
      v1: {{ onnx: "builtin:iris-v1" }}
      v2: {{ onnx: "builtin:iris-v2" }}
    route:
      stable: v1
      candidate: v2
      weights: {{ v1: 100 }}
"#
    )
}

fn start(dir: &TempDir, log: &str, metrics: &str) -> Rollgate {
    let path = dir.write("rollgate.yaml", config(metrics));
    Rollgate::on(dir, log, &["--config", path.to_str().unwrap()])
}

/// What gateway A served to one version.
#[derive(Debug, Default, Clone, Copy)]
struct Served {
    requests: u64,
    correct: u64,
}

/// Predicts each row (to the candidate when `canary`) and posts its true label; returns what
/// each version answered and got right.
fn traffic(a: &Rollgate, tag: &str, rows: &[([f32; 4], i64)], canary: bool) -> [Served; 2] {
    let mut served = [Served::default(); 2];
    for (i, (row, truth)) in rows.iter().enumerate() {
        let id = format!("{tag}-{i}");
        let mut req = Request::post(
            "/v1/models/iris/predict",
            json!({ "instances": [row] }).to_string(),
        )
        .header("x-request-id", &id);
        if canary {
            req = req.header("x-canary", "always");
        }
        let r = req.send(a.data);
        assert_eq!(r.status, 200, "{}", r.text());
        let s = &mut served[usize::from(r.version() == "v2")];
        s.requests += 1;
        s.correct += u64::from(r.json()["predictions"][0]["label"].as_i64() == Some(*truth));
        let fb = json!({"request_id": id, "label": truth}).to_string();
        let r = Request::post("/v1/feedback", fb).send(a.data);
        assert!(r.status < 300, "feedback: {} {}", r.status, r.text());
    }
    served
}

/// Whether Prometheus has A's request counter of `version` at `n`.
fn scraped(prom: &Prometheus, version: &str, n: u64) -> bool {
    let q = format!(r#"sum(rollgate_requests_total{{service="iris",version="{version}"}})"#);
    prom.number(&q) == Some(n as f64)
}

/// Whether a count read from Prometheus matches what was served: `increase` extrapolates to
/// the range's ends, so it may read a little high; scrape lag only delays it.
fn close(got: &Value, want: u64) -> bool {
    let got = got.as_u64().unwrap_or(0) as f64;
    let want = want as f64;
    got >= want * 0.95 - 1.0 && got <= want * 1.15 + 1.0
}

#[test]
fn a_canary_is_judged_on_windows_read_from_prometheus() {
    let (dir_a, dir_b, dir_p) = (TempDir::new(), TempDir::new(), TempDir::new());
    let a = start(&dir_a, "a.log", "");
    let prom = Prometheus::start(&dir_p, free_port(), a.data);
    let rows = common::iris_rows("iris-eval.csv");

    // Both versions' series exist before the analysis starts, so its windows begin mid-series.
    traffic(&a, "warm", &rows[..5], false);
    traffic(&a, "warm-c", &rows[..5], true);
    assert!(
        eventually(Duration::from_secs(30), || scraped(&prom, "v2", 5)),
        "Prometheus never scraped gateway A:\n{}",
        prom.log()
    );

    let metrics = format!(
        "  metrics:\n    source: prometheus\n    prometheus_url: http://{}\n",
        prom.addr
    );
    let b = start(&dir_b, "b.log", &metrics);
    let plan = "steps:\n  - canary: {steps: [10], hold: 10m, analysis: quality}\n";
    let r = b.admin(
        Request::post("/api/v1/services/iris/rollout", plan)
            .header("content-type", "application/yaml"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let mut last = Value::Null;
    let analysing = eventually(Duration::from_secs(30), || {
        last = b.rollout();
        !last["analysis"].is_null()
    });
    assert!(analysing, "B never opened an analysis: {last:#}");

    // One scrape after the windows opened, so the traffic below falls inside them.
    let opened = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let up = r#"max(timestamp(up{job="rollgate"}))"#;
    assert!(eventually(Duration::from_secs(30), || prom
        .number(up)
        .is_some_and(|t| t > opened + 0.5)));

    let stable = traffic(&a, "s", &rows[..30], false)[0];
    let canary = traffic(&a, "c", &rows, true)[1];
    assert_eq!((stable.requests, canary.requests), (30, rows.len() as u64));
    assert!(
        eventually(Duration::from_secs(30), || scraped(
            &prom,
            "v2",
            5 + canary.requests
        )),
        "Prometheus never scraped the canary traffic:\n{}",
        prom.log()
    );

    // B's windows grow with every tick; the extrapolation of `increase` shrinks as they do.
    let ok = eventually(Duration::from_secs(90), || {
        last = b.rollout();
        let (c, s) = (
            &last["analysis"]["candidate"],
            &last["analysis"]["baseline"],
        );
        close(&c["requests"], canary.requests)
            && close(&s["requests"], stable.requests)
            && close(&c["labelled"]["total"], canary.requests)
            && close(&c["labelled"]["correct"], canary.correct)
            && close(&s["labelled"]["correct"], stable.correct)
    });
    assert!(
        ok,
        "B's analysis does not show A's traffic (stable {stable:?}, canary {canary:?}): \
         {:#}\nB's log:\n{}",
        last["analysis"],
        std::fs::read_to_string(dir_b.path().join("b.log")).unwrap_or_default()
    );
    let c = &last["analysis"]["candidate"];
    assert_eq!(c["errors"]["model"], 0, "{c:#}");
    assert!(c["latency"]["p95_ms"].as_f64().unwrap() > 0.0, "{c:#}");
    assert_eq!(c["latency"]["samples_ms"], json!([]), "{c:#}");
    assert_ne!(last["phase"], "rolled_back", "{last:#}");

    // B served nothing itself: the numbers above can only have come from Prometheus.
    let own = scrape(b.data);
    assert_eq!(own.sum("rollgate_requests_total", &[]), 0.0);
}

#[test]
fn a_bad_metrics_section_is_refused_naming_the_field() {
    let cases = [
        (
            "  metrics: { source: prometheus }\n",
            "rollouts.metrics.prometheus_url",
        ),
        (
            "  metrics:\n    source: prometheus\n    prometheus_url: http://127.0.0.1:9\n    \
             queries: { requets: 'sum(x)' }\n",
            "rollouts.metrics.queries.requets",
        ),
    ];
    for (metrics, field) in cases {
        let dir = TempDir::new();
        let path = dir.write("rollgate.yaml", config(metrics));
        let mut child = common::serve_command(&dir)
            .arg("--config")
            .arg(&path)
            .spawn()
            .unwrap();
        let status = common::wait_child(&mut child, Duration::from_secs(20));
        let _ = child.kill();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        let _ = child.wait();
        assert!(status.is_some_and(|s| !s.success()), "accepted:\n{stderr}");
        assert!(stderr.contains(field), "{field} not named:\n{stderr}");
    }
}
