//! One in-process prediction of a bundled model, the way Rollgate could ask tract for it.
//!
//! A single-row request is the common case on the data port, so the per-call overhead of the
//! runtime matters as much as the arithmetic. Compared here, on the bundled iris models:
//! - `dynamic`: a plan optimised for any batch size (a symbolic first dimension), with a
//!   fresh execution state per call (`plan.run`);
//! - `dynamic_reused_state`: the same plan, one execution state kept across calls;
//! - `one_row`: a plan optimised for exactly one row, fresh state per call;
//! - `one_row_reused_state`: that plan with one state kept across calls.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tract_onnx::prelude::*;

const WIDTH: usize = 4;
const ROW: [f32; WIDTH] = [5.1, 3.5, 1.4, 0.2];

type Plan = Arc<TypedRunnableModel>;

fn model_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/../../models/{name}.onnx", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The model optimised for `rows` rows, or for any number of rows when `None`.
fn plan(bytes: &[u8], rows: Option<usize>) -> Plan {
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .expect("an ONNX model");
    let first: TDim = match rows {
        Some(n) => n.to_dim(),
        None => model.sym("N").into(),
    };
    let fact = InferenceFact::dt_shape(f32::datum_type(), tvec![first, WIDTH.to_dim()]);
    model.set_input_fact(0, fact).expect("input fact");
    model
        .into_optimized()
        .expect("optimised")
        .into_runnable()
        .expect("runnable")
}

fn input() -> TValue {
    Tensor::from_shape(&[1, WIDTH], &ROW)
        .expect("a 1×4 tensor")
        .into()
}

fn bench_model(c: &mut Criterion, name: &str) {
    let bytes = model_bytes(name);
    let dynamic = plan(&bytes, None);
    let one_row = plan(&bytes, Some(1));
    let mut group = c.benchmark_group(name);
    for (label, plan) in [("dynamic", &dynamic), ("one_row", &one_row)] {
        group.bench_function(label, |b| {
            b.iter(|| black_box(plan.run(tvec![input()]).expect("runs")));
        });
        let mut state = plan.spawn().expect("a state");
        group.bench_function(format!("{label}_reused_state"), |b| {
            b.iter(|| black_box(state.run(tvec![input()]).expect("runs")));
        });
    }
    group.finish();
}

fn predictions(c: &mut Criterion) {
    bench_model(c, "iris-v1");
    bench_model(c, "iris-v2");
}

criterion_group!(benches, predictions);
criterion_main!(benches);
