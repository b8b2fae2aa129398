"""Train and export Rollgate's bundled example models.

Run from the repository root:

    pip install -r models/requirements.txt
    python models/train.py

Everything is deterministic (fixed split, fixed seeds, lbfgs solver). Writes,
next to this script:

  iris-v1.onnx         LogisticRegression, strong L2 penalty (C=0.01): decent
  iris-v2.onnx         LogisticRegression, weak L2 penalty (C=100): clearly better
  iris-bad.onnx        LogisticRegression fitted on shuffled labels: ~chance
  diabetes-linear.onnx LinearRegression on the diabetes data set (10 features)
  iris-eval.csv        the held-out iris rows the accuracies are measured on
  iris-all.csv         all 150 iris rows
  models.json          manifest: file, sha256, tensors, classes, algorithm, metrics

The graphs only use ops that tract-onnx 0.23 implements (LinearClassifier,
LinearRegressor, Normalizer): no ZipMap and no Scaler.  Each exported
model is checked with onnx.checker and, when onnxruntime is installed, its
predictions (all 150 iris rows; the diabetes test rows) are compared with
scikit-learn's.
"""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split

OUT = Path(__file__).resolve().parent
SPLIT_SEED = 0  # train_test_split random_state
SHUFFLE_SEED = 13  # label permutation for iris-bad
TEST_SIZE = 0.4  # 60 of 150 iris rows held out, stratified
OPSET = {"": 13, "ai.onnx.ml": 3}
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width", "label"]


def export(model, n_features, path, classifier):
    """Convert a fitted estimator to ONNX with input `input` float32 [N, n]."""
    options = {id(model): {"zipmap": False}} if classifier else None
    onx = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options=options,
        target_opset=OPSET,
        name=path.stem,  # default is a random uuid: keep the bytes reproducible
    )
    # skl2onnx leaves the batch dimension anonymous; tract-onnx then refuses to
    # type the graph unless the caller supplies an input fact.  Name it "N".
    for value in [*onx.graph.input, *onx.graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        if not dim.HasField("dim_value"):
            dim.dim_param = "N"
    onnx.checker.check_model(onx, full_check=True)
    path.write_bytes(onx.SerializeToString())
    return onx


def tensors(onx):
    """Names, element types and shapes of a graph's inputs and outputs."""

    def describe(values):
        out = []
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]
            out.append({"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name, "shape": dims})
        return out

    return {"inputs": describe(onx.graph.input), "outputs": describe(onx.graph.output)}


def run_onnx(path, x):
    """Outputs of the ONNX model on x, or None when onnxruntime is missing."""
    try:
        import onnxruntime as ort
    except ImportError:
        print(f"onnxruntime not installed: {path.name} not compared with scikit-learn")
        return None
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x.astype(np.float32)})


def write_csv(path, x, y):
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(IRIS_COLUMNS)
        for row, label in zip(x, y):
            w.writerow([f"{v:.1f}" for v in row] + [int(label)])


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main():
    iris = load_iris()
    x, y = iris.data.astype(np.float32), iris.target
    classes = [str(c) for c in iris.target_names]
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SPLIT_SEED
    )
    y_shuffled = np.random.RandomState(SHUFFLE_SEED).permutation(y_tr)
    write_csv(OUT / "iris-eval.csv", x_te, y_te)
    write_csv(OUT / "iris-all.csv", x, y)

    specs = [
        ("iris-v1", LogisticRegression(C=0.01, max_iter=10_000), y_tr,
         "LogisticRegression(C=0.01): strong L2 penalty"),
        ("iris-v2", LogisticRegression(C=100.0, max_iter=10_000), y_tr,
         "LogisticRegression(C=100): weak L2 penalty"),
        ("iris-bad", LogisticRegression(C=1.0, max_iter=10_000), y_shuffled,
         f"LogisticRegression(C=1) fitted on shuffled labels (seed {SHUFFLE_SEED})"),
    ]
    entries = []
    for name, model, labels, algorithm in specs:
        model.fit(x_tr, labels)
        path = OUT / f"{name}.onnx"
        onx = export(model, x.shape[1], path, classifier=True)
        got = run_onnx(path, x)  # all 150 rows, a superset of the eval rows
        if got is not None:
            assert np.array_equal(got[0], model.predict(x)), f"{name}: ONNX labels differ"
            assert np.allclose(got[1], model.predict_proba(x), atol=1e-4), f"{name}: ONNX probabilities differ"
        pred = model.predict(x_te)
        entries.append({
            "name": name,
            "file": path.name,
            "sha256": sha256(path),
            "bytes": path.stat().st_size,
            "task": "classification",
            "dataset": "iris",
            "input_width": x.shape[1],
            "classes": classes,
            "algorithm": algorithm,
            "test_accuracy": round(float((pred == y_te).mean()), 4),
            "all_rows_accuracy": round(float(model.score(x, y)), 4),
            **tensors(onx),
        })

    d_x, d_y = load_diabetes(return_X_y=True)
    d_x = d_x.astype(np.float32)
    dx_tr, dx_te, dy_tr, dy_te = train_test_split(d_x, d_y, test_size=0.2, random_state=SPLIT_SEED)
    reg = LinearRegression().fit(dx_tr, dy_tr)
    path = OUT / "diabetes-linear.onnx"
    onx = export(reg, d_x.shape[1], path, classifier=False)
    got = run_onnx(path, dx_te)
    if got is not None:
        assert np.allclose(got[0].ravel(), reg.predict(dx_te), rtol=1e-4, atol=1e-2), "diabetes: ONNX differs"
    entries.append({
        "name": "diabetes-linear",
        "file": path.name,
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        "task": "regression",
        "dataset": "diabetes",
        "input_width": d_x.shape[1],
        "algorithm": "LinearRegression",
        "test_mae": round(float(mean_absolute_error(dy_te, reg.predict(dx_te))), 4),
        **tensors(onx),
    })

    manifest = {
        "iris_split": {"test_size": TEST_SIZE, "stratify": True, "random_state": SPLIT_SEED,
                       "train_rows": len(y_tr), "test_rows": len(y_te)},
        "diabetes_split": {"test_size": 0.2, "random_state": SPLIT_SEED,
                           "train_rows": len(dy_tr), "test_rows": len(dy_te)},
        "eval_csv": "iris-eval.csv",
        "all_csv": "iris-all.csv",
        "models": entries,
    }
    (OUT / "models.json").write_text(json.dumps(manifest, indent=2) + "\n")

    acc = {e["name"]: e["test_accuracy"] for e in entries if "test_accuracy" in e}
    assert 0.80 <= acc["iris-v1"] <= 0.90, acc
    assert acc["iris-v2"] >= 0.95 and acc["iris-v2"] - acc["iris-v1"] >= 0.07, acc
    assert acc["iris-bad"] <= 0.45, acc
    for e in entries:
        metric = e.get("test_accuracy", e.get("test_mae"))
        print(f"{e['file']:22} {e['bytes']:6d} B  {'acc' if 'test_accuracy' in e else 'mae'}={metric}")


if __name__ == "__main__":
    main()
