//! Requests one replica of a shared store hands to another: feedback for a request another
//! replica answered (only that replica's ledger holds it), and rollout calls made on a replica
//! that does not run the controller (only the leader does). The request is held in the store;
//! every replica is told (NOTIFY, and a poll besides); one that can answer it does, and writes
//! its answer back, which the receiving replica returns to its client as it is.
//!
//! The relay's store I/O runs on the control runtime: the data-port worker threads hand each
//! request over a channel, so no store connection is used from their runtimes.

use crate::control::plane::ControlPlane;
use crate::store::ChangeFeed;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How often an unanswered request is looked at again by the replica waiting for it.
const POLL: Duration = Duration::from_millis(10);

/// Requests older than this are no longer offered.
const MAX_AGE: Duration = Duration::from_secs(30);

/// What is relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `POST /v1/feedback` for a request another replica answered.
    Feedback,
    /// A rollout API call for the replica running the controller.
    Rollout,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Feedback => "feedback",
            Kind::Rollout => "rollout",
        }
    }
}

/// One replica's side of a kind of request: answers it if this replica can.
#[async_trait]
pub(crate) trait Answerer: Send + Sync {
    fn kind(&self) -> Kind;
    /// `(status, JSON answer)`, or `None` when another replica must answer.
    async fn answer(&self, body: &str) -> Option<(u16, String)>;
}

/// One request to relay, and where its answer goes.
struct Forward {
    kind: Kind,
    body: String,
    wait: Duration,
    reply: oneshot::Sender<Option<(u16, String)>>,
}

/// A replica's handle on the relay.
#[derive(Debug, Clone)]
pub(crate) struct Relay {
    tx: mpsc::Sender<Forward>,
}

impl Relay {
    /// Offers a request to the other replicas: `(status, answer)` from the one that answered
    /// it, or `None` if none did within `wait` (or the store is unreachable).
    pub(crate) async fn forward(
        &self,
        kind: Kind,
        body: String,
        wait: Duration,
    ) -> Option<(u16, String)> {
        let (reply, answer) = oneshot::channel();
        let forward = Forward {
            kind,
            body,
            wait,
            reply,
        };
        self.tx.send(forward).await.ok()?;
        answer.await.ok().flatten()
    }
}

/// What the replica's relay task reads its forwards from.
pub(crate) struct Outbox(mpsc::Receiver<Forward>);

/// A relay handle and the outbox its task will read (the handle is handed out before the
/// answerers that need it exist).
pub(crate) fn channel() -> (Relay, Outbox) {
    let (tx, rx) = mpsc::channel(1024);
    (Relay { tx }, Outbox(rx))
}

/// Runs this replica's relay: forwarding what it cannot answer, and answering, through
/// `answerers`, what the others forward (woken by `feed`).
pub(crate) async fn run(
    plane: Arc<ControlPlane>,
    replica: String,
    outbox: Outbox,
    answerers: Vec<Arc<dyn Answerer>>,
    feed: impl ChangeFeed,
) {
    let forwarding = tokio::spawn(forward_all(Arc::clone(&plane), replica, outbox.0));
    take_relayed(plane, answerers, feed).await;
    forwarding.abort();
}

async fn forward_all(plane: Arc<ControlPlane>, replica: String, mut rx: mpsc::Receiver<Forward>) {
    while let Some(f) = rx.recv().await {
        let plane = Arc::clone(&plane);
        let replica = replica.clone();
        tokio::spawn(async move {
            let answer = forward_one(&plane, &replica, &f).await;
            let _ = f.reply.send(answer);
        });
    }
}

async fn forward_one(plane: &ControlPlane, replica: &str, f: &Forward) -> Option<(u16, String)> {
    let id = match plane.relay_put(f.kind.as_str(), replica, &f.body).await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, kind = f.kind.as_str(), "not relayed to the other replicas");
            return None;
        }
    };
    let deadline = tokio::time::Instant::now() + f.wait;
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(answer)) = plane.relay_answer(id).await {
            return Some(answer);
        }
        tokio::time::sleep(POLL).await;
    }
    None
}

/// Answers what the other replicas relay, whenever told and every second besides.
async fn take_relayed(
    plane: Arc<ControlPlane>,
    answerers: Vec<Arc<dyn Answerer>>,
    mut feed: impl ChangeFeed,
) {
    loop {
        tokio::select! {
            () = feed.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        for answerer in &answerers {
            let kind = answerer.kind().as_str();
            let Ok(pending) = plane.relay_pending(kind, MAX_AGE).await else {
                continue;
            };
            for (id, body) in pending {
                if let Some((status, answer)) = answerer.answer(&body).await {
                    if let Err(e) = plane.relay_reply(id, status, &answer).await {
                        tracing::warn!(error = %e, kind, "relayed request answered but not stored");
                    }
                }
            }
        }
    }
}
