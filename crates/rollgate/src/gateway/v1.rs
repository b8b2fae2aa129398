//! Rollgate's own JSON protocol: `{"instances": [[...], ...]}` (or one row as
//! `{"features": [...]}`, the form the first canary prototypes used) in, and
//! `{"predictions": [...], "model_version", "request_id"}` out.
//!
//! The fuzz target `request_parser` (`fuzz/`) compiles this file as it is: keep its code (tests
//! aside) free of paths into the rest of the binary (`crate::`, `super::`).

use rollgate_core::config::OutputSpec;
use rollgate_core::tensor::{BatchError, FeatureBatch, OutputTensor, TensorData};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Map, Value};

/// Why a v1 body cannot be decoded; messages name the expected shape.
#[derive(Debug, thiserror::Error)]
pub(crate) enum V1Error {
    /// Not JSON, or not the documented fields.
    #[error("malformed JSON: {0}")]
    Json(String),
    /// Neither `instances` nor `features`.
    #[error("expected {{\"instances\": [[{0} numbers], ...]}} or {{\"features\": [{0} numbers]}}")]
    Missing(usize),
    /// Rows of the wrong width or non-finite values.
    #[error("{0}; expected shape [N, {1}]")]
    Shape(BatchError, usize),
}

#[derive(Deserialize)]
struct V1Body {
    instances: Option<Vec<Vec<f32>>>,
    features: Option<Vec<f32>>,
}

/// Decodes a v1 predict body into a batch of `width` features per row.
pub(crate) fn decode(body: &[u8], width: usize) -> Result<FeatureBatch, V1Error> {
    // JSON is UTF-8; checked whole, since serde skips fields it ignores without checking them.
    let text = std::str::from_utf8(body).map_err(|e| V1Error::Json(format!("not UTF-8: {e}")))?;
    let parsed: V1Body = serde_json::from_str(text).map_err(|e| V1Error::Json(e.to_string()))?;
    let result = match (parsed.instances, parsed.features) {
        (Some(rows), _) => FeatureBatch::from_rows(&rows, width),
        (None, Some(row)) => FeatureBatch::from_rows(&[row], width),
        (None, None) => return Err(V1Error::Missing(width)),
    };
    result.map_err(|e| V1Error::Shape(e, width))
}

/// Parses a body as a top-level JSON object (for sticky keys read from the body).
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, V1Error> {
    serde_json::from_slice(body).map_err(|e| V1Error::Json(e.to_string()))
}

/// Encodes model outputs as v1 predictions.
///
/// A classifier (an INT64 `[N]` output beside an FP32 `[N, C]` one) gives
/// `{"class", "label", "probabilities"}` per row, the class named when the service declares
/// names; a regressor (one FP32 `[N]` or `[N, 1]` output) gives a number per row; anything else
/// gives every output by name.
pub(crate) fn predictions(outputs: &[OutputTensor], spec: &OutputSpec) -> Value {
    if let Some((labels, probs, classes)) = classifier(outputs) {
        let rows = labels.iter().enumerate().map(|(i, &label)| {
            let name = usize::try_from(label)
                .ok()
                .and_then(|l| spec.classes.get(l));
            json!({
                "class": name.map_or_else(|| json!(label), |n| json!(n)),
                "label": label,
                "probabilities": &probs[i * classes..(i + 1) * classes],
            })
        });
        return Value::Array(rows.collect());
    }
    if let [OutputTensor {
        data: TensorData::F32(values),
        shape,
        ..
    }] = outputs
    {
        if shape.len() == 1 || shape.get(1) == Some(&1) {
            return json!(values);
        }
    }
    let named: Map<String, Value> = outputs
        .iter()
        .map(|o| (o.name.clone(), json!(o.data)))
        .collect();
    Value::Object(named)
}

/// The whole v1 answer, as the bytes of `{"model_version", "predictions", "request_id"}`.
///
/// This runs for every in-process prediction. A classifier's answer, the common case, is
/// written straight from the output slices instead of through a `serde_json::Value` tree (a
/// map and a string per row and per key, built, serialised and freed): the bytes are the same
/// (keys in the same sorted order, probabilities widened to f64 as `json!` widens them, NaN as
/// `null`). Other outputs go through [`predictions`].
pub(crate) fn answer(
    outputs: &[OutputTensor],
    spec: &OutputSpec,
    version: &str,
    request_id: &str,
) -> Vec<u8> {
    let written = match classifier(outputs) {
        Some((labels, probs, classes)) => serde_json::to_vec(&Answer {
            model_version: version,
            predictions: Rows {
                labels,
                probs,
                classes,
                names: &spec.classes,
            },
            request_id,
        }),
        None => serde_json::to_vec(&Answer {
            model_version: version,
            predictions: predictions(outputs, spec),
            request_id,
        }),
    };
    // Strings, integers, floats and sequences into a Vec: serialising them cannot fail.
    written.unwrap_or_default()
}

/// Field order is the sorted key order a `serde_json::Map` writes.
#[derive(Serialize)]
struct Answer<'a, P> {
    model_version: &'a str,
    predictions: P,
    request_id: &'a str,
}

