//! The two request protocols a tensor-speaking version is reached by, behind one small enum:
//! how a body becomes rows and how outputs become an answer.

use super::error::{ApiError, ErrorStyle};
use super::{oip, v1};
use crate::gateway::snapshot::ServiceRuntime;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use rollgate_core::tensor::{FeatureBatch, OutputTensor};

/// Which protocol a request came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `POST /v1/models/{service}/predict`.
    V1,
    /// `POST /v2/models/{service}[/versions/{v}]/infer`.
    OpenInference,
}

/// What the encoder needs to remember from the decoded request.
#[derive(Debug)]
pub(crate) enum Decoded {
    V1,
    OpenInference {
        id: Option<String>,
        outputs: Vec<oip::RequestedOutput>,
        binary_by_default: bool,
    },
}

const HEADER_LEN: &str = "inference-header-content-length";

impl Protocol {
    /// The error style of this protocol's routes.
    pub(crate) fn style(self) -> ErrorStyle {
        match self {
            Protocol::V1 => ErrorStyle::Rollgate,
            Protocol::OpenInference => ErrorStyle::OpenInference,
        }
    }

    /// Decodes a body into rows of the service's width.
    pub(crate) fn decode(
        self,
        body: &[u8],
        headers: &HeaderMap,
        width: usize,
    ) -> Result<(FeatureBatch, Decoded), ApiError> {
        match self {
            Protocol::V1 => v1::decode(body, width)
                .map(|b| (b, Decoded::V1))
                .map_err(|e| ApiError::bad_request(v1_code(&e), e.to_string())),
            Protocol::OpenInference => {
                let header_len = header_len(headers)?;
                let req = oip::decode_infer_request(body, header_len, width)
                    .map_err(|e| ApiError::new(e.status(), "bad_infer_request", e.to_string()))?;
                let decoded = Decoded::OpenInference {
                    id: req.id,
                    outputs: req.outputs,
                    binary_by_default: req.binary_by_default,
                };
                Ok((req.batch, decoded))
            }
        }
    }
}

fn v1_code(e: &v1::V1Error) -> &'static str {
    match e {
        v1::V1Error::Json(_) => "bad_json",
        v1::V1Error::Missing(_) | v1::V1Error::Shape(..) => "bad_shape",
    }
}

fn header_len(headers: &HeaderMap) -> Result<Option<usize>, ApiError> {
    let Some(v) = headers.get(HEADER_LEN) else {
        return Ok(None);
    };
    let parsed = v.to_str().ok().and_then(|s| s.trim().parse().ok());
    parsed.map(Some).ok_or_else(|| {
        ApiError::bad_request(
            "bad_infer_request",
            "Inference-Header-Content-Length is not a number",
        )
    })
}

/// Encodes a model's outputs as the protocol's answer.
pub(crate) fn encode(
    decoded: Decoded,
    outputs: &[OutputTensor],
    svc: &ServiceRuntime,
    version: &str,
    request_id: &str,
) -> Response {
    match decoded {
        Decoded::V1 => {
            let body = v1::answer(outputs, &svc.output, version, request_id);
            let json = HeaderValue::from_static("application/json");
            ([(header::CONTENT_TYPE, json)], body).into_response()
        }
        Decoded::OpenInference {
            id,
            outputs: requested,
            binary_by_default,
        } => {
            let id = id.as_deref().or(Some(request_id));
            match oip::encode_infer_response(
                &svc.name,
                version,
                id,
                outputs,
                &requested,
                binary_by_default,
            ) {
                Ok(enc) => infer_response(enc),
                Err(e) => (e.status(), Json(e.body())).into_response(),
            }
        }
    }
}

fn infer_response(enc: oip::EncodedResponse) -> Response {
    let mut resp = (StatusCode::OK, enc.body).into_response();
    let h = resp.headers_mut();
    match enc.header_len {
        Some(len) => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(HEADER_LEN, HeaderValue::from(len));
        }
        None => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
    }
    resp
}
