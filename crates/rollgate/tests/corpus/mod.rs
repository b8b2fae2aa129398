//! The hostile-input corpus of `tests/bad_input.rs`, kept as data: each case is what is sent,
//! to which port, and the answer it must get. Cases an HTTP client would refuse to send
//! (invalid UTF-8, broken framing, absurd heads) are raw bytes written to a fresh connection.
//!
//! Add a case by adding a row; the test runs every row against one gateway and then checks
//! that it still serves predictions correctly and logged no panic.

#![allow(dead_code)]

use std::path::Path;

/// The admin token of the corpus gateway; admin cases carry it unless they set their own
/// `authorization` header.
pub(crate) const TOKEN: &str = "corpus-token-1234";

/// The gateway the corpus runs against: small limits, so the limits are what is tested.
pub(crate) const CONFIG: &str = r#"
admin: { token: corpus-token-1234 }
limits:
  max_body_bytes: 4096
  max_model_bytes: 65536
  max_header_bytes: 8192
  header_read_timeout_ms: 1500
  body_read_timeout_ms: 1500
  shutdown_grace_ms: 1000
services:
  iris:
    input_width: 4
    output: { classes: [setosa, versicolor, virginica] }
    versions:
      v1: { onnx: "builtin:iris-v1" }
      v2: { onnx: "builtin:iris-v2" }
    route:
      stable: v1
      candidate: v2
      weights: { v1: 100, v2: 0 }
"#;

/// Which port a case goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    Data,
    Admin,
}

/// Bytes of a case: written in the table, or made when the case runs (large or read from a
/// bundled model).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bytes {
    Lit(&'static [u8]),
    Gen(fn() -> Vec<u8>),
}

impl Bytes {
    pub(crate) fn get(self) -> Vec<u8> {
        match self {
            Bytes::Lit(b) => b.to_vec(),
            Bytes::Gen(f) => f(),
        }
    }
}

/// What a case sends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Send {
    /// A well-framed HTTP/1.1 request: method, path, extra headers, body (`content-length`).
    Http {
        method: &'static str,
        path: &'static str,
        headers: &'static [(&'static str, &'static str)],
        body: Bytes,
    },
    /// Bytes written as they are to a new connection (`{TOKEN}` is replaced by the token).
    Raw(Bytes),
}

/// The answer a case must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// This status and Rollgate's error document with this code.
    Error(u16, &'static str),
    /// This status and the Open Inference error document (`{"error": "..."}`).
    OipError(u16),
    /// This status from the HTTP layer, before any route runs: no JSON is possible there
    /// (the request could not be parsed), only the status and a closed connection.
    Http(u16),
}

/// One row of the corpus.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) port: Port,
    pub(crate) send: Send,
    pub(crate) expect: Expect,
}

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];
const OCTETS: &[(&str, &str)] = &[("content-type", "application/octet-stream")];
const YAML: &[(&str, &str)] = &[("content-type", "application/yaml")];

const fn data(name: &'static str, path: &'static str, body: &'static [u8], expect: Expect) -> Case {
    Case {
        name,
        port: Port::Data,
        send: Send::Http {
            method: "POST",
            path,
            headers: JSON,
            body: Bytes::Lit(body),
        },
        expect,
    }
}

const fn v1(name: &'static str, body: &'static [u8], code: &'static str) -> Case {
    data(
        name,
        "/v1/models/iris/predict",
        body,
        Expect::Error(400, code),
    )
}

const fn v2(name: &'static str, body: &'static [u8]) -> Case {
    data(name, "/v2/models/iris/infer", body, Expect::OipError(400))
}

const fn raw(name: &'static str, port: Port, bytes: Bytes, expect: Expect) -> Case {
    Case {
        name,
        port,
        send: Send::Raw(bytes),
        expect,
    }
}

const fn admin(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Bytes,
    expect: Expect,
) -> Case {
    Case {
        name,
        port: Port::Admin,
        send: Send::Http {
            method,
            path,
            headers,
            body,
        },
        expect,
    }
}

