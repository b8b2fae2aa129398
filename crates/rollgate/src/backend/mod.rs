//! Where predictions come from: the [`Backend`] trait and its two kinds, an ONNX model run in
//! process ([`onnx`]) and instances of an HTTP model server ([`http`]).
//!
//! A version either computes tensors (the gateway decodes the request for it and encodes its
//! answer) or speaks HTTP (the gateway forwards the request as it came and returns the answer as
//! it went). [`BackendRequest`] and [`BackendReply`] carry one or the other.

pub(crate) mod builtin;
pub(crate) mod http;
pub(crate) mod onnx;

use crate::telemetry::ErrorKind;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use rollgate_core::tensor::{FeatureBatch, OutputTensor, TensorSpec};

/// The body of a request or answer passing through the gateway.
pub(crate) type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
/// The error type of streamed bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a backend is asked to do.
#[derive(Debug)]
pub(crate) enum BackendRequest {
    /// Run the model on a batch of rows.
    Tensors(FeatureBatch),
    /// Forward an HTTP request; its path is the one the upstream should see.
    Http(::http::Request<Body>),
}

/// What a backend answered.
#[derive(Debug)]
pub(crate) enum BackendReply {
    /// The model's output tensors.
    Tensors(Vec<OutputTensor>),
    /// The upstream's answer, to be returned as it is.
    Http(::http::Response<Body>),
}

/// Which request form a backend takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Speaks {
    /// [`BackendRequest::Tensors`].
    Tensors,
    /// [`BackendRequest::Http`].
    Http,
}

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

/// One version's way of answering predictions.
pub(crate) trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// Which request form it takes.
    fn speaks(&self) -> Speaks;
    /// Platform name for Open Inference metadata (`onnx`, `http`).
    fn platform(&self) -> &'static str;
    /// Declared outputs (empty when unknown, as for HTTP upstreams).
    fn outputs(&self) -> &[TensorSpec];
    /// Whether it can take requests now (an HTTP backend with every instance ejected cannot).
    fn ready(&self) -> bool;
    /// The HTTP upstream behind this version, whose instances a rolling update replaces.
    fn as_http(&self) -> Option<&http::HttpBackend> {
        None
    }
    /// Answers one request.
    fn call(
        &self,
        request: BackendRequest,
    ) -> BoxFuture<'static, Result<BackendReply, BackendError>>;
}
