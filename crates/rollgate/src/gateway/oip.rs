//! A pure codec for the Open Inference Protocol (KServe v2 / Triton HTTP/REST), with Triton's
//! binary tensor data extension.
//!
//! It turns request bytes into a [`FeatureBatch`] and [`OutputTensor`]s into response bytes, and
//! does no I/O, so the HTTP layer stays thin and every protocol rule is unit-tested here. The
//! binary extension matters because `tritonclient[http]` sends inputs and asks for outputs as raw
//! little-endian bytes by default: without it an unmodified Triton client cannot talk to Rollgate.
//!
//! The fuzz target `request_parser` (`fuzz/`) compiles this file as it is: keep its code (tests
//! aside) free of paths into the rest of the binary (`crate::`, `super::`).

use http::StatusCode;
use rollgate_core::tensor::{BatchError, FeatureBatch, OutputTensor, TensorData, TensorSpec};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A decoded infer request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InferRequest {
    /// The client's request id, echoed in the response so it can match them up.
    pub(crate) id: Option<String>,
    /// The single input tensor, as feature rows.
    pub(crate) batch: FeatureBatch,
    /// The outputs the client listed, in its order; empty means "all of them".
    pub(crate) outputs: Vec<RequestedOutput>,
    /// `parameters.binary_data_output`: whether outputs go binary unless they say otherwise.
    pub(crate) binary_by_default: bool,
}

/// One output the client asked for, and whether it wants it as raw bytes after the JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestedOutput {
    /// Output name, as the model declares it.
    pub(crate) name: String,
    /// `parameters.binary_data` of that output (defaults to the request-level setting).
    pub(crate) binary: bool,
}

/// An encoded infer response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncodedResponse {
    /// The JSON document, followed by the binary outputs when there are any.
    pub(crate) body: Vec<u8>,
    /// Length of the JSON part when binary data follows it: the value of the
    /// `Inference-Header-Content-Length` response header (content type then
    /// `application/octet-stream`); `None` for a pure JSON body (`application/json`).
    pub(crate) header_len: Option<usize>,
}

/// Why a request cannot be decoded or a response encoded. Messages go back to the client as
/// `{"error": ...}`, so each names the offending field and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum OipError {
    /// The JSON part does not parse, or a field has the wrong type.
    #[error("malformed infer request JSON: {0}")]
    Json(String),
    /// The request has no `inputs` field.
    #[error("the infer request has no `inputs` field")]
    MissingInputs,
    /// The model takes exactly one input tensor.
    #[error("expected exactly one input tensor (the feature matrix), got {0}")]
    InputCount(usize),
    /// A datatype the codec cannot turn into `f32` features.
    #[error(
        "input `{name}`: unsupported datatype `{datatype}` (supported: FP32, FP64, INT32, INT64)"
    )]
    Datatype {
        /// Input name.
        name: String,
        /// The datatype sent.
        datatype: String,
    },
    /// The shape does not fit the model's feature width.
    #[error("input `{name}`: shape {shape:?} does not fit the model, expected shape [N, {width}] (or [{width}] for one row)")]
    Width {
        /// Input name.
        name: String,
        /// Shape sent.
        shape: Vec<i64>,
        /// Features per row the model takes.
        width: usize,
    },
    /// The data holds a different number of values than the shape says.
    #[error("input `{name}`: shape {shape:?} needs {expected} values, the data holds {found}")]
    ShapeData {
        /// Input name.
        name: String,
        /// Shape sent.
        shape: Vec<i64>,
        /// Product of the shape.
        expected: usize,
        /// Values found.
        found: usize,
    },
    /// The data is absent, doubled, or holds something that is not a number of the datatype.
    #[error("input `{name}`: {reason}")]
    Data {
        /// Input name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// `binary_data_size` disagrees with the shape, or with the bytes after the JSON.
    #[error("binary tensor data: {0}")]
    BinarySize(String),
    /// `Inference-Header-Content-Length` cannot split this body.
    #[error(
        "Inference-Header-Content-Length is {header_len} but the body holds only {body_len} bytes"
    )]
    HeaderLength {
        /// The header value.
        header_len: usize,
        /// The body length.
        body_len: usize,
    },
    /// A parameter has the wrong type, or asks for a feature Rollgate does not offer.
    #[error("parameter `{name}`: {reason}")]
    Parameter {
        /// Parameter name, with its owner (`outputs[label].classification`).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A requested output that the model does not produce.
    #[error("requested output `{name}` is not an output of the model (it has: {available})")]
    UnknownOutput {
        /// Name asked for.
        name: String,
        /// The model's outputs, comma-separated.
        available: String,
    },
    /// The same output requested twice: binary offsets would be ambiguous.
    #[error("output `{0}` is requested more than once")]
    DuplicateOutput(String),
    /// The rows themselves are refused (empty, not finite).
    #[error("input tensor: {0}")]
    Batch(#[from] BatchError),
    /// The model produced data that does not match its shape (a server bug, not the client's).
    #[error(
        "output `{name}`: shape {shape:?} needs {expected} values, the model produced {found}"
    )]
    OutputShape {
        /// Output name.
        name: String,
        /// Declared shape.
        shape: Vec<usize>,
        /// Product of the shape.
        expected: usize,
        /// Values produced.
        found: usize,
    },
    /// The response document could not be serialized (a server bug, not the client's).
    #[error("cannot encode the infer response: {0}")]
    Encode(String),
}

