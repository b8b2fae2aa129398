//! Models bundled in the binary, so `rollgate serve` runs with no file beside it.
//! They are trained and exported by `models/train.py` (see `models/README.md`).

/// `(name, ONNX bytes)` of each bundled model, named in config as `builtin:NAME`.
const BUILTIN: &[(&str, &[u8])] = &[
    ("iris-v1", include_bytes!("../../../../models/iris-v1.onnx")),
    ("iris-v2", include_bytes!("../../../../models/iris-v2.onnx")),
    (
        "iris-bad",
        include_bytes!("../../../../models/iris-bad.onnx"),
    ),
];

/// The prefix that marks a bundled model in a config's `onnx:` field.
pub(crate) const PREFIX: &str = "builtin:";

/// The bytes of a bundled model.
pub(crate) fn get(name: &str) -> Option<&'static [u8]> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Names of all bundled models, for error messages.
pub(crate) fn names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// The configuration `rollgate serve` uses without `--config`: the bundled iris models,
/// stable `v1` at 100%, `v2` and `bad` registered at 0% for canaries and demos.
pub(crate) const DEFAULT_CONFIG: &str = r#"
services:
  iris:
    input_width: 4
    output:
      classes: [setosa, versicolor, virginica]
    versions:
      v1: { onnx: "builtin:iris-v1" }
      v2: { onnx: "builtin:iris-v2" }
      bad: { onnx: "builtin:iris-bad" }
    route:
      stable: v1
      candidate: v2
      weights: { v1: 100 }
"#;
