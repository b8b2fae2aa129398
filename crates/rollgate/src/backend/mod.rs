//! Where predictions come from: the [`Backend`] trait and its two kinds, an ONNX model run in
//! process ([`onnx`]) and instances of an HTTP model server ([`http`]).
//!
//! A version either computes tensors (the gateway decodes the request for it and encodes its
//! answer) or speaks HTTP (the gateway forwards the request as it came and returns the answer as
//! it went): [`Backend`] is one or the other.

pub(crate) mod builtin;
pub(crate) mod http;
pub(crate) mod onnx;

use crate::telemetry::ErrorKind;
use bytes::Bytes;
use rollgate_core::tensor::TensorSpec;
use std::sync::Arc;

/// The body of a request or answer passing through the gateway.
pub(crate) type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
/// The error type of streamed bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A failure of a backend, classified by source so it is counted against the right party.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct BackendError {
    /// Source of the failure.
    pub(crate) kind: ErrorKind,
    /// What happened, for the client and the log.
    pub(crate) message: String,
}

impl BackendError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// One version's way of answering predictions: one of the two kinds Rollgate serves.
///
/// A closed enum rather than a trait object: a request goes to the kind that takes its form
/// (tensors to an in-process model, the HTTP request as it came to a model server), checked by
/// the compiler, so no backend can be handed a form it does not take, and a rolling update
/// reaches an HTTP version's instances by a `match`, not a downcast.
#[derive(Debug)]
pub(crate) enum Backend {
    /// An ONNX model run in process.
    Onnx(Arc<onnx::OnnxBackend>),
    /// Instances of an HTTP model server.
    Http(Arc<http::HttpBackend>),
}

impl Backend {
    /// Platform name for Open Inference metadata (`onnx`, `http`).
    pub(crate) fn platform(&self) -> &'static str {
        match self {
            Backend::Onnx(_) => "onnx",
            Backend::Http(_) => "http",
        }
    }

    /// Declared outputs (empty when unknown, as for HTTP upstreams).
    pub(crate) fn outputs(&self) -> &[TensorSpec] {
        match self {
            Backend::Onnx(m) => m.outputs(),
            Backend::Http(_) => &[],
        }
    }

    /// Whether it can take requests now (an HTTP backend with every instance ejected cannot).
    pub(crate) fn ready(&self) -> bool {
        match self {
            Backend::Onnx(_) => true,
            Backend::Http(h) => h.ready(),
        }
    }
}
