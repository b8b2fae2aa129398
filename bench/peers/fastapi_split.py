"""FastAPI + scikit-learn peer for bench/run.sh: two iris models, random 90/10 split.

The stack a Python team would write for the same job as Rollgate's in-process ONNX route:
two scikit-learn models trained at start, a random 90/10 draw per request, the answer in the
same shape Rollgate gives (`model_version`, one prediction per row with class, label and
class probabilities). Served by uvicorn (uvloop + httptools when installed):

    uvicorn fastapi_split:app --app-dir bench/peers --host 127.0.0.1 --port 18007

The models are trained exactly as models/train.py trains iris-v1 and iris-v2 (same stratified
60/40 split with seed 0, LogisticRegression C=0.01 and C=100, lbfgs), from the iris data set
scikit-learn ships, so nothing is downloaded.

The handler is `async def`: predict_proba on a few rows takes tens of microseconds, so running
it on the event loop is faster than FastAPI's thread-pool hop for a plain `def`. This is the
peer's best configuration, not its most common one.
"""

import random

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

SPLIT_SEED = 0  # as models/train.py
TEST_SIZE = 0.4
INPUT_WIDTH = 4
CANARY_SHARE = 0.10  # v2's share; v1 takes the rest


def train():
    """The two iris models of models/train.py, fitted in process, and the class names."""
    iris = load_iris()
    x, y = iris.data.astype(np.float32), iris.target
    x_tr, _, y_tr, _ = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SPLIT_SEED
    )
    models = {
        "v1": LogisticRegression(C=0.01, max_iter=10_000).fit(x_tr, y_tr),
        "v2": LogisticRegression(C=100.0, max_iter=10_000).fit(x_tr, y_tr),
    }
    return models, [str(c) for c in iris.target_names]


MODELS, CLASSES = train()
app = FastAPI()


class PredictRequest(BaseModel):
    instances: list[list[float]]


@app.post("/v1/models/iris/predict")
async def predict(body: PredictRequest):
    version = "v2" if random.random() < CANARY_SHARE else "v1"
    x = np.asarray(body.instances, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != INPUT_WIDTH:
        raise HTTPException(status_code=422, detail=f"rows of {INPUT_WIDTH} features expected")
    proba = MODELS[version].predict_proba(x)
    labels = proba.argmax(axis=1)
    return {
        "model_version": version,
        "predictions": [
            {"class": CLASSES[label], "label": int(label), "probabilities": [float(p) for p in row]}
            for label, row in zip(labels, proba)
        ],
    }


@app.get("/health")
async def health():
    return {"status": "ok"}
