//! The controller over a real store that can be made to refuse service writes, as a full disk
//! or a failing database would, between a rollout's stored transition and its route change.

use super::*;
use crate::control::plane::Boot;
use crate::metrics_source::local::LocalSource;
use crate::store::sqlite::SqliteStore;
use crate::store::{BlobInfo, EventQuery, Store, StoredService};
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// SQLite, with service writes refused while `refuse` is set.
#[derive(Debug)]
struct Flaky {
    inner: SqliteStore,
    refuse: Arc<AtomicBool>,
}

#[async_trait]
impl Store for Flaky {
    async fn services(&self) -> Result<Vec<StoredService>, StoreError> {
        self.inner.services().await
    }
    async fn commit(
        &self,
        expected: Option<u64>,
        service: &StoredService,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        if self.refuse.load(SeqCst) {
            return Err(StoreError::Database(sqlx::Error::Protocol(
                "disk full".into(),
            )));
        }
        self.inner.commit(expected, service, event).await
    }
    async fn save_rollout(
        &self,
        service: &str,
        state: &Value,
        event: Option<&NewEvent>,
    ) -> Result<(), StoreError> {
        self.inner.save_rollout(service, state, event).await
    }
    async fn rollouts(&self) -> Result<Vec<(String, Value)>, StoreError> {
        self.inner.rollouts().await
    }
    async fn record(&self, event: &NewEvent) -> Result<i64, StoreError> {
        self.inner.record(event).await
    }
    async fn put_blob(&self, bytes: &[u8]) -> Result<BlobInfo, StoreError> {
        self.inner.put_blob(bytes).await
    }
    async fn blob(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.blob(sha256).await
    }
    async fn events(&self, query: &EventQuery) -> Result<Vec<crate::store::Event>, StoreError> {
        self.inner.events(query).await
    }
}

/// A controller (ticking once an hour: the test ticks it) over a `Flaky` store in `dir`,
/// serving the embedded default config (iris: `v1` stable, `v2` the candidate).
async fn controller(dir: &std::path::Path, refuse: &Arc<AtomicBool>) -> Arc<Controller> {
    let inner = SqliteStore::open(dir).await.expect("store");
    let store = Arc::new(Flaky {
        inner,
        refuse: Arc::clone(refuse),
    });
    let config =
        rollgate_core::config::parse(crate::backend::builtin::DEFAULT_CONFIG).expect("config");
    let plane = ControlPlane::boot(Boot {
        store,
        config: config.services,
        base: std::path::Path::new("."),
        max_body: 1 << 20,
        max_model_bytes: 1 << 20,
        ledger: Arc::new(crate::feedback::Ledger::new(100, Duration::from_secs(60))),
    })
    .await
    .expect("plane");
    let source = Arc::new(LocalSource::new(Arc::clone(plane.recorder())));
    let settings = Settings {
        tick: Duration::from_secs(3600),
        templates: builtin_templates().expect("templates"),
        webhooks: webhook::WebhookConfig {
            urls: Vec::new(),
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        },
    };
    Controller::start(plane, source, settings)
        .await
        .expect("controller")
}

/// The candidate's live weight, in basis points.
async fn candidate_bps(c: &Controller) -> u32 {
    let route = c.plane.service("iris").await.expect("service").spec.route;
    let v2 = route.index_of("v2").expect("v2");
    route.weights()[usize::from(v2.0)]
}

#[tokio::test]
async fn a_route_change_refused_after_its_transition_was_stored_is_repaired_by_a_tick() {
    let dir = tempfile::tempdir().expect("dir");
    let refuse = Arc::new(AtomicBool::new(false));
    let c = controller(dir.path(), &refuse).await;
    refuse.store(true, SeqCst);
    c.begin("iris", "steps:\n  - set_weight: 10%\n  - pause: {}\n")
        .await
        .expect("begun");
    // The transition to 10% is stored; the route change behind it was refused.
    assert_eq!(candidate_bps(&c).await, 0);
    c.tick().await;
    assert_eq!(candidate_bps(&c).await, 0, "still refused");
    refuse.store(false, SeqCst);
    c.tick().await;
    assert_eq!(candidate_bps(&c).await, 1_000, "repaired");

    // A rollback whose route change is refused leaves the candidate its share until repaired.
    refuse.store(true, SeqCst);
    c.act("iris", Verb::Abort).await.expect("aborted");
    assert_eq!(candidate_bps(&c).await, 1_000);
    refuse.store(false, SeqCst);
    c.tick().await;
    assert_eq!(candidate_bps(&c).await, 0, "back on stable");
}
