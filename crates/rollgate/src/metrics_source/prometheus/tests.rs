#![allow(clippy::unwrap_used)]

use super::*;

fn one(v: f64) -> Option<Vec<Sample>> {
    Some(vec![Sample {
        labels: BTreeMap::new(),
        value: v,
    }])
}

fn labelled(label: &str, c: &str, v: f64) -> Sample {
    Sample {
        labels: BTreeMap::from([(label.to_owned(), c.to_owned())]),
        value: v,
    }
}

fn class(c: &str, v: f64) -> Sample {
    labelled("class", c, v)
}

#[test]
fn answers_become_a_classifier_window() {
    let got: Answers = BTreeMap::from([
        ("requests", one(101.6)),
        ("errors_model", one(2.0)),
        ("errors_upstream_5xx", Some(Vec::new())),
        ("latency_p95", one(0.0125)),
        ("latency_p99", one(f64::NAN)),
        ("labelled", one(40.2)),
        ("correct", one(38.0)),
        ("squared_error", one(0.0)),
        ("rewards", one(10.0)),
        ("reward_sum", one(4.0)),
        ("reward_squared", None),
        (
            "classes",
            Some(vec![class("2", 5.0), class("0", 7.4), class("other", 1.0)]),
        ),
        ("shadow_compared", one(3.0)),
        ("shadow_requests", one(9.0)),
        (
            "shadow_errors",
            Some(vec![
                labelled("kind", "timeout", 2.0),
                labelled("kind", "unavailable", 1.0),
                labelled("kind", "upstream_5xx", 1.0),
                labelled("kind", "something_else", 7.0),
            ]),
        ),
    ]);
    let w = assemble(&got);
    assert_eq!(w.requests, 102);
    assert_eq!(w.errors.model, 2);
    assert_eq!(w.errors.total(), 2);
    assert_eq!(w.latency.p95_ms, 12.5);
    assert_eq!(w.latency.p99_ms, 0.0, "NaN (no data) reads as no latency");
    assert!(w.latency.samples_ms.is_empty());
    assert_eq!(
        (w.labelled.correct, w.labelled.total, w.labelled.n),
        (38, 40, 0)
    );
    assert_eq!(
        (w.rewards.n, w.rewards.sum, w.rewards.sum_sq),
        (10, 4.0, 4.0)
    );
    assert_eq!(w.output_histogram, vec![7, 0, 5]);
    assert_eq!(w.shadow.n, 3);
    assert_eq!(w.shadow.requests, 9);
    assert_eq!(
        (w.shadow.errors.timeout, w.shadow.errors.upstream_5xx),
        (2, 2),
        "unavailable counts as a 5xx; unknown kinds are ignored"
    );
    assert_eq!(w.answered(), 111);
    assert!(w.warmup.warm);
}

#[test]
fn squared_errors_make_a_regression_window() {
    let got: Answers = BTreeMap::from([
        ("labelled", one(20.0)),
        ("abs_error", one(9.5)),
        ("squared_error", one(6.25)),
        ("reward_squared", one(3.0)),
        ("reward_sum", one(2.0)),
    ]);
    let w = assemble(&got);
    assert_eq!((w.labelled.total, w.labelled.n), (0, 20));
    assert_eq!(w.labelled.sum_sq_error, 6.25);
    assert_eq!(w.rewards.sum_sq, 3.0);
}

#[test]
fn no_answers_is_an_empty_window() {
    let w = assemble(&Answers::new());
    assert_eq!(
        w,
        VersionWindow {
            warmup: Warmup {
                warm: true,
                warmup_requests: 0
            },
            ..VersionWindow::default()
        }
    );
}

#[tokio::test]
async fn an_unreachable_server_gives_an_empty_window() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = PrometheusSource::new(
        &format!("http://127.0.0.1:{port}"),
        &BTreeMap::new(),
        Duration::from_millis(500),
    );
    let mark = source.mark("iris", "v2");
    assert!(mark.totals.is_none());
    let w = source.window("iris", "v2", &mark).await;
    assert_eq!(w, VersionWindow::default());
}
