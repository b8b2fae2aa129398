//! Feedback between replicas. A label posted to a replica that did not answer the request is
//! held in the shared store; every replica is told (NOTIFY, and a poll besides) and the one
//! whose ledger holds the request joins it and writes its answer back, which the receiving
//! replica returns to the client. The answering replica's ledger marks the request labelled,
//! so the version is credited once however often the feedback is retried.
//!
//! The relay's I/O runs on the control runtime: the data-port worker threads hand each
//! forward over a channel, so no store connection is used from their runtimes.

use crate::control::plane::ControlPlane;
use crate::gateway::feedback::join_relayed;
use crate::gateway::Gateway;
use crate::store::ChangeFeed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long the receiving replica waits for the answering one.
const WAIT: Duration = Duration::from_secs(2);

/// How often an unanswered forward is looked at again.
const POLL: Duration = Duration::from_millis(10);

/// Forwarded feedback older than this is no longer offered (its request would have expired).
const MAX_AGE: Duration = Duration::from_secs(30);

/// One forward: the feedback, and where its answer goes.
struct Forward {
    body: Vec<u8>,
    reply: oneshot::Sender<Option<(u16, String)>>,
}

/// The data plane's handle on the relay.
#[derive(Debug, Clone)]
pub(crate) struct Relay {
    tx: mpsc::Sender<Forward>,
}

impl Relay {
    /// Offers feedback to the other replicas: `(status, answer)` from the one that answered
    /// the request, or `None` if none did within the wait (or the store is unreachable).
    pub(crate) async fn forward(&self, body: &[u8]) -> Option<(u16, String)> {
        let (reply, answer) = oneshot::channel();
        let forward = Forward {
            body: body.to_vec(),
            reply,
        };
        self.tx.send(forward).await.ok()?;
        answer.await.ok().flatten()
    }
}

/// Starts the relay of this replica: forwarding what it cannot join, and joining what the
/// others forward (woken by `feed`). Returns the handle and the task to run.
pub(crate) fn start(
    plane: Arc<ControlPlane>,
    gateway: Arc<Gateway>,
    replica: String,
    feed: impl ChangeFeed + 'static,
) -> (Relay, impl std::future::Future<Output = ()>) {
    let (tx, rx) = mpsc::channel(1024);
    let task = async move {
        let forwarding = tokio::spawn(forward_all(Arc::clone(&plane), replica, rx));
        take_forwarded(plane, gateway, feed).await;
        forwarding.abort();
    };
    (Relay { tx }, task)
}

async fn forward_all(plane: Arc<ControlPlane>, replica: String, mut rx: mpsc::Receiver<Forward>) {
    while let Some(f) = rx.recv().await {
        let plane = Arc::clone(&plane);
        let replica = replica.clone();
        tokio::spawn(async move {
            let answer = forward_one(&plane, &replica, &f.body).await;
            let _ = f.reply.send(answer);
        });
    }
}

async fn forward_one(plane: &ControlPlane, replica: &str, body: &[u8]) -> Option<(u16, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let id = match plane.forward_feedback(replica, text).await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "feedback not relayed to the other replicas");
            return None;
        }
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(answer)) = plane.feedback_answer(id).await {
            return Some(answer);
        }
        tokio::time::sleep(POLL).await;
    }
    None
}

/// Joins the feedback other replicas forward, whenever told and every second besides.
async fn take_forwarded(
    plane: Arc<ControlPlane>,
    gateway: Arc<Gateway>,
    mut feed: impl ChangeFeed,
) {
    loop {
        tokio::select! {
            () = feed.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let Ok(pending) = plane.pending_feedback(MAX_AGE).await else {
            continue;
        };
        for (id, body) in pending {
            if let Some((status, answer)) = join_relayed(&gateway, body.as_bytes()) {
                if let Err(e) = plane.answer_feedback(id, status, &answer).await {
                    tracing::warn!(error = %e, "relayed feedback joined but not answered");
                }
            }
        }
    }
}