impl OipError {
    /// HTTP status for this error: the client's fault is 400, a model that broke its own
    /// shape is 500, so alerting on 5xx stays meaningful.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            OipError::OutputShape { .. } | OipError::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The error body Triton clients parse on a non-200 answer (`tritonclient` reads `error`).
    pub(crate) fn body(&self) -> Value {
        json!({ "error": self.to_string() })
    }
}

/// The request JSON as sent; fields Rollgate ignores (sequence, priority, timeout) are skipped.
#[derive(Deserialize)]
struct RawRequest {
    id: Option<String>,
    inputs: Option<Vec<RawInput>>,
    #[serde(default)]
    outputs: Vec<RawOutput>,
    #[serde(default)]
    parameters: Map<String, Value>,
}

#[derive(Deserialize)]
struct RawInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    data: Option<Value>,
}

#[derive(Deserialize)]
struct RawOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

/// Input datatypes that convert to `f32` features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputType {
    Fp32,
    Fp64,
    Int32,
    Int64,
}

impl InputType {
    fn parse(datatype: &str) -> Option<Self> {
        match datatype {
            "FP32" => Some(Self::Fp32),
            "FP64" => Some(Self::Fp64),
            "INT32" => Some(Self::Int32),
            "INT64" => Some(Self::Int64),
            _ => None,
        }
    }

    /// Bytes per element in the binary extension.
    fn size(self) -> usize {
        match self {
            Self::Fp32 | Self::Int32 => 4,
            Self::Fp64 | Self::Int64 => 8,
        }
    }
}

/// Parameters that need shared memory or Triton's classification extension: refused rather
/// than ignored, since ignoring them would hand the client data it did not ask for.
const UNSUPPORTED_PARAMETERS: [&str; 2] = ["shared_memory_region", "classification"];

/// Decodes an infer request for a model taking `width` features per row.
///
/// `header_len` is the value of the `Inference-Header-Content-Length` HTTP header when present:
/// then `body[..header_len]` is JSON and the rest holds the binary tensors in input order, each
/// input's JSON having `parameters.binary_data_size`. Without it the whole body is JSON.
pub(crate) fn decode_infer_request(
    body: &[u8],
    header_len: Option<usize>,
    width: usize,
) -> Result<InferRequest, OipError> {
    let (json_part, binary) = split_body(body, header_len)?;
    // JSON is UTF-8; checked whole, since serde skips fields it ignores without checking them.
    let json_part =
        std::str::from_utf8(json_part).map_err(|e| OipError::Json(format!("not UTF-8: {e}")))?;
    let raw: RawRequest =
        serde_json::from_str(json_part).map_err(|e| OipError::Json(e.to_string()))?;
    let inputs = raw.inputs.ok_or(OipError::MissingInputs)?;
    let [input] = <[RawInput; 1]>::try_from(inputs).map_err(|v| OipError::InputCount(v.len()))?;
    let binary_by_default = bool_param(&raw.parameters, "binary_data_output", false)?;
    let batch = decode_input(&input, binary, width)?;
    let outputs = requested_outputs(&raw.outputs, binary_by_default)?;
    Ok(InferRequest {
        id: raw.id,
        batch,
        outputs,
        binary_by_default,
    })
}

