//! In-process ONNX models through tract (pure Rust, nothing downloaded at build time).
//!
//! A model is parsed, typed for a dynamic batch of `input_width` features, optimised and made
//! runnable once, when the version is loaded; a warm-up run checks that it works and records its
//! outputs and how long a one-row run takes.
//!
//! Where a request runs depends on that cost. A small logistic regression answers one row in a
//! few microseconds, far less than handing the work to tokio's blocking pool and back (a task
//! allocation, a thread wake-up and a wake-up of the reactor again, each way): such requests run
//! inline on the reactor thread. A request whose estimated cost (rows × the one-row time) is
//! over [`INLINE_BUDGET`] runs on the blocking pool, so a large batch or a heavy model never
//! stalls the other connections of its worker thread.

use super::BackendError;
use crate::telemetry::ErrorKind;
use rollgate_core::tensor::{FeatureBatch, OutputTensor, TensorData, TensorSpec};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

type Plan = Arc<TypedRunnableModel>;

/// Longest estimated inference run inline on the reactor thread; a blocking-pool round trip
/// costs tens of microseconds of CPU and latency, so below this it is the expensive part.
const INLINE_BUDGET: Duration = Duration::from_micros(100);
/// Timed one-row runs at load; the fastest is the estimate (the first run warms caches).
const TIMED_RUNS: usize = 3;

/// Why a model file cannot be served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// tract could not parse, type or optimise the graph.
    #[error("not a model tract can run: {0}")]
    Unsupported(String),
    /// The graph runs, but not on rows of the service's width.
    #[error("the model does not take rows of {width} features: {reason}")]
    Width {
        /// Width the service declares.
        width: usize,
        /// What tract said.
        reason: String,
    },
    /// An output has a type Rollgate cannot return.
    #[error("output `{0}` has type {1:?}; only int64 and float32 outputs are supported")]
    OutputType(String, DatumType),
}

/// An optimised ONNX model ready to run.
#[derive(Debug)]
pub(crate) struct OnnxBackend {
    plan: Plan,
    outputs: Vec<TensorSpec>,
    /// Output names, shared with every request's inference task (built once at load).
    names: Arc<[String]>,
    /// Rows a request may have and still run inline (see the module doc); 0 = never.
    inline_rows: usize,
}

impl OnnxBackend {
    /// Loads, optimises and warms up a model from its bytes.
    pub(crate) fn load(bytes: &[u8], width: usize) -> Result<Self, LoadError> {
        let plan = optimise(bytes, width)?;
        let warm = FeatureBatch::from_flat(vec![0.0; width], width)
            .map_err(|e| LoadError::Unsupported(e.to_string()))?;
        let names = output_names(&plan);
        // tract asserts (panics) rather than errs on some shape mismatches the optimiser let
        // through; a model that cannot run must be a load error, not a crash.
        let warmed = std::panic::catch_unwind(AssertUnwindSafe(|| run(&plan, warm, &names)))
            .unwrap_or_else(|_| {
                Err(BackendError::new(
                    ErrorKind::Model,
                    "the warm-up run crashed in tract",
                ))
            });
        let tensors = warmed.map_err(|e| LoadError::Width {
            width,
            reason: e.message,
        })?;
        let outputs = tensors.iter().map(info).collect();
        let inline_rows = inline_rows(&plan, width, &names);
        Ok(Self {
            plan,
            outputs,
            names: names.into(),
            inline_rows,
        })
    }
}

/// How many rows fit in [`INLINE_BUDGET`] at the measured one-row cost (a conservative
/// estimate: the fixed per-run cost is counted once per row).
fn inline_rows(plan: &Plan, width: usize, names: &[String]) -> usize {
    let mut fastest = Duration::MAX;
    for _ in 0..TIMED_RUNS {
        let Ok(row) = FeatureBatch::from_flat(vec![0.0; width], width) else {
            return 0;
        };
        let started = Instant::now();
        if guarded(plan, row, names).is_err() {
            return 0;
        }
        fastest = fastest.min(started.elapsed());
    }
    let per_row = fastest.as_nanos().max(1);
    usize::try_from(INLINE_BUDGET.as_nanos() / per_row).unwrap_or(0)
}

/// [`run`], with a panic inside tract turned into a model error (tract asserts rather than errs
/// on some shape mismatches; on the reactor thread a panic would cut the client's connection).
fn guarded(
    plan: &Plan,
    batch: FeatureBatch,
    names: &[String],
) -> Result<Vec<OutputTensor>, BackendError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| run(plan, batch, names))).unwrap_or_else(|_| {
        Err(BackendError::new(
            ErrorKind::Model,
            "the model crashed in tract",
        ))
    })
}

fn optimise(bytes: &[u8], width: usize) -> Result<Plan, LoadError> {
    let unsupported = |e: TractError| LoadError::Unsupported(format!("{e:#}"));
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(unsupported)?;
    if let Some(declared) = declared_width(&model).filter(|&d| d != width) {
        return Err(LoadError::Width {
            width,
            reason: format!("its input declares rows of {declared} features"),
        });
    }
    let batch = model.sym("N");
    let fact = InferenceFact::dt_shape(f32::datum_type(), tvec![batch.into(), width.to_dim()]);
    model.set_input_fact(0, fact).map_err(unsupported)?;
    let typed = model.into_optimized().map_err(|e| LoadError::Width {
        width,
        reason: format!("{e:#}"),
    })?;
    typed.into_runnable().map_err(unsupported)
}

