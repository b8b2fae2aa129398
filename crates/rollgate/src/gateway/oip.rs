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
mod tests;