/// Splits the body into its JSON part and the binary bytes that follow it.
fn split_body(body: &[u8], header_len: Option<usize>) -> Result<(&[u8], &[u8]), OipError> {
    match header_len {
        None => Ok((body, &[])),
        Some(n) if n <= body.len() => Ok(body.split_at(n)),
        Some(n) => Err(OipError::HeaderLength {
            header_len: n,
            body_len: body.len(),
        }),
    }
}

/// Reads a boolean parameter, refusing a non-boolean so a typo'd value is not silently false.
fn bool_param(params: &Map<String, Value>, key: &str, default: bool) -> Result<bool, OipError> {
    match params.get(key) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(OipError::Parameter {
            name: key.to_owned(),
            reason: format!("must be a boolean, got {other}"),
        }),
    }
}

/// Refuses parameters of extensions Rollgate does not implement.
fn reject_unsupported(params: &Map<String, Value>, owner: &str) -> Result<(), OipError> {
    match UNSUPPORTED_PARAMETERS
        .iter()
        .find(|p| params.contains_key(**p))
    {
        None => Ok(()),
        Some(p) => Err(OipError::Parameter {
            name: format!("{owner}.{p}"),
            reason: "this extension is not supported by Rollgate".to_owned(),
        }),
    }
}

/// Turns the one input tensor into feature rows, from JSON `data` or from the binary bytes.
fn decode_input(input: &RawInput, binary: &[u8], width: usize) -> Result<FeatureBatch, OipError> {
    reject_unsupported(&input.parameters, &format!("inputs[{}]", input.name))?;
    let kind = InputType::parse(&input.datatype).ok_or_else(|| OipError::Datatype {
        name: input.name.clone(),
        datatype: input.datatype.clone(),
    })?;
    let count = element_count(input, width)?;
    let binary_size = binary_size(input)?;
    let values = match (binary_size, &input.data) {
        (Some(size), None) => binary_values(input, kind, count, size, binary)?,
        (None, Some(data)) if binary.is_empty() => json_values(input, kind, data)?,
        (None, Some(_)) => return Err(trailing_bytes(binary.len())),
        (Some(_), Some(_)) => {
            return Err(data_error(input, "has both `data` and binary_data_size"))
        }
        (None, None) => return Err(data_error(input, "has neither `data` nor binary_data_size")),
    };
    if values.len() != count {
        return Err(OipError::ShapeData {
            name: input.name.clone(),
            shape: input.shape.clone(),
            expected: count,
            found: values.len(),
        });
    }
    Ok(FeatureBatch::from_flat(values, width)?)
}

/// Checks the shape is `[N, width]` or `[width]` and returns how many values it holds.
fn element_count(input: &RawInput, width: usize) -> Result<usize, OipError> {
    let fits = |d: i64| usize::try_from(d).ok() == Some(width);
    let rows = match input.shape.as_slice() {
        [w] if fits(*w) => Some(1),
        [n, w] if fits(*w) => usize::try_from(*n).ok(),
        _ => None,
    };
    rows.and_then(|r| r.checked_mul(width))
        .ok_or_else(|| OipError::Width {
            name: input.name.clone(),
            shape: input.shape.clone(),
            width,
        })
}

/// Reads `parameters.binary_data_size`, which must be a non-negative integer when present.
fn binary_size(input: &RawInput) -> Result<Option<usize>, OipError> {
    let Some(value) = input.parameters.get("binary_data_size") else {
        return Ok(None);
    };
    match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
        Some(n) => Ok(Some(n)),
        None => Err(OipError::Parameter {
            name: format!("inputs[{}].binary_data_size", input.name),
            reason: format!("must be a non-negative integer, got {value}"),
        }),
    }
}

