//! Durable control state behind the [`Store`] trait: service documents with their revision,
//! content-addressed model blobs, the state of each service's rollout and the append-only
//! event log.
//!
//! Every change is one transaction: the service document (checked against the revision the
//! caller read, so concurrent changes conflict instead of overwriting each other) and the event
//! that records it commit together or not at all. The embedded default is SQLite ([`sqlite`]),
//! for one machine; several replicas share PostgreSQL ([`postgres`]), with the same tables and
//! the same semantics. Each engine's schema is versioned ([`schema`]).

#[cfg(test)]
mod contract;
#[cfg(test)]
pub(crate) mod faulty;
mod location;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod schema;
pub(crate) use location::{Location, Opened};
pub(crate) mod sqlite;

use async_trait::async_trait;
use rollgate_core::config::file::ServiceFile;
use serde::Serialize;
use serde_json::Value;

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// Another change committed first; the caller's revision is stale.
    #[error("service `{service}` is at revision {current}, not {expected}: reload and retry")]
    Conflict {
        service: String,
        expected: u64,
        current: u64,
    },
    /// No blob with that digest.
    #[error("no stored model with sha256 {0}")]
    MissingBlob(String),
    /// A stored document no longer parses (written by an incompatible version).
    #[error("stored document of `{0}` is unreadable: {1}")]
    Corrupt(String, String),
    /// The database failed.
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date (e.g. a database written by a newer
    /// Rollgate, or a changed migration).
    #[error("store schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A controller write from a replica that no longer holds the controller lease (another
    /// replica took over): refused, so a paused old leader cannot overwrite the new one.
    #[error("the controller lease (epoch {epoch}) is no longer held by `{holder}`: write refused")]
    Fenced { holder: String, epoch: i64 },
    /// A document could not be encoded for storing.
    #[error("document not encodable: {0}")]
    Encode(#[from] serde_json::Error),
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, connections exhausted),
    /// as opposed to refusing the write: the caller may retry later, nothing was changed.
    pub(crate) fn is_unavailable(&self) -> bool {
        let Self::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            // SQLSTATE class 08 (connection exception) and 57 (operator intervention: the
            // server shutting down or still starting up).
            sqlx::Error::Database(d) => d
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57")),
            _ => false,
        }
    }
}

/// A service document as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredService {
    pub(crate) name: String,
    pub(crate) doc: ServiceFile,
    /// The stable version before the last accept, for rollback.
    pub(crate) previous: Option<String>,
    pub(crate) revision: u64,
}

/// An event to append with a change.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewEvent {
    /// Who asked: `config`, `api`, `cli`, `controller`.
    pub(crate) actor: String,
    pub(crate) service: Option<String>,
    /// What happened, e.g. `canary_ratio_set`.
    pub(crate) kind: String,
    pub(crate) before: Option<Value>,
    pub(crate) after: Option<Value>,
    pub(crate) detail: Option<Value>,
}

/// An event as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Event {
    pub(crate) id: i64,
    /// Milliseconds since the Unix epoch.
    pub(crate) at_ms: i64,
    pub(crate) actor: String,
    pub(crate) service: Option<String>,
    pub(crate) kind: String,
    pub(crate) before: Option<Value>,
    pub(crate) after: Option<Value>,
    pub(crate) detail: Option<Value>,
}

/// Which events to list: newest first, after a cursor.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct EventQuery {
    pub(crate) service: Option<String>,
    /// Only events with an id below this (the cursor of the previous page).
    pub(crate) before_id: Option<i64>,
    pub(crate) limit: u32,
}

/// Metadata of a stored model blob.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct BlobInfo {
    pub(crate) sha256: String,
    pub(crate) size: u64,
}

/// Proof that a write comes from the elected controller: the lease's holder and epoch when
/// it was taken. Every fenced write re-checks both in its own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fence {
    pub(crate) holder: String,
    pub(crate) epoch: i64,
}

impl Fence {
    pub(crate) fn refused(&self) -> StoreError {
        StoreError::Fenced {
            holder: self.holder.clone(),
            epoch: self.epoch,
        }
    }
}

/// The name of the controller's lease row.
pub(crate) const CONTROLLER_LEASE: &str = "controller";

