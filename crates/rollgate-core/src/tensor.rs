//! The data that crosses a model boundary: a batch of feature rows in, named output tensors out.
//!
//! Both protocols Rollgate speaks (its own v1 JSON and the Open Inference Protocol v2) and both
//! backend kinds (in-process ONNX, HTTP upstream) meet on these types, so a decoder and a model
//! never need to know about each other.

use serde::Serialize;

/// A batch of rows of `f32` features, stored row-major in one allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBatch {
    rows: usize,
    width: usize,
    values: Vec<f32>,
}

/// Why a set of values cannot form a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The batch holds no row at all.
    #[error("the request holds no rows")]
    Empty,
    /// A row (or the flat data) does not have the model's input width.
    #[error("row {row} has {found} features, the model expects {expected}")]
    Width {
        /// Index of the first offending row.
        row: usize,
        /// Features found in that row.
        found: usize,
        /// Features the model takes.
        expected: usize,
    },
    /// A value is NaN or infinite.
    #[error("row {row}, feature {column} is not a finite number")]
    NotFinite {
        /// Row index.
        row: usize,
        /// Column index.
        column: usize,
    },
}

impl FeatureBatch {
    /// Builds a batch from flat row-major values, checking that they fill whole rows of `width`.
    pub fn from_flat(values: Vec<f32>, width: usize) -> Result<Self, BatchError> {
        if values.is_empty() || width == 0 {
            return Err(BatchError::Empty);
        }
        if !values.len().is_multiple_of(width) {
            return Err(BatchError::Width {
                row: values.len() / width,
                found: values.len() % width,
                expected: width,
            });
        }
        let batch = Self {
            rows: values.len() / width,
            width,
            values,
        };
        batch.check_finite()?;
        Ok(batch)
    }

    /// Builds a batch from rows, checking each has `width` features.
    pub fn from_rows(rows: &[Vec<f32>], width: usize) -> Result<Self, BatchError> {
        if rows.is_empty() {
            return Err(BatchError::Empty);
        }
        let mut values = Vec::with_capacity(rows.len() * width);
        for (i, row) in rows.iter().enumerate() {
            if row.len() != width {
                return Err(BatchError::Width {
                    row: i,
                    found: row.len(),
                    expected: width,
                });
            }
            values.extend_from_slice(row);
        }
        Self::from_flat(values, width)
    }

    fn check_finite(&self) -> Result<(), BatchError> {
        match self.values.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(i) => Err(BatchError::NotFinite {
                row: i / self.width,
                column: i % self.width,
            }),
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Features per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The row-major values.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Gives the values up, e.g. to build a model tensor without a copy.
    pub fn into_values(self) -> Vec<f32> {
        self.values
    }
}

/// The values of one output tensor.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TensorData {
    /// 64-bit integers (class labels).
    I64(Vec<i64>),
    /// 32-bit floats (probabilities, regression values).
    F32(Vec<f32>),
}

impl TensorData {
    /// The Open Inference Protocol datatype name of these values.
    pub fn datatype(&self) -> &'static str {
        match self {
            TensorData::I64(_) => "INT64",
            TensorData::F32(_) => "FP32",
        }
    }

    /// Number of scalar values.
    pub fn len(&self) -> usize {
        match self {
            TensorData::I64(v) => v.len(),
            TensorData::F32(v) => v.len(),
        }
    }

    /// True when there is no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One named output tensor of a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputTensor {
    /// Output name as the model declares it (`label`, `probabilities`, `variable`).
    pub name: String,
    /// Shape, first dimension is the batch.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: TensorData,
}

/// Declared name, datatype and shape of a model tensor, for metadata documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Tensor name.
    pub name: String,
    /// Open Inference Protocol datatype (`FP32`, `INT64`).
    pub datatype: &'static str,
    /// Shape, `-1` for a variable dimension (the batch).
    pub shape: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_values_must_fill_rows() {
        assert!(FeatureBatch::from_flat(vec![1.0; 8], 4).is_ok());
        assert_eq!(
            FeatureBatch::from_flat(vec![1.0; 6], 4),
            Err(BatchError::Width {
                row: 1,
                found: 2,
                expected: 4
            })
        );
        assert_eq!(FeatureBatch::from_flat(vec![], 4), Err(BatchError::Empty));
    }

    #[test]
    fn rows_are_checked_one_by_one() {
        let rows = vec![vec![1.0, 2.0], vec![3.0]];
        assert_eq!(
            FeatureBatch::from_rows(&rows, 2),
            Err(BatchError::Width {
                row: 1,
                found: 1,
                expected: 2
            })
        );
        let ok = FeatureBatch::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]], 2).unwrap();
        assert_eq!(ok.rows(), 2);
        assert_eq!(ok.values(), &[1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn non_finite_values_are_refused() {
        assert_eq!(
            FeatureBatch::from_flat(vec![1.0, f32::NAN], 2),
            Err(BatchError::NotFinite { row: 0, column: 1 })
        );
    }
}
