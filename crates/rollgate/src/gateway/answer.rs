//! Reading what an HTTP model server predicted, from its own JSON answer.
//!
//! Rollgate returns an upstream's answer as is, but it still needs the predictions in it:
//! class counts per version, invalid outputs, accuracy from delayed labels and shadow
//! divergence all depend on them. Model servers answer in a few well-known shapes, read here:
//!
//! - `{"predictions": [...]}`: Rollgate's v1, KServe v1, TensorFlow Serving, Seldon, most
//!   FastAPI services. A row is a class (an integer, or a name among the service's declared
//!   `classes`), a regression value (a number), or an object whose `class`, `label` or
//!   `prediction` field is one of those.
//! - `{"prediction": x}`: one row, as a hand-written FastAPI service often answers.
//! - `{"outputs": [{"name", "datatype", "shape", "data"}]}`: the Open Inference Protocol
//!   (Triton, KServe v2, MLServer). The first one-dimensional integer or `BYTES` output is
//!   the class; otherwise a lone floating-point output of one value per row is a regression.
//!
//! Anything else is [`Predicted::Opaque`]: still served, only not interpreted.

use crate::backend::{BackendError, Body, BoxError};
use crate::feedback::Predicted;
use crate::telemetry::ErrorKind;
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, Collected, Full};
use serde_json::Value;
use std::task::Poll;
use std::time::Duration;
use tokio::time::error::Elapsed;

mod reader;

/// Answers larger than this are passed through unread: a prediction answer is small, and a
/// large one (embeddings, images) has no class to count.
pub(crate) const READ_LIMIT: u64 = 64 * 1024;

/// How long the rest of a small answer may take once its head arrived.
const BODY_WAIT: Duration = Duration::from_secs(10);

/// An upstream's answer after [`examine`].
pub(crate) enum Reading {
    /// Passed on unread, with the failure its status means: a 5xx (the upstream's) or a 4xx
    /// (the request's), or a success not worth reading (not JSON, large, streamed).
    Unread(Response, Option<ErrorKind>),
    /// Read whole (and rebuilt, unchanged), with what it predicted: `None` when it is not the
    /// JSON it says it is.
    Read(Response, Option<Predicted>),
}

/// Classifies an upstream's answer by status and reads it when it is [`readable`]: the one
/// reading of model-server answers, for served requests and mirrored copies alike.
pub(crate) async fn examine(
    resp: http::Response<Body>,
    classes: &[String],
) -> Result<Reading, BackendError> {
    let status = resp.status();
    let error = if status.is_server_error() {
        Some(ErrorKind::Upstream5xx)
    } else {
        status.is_client_error().then_some(ErrorKind::BadRequest)
    };
    if error.is_some() || !readable(&resp) {
        return Ok(Reading::Unread(resp.map(axum::body::Body::new), error));
    }
    let (resp, predicted) = read(resp, classes).await?;
    Ok(Reading::Read(resp, predicted))
}

/// True for an answer worth reading: JSON, of a declared length within [`READ_LIMIT`].
fn readable(resp: &http::Response<Body>) -> bool {
    let json = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| names_json(v.as_bytes()));
    let small = http_body::Body::size_hint(resp.body())
        .exact()
        .is_some_and(|n| n <= READ_LIMIT);
    json && small
}

/// True for a media type naming JSON (`application/json`, `application/problem+json`, any
/// case). A byte scan: `str::contains` sets up a substring searcher for every call, which on
/// this per-answer path cost more than the whole scan.
fn names_json(media_type: &[u8]) -> bool {
    media_type
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"json"))
}

/// The whole body, or `Err(Elapsed)` if it takes longer than `wait`. A small answer has
/// usually arrived with its head: the timer is only set when the first read would wait.
async fn collect_within(
    body: Body,
    wait: Duration,
) -> Result<Result<Collected<Bytes>, BoxError>, Elapsed> {
    let mut collect = std::pin::pin!(body.collect());
    if let Poll::Ready(done) = futures_util::poll!(collect.as_mut()) {
        return Ok(done);
    }
    tokio::time::timeout(wait, collect).await
}