/// Decodes the binary bytes of the one input, which must be exactly what the shape needs and
/// exactly what follows the JSON (a second, unannounced tensor would otherwise go unnoticed).
fn binary_values(
    input: &RawInput,
    kind: InputType,
    count: usize,
    size: usize,
    binary: &[u8],
) -> Result<Vec<f32>, OipError> {
    let expected = count.saturating_mul(kind.size());
    if size != expected {
        return Err(OipError::BinarySize(format!(
            "input `{}`: binary_data_size is {size} bytes but shape {:?} of {} needs {expected}",
            input.name, input.shape, input.datatype
        )));
    }
    if binary.len() != size {
        return Err(OipError::BinarySize(format!(
            "input `{}` declares {size} bytes but {} bytes follow the JSON header \
             (is Inference-Header-Content-Length set?)",
            input.name,
            binary.len()
        )));
    }
    Ok(decode_le(binary, kind))
}

/// Converts little-endian elements to `f32`, the type every Rollgate model takes.
fn decode_le(bytes: &[u8], kind: InputType) -> Vec<f32> {
    let chunks = bytes.chunks_exact(kind.size());
    match kind {
        InputType::Fp32 => chunks.map(|c| f32::from_le_bytes(array(c))).collect(),
        InputType::Fp64 => chunks
            .map(|c| f64::from_le_bytes(array(c)) as f32)
            .collect(),
        InputType::Int32 => chunks
            .map(|c| i32::from_le_bytes(array(c)) as f32)
            .collect(),
        InputType::Int64 => chunks
            .map(|c| i64::from_le_bytes(array(c)) as f32)
            .collect(),
    }
}

/// Copies a chunk of exactly `N` bytes (as `chunks_exact` yields) into an array.
fn array<const N: usize>(chunk: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(chunk);
    out
}

/// Flattens JSON `data`, flat or nested (the protocol allows both), row-major into `f32`.
fn json_values(input: &RawInput, kind: InputType, data: &Value) -> Result<Vec<f32>, OipError> {
    let mut scalars = Vec::new();
    flatten(data, &mut scalars);
    scalars
        .iter()
        .map(|v| json_number(v, kind))
        .collect::<Option<Vec<f32>>>()
        .ok_or_else(|| {
            let reason = format!(
                "`data` holds a value that is not a {} number",
                input.datatype
            );
            data_error(input, &reason)
        })
}

fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        scalar => out.push(scalar),
    }
}

/// One JSON scalar as `f32`: integer types must hold integers, as Triton requires.
fn json_number(value: &Value, kind: InputType) -> Option<f32> {
    match kind {
        InputType::Fp32 | InputType::Fp64 => value.as_f64().map(|v| v as f32),
        InputType::Int32 | InputType::Int64 => value.as_i64().map(|v| v as f32),
    }
}

fn data_error(input: &RawInput, reason: &str) -> OipError {
    OipError::Data {
        name: input.name.clone(),
        reason: reason.to_owned(),
    }
}

fn trailing_bytes(len: usize) -> OipError {
    OipError::BinarySize(format!(
        "{len} bytes follow the JSON header but no input declares binary_data_size"
    ))
}

/// Reads the `outputs` list; each output's `binary_data` defaults to the request-level setting.
fn requested_outputs(
    raw: &[RawOutput],
    binary_by_default: bool,
) -> Result<Vec<RequestedOutput>, OipError> {
    let mut outputs: Vec<RequestedOutput> = Vec::with_capacity(raw.len());
    for output in raw {
        reject_unsupported(&output.parameters, &format!("outputs[{}]", output.name))?;
        if outputs.iter().any(|o| o.name == output.name) {
            return Err(OipError::DuplicateOutput(output.name.clone()));
        }
        let binary = bool_param(&output.parameters, "binary_data", binary_by_default)
            .map_err(|e| prefix_parameter(e, &output.name))?;
        outputs.push(RequestedOutput {
            name: output.name.clone(),
            binary,
        });
    }
    Ok(outputs)
}

/// Names the output whose parameter is wrong, so the message points at the right place.
fn prefix_parameter(error: OipError, output: &str) -> OipError {
    match error {
        OipError::Parameter { name, reason } => OipError::Parameter {
            name: format!("outputs[{output}].{name}"),
            reason,
        },
        other => other,
    }
}

