//! Reading the answers of Prometheus' `/api/v1/query`: an instant vector (one sample per
//! series) or a scalar, each value a string that may be `NaN` or `+Inf`.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Why a query gave no number.
#[derive(Debug, thiserror::Error)]
pub(crate) enum QueryError {
    #[error("cannot reach Prometheus: {0}")]
    Http(String),
    #[error("Prometheus did not answer within {} ms", .0.as_millis())]
    Timeout(std::time::Duration),
    #[error("Prometheus answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("Prometheus' answer is not the query API's JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("Prometheus refused the query ({kind}): {error}")]
    Refused { kind: String, error: String },
    #[error("unexpected result type `{0}` (a query must give an instant vector or a scalar)")]
    ResultType(String),
    #[error("sample value `{0}` is not a number")]
    Value(String),
}

/// One series of an instant vector: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: String,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// The samples of an answer body (a scalar is one sample without labels).
pub(crate) fn parse(body: &[u8]) -> Result<Vec<Sample>, QueryError> {
    let env: Envelope = serde_json::from_slice(body)?;
    let data = match (env.status.as_str(), env.data) {
        ("success", Some(d)) => d,
        _ => {
            return Err(QueryError::Refused {
                kind: env.error_type,
                error: env.error,
            })
        }
    };
    match data.result_type.as_str() {
        "vector" => {
            let series: Vec<Series> = serde_json::from_value(data.result)?;
            series
                .into_iter()
                .map(|s| {
                    Ok(Sample {
                        labels: s.metric,
                        value: number(&s.value.1)?,
                    })
                })
                .collect()
        }
        "scalar" => {
            let (_, v): (f64, String) = serde_json::from_value(data.result)?;
            Ok(vec![Sample {
                labels: BTreeMap::new(),
                value: number(&v)?,
            }])
        }
        other => Err(QueryError::ResultType(other.to_owned())),
    }
}

fn number(text: &str) -> Result<f64, QueryError> {
    text.parse().map_err(|_| QueryError::Value(text.to_owned()))
}

/// The single number of an answer: the sum of its finite samples, 0 when there are none (no
/// traffic in the window, or a quantile of nothing, which Prometheus gives as `NaN`).
pub(crate) fn total(samples: &[Sample]) -> f64 {
    samples
        .iter()
        .map(|s| s.value)
        .filter(|v| v.is_finite())
        .sum()
}

/// A count from an extrapolated `increase`: rounded to the nearest whole number, never negative.
pub(crate) fn count(samples: &[Sample]) -> u64 {
    let v = total(samples).round();
    if v > 0.0 {
        v as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_vector_is_read_with_its_labels() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"class":"0"},"value":[1700000000.123,"12.5"]},
            {"metric":{"class":"other"},"value":[1700000000.123,"3"]}]}}"#;
        let s = parse(body).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels["class"], "0");
        assert_eq!(s[0].value, 12.5);
        assert_eq!(total(&s), 15.5);
        assert_eq!(count(&s), 16);
    }

    #[test]
    fn empty_nan_and_scalar_answers() {
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(count(&parse(empty).unwrap()), 0);
        let nan = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"value":[1.0,"NaN"]}]}}"#;
        assert_eq!(total(&parse(nan).unwrap()), 0.0);
        let scalar =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1.0,"0.25"]}}"#;
        assert_eq!(total(&parse(scalar).unwrap()), 0.25);
        let negative =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1.0,"-2"]}}"#;
        assert_eq!(count(&parse(negative).unwrap()), 0);
    }

    #[test]
    fn errors_are_named() {
        let refused =
            br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        let e = parse(refused).unwrap_err().to_string();
        assert!(e.contains("bad_data") && e.contains("parse error"), "{e}");
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(matches!(parse(matrix), Err(QueryError::ResultType(_))));
        assert!(matches!(parse(b"<html>"), Err(QueryError::Json(_))));
        let word = br#"{"status":"success","data":{"resultType":"scalar","result":[1.0,"many"]}}"#;
        assert!(matches!(parse(word), Err(QueryError::Value(_))));
    }
}
