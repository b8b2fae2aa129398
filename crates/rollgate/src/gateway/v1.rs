//! Rollgate's own JSON protocol: `{"instances": [[...], ...]}` (or one row as
//! `{"features": [...]}`, the form the first canary prototypes used) in, and
//! `{"predictions": [...], "model_version", "request_id"}` out.
//!
//! The fuzz target `request_parser` (`fuzz/`) compiles this file as it is: keep its code (tests
//! aside) free of paths into the rest of the binary (`crate::`, `super::`).

use rollgate_core::config::OutputSpec;
use rollgate_core::tensor::{BatchError, FeatureBatch, OutputTensor, TensorData};
use serde::Deserialize;
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
