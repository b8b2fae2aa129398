//! The codec's rules, one by one.

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
    let resp = encode_infer_response("iris", "2", Some("req-1"), &outputs(), &[], false).unwrap();
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
