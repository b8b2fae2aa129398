//! Feedback: ground truth and business outcomes that arrive after the answer.
//!
//! A model's accuracy can only be known once the truth is: a fraud label days later, a click
//! seconds later. Each answered prediction is kept for a while in the [`Ledger`] under its
//! request id; `POST /v1/feedback` brings `{"request_id", "label"}` or
//! `{"request_id", "reward"}`, the record is found, and the version that answered (and the
//! shadow candidate that answered the same request in the background, if any) is credited.

mod ledger;

pub(crate) use ledger::{Ledger, Missing, Record};

use serde_json::Value;

/// What a version predicted for each row of a request, as far as feedback can judge it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Predicted {
    /// A classifier's label index per row.
    Classes(Vec<i64>),
    /// A regressor's value per row.
    Values(Vec<f32>),
    /// Outputs Rollgate did not interpret (an upstream's own JSON): rewards can still be joined.
    Opaque,
}

/// How one labelled row turned out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Credit {
    /// A classifier's row: right or wrong.
    Correct(bool),
    /// A regressor's row: prediction minus truth.
    Error(f64),
}

/// Why a label cannot be judged against a prediction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum LabelError {
    #[error("the request had {rows} rows and the feedback has {labels} labels")]
    RowCount { rows: usize, labels: usize },
    #[error("label {0} is not a known class (give the class name or its index)")]
    UnknownClass(String),
    #[error("label {0} is not a number, and the model is a regressor")]
    NotANumber(String),
    #[error("the answer of this request was not interpreted by Rollgate, so labels cannot be judged; send a reward instead")]
    Opaque,
}

/// Judges labels against a prediction: one label per row (a single label for a one-row request
/// may be given bare). Classes are matched by name (the service's declared `classes`) or index.
pub(crate) fn credit(
    predicted: &Predicted,
    label: &Value,
    classes: &[String],
) -> Result<Vec<Credit>, LabelError> {
    let labels: Vec<&Value> = match label {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let rows = match predicted {
        Predicted::Classes(c) => c.len(),
        Predicted::Values(v) => v.len(),
        Predicted::Opaque => return Err(LabelError::Opaque),
    };
    if rows != labels.len() {
        return Err(LabelError::RowCount {
            rows,
            labels: labels.len(),
        });
    }
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| match predicted {
            Predicted::Classes(c) => class_index(l, classes).map(|t| Credit::Correct(c[i] == t)),
            Predicted::Values(v) => l
                .as_f64()
                .map(|t| Credit::Error(f64::from(v[i]) - t))
                .ok_or_else(|| LabelError::NotANumber(l.to_string())),
            Predicted::Opaque => Err(LabelError::Opaque),
        })
        .collect()
}

fn class_index(label: &Value, classes: &[String]) -> Result<i64, LabelError> {
    let unknown = || LabelError::UnknownClass(label.to_string());
    match label {
        Value::Number(n) => n.as_i64().ok_or_else(unknown),
        Value::String(s) => classes
            .iter()
            .position(|c| c == s)
            .map(|i| i as i64)
            .or_else(|| s.parse().ok())
            .ok_or_else(unknown),
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> Vec<String> {
        vec!["setosa".into(), "versicolor".into(), "virginica".into()]
    }

    #[test]
    fn classes_match_by_name_or_index() {
        let p = Predicted::Classes(vec![1, 2]);
        let got = credit(&p, &json!(["versicolor", 0]), &names()).unwrap();
        assert_eq!(got, vec![Credit::Correct(true), Credit::Correct(false)]);
        let one = Predicted::Classes(vec![2]);
        assert_eq!(
            credit(&one, &json!("virginica"), &names()).unwrap(),
            vec![Credit::Correct(true)]
        );
    }

    #[test]
    fn regression_labels_give_signed_errors() {
        let p = Predicted::Values(vec![3.0]);
        assert_eq!(
            credit(&p, &json!(1.5), &[]).unwrap(),
            vec![Credit::Error(1.5)]
        );
    }

    #[test]
    fn mismatches_are_named() {
        let p = Predicted::Classes(vec![1, 2]);
        assert_eq!(
            credit(&p, &json!("setosa"), &names()),
            Err(LabelError::RowCount { rows: 2, labels: 1 })
        );
        let one = Predicted::Classes(vec![1]);
        assert!(matches!(
            credit(&one, &json!("tulip"), &names()),
            Err(LabelError::UnknownClass(_))
        ));
        let v = Predicted::Values(vec![1.0]);
        assert!(matches!(
            credit(&v, &json!("x"), &[]),
            Err(LabelError::NotANumber(_))
        ));
        assert_eq!(
            credit(&Predicted::Opaque, &json!(1), &[]),
            Err(LabelError::Opaque)
        );
    }
}