/// Encodes an infer response.
///
/// Returns the body and, when any output is sent binary, the JSON length to put in the
/// `Inference-Header-Content-Length` response header (content type then
/// `application/octet-stream`; otherwise `application/json`). With `requested` empty every
/// output is returned, binary when `binary_by_default`.
pub(crate) fn encode_infer_response(
    model_name: &str,
    model_version: &str,
    id: Option<&str>,
    outputs: &[OutputTensor],
    requested: &[RequestedOutput],
    binary_by_default: bool,
) -> Result<EncodedResponse, OipError> {
    let selected = select_outputs(outputs, requested, binary_by_default)?;
    let mut docs = Vec::with_capacity(selected.len());
    let mut binary = Vec::new();
    for (tensor, as_binary) in &selected {
        check_output_shape(tensor)?;
        docs.push(output_doc(tensor, *as_binary, &mut binary));
    }
    let doc = ResponseDoc {
        model_name,
        model_version,
        id,
        outputs: docs,
    };
    let mut body = serde_json::to_vec(&doc).map_err(|e| OipError::Encode(e.to_string()))?;
    let header_len = selected.iter().any(|(_, b)| *b).then_some(body.len());
    body.extend_from_slice(&binary);
    Ok(EncodedResponse { body, header_len })
}

/// The response JSON. Serialized straight from the tensors (not through `Value`, which widens
/// `f32` to `f64`) so that `0.9_f32` is written `0.9`, not `0.8999999761581421`.
#[derive(Serialize)]
struct ResponseDoc<'a> {
    model_name: &'a str,
    model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    outputs: Vec<OutputDoc<'a>>,
}

#[derive(Serialize)]
struct OutputDoc<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: &'a [usize],
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a TensorData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinaryParameters>,
}

#[derive(Serialize)]
struct BinaryParameters {
    binary_data_size: usize,
}

/// Picks the outputs to send, in the requested order, each with its binary flag.
fn select_outputs<'a>(
    outputs: &'a [OutputTensor],
    requested: &[RequestedOutput],
    binary_by_default: bool,
) -> Result<Vec<(&'a OutputTensor, bool)>, OipError> {
    if requested.is_empty() {
        return Ok(outputs.iter().map(|t| (t, binary_by_default)).collect());
    }
    requested
        .iter()
        .map(|r| match outputs.iter().find(|t| t.name == r.name) {
            Some(tensor) => Ok((tensor, r.binary)),
            None => Err(OipError::UnknownOutput {
                name: r.name.clone(),
                available: output_names(outputs),
            }),
        })
        .collect()
}

fn output_names(outputs: &[OutputTensor]) -> String {
    let names: Vec<&str> = outputs.iter().map(|t| t.name.as_str()).collect();
    names.join(", ")
}

/// Refuses a tensor whose data does not fill its shape: the client would reshape it wrongly.
fn check_output_shape(tensor: &OutputTensor) -> Result<(), OipError> {
    let expected = tensor
        .shape
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d));
    if expected == Some(tensor.data.len()) {
        return Ok(());
    }
    Err(OipError::OutputShape {
        name: tensor.name.clone(),
        shape: tensor.shape.clone(),
        expected: expected.unwrap_or(usize::MAX),
        found: tensor.data.len(),
    })
}

/// One output's JSON; when binary, its bytes go to `binary` and the JSON says how many.
fn output_doc<'a>(
    tensor: &'a OutputTensor,
    as_binary: bool,
    binary: &mut Vec<u8>,
) -> OutputDoc<'a> {
    let mut doc = OutputDoc {
        name: &tensor.name,
        datatype: tensor.data.datatype(),
        shape: &tensor.shape,
        data: None,
        parameters: None,
    };
    if as_binary {
        let bytes = le_bytes(&tensor.data);
        doc.parameters = Some(BinaryParameters {
            binary_data_size: bytes.len(),
        });
        binary.extend_from_slice(&bytes);
    } else {
        doc.data = Some(&tensor.data);
    }
    doc
}