/// Reads a [`readable`] answer whole and says what it predicted (`None`: not JSON); the
/// answer goes on to the client unchanged. A body cut off or stalled is the upstream's
/// failure.
async fn read(
    resp: http::Response<Body>,
    classes: &[String],
) -> Result<(Response, Option<Predicted>), BackendError> {
    let (parts, body) = resp.into_parts();
    let bytes = match collect_within(body, BODY_WAIT).await {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) => {
            return Err(BackendError::new(
                ErrorKind::Upstream5xx,
                format!("reading the upstream's answer failed: {e}"),
            ))
        }
        Err(_) => {
            return Err(BackendError::new(
                ErrorKind::Timeout,
                format!(
                    "the upstream's answer stalled for {} ms after its head",
                    BODY_WAIT.as_millis()
                ),
            ))
        }
    };
    let predicted = interpret(&bytes, classes);
    let body = axum::body::Body::new(Full::new(bytes));
    Ok((Response::from_parts(parts, body), predicted))
}

/// What an upstream's JSON answer predicted; `None` when it is not JSON at all although it
/// said it was (a broken model server). `classes` are the service's declared class names, so
/// that a server answering with names is read as class indices; an undeclared name is read
/// as class −1, which counts as an invalid output.
pub(crate) fn interpret(body: &[u8], classes: &[String]) -> Option<Predicted> {
    let Some(doc) = reader::read(body, classes)? else {
        return Some(Predicted::Opaque);
    };
    Some(if let Some(rows) = doc.predictions {
        gather(rows)
    } else if let Some(one) = doc.prediction {
        gather(vec![one])
    } else if let Some(Value::Array(outputs)) = &doc.outputs {
        open_inference(outputs, classes)
    } else {
        Predicted::Opaque
    })
}

/// One row's prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Row {
    Class(i64),
    Value(f32),
    Unknown,
}

fn class_index(name: &str, classes: &[String]) -> i64 {
    classes
        .iter()
        .position(|c| c == name)
        .map(|i| i as i64)
        .or_else(|| name.parse().ok())
        .unwrap_or(-1)
}

/// All classes, or all numbers (an integer among floats is a value), or nothing.
fn gather(rows: Vec<Row>) -> Predicted {
    if rows.is_empty() || rows.contains(&Row::Unknown) {
        return Predicted::Opaque;
    }
    if rows.iter().all(|r| matches!(r, Row::Class(_))) {
        return Predicted::Classes(
            rows.into_iter()
                .filter_map(|r| match r {
                    Row::Class(c) => Some(c),
                    _ => None,
                })
                .collect(),
        );
    }
    Predicted::Values(
        rows.into_iter()
            .map(|r| match r {
                Row::Class(c) => c as f32,
                Row::Value(v) => v,
                Row::Unknown => f32::NAN,
            })
            .collect(),
    )
}

fn datatype(output: &Value) -> &str {
    output.get("datatype").and_then(Value::as_str).unwrap_or("")
}

