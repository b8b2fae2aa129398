use super::*;
use crate::control::plane::{Booted, ControlError};
use crate::store::faulty::{Faulty, Knobs};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use async_trait::async_trait;
use rollgate_core::catalog::Change;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

const CONFIG: &str = r#"
services:
  iris:
    input_width: 4
    versions: { v1: { onnx: "builtin:iris-v1" }, v2: { onnx: "builtin:iris-v2" } }
    route: { stable: v1, candidate: v2, weights: { v1: 100 } }
"#;

async fn replica(store: Arc<dyn Store>) -> Booted {
    crate::control::plane::boot_for_test(store, CONFIG).await
}

/// A feed woken by hand.
struct Manual(mpsc::UnboundedReceiver<()>);

#[async_trait]
impl ChangeFeed for Manual {
    async fn changed(&mut self) {
        if self.0.recv().await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}

fn served_route(booted: &Booted) -> String {
    booted.gateway.snapshot().services["iris"].route.to_string()
}

/// Waits (bounded) until the replica serves `route`.
async fn until_served(booted: &Booted, route: &str) {
    for _ in 0..200 {
        if served_route(booted) == route {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never served {route}; serves {}", served_route(booted));
}

#[tokio::test]
async fn a_change_on_one_replica_is_served_by_another_when_the_feed_wakes_it() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.expect("store"));
    let a = replica(Arc::clone(&store)).await;
    let b = replica(Arc::clone(&store)).await;
    let before = served_route(&b);
    let (wake, rx) = mpsc::unbounded_channel();
    let follower = tokio::spawn(follow(
        Arc::clone(&b.plane),
        Manual(rx),
        Duration::from_secs(3600),
    ));

    a.plane
        .change("iris", None, Change::SetCanaryRatio(2500), "test")
        .await
        .expect("change on a");
    let after = served_route(&a);
    assert_ne!(after, before);
    assert_eq!(served_route(&b), before, "b has not been told yet");
    wake.send(()).expect("wake");
    until_served(&b, &after).await;
    assert_eq!(b.plane.service("iris").await.expect("iris").revision, 2);
    follower.abort();
}

#[tokio::test]
async fn the_poll_catches_up_without_any_notification() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.expect("store"));
    let a = replica(Arc::clone(&store)).await;
    let b = replica(Arc::clone(&store)).await;
    let (_quiet, rx) = mpsc::unbounded_channel();
    let follower = tokio::spawn(follow(
        Arc::clone(&b.plane),
        Manual(rx),
        Duration::from_millis(20),
    ));
    a.plane
        .change("iris", None, Change::SetCanaryRatio(5000), "test")
        .await
        .expect("change on a");
    until_served(&b, &served_route(&a)).await;
    follower.abort();
}

/// A new version b cannot load yet (its blob unreadable there) is not applied on b: b keeps
/// serving its last route, and adopts the change once the version loads.
#[tokio::test]
async fn a_version_a_replica_cannot_load_yet_is_not_applied_there() {
    let dir = tempfile::tempdir().expect("dir");
    let shared = SqliteStore::open(dir.path()).await.expect("store");
    let a = replica(Arc::new(shared.clone())).await;
    let knobs = Arc::new(Knobs::default());
    let flaky = Arc::new(Faulty {
        inner: shared,
        knobs: Arc::clone(&knobs),
    });
    let b = replica(Arc::clone(&flaky) as Arc<dyn Store>).await;
    let before = served_route(&b);
    knobs.blobs_fail.store(true, Ordering::SeqCst);

    let model = crate::backend::builtin::get("iris-bad")
        .expect("bundled")
        .to_vec();
    let (source, _) = a.plane.store_model("iris", model).await.expect("stored");
    let v3 = rollgate_core::config::VersionSpec {
        name: "v3".into(),
        source,
    };
    a.plane
        .change("iris", None, Change::UpdateModel(v3), "test")
        .await
        .expect("v3 on a");
    let err = b.plane.catch_up().await.expect_err("b cannot load v3 yet");
    assert!(err.to_string().contains("v3"), "{err}");
    assert_eq!(served_route(&b), before, "b still serves its last route");
    assert_eq!(b.plane.service("iris").await.expect("iris").revision, 1);

    knobs.blobs_fail.store(false, Ordering::SeqCst);
    let adopted = b.plane.catch_up().await.expect("b loads v3");
    assert_eq!(adopted, vec![("iris".to_owned(), 2)]);
    assert_eq!(served_route(&b), served_route(&a));
}

/// A change asked for without a revision on a replica that has not caught up with another's
/// change yet is applied on the newer state, not refused as a conflict.
#[tokio::test]
async fn a_change_on_a_replica_behind_catches_up_and_applies() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.expect("store"));
    let a = replica(Arc::clone(&store)).await;
    let b = replica(Arc::clone(&store)).await;
    a.plane
        .change("iris", None, Change::SetCanaryRatio(2500), "test")
        .await
        .expect("change on a");
    let on_b = b
        .plane
        .change("iris", None, Change::SetCanaryRatio(5000), "test")
        .await
        .expect("b catches up and applies");
    assert_eq!(on_b.revision, 3);
    let stale = b
        .plane
        .change("iris", Some(2), Change::SetCanaryRatio(1000), "test")
        .await
        .expect_err("a stale revision asked for explicitly is refused");
    assert!(matches!(stale, ControlError::Conflict { .. }), "{stale}");
}
