//! A test double: SQLite with faults a test switches on (service writes refused as by a full
//! disk, blobs unreadable as on a replica that cannot fetch a model yet) and a count of
//! rollout saves.

use super::sqlite::SqliteStore;
use super::{BlobInfo, Event, EventQuery, Fence, NewEvent, Store, StoreError, StoredService};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// What a test sets and reads of its [`Faulty`] store.
#[derive(Debug, Default)]
pub(crate) struct Knobs {
    /// Service writes fail while set.
    pub(crate) refuse: AtomicBool,
    /// Blob reads fail while set.
    pub(crate) blobs_fail: AtomicBool,
    /// Rollout documents saved.
    pub(crate) saves: AtomicUsize,
}

/// SQLite behind the test's [`Knobs`].
#[derive(Debug)]
pub(crate) struct Faulty {
    pub(crate) inner: SqliteStore,
    pub(crate) knobs: Arc<Knobs>,
}

#[async_trait]
impl Store for Faulty {
    async fn services(&self) -> Result<Vec<StoredService>, StoreError> {
        self.inner.services().await
    }
    async fn commit(
        &self,
        expected: Option<u64>,
        service: &StoredService,
        event: &NewEvent,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        if self.knobs.refuse.load(SeqCst) {
            let full = sqlx::Error::Protocol("disk full".into());
            return Err(StoreError::Database(full));
        }
        self.inner.commit(expected, service, event, fence).await
    }
    async fn save_rollout(
        &self,
        service: &str,
        state: &Value,
        event: Option<&NewEvent>,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        self.knobs.saves.fetch_add(1, SeqCst);
        self.inner.save_rollout(service, state, event, fence).await
    }
    async fn rollouts(&self) -> Result<Vec<(String, Value)>, StoreError> {
        self.inner.rollouts().await
    }
    async fn record(&self, event: &NewEvent, fence: Option<&Fence>) -> Result<i64, StoreError> {
        self.inner.record(event, fence).await
    }
    async fn acquire_lease(
        &self,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Fence>, StoreError> {
        self.inner.acquire_lease(holder, ttl).await
    }
    async fn release_lease(&self, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(holder).await
    }
    async fn publish_windows(
        &self,
        replica: &str,
        windows: &[(String, String, String)],
    ) -> Result<(), StoreError> {
        self.inner.publish_windows(replica, windows).await
    }
    async fn fleet_windows(
        &self,
        service: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.inner.fleet_windows(service).await
    }
    async fn relay_put(&self, kind: &str, from: &str, body: &str) -> Result<i64, StoreError> {
        self.inner.relay_put(kind, from, body).await
    }
    async fn relay_answer(&self, id: i64) -> Result<Option<(u16, String)>, StoreError> {
        self.inner.relay_answer(id).await
    }
    async fn relay_pending(
        &self,
        kind: &str,
        max_age: std::time::Duration,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        self.inner.relay_pending(kind, max_age).await
    }
    async fn relay_reply(&self, id: i64, status: u16, answer: &str) -> Result<(), StoreError> {
        self.inner.relay_reply(id, status, answer).await
    }
    async fn put_blob(&self, bytes: &[u8]) -> Result<BlobInfo, StoreError> {
        self.inner.put_blob(bytes).await
    }
    async fn blob(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        if self.knobs.blobs_fail.load(SeqCst) {
            return Err(StoreError::MissingBlob(sha256.to_owned()));
        }
        self.inner.blob(sha256).await
    }
    async fn events(&self, query: &EventQuery) -> Result<Vec<Event>, StoreError> {
        self.inner.events(query).await
    }
}