/// A classifier's rows, serialised without an intermediate `Value`.
struct Rows<'a> {
    labels: &'a [i64],
    probs: &'a [f32],
    classes: usize,
    names: &'a [String],
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.classes;
        s.collect_seq(self.labels.iter().enumerate().map(|(i, &label)| {
            let name = usize::try_from(label).ok().and_then(|l| self.names.get(l));
            Row {
                class: name.map_or(Class::Label(label), |n| Class::Name(n)),
                label,
                probabilities: Widened(self.probs.get(i * c..(i + 1) * c).unwrap_or_default()),
            }
        }))
    }
}

#[derive(Serialize)]
struct Row<'a> {
    class: Class<'a>,
    label: i64,
    probabilities: Widened<'a>,
}

/// The class's declared name, else its label.
#[derive(Serialize)]
#[serde(untagged)]
enum Class<'a> {
    Name(&'a str),
    Label(i64),
}

/// f32 values written as the f64 they widen to, as `json!` writes them.
struct Widened<'a>(&'a [f32]);

impl Serialize for Widened<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&p| f64::from(p)))
    }
}

/// `(labels, flat probabilities, classes)` when the outputs look like a classifier's.
pub(crate) fn classifier(outputs: &[OutputTensor]) -> Option<(&[i64], &[f32], usize)> {
    let labels = outputs.iter().find_map(|o| match &o.data {
        TensorData::I64(v) if o.shape.len() == 1 => Some(v.as_slice()),
        _ => None,
    })?;
    let (probs, classes) = outputs
        .iter()
        .find_map(|o| match (&o.data, o.shape.as_slice()) {
            (TensorData::F32(v), [n, c]) if *n == labels.len() => Some((v.as_slice(), *c)),
            _ => None,
        })?;
    Some((labels, probs, classes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_and_features_decode() {
        let b = decode(br#"{"instances": [[1,2,3,4],[5,6,7,8]]}"#, 4).expect("instances");
        assert_eq!(b.rows(), 2);
        let b = decode(br#"{"features": [1,2,3,4], "user_id": "u"}"#, 4).expect("features");
        assert_eq!(b.rows(), 1);
    }

    #[test]
    fn errors_name_the_expected_shape() {
        let e = decode(br#"{"instances": [[1,2,3]]}"#, 4).expect_err("width");
        assert_eq!(
            e.to_string(),
            "row 0 has 3 features, the model expects 4; expected shape [N, 4]"
        );
        let e = decode(br#"{"rows": []}"#, 4).expect_err("missing");
        assert!(e.to_string().contains("\"instances\""), "{e}");
        assert!(matches!(decode(b"{", 4), Err(V1Error::Json(_))));
    }

    #[test]
    fn classifier_outputs_name_classes() {
        let outputs = vec![
            OutputTensor {
                name: "label".into(),
                shape: vec![1],
                data: TensorData::I64(vec![1]),
            },
            OutputTensor {
                name: "probabilities".into(),
                shape: vec![1, 2],
                data: TensorData::F32(vec![0.25, 0.75]),
            },
        ];
        let spec = OutputSpec {
            classes: vec!["no".into(), "yes".into()],
            range: None,
        };
        assert_eq!(
            predictions(&outputs, &spec),
            json!([{"class": "yes", "label": 1, "probabilities": [0.25, 0.75]}])
        );
        let unnamed = predictions(&outputs, &OutputSpec::default());
        assert_eq!(unnamed[0]["class"], json!(1));
    }

    /// The answer the encoder replaced: a `Value` tree, serialised.
    fn via_value(outputs: &[OutputTensor], spec: &OutputSpec) -> Vec<u8> {
        let v = json!({"predictions": predictions(outputs, spec), "model_version": "v2", "request_id": "r-1"});
        serde_json::to_vec(&v).expect("serialises")
    }

    #[test]
    fn direct_answers_have_the_bytes_of_the_value_tree() {
        let outputs = vec![
            OutputTensor {
                name: "label".into(),
                shape: vec![3],
                data: TensorData::I64(vec![2, 0, 7]),
            },
            OutputTensor {
                name: "probabilities".into(),
                shape: vec![3, 3],
                data: TensorData::F32(vec![
                    0.1,
                    0.2,
                    0.649_244_1,
                    1.0,
                    0.0,
                    1.385_749_5e-19,
                    f32::NAN,
                    0.5,
                    0.5,
                ]),
            },
        ];
        let named = OutputSpec {
            classes: vec!["setosa".into(), "versicolor".into(), "virginica".into()],
            range: None,
        };
        for spec in [named, OutputSpec::default()] {
            assert_eq!(
                String::from_utf8(answer(&outputs, &spec, "v2", "r-1")).expect("utf-8"),
                String::from_utf8(via_value(&outputs, &spec)).expect("utf-8"),
            );
        }
        let regression = vec![OutputTensor {
            name: "variable".into(),
            shape: vec![2],
            data: TensorData::F32(vec![1.5, 2.5]),
        }];
        let spec = OutputSpec::default();
        assert_eq!(
            answer(&regression, &spec, "v2", "r-1"),
            via_value(&regression, &spec)
        );
    }

    #[test]
    fn regression_outputs_are_numbers() {
        let outputs = vec![OutputTensor {
            name: "variable".into(),
            shape: vec![2, 1],
            data: TensorData::F32(vec![1.5, 2.5]),
        }];
        assert_eq!(
            predictions(&outputs, &OutputSpec::default()),
            json!([1.5, 2.5])
        );
    }
}
