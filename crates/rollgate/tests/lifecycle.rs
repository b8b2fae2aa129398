//! Shutdown: on SIGTERM the gateway stops accepting, lets in-flight requests finish within the
//! grace period and exits 0.

#![allow(clippy::unwrap_used)]

mod common;

use common::http::predict;
use common::upstream::{Mode, Upstreams};
use common::{eventually, Rollgate, IRIS_ROWS};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn slow_config(upstream: &str, grace_ms: u64) -> String {
    format!(
        r#"
limits: {{ shutdown_grace_ms: {grace_ms} }}
services:
  iris:
    input_width: 4
    versions:
      remote:
        http:
          instances: ["{upstream}"]
          predict_path: /predict
          request_timeout_ms: 20000
    route:
      weights: {{ remote: 100 }}
"#
    )
}

fn refused(addr: std::net::SocketAddr) -> bool {
    matches!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

#[test]
fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let pool = Upstreams::new();
    let slow = pool.spawn("slow", Mode::Slow(Duration::from_millis(800)));
    let mut gw = Rollgate::start(&slow_config(&slow.url(), 5000));
    let addr = gw.data;

    let in_flight = std::thread::spawn(move || predict(addr, "iris", &IRIS_ROWS));
    assert!(
        eventually(Duration::from_secs(5), || slow.arrived() == 1),
        "the request did not reach the upstream"
    );
    gw.wait_for_signal_handlers();
    let signalled = Instant::now();
    gw.signal("TERM");

    assert!(
        eventually(Duration::from_secs(3), || refused(addr)),
        "new connections are still accepted after SIGTERM"
    );
    assert!(
        !in_flight.is_finished(),
        "the slow request was still in flight when new connections were refused"
    );

    let resp = in_flight.join().unwrap();
    assert_eq!(
        resp.status,
        200,
        "the in-flight request completes: {}",
        resp.text()
    );
    assert_eq!(resp.header("x-model-version"), Some("remote"));
    assert_eq!(resp.json()["instance"], "slow");

    let status = gw.wait_exit(Duration::from_secs(8));
    let stderr = gw.stderr();
    let status = status.unwrap_or_else(|| panic!("still running after SIGTERM:\n{stderr}"));
    assert_eq!(status.code(), Some(0), "exit status; stderr:\n{stderr}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "exited within the 5 s grace period ({:?})",
        signalled.elapsed()
    );
    assert!(stderr.contains("stopped cleanly"), "{stderr}");
    assert_eq!(slow.arrived(), 1, "nothing was retried or replayed");
}

#[test]
fn idle_gateway_exits_0_on_sigterm_and_sigint() {
    for signal in ["TERM", "INT"] {
        let mut gw = Rollgate::start_default();
        // No wait for the handlers here: they are installed before the port accepts, so a
        // signal right after the first answer is already graceful.
        assert_eq!(predict(gw.data, "iris", &IRIS_ROWS).status, 200);
        gw.signal(signal);
        let status = gw.wait_exit(Duration::from_secs(5));
        let stderr = gw.stderr();
        let status = status.unwrap_or_else(|| panic!("SIG{signal}: still running:\n{stderr}"));
        assert_eq!(status.code(), Some(0), "SIG{signal}; stderr:\n{stderr}");
        assert!(refused(gw.data), "SIG{signal}: the port is closed");
    }
}

#[test]
fn grace_period_bounds_the_wait_for_slow_requests() {
    let pool = Upstreams::new();
    let stuck = pool.spawn("stuck", Mode::Slow(Duration::from_secs(15)));
    let mut gw = Rollgate::start(&slow_config(&stuck.url(), 300));
    let addr = gw.data;
    let in_flight = std::thread::spawn(move || {
        common::http::Request::post(
            "/v1/models/iris/predict",
            serde_json::json!({ "instances": IRIS_ROWS }).to_string(),
        )
        .try_send(addr)
    });
    assert!(eventually(Duration::from_secs(5), || stuck.arrived() == 1));
    gw.wait_for_signal_handlers();
    let signalled = Instant::now();
    gw.signal("TERM");
    let status = gw.wait_exit(Duration::from_secs(5));
    let stderr = gw.stderr();
    assert!(
        status.is_some(),
        "still running 5 s after SIGTERM with a 300 ms grace period:\n{stderr}"
    );
    assert!(signalled.elapsed() < Duration::from_secs(5));
    assert!(stderr.contains("grace period over"), "{stderr}");
    // The cut request gets no answer (its connection closes), and the client is not stuck.
    let outcome = in_flight.join().unwrap();
    assert!(
        outcome.as_ref().map_or(true, |r| r.status != 200),
        "{outcome:?}"
    );
}

/// With `--drain`, SIGTERM first turns readiness to 503 while predictions (on new connections
/// too) are still answered, so a load balancer moves away before the port closes; then the
/// gateway exits 0.
#[test]
fn with_a_drain_period_sigterm_reports_not_ready_and_keeps_serving_first() {
    let mut gw = Rollgate::start_with_args(common::IRIS_V1_V2, &["--drain", "3s"]);
    assert_eq!(common::http::get(gw.data, "/v2/health/ready").status, 200);
    gw.wait_for_signal_handlers();
    let signalled = Instant::now();
    gw.signal("TERM");
    assert!(
        eventually(Duration::from_secs(2), || {
            common::http::get(gw.data, "/v2/health/ready").status == 503
        }),
        "readiness still passes after SIGTERM"
    );
    let mut answered = 0;
    while signalled.elapsed() < Duration::from_millis(2000) {
        assert_eq!(
            predict(gw.data, "iris", &IRIS_ROWS).status,
            200,
            "a prediction during the drain"
        );
        answered += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        answered > 10,
        "served {answered} predictions while draining"
    );
    let status = gw.wait_exit(Duration::from_secs(10));
    let stderr = gw.stderr();
    let status = status.unwrap_or_else(|| panic!("still running after the drain:\n{stderr}"));
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "the port stayed open for the drain"
    );
    assert!(stderr.contains("draining"), "{stderr}");
}
