//! Webhook notifications of rollout milestones (`pre_rollout`, `step`, `manual_gate`,
//! `promoted`, `rolled_back`, `concluded`): a JSON POST to each configured URL.
//!
//! Delivery never blocks the rollout: notifications go into a bounded queue drained by one
//! task, each is retried with exponential backoff, and a dead receiver only costs the queue's
//! oldest entries (dropped and logged) once it is full.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rollgate_core::rollout::Notification;
use std::time::Duration;
use tokio::sync::mpsc;

/// Notifications waiting for delivery before new ones are dropped.
const QUEUE: usize = 256;
/// Attempts per notification and receiver.
const ATTEMPTS: u32 = 5;

/// Where and how notifications are sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct WebhookConfig {
    pub(crate) urls: Vec<String>,
    /// First retry delay; doubled at each attempt.
    pub(crate) backoff: Duration,
    pub(crate) timeout: Duration,
}

/// The sending side of the notification queue.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    tx: Option<mpsc::Sender<Notification>>,
}

impl Webhooks {
    /// Starts the delivery task (none without URLs).
    pub(crate) fn start(config: WebhookConfig) -> Self {
        if config.urls.is_empty() {
            return Self { tx: None };
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(deliver(config, rx));
        Self { tx: Some(tx) }
    }

    /// Queues a notification; never waits.
    pub(crate) fn send(&self, n: Notification) {
        if let Some(tx) = &self.tx {
            if tx.try_send(n).is_err() {
                tracing::warn!("webhook queue full: a notification was dropped");
            }
        }
    }
}

async fn deliver(config: WebhookConfig, mut rx: mpsc::Receiver<Notification>) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    while let Some(n) = rx.recv().await {
        let body = Bytes::from(serde_json::to_vec(&payload(&n)).unwrap_or_default());
        for url in &config.urls {
            post_with_retries(&client, &config, url, body.clone()).await;
        }
    }
}

/// The JSON document receivers get.
pub(crate) fn payload(n: &Notification) -> serde_json::Value {
    serde_json::json!({
        "event": n.kind,
        "rollout": n.rollout,
        "service": n.service,
        "candidate": n.candidate,
        "step": n.step,
        "steps": n.steps,
        "candidate_percent": f64::from(n.candidate_bps) / 100.0,
        "message": n.message,
        "at_ms": crate::store::now_ms(),
    })
}

async fn post_with_retries(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    config: &WebhookConfig,
    url: &str,
    body: Bytes,
) {
    let mut delay = config.backoff;
    for attempt in 1..=ATTEMPTS {
        match post(client, config.timeout, url, body.clone()).await {
            Ok(()) => return,
            Err(e) if attempt == ATTEMPTS => {
                tracing::warn!(url, error = %e, "webhook not delivered, giving up");
            }
            Err(e) => {
                tracing::debug!(url, attempt, error = %e, "webhook failed, retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
    }
}

/// Why one delivery of a webhook failed.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("bad webhook URL: {0}")]
    BadUrl(#[from] http::Error),
    #[error("timed out")]
    Timeout,
    #[error(transparent)]
    Connect(#[from] hyper_util::client::legacy::Error),
    #[error("answered {0}")]
    Status(http::StatusCode),
}

async fn post(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    timeout: Duration,
    url: &str,
    body: Bytes,
) -> Result<(), DeliveryError> {
    let req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let resp = tokio::time::timeout(timeout, client.request(req))
        .await
        .map_err(|_| DeliveryError::Timeout)??;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Status(resp.status()))
    }
}