fn le_bytes(data: &TensorData) -> Vec<u8> {
    match data {
        TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

/// Model metadata document for `GET /v2/models/{name}`, which clients read to build inputs.
pub(crate) fn model_metadata(
    name: &str,
    versions: &[String],
    platform: &str,
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
) -> Value {
    json!({
        "name": name,
        "versions": versions,
        "platform": platform,
        "inputs": specs(inputs),
        "outputs": specs(outputs),
    })
}

fn specs(tensors: &[TensorSpec]) -> Value {
    tensors
        .iter()
        .map(|t| json!({ "name": t.name, "datatype": t.datatype, "shape": t.shape }))
        .collect()
}

/// Server metadata for `GET /v2`: advertises the binary extension so clients may use it.
pub(crate) fn server_metadata(version: &str) -> Value {
    json!({
        "name": "rollgate",
        "version": version,
        "extensions": ["binary_tensor_data"],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its location
mod tests {
    use super::*;

    const IRIS: [f32; 8] = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3];

    fn outputs() -> Vec<OutputTensor> {
        vec![
            OutputTensor {
                name: "label".to_owned(),
                shape: vec![2],
                data: TensorData::I64(vec![0, 2]),
            },
            OutputTensor {
                name: "probabilities".to_owned(),
                shape: vec![2, 3],
                data: TensorData::F32(vec![0.9, 0.05, 0.05, 0.1, 0.2, 0.7]),
            },
        ]
    }

    fn requested(name: &str, binary: bool) -> RequestedOutput {
        RequestedOutput {
            name: name.to_owned(),
            binary,
        }
    }

    /// A binary request as tritonclient builds it: JSON header, then the raw tensor bytes.
    fn binary_request(header: &Value, tensor: &[u8]) -> (Vec<u8>, usize) {
        let mut body = header.to_string().into_bytes();
        let header_len = body.len();
        body.extend_from_slice(tensor);
        (body, header_len)
    }

    fn decode_json(doc: &Value, width: usize) -> Result<InferRequest, OipError> {
        decode_infer_request(doc.to_string().as_bytes(), None, width)
    }

    #[test]
    fn json_request_decodes_to_rows_and_outputs() {
        let doc = json!({
            "id": "req-1",
            "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": IRIS}],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}},
                        {"name": "label"}],
        });
        let req = decode_json(&doc, 4).unwrap();
        assert_eq!(req.id.as_deref(), Some("req-1"));
        assert_eq!(req.batch.rows(), 2);
        assert_eq!(req.batch.values(), &IRIS);
        assert_eq!(
            req.outputs,
            vec![requested("probabilities", true), requested("label", false)]
        );
        assert!(!req.binary_by_default);
    }

    #[test]
    fn nested_data_is_flattened_row_major() {
        let doc = json!({
            "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP64",
                        "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}],
            "parameters": {"binary_data_output": true},
        });
        let req = decode_json(&doc, 4).unwrap();
        assert_eq!(req.batch.values(), &IRIS);
        assert!(req.binary_by_default);
        assert!(req.outputs.is_empty());
    }

    #[test]
    fn single_row_shape_and_integer_types_are_accepted() {
        let doc = json!({
            "inputs": [{"name": "x", "shape": [4], "datatype": "INT64", "data": [1, 2, 3, 4]}],
        });
        let req = decode_json(&doc, 4).unwrap();
        assert_eq!(req.batch.rows(), 1);
        assert_eq!(req.batch.values(), &[1.0, 2.0, 3.0, 4.0]);
        let fractional = json!({
            "inputs": [{"name": "x", "shape": [4], "datatype": "INT32", "data": [1, 2.5, 3, 4]}],
        });
        assert!(matches!(
            decode_json(&fractional, 4),
            Err(OipError::Data { .. })
        ));
    }

    #[test]
    fn binary_request_decodes_little_endian_bytes() {
        let tensor: Vec<u8> = IRIS.iter().flat_map(|v| v.to_le_bytes()).collect();
        let header = json!({
            "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                        "parameters": {"binary_data_size": tensor.len()}}],
            "outputs": [{"name": "label", "parameters": {"binary_data": true}}],
        });
        let (body, header_len) = binary_request(&header, &tensor);
        let req = decode_infer_request(&body, Some(header_len), 4).unwrap();
        assert_eq!(req.batch.values(), &IRIS);
        assert_eq!(req.outputs, vec![requested("label", true)]);
    }

    #[test]
    fn binary_fp64_and_int32_are_converted() {
        let f64s: Vec<u8> = IRIS
            .iter()
            .flat_map(|v| f64::from(*v).to_le_bytes())
            .collect();
        let header = json!({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP64",
                                        "parameters": {"binary_data_size": 64}}]});
        let (body, len) = binary_request(&header, &f64s);
        assert_eq!(
            decode_infer_request(&body, Some(len), 4)
                .unwrap()
                .batch
                .values(),
            &IRIS
        );
        let i32s: Vec<u8> = [7i32, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let header = json!({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "INT32",
                                        "parameters": {"binary_data_size": 8}}]});
        let (body, len) = binary_request(&header, &i32s);
        assert_eq!(
            decode_infer_request(&body, Some(len), 2)
                .unwrap()
                .batch
                .values(),
            &[7.0, -1.0]
        );
    }

    #[test]
    fn mismatched_sizes_are_refused() {
        let short = json!({
            "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
        });
        let err = decode_json(&short, 4).unwrap_err();
        assert!(
            matches!(
                err,
                OipError::ShapeData {
                    expected: 8,
                    found: 4,
                    ..
                }
            ),
            "{err}"
        );

        let tensor = [0u8; 16];
        let header = json!({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                                        "parameters": {"binary_data_size": 16}}]});
        let (body, len) = binary_request(&header, &tensor);
        let err = decode_infer_request(&body, Some(len), 4).unwrap_err();
        assert!(err.to_string().contains("needs 32"), "{err}");

        let header = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                        "parameters": {"binary_data_size": 16}}]});
        let (body, len) = binary_request(&header, &[0u8; 20]);
        let err = decode_infer_request(&body, Some(len), 4).unwrap_err();
        assert!(matches!(err, OipError::BinarySize(_)), "{err}");
        assert!(matches!(
            decode_infer_request(&body, Some(body.len() + 1), 4),
            Err(OipError::HeaderLength { .. })
        ));
        // Binary data announced but no header to find it: the JSON parser sees the raw bytes.
        assert!(matches!(
            decode_infer_request(&body, None, 4),
            Err(OipError::Json(_))
        ));
    }

    #[test]
    fn wrong_width_names_the_expected_shape() {
        let doc = json!({
            "inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}],
        });
        let err = decode_json(&doc, 4).unwrap_err();
        assert!(matches!(err, OipError::Width { width: 4, .. }));
        assert!(err.to_string().contains("expected shape [N, 4]"), "{err}");
        let rank3 = json!({
            "inputs": [{"name": "input", "shape": [1, 1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
        });
        assert!(matches!(
            decode_json(&rank3, 4),
            Err(OipError::Width { .. })
        ));
    }

    #[test]
    fn malformed_requests_get_precise_errors() {
        assert!(matches!(
            decode_infer_request(b"{not json", None, 4),
            Err(OipError::Json(_))
        ));
        assert_eq!(decode_json(&json!({}), 4), Err(OipError::MissingInputs));
        let two = json!({"inputs": [
            {"name": "a", "shape": [4], "datatype": "FP32", "data": [1, 2, 3, 4]},
            {"name": "b", "shape": [4], "datatype": "FP32", "data": [1, 2, 3, 4]}]});
        assert_eq!(decode_json(&two, 4), Err(OipError::InputCount(2)));
        let bytes =
            json!({"inputs": [{"name": "a", "shape": [1], "datatype": "BYTES", "data": ["x"]}]});
        let err = decode_json(&bytes, 1).unwrap_err();
        assert!(
            err.to_string().contains("unsupported datatype `BYTES`"),
            "{err}"
        );
        let shm = json!({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32",
                                     "parameters": {"shared_memory_region": "r"}}]});
        assert!(matches!(
            decode_json(&shm, 1),
            Err(OipError::Parameter { .. })
        ));
        let flag = json!({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}],
                          "parameters": {"binary_data_output": "yes"}});
        assert!(matches!(
            decode_json(&flag, 1),
            Err(OipError::Parameter { .. })
        ));
        let nan = [f32::NAN.to_le_bytes()].concat();
        let header = json!({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32",
                                        "parameters": {"binary_data_size": 4}}]});
        let (body, len) = binary_request(&header, &nan);
        assert!(matches!(
            decode_infer_request(&body, Some(len), 1),
            Err(OipError::Batch(BatchError::NotFinite { .. }))
        ));
    }

    #[test]
    fn duplicate_and_unknown_outputs_are_refused() {
        let dup = json!({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}],
                         "outputs": [{"name": "label"}, {"name": "label"}]});
        assert_eq!(
            decode_json(&dup, 1),
            Err(OipError::DuplicateOutput("label".to_owned()))
        );
        let err = encode_infer_response(
            "iris",
            "1",
            None,
            &outputs(),
            &[requested("score", false)],
            false,
        )
        .unwrap_err();
        assert!(matches!(err, OipError::UnknownOutput { .. }));
        assert!(err.to_string().contains("label, probabilities"), "{err}");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.body()["error"], json!(err.to_string()));
    }

    #[test]
    fn json_response_lists_all_outputs_with_data() {
        let resp =
            encode_infer_response("iris", "2", Some("req-1"), &outputs(), &[], false).unwrap();
        assert_eq!(resp.header_len, None);
        let doc: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(doc["model_name"], "iris");
        assert_eq!(doc["model_version"], "2");
        assert_eq!(doc["id"], "req-1");
        assert_eq!(
            doc["outputs"][0],
            json!({"name": "label", "datatype": "INT64", "shape": [2], "data": [0, 2]})
        );
        assert_eq!(doc["outputs"][1]["datatype"], "FP32");
        assert_eq!(doc["outputs"][1]["shape"], json!([2, 3]));
        assert_eq!(doc["outputs"][1]["data"][0], json!(0.9));
        let text = String::from_utf8(resp.body).unwrap();
        assert!(text.contains("[0.9,0.05,0.05,0.1,0.2,0.7]"), "{text}");
        let no_id = encode_infer_response("iris", "2", None, &outputs(), &[], false).unwrap();
        let doc: Value = serde_json::from_slice(&no_id.body).unwrap();
        assert!(doc.get("id").is_none());
    }

    #[test]
    fn binary_response_appends_bytes_in_requested_order() {
        let asked = [requested("probabilities", true), requested("label", false)];
        let resp = encode_infer_response("iris", "1", None, &outputs(), &asked, false).unwrap();
        let header_len = resp.header_len.unwrap();
        let doc: Value = serde_json::from_slice(&resp.body[..header_len]).unwrap();
        let probs = &doc["outputs"][0];
        assert_eq!(probs["name"], "probabilities");
        assert_eq!(probs["parameters"]["binary_data_size"], 24);
        assert!(probs.get("data").is_none());
        assert_eq!(doc["outputs"][1]["data"], json!([0, 2]));
        let tail = &resp.body[header_len..];
        assert_eq!(tail.len(), 24);
        let floats: Vec<f32> = tail
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(array(c)))
            .collect();
        assert_eq!(floats, vec![0.9, 0.05, 0.05, 0.1, 0.2, 0.7]);
    }

    #[test]
    fn binary_by_default_sends_every_output_binary() {
        let resp = encode_infer_response("iris", "1", None, &outputs(), &[], true).unwrap();
        let header_len = resp.header_len.unwrap();
        let doc: Value = serde_json::from_slice(&resp.body[..header_len]).unwrap();
        assert_eq!(doc["outputs"][0]["parameters"]["binary_data_size"], 16);
        assert_eq!(doc["outputs"][1]["parameters"]["binary_data_size"], 24);
        let tail = &resp.body[header_len..];
        assert_eq!(tail.len(), 40);
        let labels: Vec<i64> = tail[..16]
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(array(c)))
            .collect();
        assert_eq!(labels, vec![0, 2]);
    }

    #[test]
    fn output_not_filling_its_shape_is_a_server_error() {
        let mut bad = outputs();
        bad[0].shape = vec![3];
        let err = encode_infer_response("iris", "1", None, &bad, &[], false).unwrap_err();
        assert!(matches!(
            err,
            OipError::OutputShape {
                expected: 3,
                found: 2,
                ..
            }
        ));
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn metadata_documents_have_the_oip_fields() {
        let input = TensorSpec {
            name: "input".to_owned(),
            datatype: "FP32",
            shape: vec![-1, 4],
        };
        let doc = model_metadata("iris", &["1".to_owned()], "onnx", &[input], &[]);
        assert_eq!(
            doc,
            json!({"name": "iris", "versions": ["1"], "platform": "onnx",
                   "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
                   "outputs": []})
        );
        let server = server_metadata("0.1.0");
        assert_eq!(server["name"], "rollgate");
        assert_eq!(server["extensions"], json!(["binary_tensor_data"]));
    }
}