/// The durable control state.
#[async_trait]
pub(crate) trait Store: Send + Sync + std::fmt::Debug {
    /// Every service document.
    async fn services(&self) -> Result<Vec<StoredService>, StoreError>;
    /// Writes a service document and its event in one transaction. `expected` is the revision
    /// the change was computed from (`None`: the service must not exist yet); the new document
    /// carries the next revision.
    /// With a `fence`, the write is refused unless that lease is still held.
    async fn commit(
        &self,
        expected: Option<u64>,
        service: &StoredService,
        event: &NewEvent,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError>;
    /// Writes the latest state of a service's rollout (one per service, replaced whole) and,
    /// with it in the same transaction, the event of the transition.
    async fn save_rollout(
        &self,
        service: &str,
        state: &Value,
        event: Option<&NewEvent>,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError>;
    /// The latest rollout state of every service that had one.
    async fn rollouts(&self) -> Result<Vec<(String, Value)>, StoreError>;
    /// Appends an event that changes no service (e.g. a refused reconciliation).
    async fn record(&self, event: &NewEvent, fence: Option<&Fence>) -> Result<i64, StoreError>;
    /// Takes or renews the controller lease for `holder` for `ttl`, on the store's clock: the
    /// fence to write with, or `None` while another holder's lease runs. The epoch grows each
    /// time the holder changes.
    async fn acquire_lease(
        &self,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Fence>, StoreError>;
    /// Gives the lease up (a replica shutting down), so another takes over at once.
    async fn release_lease(&self, holder: &str) -> Result<(), StoreError>;
    /// Replaces what `replica` measured for each version (`(service, version, document)`).
    async fn publish_windows(
        &self,
        replica: &str,
        windows: &[(String, String, String)],
    ) -> Result<(), StoreError>;
    /// Holds a request of `kind` this replica cannot answer itself for the others to take;
    /// returns its id. On PostgreSQL the other replicas are notified.
    async fn relay_put(&self, kind: &str, from: &str, body: &str) -> Result<i64, StoreError>;
    /// The answer to a relayed request, once a replica took it: `(status, JSON answer)`.
    async fn relay_answer(&self, id: i64) -> Result<Option<(u16, String)>, StoreError>;
    /// Relayed requests of `kind` no replica has answered yet, newer than `max_age`; older
    /// ones are deleted.
    async fn relay_pending(
        &self,
        kind: &str,
        max_age: std::time::Duration,
    ) -> Result<Vec<(i64, String)>, StoreError>;
    /// Answers a relayed request (once: a second answer is ignored).
    async fn relay_reply(&self, id: i64, status: u16, answer: &str) -> Result<(), StoreError>;
    /// What every replica last published for `service`: `(replica, version, document)`.
    async fn fleet_windows(
        &self,
        service: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Stores model bytes under their sha256 (idempotent) and returns it.
    async fn put_blob(&self, bytes: &[u8]) -> Result<BlobInfo, StoreError>;
    /// The bytes of a stored model.
    async fn blob(&self, sha256: &str) -> Result<Vec<u8>, StoreError>;
    /// A page of the event log, newest first.
    async fn events(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError>;
}

/// Wakes a replica when the shared store may hold changes it has not adopted yet. It says
/// nothing of what changed: the replica catches up by reading the store.
#[async_trait]
pub(crate) trait ChangeFeed: Send {
    /// Returns when a change was announced, or when announcements may have been missed.
    async fn changed(&mut self);
}

/// A service row as both engines read it: the document parsed, the revision unsigned.
fn stored_service(
    name: String,
    doc: &str,
    previous: Option<String>,
    revision: i64,
) -> Result<StoredService, StoreError> {
    let doc =
        serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(name.clone(), e.to_string()))?;
    Ok(StoredService {
        name,
        doc,
        previous,
        revision: revision as u64,
    })
}

/// A rollout row as both engines read it.
fn stored_rollout(service: String, state: &str) -> Result<(String, Value), StoreError> {
    let state = serde_json::from_str(state)
        .map_err(|e| StoreError::Corrupt(service.clone(), e.to_string()))?;
    Ok((service, state))
}

/// The hex sha256 of some bytes: the address of a model blob.
pub(crate) fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Milliseconds since the Unix epoch, for event times.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