const fn on_data(name: &'static str, method: &'static str, path: &'static str) -> Case {
    Case {
        name,
        port: Port::Data,
        send: Send::Http {
            method,
            path,
            headers: &[("authorization", "Bearer corpus-token-1234")],
            body: Bytes::Lit(b"{}"),
        },
        expect: Expect::Error(404, "not_found"),
    }
}

const fn upload(name: &'static str, path: &'static str, body: Bytes, code: &'static str) -> Case {
    admin(name, "POST", path, OCTETS, body, Expect::Error(400, code))
}

const fn plan(name: &'static str, body: &'static [u8]) -> Case {
    admin(
        name,
        "POST",
        "/api/v1/services/iris/rollout",
        YAML,
        Bytes::Lit(body),
        Expect::Error(400, "bad_plan"),
    )
}

const fn unauthorized(
    name: &'static str,
    headers: &'static [(&'static str, &'static str)],
) -> Case {
    admin(
        name,
        "GET",
        "/api/v1/services",
        headers,
        Bytes::Lit(b""),
        Expect::Error(401, "unauthorized"),
    )
}

/// Every case.
pub(crate) const CASES: &[Case] = &[
    // ── v1 predict: bad JSON, wrong shapes and types ──
    v1("truncated JSON", br#"{"instances": [[5.1, 3.5, 1.4, 0.2]]"#, "bad_json"),
    v1("trailing garbage", br#"{"instances": [[5.1, 3.5, 1.4, 0.2]]} x"#, "bad_json"),
    v1("empty body", b"", "bad_json"),
    v1("JSON null", b"null", "bad_json"),
    v1("top-level array", b"[[5.1, 3.5, 1.4, 0.2]]", "bad_json"),
    v1("instances is a string", br#"{"instances": "5.1,3.5,1.4,0.2"}"#, "bad_json"),
    v1("features is a number", br#"{"features": 7}"#, "bad_json"),
    v1("null feature", br#"{"instances": [[null, 3.5, 1.4, 0.2]]}"#, "bad_json"),
    v1("number out of range", br#"{"instances": [[1e999, 3.5, 1.4, 0.2]]}"#, "bad_json"),
    v1("no rows", br#"{"instances": []}"#, "bad_shape"),
    v1("an empty row", br#"{"instances": [[]]}"#, "bad_shape"),
    v1("ragged rows", br#"{"instances": [[5.1, 3.5, 1.4, 0.2], [1]]}"#, "bad_shape"),
    v1("invalid UTF-8 in a string", b"{\"instances\": [[5.1, 3.5, 1.4, 0.2]], \"u\": \"\xff\xfe\"}", "bad_json"),
    v1("binary garbage", b"\x00\x01\x02\xff\xfe\xfd\x00", "bad_json"),
    Case {
        name: "nesting 1500 deep",
        port: Port::Data,
        send: Send::Http {
            method: "POST",
            path: "/v1/models/iris/predict",
            headers: JSON,
            body: Bytes::Gen(deep_nesting),
        },
        expect: Expect::Error(400, "bad_json"),
    },
    data(
        "unknown service",
        "/v1/models/..%2Fetc/predict",
        br#"{"features": [5.1, 3.5, 1.4, 0.2]}"#,
        Expect::Error(404, "unknown_service"),
    ),
    data(
        "dot-dot service",
        "/v1/models/%2e%2e/predict",
        br#"{"features": [5.1, 3.5, 1.4, 0.2]}"#,
        Expect::Error(404, "unknown_service"),
    ),
    data(
        "feedback without an id",
        "/v1/feedback",
        br#"{"label": "setosa"}"#,
        Expect::Error(400, "bad_json"),
    ),
    data(
        "feedback id of the wrong type",
        "/v1/feedback",
        br#"{"request_id": 5, "label": "setosa"}"#,
        Expect::Error(400, "bad_json"),
    ),
    // ── v2 infer ──
    v2("no inputs", b"{}"),
    v2("invalid UTF-8 in an ignored field", b"{\"x\": \"\xc3\x28\", \"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}"),
    v2("inputs is a string", br#"{"inputs": "x"}"#),
    v2("two inputs", br#"{"inputs": [{"name": "a", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}, {"name": "b", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}"#),
    v2("BYTES datatype", br#"{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]}"#),
    v2("negative shape", br#"{"inputs": [{"name": "input", "shape": [-1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}"#),
    v2("overflowing shape", br#"{"inputs": [{"name": "input", "shape": [4611686018427387904, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}"#),
    v2("data shorter than shape", br#"{"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}"#),
    v2("strings as FP32", br#"{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ["1", "2", "3", "4"]}]}"#),
    v2("binary size without binary data", br#"{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}"#),
    v2("unknown output", br#"{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}], "outputs": [{"name": "../etc/passwd"}]}"#),
    Case {
        name: "header length beyond the body",
        port: Port::Data,
        send: Send::Http {
            method: "POST",
            path: "/v2/models/iris/infer",
            headers: &[
                ("content-type", "application/octet-stream"),
                ("inference-header-content-length", "100000"),
            ],
            body: Bytes::Lit(b"{}"),
        },
        expect: Expect::OipError(400),
    },
    Case {
        name: "header length not a number",
        port: Port::Data,
        send: Send::Http {
            method: "POST",
            path: "/v2/models/iris/infer",
            headers: &[("inference-header-content-length", "-3")],
            body: Bytes::Lit(b"{}"),
        },
        expect: Expect::OipError(400),
    },
    data(
        "pinned to a traversal version",
        "/v2/models/iris/versions/..%2Fv1/infer",
        br#"{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}"#,
        Expect::OipError(404),
    ),
    // ── admin routes do not exist on the data port, token or not ──
    on_data("services listing on the data port", "GET", "/api/v1/services"),
    on_data("health of the admin API on the data port", "GET", "/api/v1/health"),
    on_data("seed verb on the data port", "POST", "/set-canary-ratio"),
    on_data("upload on the data port", "POST", "/update-model"),
    on_data("rollback on the data port", "POST", "/rollback"),
    on_data("route on the data port", "PUT", "/api/v1/services/iris/route"),
    on_data("dashboard on the data port", "GET", "/dashboard/app.js"),
    // ── raw bytes on the data port: what HTTP clients refuse to send ──
    raw("invalid UTF-8 in the path", Port::Data, Bytes::Lit(b"POST /v1/models/\xff\xfe/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"), Expect::Http(400)),
    raw("invalid UTF-8 in a header name", Port::Data, Bytes::Lit(b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\nx-\xff\xfe: 1\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"), Expect::Http(400)),
    raw("NUL in a header value", Port::Data, Bytes::Lit(b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\nx-user-id: a\x00b\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"), Expect::Http(400)),
    raw("header line without a colon", Port::Data, Bytes::Lit(b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\nno colon here\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"), Expect::Http(400)),
    raw("garbage request line", Port::Data, Bytes::Lit(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n"), Expect::Http(400)),
    raw("content-length not a number", Port::Data, Bytes::Lit(b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: abc\r\n\r\n{}"), Expect::Http(400)),
    raw("negative content-length", Port::Data, Bytes::Lit(b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: -1\r\n\r\n{}"), Expect::Http(400)),
    raw("two different content-lengths", Port::Data, Bytes::Lit(b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 2\r\ncontent-length: 40\r\n\r\n{}"), Expect::Http(400)),
    raw("content-length shorter than the body", Port::Data, Bytes::Lit(b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 5\r\n\r\n{\"instances\": [[5.1, 3.5, 1.4, 0.2]]}"), Expect::Error(400, "bad_json")),
    raw("bad chunk size", Port::Data, Bytes::Lit(b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"), Expect::Error(400, "bad_body")),
    raw("unknown transfer-encoding", Port::Data, Bytes::Lit(b"POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: gzip\r\n\r\n{}"), Expect::Http(400)),
    raw("a 64 KiB header", Port::Data, Bytes::Gen(huge_header), Expect::Http(431)),
    raw("300 headers", Port::Data, Bytes::Gen(many_headers), Expect::Http(431)),
    raw("a 64 KiB path", Port::Data, Bytes::Gen(huge_path), Expect::Http(431)),
    // ── admin: authentication ──
    unauthorized("no token", &[("authorization", "")]),
    unauthorized("wrong token", &[("authorization", "Bearer corpus-token-1235")]),
    unauthorized("prefix of the token", &[("authorization", "Bearer corpus-token-123")]),
    unauthorized("token with a suffix", &[("authorization", "Bearer corpus-token-12345")]),
    unauthorized("token without the scheme", &[("authorization", "corpus-token-1234")]),
    unauthorized("basic auth", &[("authorization", "Basic Y29ycHVzLXRva2VuLTEyMzQ=")]),
    unauthorized("token in the wrong header", &[("authorization", ""), ("x-api-key", "corpus-token-1234")]),
    // ── admin: bad and truncated model uploads ──
    upload("garbage model", "/update-model?version=g1", Bytes::Lit(b"\x08\x07\x12\x04this is not an onnx model"), "bad_model"),
    upload("empty model", "/update-model?version=g2", Bytes::Lit(b""), "bad_model"),
    upload("truncated model", "/update-model?version=g3", Bytes::Gen(truncated_model), "bad_model"),
    upload("model of another width", "/update-model?version=g4", Bytes::Gen(other_width_model), "bad_model"),
    upload("JSON instead of a model", "/api/v1/services/iris/versions?version=g5", Bytes::Lit(b"{\"not\": \"a model\"}"), "bad_model"),
    admin(
        "multipart without a closing boundary",
        "POST",
        "/update-model?version=g6",
        &[("content-type", "multipart/form-data; boundary=XyZ")],
        Bytes::Gen(truncated_multipart),
        Expect::Error(400, "bad_multipart"),
    ),
    admin(
        "multipart without a boundary",
        "POST",
        "/update-model",
        &[("content-type", "multipart/form-data")],
        Bytes::Lit(b"--x\r\n\r\n"),
        Expect::Error(400, "bad_multipart"),
    ),
    admin(
        "multipart without a file part",
        "POST",
        "/update-model?version=g7",
        &[("content-type", "multipart/form-data; boundary=XyZ")],
        Bytes::Lit(b"--XyZ\r\ncontent-disposition: form-data; name=\"version\"\r\n\r\ng7\r\n--XyZ--\r\n"),
        Expect::Error(400, "bad_model"),
    ),
    // ── admin: invalid and traversal names ──
    upload("name with a slash", "/update-model?version=a%2Fb", Bytes::Gen(good_model), "bad_name"),
    upload("dot-dot slash name", "/update-model?version=..%2Fx", Bytes::Gen(good_model), "bad_name"),
    upload("encoded dot-dot name", "/update-model?version=%2e%2e", Bytes::Gen(good_model), "bad_name"),
    upload("double-encoded dot-dot name", "/update-model?version=%252e%252e", Bytes::Gen(good_model), "bad_name"),
    upload("empty name", "/update-model?version=", Bytes::Gen(good_model), "bad_name"),
    upload("65-character name", "/update-model?version=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Bytes::Gen(good_model), "bad_name"),
    upload("NUL in a name", "/update-model?version=v%00", Bytes::Gen(good_model), "bad_name"),
    upload("non-ASCII name", "/update-model?version=v%C3%A9", Bytes::Gen(good_model), "bad_name"),
    upload("backslash name", "/update-model?version=..%5Cx", Bytes::Gen(good_model), "bad_name"),
    admin(
        "upstream version with a traversal name",
        "POST",
        "/api/v1/services/iris/versions",
        JSON,
        Bytes::Lit(br#"{"name": "../x", "http": {"instances": ["http://127.0.0.1:9"]}}"#),
        Expect::Error(400, "bad_version"),
    ),
    admin(
        "service name with a traversal",
        "GET",
        "/api/v1/services/..%2F..%2Fetc",
        &[],
        Bytes::Lit(b""),
        Expect::Error(404, "unknown_service"),
    ),
    admin(
        "delete a traversal version",
        "DELETE",
        "/api/v1/services/iris/versions/..%2Fv1",
        &[],
        Bytes::Lit(b""),
        Expect::Error(404, "unknown_version"),
    ),
    // ── admin: bad plans ──
    plan("plan that is not YAML", b"steps: [ {canary: "),
    plan("empty plan", b""),
    plan("plan with an unknown step", b"steps:\n  - teleport: {to: v2}\n"),
    plan("plan above 100%", b"steps:\n  - set_weight: \"250%\"\n"),
    plan("plan with a negative weight", b"steps:\n  - set_weight: -5\n"),
    plan("plan with an unknown template", b"steps:\n  - canary: {steps: [5, 100], analysis: no-such-template}\n"),
    plan("plan with a bad duration", b"steps:\n  - pause: {duration: 5 fortnights}\n"),
    plan("plan that is not UTF-8", b"steps:\n  - set_weight: \"\xff\xfe%\"\n"),
    plan("plan that is a YAML bomb", b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nsteps: *g\n"),
    // ── admin: other bad documents ──
    admin(
        "ratio above 1",
        "POST",
        "/set-canary-ratio",
        JSON,
        Bytes::Lit(br#"{"ratio": 2}"#),
        Expect::Error(400, "bad_ratio"),
    ),
    admin(
        "ratio of the wrong type",
        "POST",
        "/set-canary-ratio",
        JSON,
        Bytes::Lit(br#"{"ratio": "half"}"#),
        Expect::Error(400, "bad_json"),
    ),
    admin(
        "route that is not JSON",
        "PUT",
        "/api/v1/services/iris/route",
        JSON,
        Bytes::Lit(b"{\"route\": "),
        Expect::Error(400, "bad_json"),
    ),
    admin(
        "route weights that do not sum to 100",
        "PUT",
        "/api/v1/services/iris/route",
        JSON,
        Bytes::Lit(br#"{"route": {"stable": "v1", "weights": {"v1": 60, "v2": 30}}}"#),
        Expect::Error(400, "bad_route"),
    ),
    admin(
        "route naming an unknown version",
        "PUT",
        "/api/v1/services/iris/route",
        JSON,
        Bytes::Lit(br#"{"route": {"stable": "v1", "weights": {"v1": 50, "../v9": 50}}}"#),
        Expect::Error(400, "bad_route"),
    ),
    admin(
        "malformed If-Match",
        "POST",
        "/set-canary-ratio",
        &[("content-type", "application/json"), ("if-match", "\"seven\"")],
        Bytes::Lit(br#"{"ratio": 0.1}"#),
        Expect::Error(400, "bad_revision"),
    ),
    raw("admin: a 64 KiB header", Port::Admin, Bytes::Gen(huge_header), Expect::Http(431)),
    raw("admin: invalid UTF-8 in the path", Port::Admin, Bytes::Lit(b"GET /api/v1/services/\xff HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer {TOKEN}\r\n\r\n"), Expect::Http(400)),
    raw("admin: model upload declared over the limit", Port::Admin, Bytes::Lit(b"POST /update-model?version=big HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000000000\r\n\r\n"), Expect::Error(413, "model_too_large")),
];

fn deep_nesting() -> Vec<u8> {
    let mut body = b"{\"instances\": ".to_vec();
    body.extend(std::iter::repeat_n(b'[', 1500));
    body.extend(std::iter::repeat_n(b']', 1500));
    body.push(b'}');
    body
}

fn huge_header() -> Vec<u8> {
    let mut req =
        b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 64 << 10));
    req.extend_from_slice(b"\r\n\r\n");
    req
}

fn many_headers() -> Vec<u8> {
    let mut req = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n".to_vec();
    for i in 0..300 {
        req.extend_from_slice(format!("x-h{i}: {i}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req
}

fn huge_path() -> Vec<u8> {
    let mut req = b"GET /v2/models/".to_vec();
    req.extend(std::iter::repeat_n(b'a', 64 << 10));
    req.extend_from_slice(b" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    req
}

fn bundled(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(name);
    std::fs::read(path).expect("a bundled model")
}

fn good_model() -> Vec<u8> {
    bundled("iris-v2.onnx")
}

fn truncated_model() -> Vec<u8> {
    let mut model = good_model();
    model.truncate(model.len() / 2);
    model
}

fn other_width_model() -> Vec<u8> {
    bundled("diabetes-linear.onnx")
}

fn truncated_multipart() -> Vec<u8> {
    let mut form =
        b"--XyZ\r\ncontent-disposition: form-data; name=\"file\"; filename=\"m.onnx\"\r\n\
                     content-type: application/octet-stream\r\n\r\n"
            .to_vec();
    form.extend_from_slice(&good_model());
    form
}
