#!/usr/bin/env python3
"""Checks that an unmodified Triton HTTP client (`tritonclient[http]`) works against Rollgate.

Rollgate speaks the Open Inference Protocol (KServe v2) with Triton's binary tensor data
extension; this script drives it with the real client library, so any drift from what that
client sends or expects shows up here and not at a user's site.

    pip install 'tritonclient[http]'
    python tests/tritonclient_check.py --url 127.0.0.1:8080 --model iris

The model must take one FP32 input named `input` of shape [-1, 4] and return `label`
(INT64 [N]) and `probabilities` (FP32 [N, 3]). Exits non-zero on any failure; the last line is
`tritonclient: N passed, M failed`.
"""

import argparse
import sys
import traceback

try:
    import numpy as np
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException
except ImportError as exc:  # pragma: no cover - depends on the machine
    sys.exit(f"tritonclient check: cannot import tritonclient[http] ({exc}); "
             "install it with: pip install 'tritonclient[http]'")

WIDTH = 4
CLASSES = 3
# Three iris flowers, one of each species.
IRIS = np.array(
    [[5.1, 3.5, 1.4, 0.2], [5.9, 3.0, 4.2, 1.5], [6.7, 3.0, 5.2, 2.3]],
    dtype=np.float32,
)


class CheckFailed(Exception):
    """A check whose outcome is wrong (as opposed to one that crashed)."""


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def check_server_live(client, _model):
    expect(client.is_server_live(), "GET /v2/health/live did not answer 200")


def check_server_ready(client, _model):
    expect(client.is_server_ready(), "GET /v2/health/ready did not answer 200")


def check_model_ready(client, model):
    expect(client.is_model_ready(model), f"GET /v2/models/{model}/ready did not answer 200")


def check_unknown_model_not_ready(client, _model):
    name = "no-such-model-rollgate-check"
    expect(not client.is_model_ready(name), f"GET /v2/models/{name}/ready answered 200")


def check_server_metadata(client, _model):
    meta = client.get_server_metadata()
    expect(isinstance(meta, dict) and "name" in meta, f"GET /v2 gave no server name: {meta!r}")


def check_model_metadata(client, model):
    meta = client.get_model_metadata(model)
    expect(meta.get("name") == model, f"metadata name is {meta.get('name')!r}, expected {model!r}")
    inputs = meta.get("inputs") or []
    expect(len(inputs) == 1, f"metadata lists {len(inputs)} inputs, expected 1: {inputs!r}")
    spec = inputs[0]
    expect(spec.get("name") == "input", f"input is named {spec.get('name')!r}, expected 'input'")
    expect(spec.get("datatype") == "FP32", f"input datatype is {spec.get('datatype')!r}, not FP32")
    expect(spec.get("shape") == [-1, WIDTH], f"input shape is {spec.get('shape')!r}, not [-1, 4]")
    outputs = {o.get("name"): o.get("datatype") for o in meta.get("outputs") or []}
    for name, datatype in (("label", "INT64"), ("probabilities", "FP32")):
        expect(outputs.get(name) == datatype,
               f"metadata output {name!r} has datatype {outputs.get(name)!r}, expected {datatype}")


def infer(client, model, binary, outputs=("label", "probabilities"), request_id=""):
    tensor = httpclient.InferInput("input", list(IRIS.shape), "FP32")
    tensor.set_data_from_numpy(IRIS, binary_data=binary)
    requested = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in outputs]
    return client.infer(model, [tensor], outputs=requested or None, request_id=request_id)


def check_result(result, model, binary):
    """Shapes, datatypes, probabilities summing to 1, labels = argmax, and how data came."""
    response = result.get_response()
    expect(response.get("model_name") == model,
           f"response model_name is {response.get('model_name')!r}, expected {model!r}")
    for name, datatype in (("label", "INT64"), ("probabilities", "FP32")):
        out = result.get_output(name)
        expect(out is not None, f"response has no output {name!r}: {response!r}")
        expect(out["datatype"] == datatype, f"{name} datatype is {out['datatype']}, not {datatype}")
        sent_binary = "binary_data_size" in (out.get("parameters") or {})
        expect(sent_binary == binary,
               f"{name} came {'binary' if sent_binary else 'as JSON'}, asked binary={binary}")
    labels = result.as_numpy("label")
    probs = result.as_numpy("probabilities")
    rows = IRIS.shape[0]
    expect(labels.shape == (rows,), f"label shape is {labels.shape}, expected ({rows},)")
    expect(labels.dtype == np.int64, f"label dtype is {labels.dtype}, expected int64")
    expect(probs.shape == (rows, CLASSES), f"probabilities shape is {probs.shape}, expected ({rows}, 3)")
    expect(probs.dtype == np.float32, f"probabilities dtype is {probs.dtype}, expected float32")
    sums = probs.sum(axis=1)
    expect(np.allclose(sums, 1.0, atol=1e-4), f"probability rows sum to {sums}, not 1")
    argmax = probs.argmax(axis=1)
    expect((labels == argmax).all(), f"labels {labels} differ from argmax of probabilities {argmax}")


def check_infer_binary(client, model):
    check_result(infer(client, model, binary=True), model, binary=True)


def check_infer_json(client, model):
    check_result(infer(client, model, binary=False), model, binary=False)


def check_infer_all_outputs(client, model):
    # No outputs listed: tritonclient then sets parameters.binary_data_output = true, and the
    # server must return every output, binary. The request id must come back.
    result = infer(client, model, binary=True, outputs=(), request_id="rollgate-check-1")
    check_result(result, model, binary=True)
    got = result.get_response().get("id")
    expect(got == "rollgate-check-1", f"response id is {got!r}, expected 'rollgate-check-1'")


def check_bad_width_is_client_error(client, model):
    tensor = httpclient.InferInput("input", [1, WIDTH - 1], "FP32")
    tensor.set_data_from_numpy(np.ones((1, WIDTH - 1), dtype=np.float32))
    try:
        client.infer(model, [tensor])
    except InferenceServerException as exc:
        expect(exc.status() == "400", f"wrong width answered status {exc.status()}, not 400: {exc}")
        return
    raise CheckFailed("an input of the wrong width was accepted")


CHECKS = [
    check_server_live,
    check_server_ready,
    check_model_ready,
    check_unknown_model_not_ready,
    check_server_metadata,
    check_model_metadata,
    check_infer_binary,
    check_infer_json,
    check_infer_all_outputs,
    check_bad_width_is_client_error,
]


def run(client, model):
    passed = failed = 0
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        try:
            check(client, model)
        except CheckFailed as exc:
            failed += 1
            print(f"FAIL {name}: {exc}")
        except InferenceServerException as exc:
            failed += 1
            print(f"FAIL {name}: the server answered an error: {exc}")
        except OSError as exc:
            failed += 1
            print(f"FAIL {name}: cannot talk to the server: {type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - report any crash as a failed check
            failed += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}")
            traceback.print_exc(limit=3)
        else:
            passed += 1
            print(f"ok   {name}")
    return passed, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="127.0.0.1:8080", help="host:port, no scheme")
    parser.add_argument("--model", default="iris")
    parser.add_argument("--verbose", action="store_true", help="print each HTTP exchange")
    args = parser.parse_args()
    url = args.url.removeprefix("http://")  # tritonclient refuses a scheme in the URL
    client = httpclient.InferenceServerClient(url=url, verbose=args.verbose)
    try:
        passed, failed = run(client, args.model)
    finally:
        client.close()
    print(f"tritonclient: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