/// The row width the graph's first input declares, when it declares one (`[N, 4]` gives 4).
/// Checked before typing: tract may optimise a graph typed with the wrong width and then fail
/// by a panic when it runs.
fn declared_width(model: &InferenceModel) -> Option<usize> {
    let fact = model.input_fact(0).ok()?;
    usize::try_from(fact.shape.dim(1)?.concretize()?.as_i64()?).ok()
}

fn output_names(plan: &Plan) -> Vec<String> {
    let model = plan.model();
    model
        .output_outlets()
        .unwrap_or(&[])
        .iter()
        .map(|o| {
            model
                .outlet_label(*o)
                .map_or_else(|| model.node(o.node).name.clone(), str::to_owned)
        })
        .collect()
}

fn info(t: &OutputTensor) -> TensorSpec {
    let mut shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    if let Some(first) = shape.first_mut() {
        *first = -1;
    }
    TensorSpec {
        name: t.name.clone(),
        datatype: t.data.datatype(),
        shape,
    }
}

/// Runs the plan on a batch.
fn run(
    plan: &Plan,
    batch: FeatureBatch,
    names: &[String],
) -> Result<Vec<OutputTensor>, BackendError> {
    let model_error =
        |e: TractError| BackendError::new(ErrorKind::Model, format!("model failed: {e:#}"));
    let (rows, width) = (batch.rows(), batch.width());
    let input = Tensor::from_shape(&[rows, width], batch.values()).map_err(model_error)?;
    let outputs = plan.run(tvec![input.into()]).map_err(model_error)?;
    outputs
        .iter()
        .zip(names)
        .map(|(value, name)| convert(name, value))
        .collect()
}

fn convert(name: &str, value: &TValue) -> Result<OutputTensor, BackendError> {
    let shape = value.shape().to_vec();
    let data = match value.datum_type() {
        DatumType::I64 => value
            .to_plain_array_view::<i64>()
            .map(|a| TensorData::I64(a.iter().copied().collect())),
        DatumType::F32 => value
            .to_plain_array_view::<f32>()
            .map(|a| TensorData::F32(a.iter().copied().collect())),
        other => {
            return Err(BackendError::new(
                ErrorKind::Model,
                LoadError::OutputType(name.to_owned(), other).to_string(),
            ))
        }
    }
    .map_err(|e| BackendError::new(ErrorKind::Model, format!("output `{name}`: {e}")))?;
    Ok(OutputTensor {
        name: name.to_owned(),
        shape,
        data,
    })
}

impl OnnxBackend {
    /// Declared outputs.
    pub(crate) fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// Runs the model on a batch: inline when the batch is cheap, on the blocking pool
    /// otherwise.
    pub(crate) async fn run(&self, batch: FeatureBatch) -> Result<Vec<OutputTensor>, BackendError> {
        if batch.rows() <= self.inline_rows {
            return guarded(&self.plan, batch, &self.names);
        }
        let plan = Arc::clone(&self.plan);
        let names = Arc::clone(&self.names);
        tokio::task::spawn_blocking(move || guarded(&plan, batch, &names))
            .await
            .map_err(|e| BackendError::new(ErrorKind::Model, format!("model task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::builtin;

    fn model(name: &str) -> OnnxBackend {
        OnnxBackend::load(builtin::get(name).expect("bundled"), 4).expect("loads")
    }

    #[test]
    fn bundled_models_load_with_label_and_probabilities() {
        for name in builtin::names() {
            let m = model(name);
            let names: Vec<&str> = m.outputs().iter().map(|o| o.name.as_str()).collect();
            assert_eq!(names, ["label", "probabilities"], "{name}");
            assert_eq!(m.outputs()[1].shape, vec![-1, 3]);
        }
    }

    #[test]
    fn a_batch_runs_and_labels_match_probabilities() {
        let m = model("iris-v2");
        let rows = vec![vec![5.1, 3.5, 1.4, 0.2], vec![6.7, 3.0, 5.2, 2.3]];
        let batch = FeatureBatch::from_rows(&rows, 4).expect("batch");
        let out = run(&m.plan, batch, &["label".into(), "probabilities".into()]).expect("runs");
        assert_eq!(out[0].data, TensorData::I64(vec![0, 2]));
        assert_eq!(out[1].shape, vec![2, 3]);
    }

    #[test]
    fn wrong_width_and_garbage_are_refused() {
        let bytes = builtin::get("iris-v1").expect("bundled");
        let err = OnnxBackend::load(bytes, 3).expect_err("width 3");
        assert!(matches!(err, LoadError::Width { width: 3, .. }), "{err}");
        let err = OnnxBackend::load(b"not a model", 4).expect_err("garbage");
        assert!(matches!(err, LoadError::Unsupported(_)), "{err}");
    }
}