fn open_inference(outputs: &[Value], classes: &[String]) -> Predicted {
    let one_dim = |o: &&Value| match o.get("shape").and_then(Value::as_array) {
        Some(s) => s.len() == 1 || (s.len() == 2 && s[1].as_u64() == Some(1)),
        None => false,
    };
    let data = |o: &Value| o.get("data").and_then(Value::as_array).cloned();
    let label = outputs.iter().filter(one_dim).find(|o| {
        let t = datatype(o);
        t.starts_with("INT") || t.starts_with("UINT") || t == "BYTES"
    });
    if let Some(rows) = label.and_then(data) {
        let rows: Vec<Row> = rows
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_i64().map_or(Row::Unknown, Row::Class),
                Value::String(s) => Row::Class(class_index(s, classes)),
                _ => Row::Unknown,
            })
            .collect();
        return gather(rows);
    }
    match outputs {
        [only] if one_dim(&only) && datatype(only).starts_with("FP") => {
            data(only).map_or(Predicted::Opaque, |rows| {
                gather(
                    rows.iter()
                        .map(|v| v.as_f64().map_or(Row::Unknown, |f| Row::Value(f as f32)))
                        .collect(),
                )
            })
        }
        _ => Predicted::Opaque,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn json_media_types_are_recognised_in_any_case() {
        for t in [
            "application/json",
            "application/problem+json",
            "Application/JSON; charset=utf-8",
        ] {
            assert!(names_json(t.as_bytes()), "{t}");
        }
        for t in ["text/plain", "", "jso", "application/x-ndjso"] {
            assert!(!names_json(t.as_bytes()), "{t}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_buffered_answer_is_collected_and_a_stalled_one_times_out() {
        let full = Full::new(Bytes::from_static(b"{}"))
            .map_err(|never| match never {})
            .boxed_unsync();
        let read = collect_within(full, Duration::from_secs(1)).await;
        let bytes = read.expect("in time").expect("read").to_bytes();
        assert_eq!(&bytes[..], b"{}");
        let stalled = http_body_util::StreamBody::new(futures_util::stream::pending::<
            Result<http_body::Frame<Bytes>, BoxError>,
        >())
        .boxed_unsync();
        let read = collect_within(stalled, Duration::from_secs(1)).await;
        assert!(read.is_err(), "a body that never ends times out");
    }

    fn names() -> Vec<String> {
        ["setosa", "versicolor", "virginica"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn v1_predictions_are_read_as_classes_or_values() {
        let read = |s: &str| interpret(s.as_bytes(), &names()).expect("JSON");
        assert_eq!(
            read(r#"{"predictions": [0, 2]}"#),
            Predicted::Classes(vec![0, 2])
        );
        assert_eq!(
            read(r#"{"predictions": [{"class": 1, "probabilities": [0.1, 0.8, 0.1]}]}"#),
            Predicted::Classes(vec![1])
        );
        assert_eq!(
            read(r#"{"predictions": ["virginica", "setosa"]}"#),
            Predicted::Classes(vec![2, 0])
        );
        assert_eq!(
            read(r#"{"predictions": [{"label": "tulip"}]}"#),
            Predicted::Classes(vec![-1])
        );
        assert_eq!(read(r#"{"prediction": 1}"#), Predicted::Classes(vec![1]));
        assert_eq!(
            read(r#"{"predictions": [1.5, 2]}"#),
            Predicted::Values(vec![1.5, 2.0])
        );
    }

    #[test]
    fn open_inference_outputs_are_read() {
        let read = |s: &str| interpret(s.as_bytes(), &names()).expect("JSON");
        let triton = r#"{"model_name": "iris", "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [2, 3], "data": [0.9, 0.05, 0.05, 0.1, 0.1, 0.8]},
            {"name": "label", "datatype": "INT64", "shape": [2], "data": [0, 2]}]}"#;
        assert_eq!(read(triton), Predicted::Classes(vec![0, 2]));
        let names_out = r#"{"outputs": [{"name": "y", "datatype": "BYTES", "shape": [1], "data": ["versicolor"]}]}"#;
        assert_eq!(read(names_out), Predicted::Classes(vec![1]));
        let regression = r#"{"outputs": [{"name": "y", "datatype": "FP32", "shape": [2, 1], "data": [0.5, 1.5]}]}"#;
        assert_eq!(read(regression), Predicted::Values(vec![0.5, 1.5]));
    }

    fn upstream(status: u16, content_type: &str, body: &'static str) -> http::Response<Body> {
        let body = Full::new(bytes::Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(body)
            .expect("a response")
    }

    #[tokio::test]
    async fn answers_are_classified_by_status_then_read_when_worth_it() {
        let examine = |r| async { examine(r, &names()).await.expect("examined") };
        let json = "application/json";
        let unread = |r: Reading| match r {
            Reading::Unread(_, error) => error,
            Reading::Read(..) => panic!("read"),
        };
        let read = |r: Reading| match r {
            Reading::Read(_, predicted) => predicted,
            Reading::Unread(..) => panic!("unread"),
        };
        let failed = unread(examine(upstream(503, json, "{}")).await);
        assert_eq!(failed, Some(ErrorKind::Upstream5xx));
        let refused = unread(examine(upstream(422, json, "{}")).await);
        assert_eq!(refused, Some(ErrorKind::BadRequest));
        assert_eq!(
            unread(examine(upstream(200, "text/plain", "1")).await),
            None
        );
        let classes = read(examine(upstream(200, json, r#"{"predictions": [2]}"#)).await);
        assert_eq!(classes, Some(Predicted::Classes(vec![2])));
        assert_eq!(read(examine(upstream(200, json, "<html>")).await), None);
    }

    #[test]
    fn anything_else_is_opaque() {
        assert_eq!(interpret(b"", &names()), None);
        assert_eq!(interpret(b"not json", &names()), None);
        for body in [
            "[1, 2]",
            r#"{"result": 1}"#,
            r#"{"predictions": []}"#,
            r#"{"predictions": [[0.1, 0.9]]}"#,
            r#"{"predictions": [null]}"#,
            r#"{"outputs": [{"name": "emb", "datatype": "FP32", "shape": [1, 384], "data": []}]}"#,
        ] {
            assert_eq!(
                interpret(body.as_bytes(), &names()),
                Some(Predicted::Opaque),
                "{body}"
            );
        }
    }

    /// The reading of a whole `Value`, as answers were read before the one-pass reader: the
    /// reference the reader is checked against.
    fn oracle(body: &[u8], classes: &[String]) -> Option<Predicted> {
        let doc = serde_json::from_slice::<Value>(body).ok()?;
        let Value::Object(doc) = &doc else {
            return Some(Predicted::Opaque);
        };
        let rows = if let Some(Value::Array(rows)) = doc.get("predictions") {
            rows.iter().map(|r| oracle_row(r, classes)).collect()
        } else if let Some(one) = doc.get("prediction") {
            vec![oracle_row(one, classes)]
        } else if let Some(Value::Array(outputs)) = doc.get("outputs") {
            return Some(open_inference(outputs, classes));
        } else {
            return Some(Predicted::Opaque);
        };
        Some(gather(rows))
    }

    fn oracle_row(value: &Value, classes: &[String]) -> Row {
        match value {
            Value::Number(n) => n.as_i64().map_or_else(
                || n.as_f64().map_or(Row::Unknown, |f| Row::Value(f as f32)),
                Row::Class,
            ),
            Value::String(name) => Row::Class(class_index(name, classes)),
            Value::Object(fields) => ["class", "label", "prediction"]
                .iter()
                .find_map(|k| fields.get(*k))
                .map_or(Row::Unknown, |v| match v {
                    Value::Object(_) => Row::Unknown,
                    v => oracle_row(v, classes),
                }),
            _ => Row::Unknown,
        }
    }

    fn leaves() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-3i64..5).prop_map(Value::from),
            Just(Value::from(u64::MAX)),
            (-10.0f64..10.0).prop_map(Value::from),
            prop::sample::select(vec!["setosa", "virginica", "tulip", "2", ""])
                .prop_map(Value::from),
        ]
    }

    fn keys() -> impl Strategy<Value = &'static str> + Clone {
        prop::sample::select(vec![
            "predictions",
            "prediction",
            "outputs",
            "class",
            "label",
            "probabilities",
        ])
    }

    fn object(fields: Vec<(&str, Value)>) -> Value {
        Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Any JSON built from the keys and values answers are read by.
    fn values() -> impl Strategy<Value = Value> {
        leaves().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((keys(), inner), 0..5).prop_map(object),
            ]
        })
    }

    /// Answers shaped like predictions (rows that are objects naming their class several
    /// ways), with random fields around them, and any JSON at all.
    fn documents() -> impl Strategy<Value = Value> {
        let row = prop_oneof![
            leaves(),
            prop::collection::vec((keys(), values()), 0..4).prop_map(object),
        ];
        let rows = prop::collection::vec(row.clone(), 0..4).prop_map(Value::Array);
        let answer = (
            prop::sample::select(vec!["predictions", "prediction"]),
            prop_oneof![rows, row],
            prop::collection::vec((keys(), values()), 0..3),
        )
            .prop_map(|(key, rows, mut others)| {
                others.insert(0, (key, rows));
                object(others)
            });
        prop_oneof![answer, values()]
    }

    proptest! {
        #[test]
        fn the_one_pass_reader_agrees_with_a_whole_document_reading(doc in documents()) {
            let body = serde_json::to_vec(&doc).expect("serialises");
            prop_assert_eq!(interpret(&body, &names()), oracle(&body, &names()));
        }
    }

    #[test]
    fn duplicate_keys_and_escaped_keys_read_as_a_whole_document_would() {
        for body in [
            r#"{"predictions": [1], "predictions": 3, "prediction": 2}"#,
            r#"{"predictions": 3, "predictions": [0]}"#,
            r#"{"pred\u0069ctions": [2]}"#,
            r#"{"predictions": [{"label": 1, "class": "virginica"}]}"#,
            r#"{"predictions": [{"class": {"class": 1}}]}"#,
            r#"{"predictions": [18446744073709551615, 1]}"#,
            r#"{"predictions": [1]} trailing"#,
        ] {
            assert_eq!(
                interpret(body.as_bytes(), &names()),
                oracle(body.as_bytes(), &names()),
                "{body}"
            );
        }
    }
}
