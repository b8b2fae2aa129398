//! The store contract: what every [`Store`] engine must do, written once and run against each
//! (`contract_tests!` in each engine's tests). A fixture opens a fresh store, and opens it
//! again, as a restart or a second replica does.

use super::{digest, EventQuery, NewEvent, Store, StoreError, StoredService};
use rollgate_core::config::{file::ServiceFile, parse, service_file};

/// Opens the store under test: a fresh one per fixture, and the same one again.
#[async_trait::async_trait]
pub(crate) trait Fixture: Send + Sync {
    type Store: Store + Clone + 'static;
    /// A handle on this fixture's store (a second call is a reopening, or a second replica).
    async fn open(&self) -> Self::Store;
}

/// Runs every contract test against one engine's fixture, each as its own `#[tokio::test]`.
macro_rules! contract_tests {
    ($fixture:expr) => {
        contract_tests!(@each $fixture;
            commits_are_checked_against_the_revision,
            state_survives_reopening,
            events_page_newest_first_and_filter_by_service,
            blobs_are_content_addressed_and_idempotent,
            a_rollout_state_is_replaced_whole_with_its_event,
            concurrent_writers_wait_for_each_other_instead_of_failing,
            two_writers_from_one_revision_one_wins,
            one_replica_holds_the_lease_until_it_lapses_or_is_released,
            a_write_fenced_by_a_lost_lease_is_refused);
    };
    (@each $fixture:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $fixture;
                $crate::store::contract::$name(&fixture).await;
            }
        )*
    };
}
pub(crate) use contract_tests;

fn doc() -> ServiceFile {
    let text = "services:\n  iris:\n    input_width: 4\n    versions:\n      v1: { onnx: \"sha256:1\" }\n    route:\n      weights: { v1: 100 }\n";
    service_file(&parse(text).expect("valid").services[0])
}

fn service(revision: u64) -> StoredService {
    StoredService {
        name: "iris".into(),
        doc: doc(),
        previous: None,
        revision,
    }
}

fn event(kind: &str) -> NewEvent {
    NewEvent {
        actor: "test".into(),
        service: Some("iris".into()),
        kind: kind.into(),
        before: None,
        after: Some(serde_json::json!({"k": kind})),
        detail: None,
    }
}

pub(crate) async fn commits_are_checked_against_the_revision<F: Fixture>(fixture: &F) {
    let store = fixture.open().await;
    store
        .commit(None, &service(1), &event("seeded"), None)
        .await
        .expect("create");
    let err = store
        .commit(None, &service(1), &event("again"), None)
        .await
        .expect_err("exists");
    assert!(
        matches!(err, StoreError::Conflict { current: 1, .. }),
        "{err}"
    );
    store
        .commit(Some(1), &service(2), &event("changed"), None)
        .await
        .expect("update");
    let err = store
        .commit(Some(1), &service(2), &event("stale"), None)
        .await
        .expect_err("stale");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 1,
                current: 2,
                ..
            }
        ),
        "{err}"
    );
    let all = store.services().await.expect("list");
    assert_eq!(all, vec![service(2)]);
    let events = store
        .events(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["changed", "seeded"],
        "refused changes leave no event"
    );
}

pub(crate) async fn state_survives_reopening<F: Fixture>(fixture: &F) {
    {
        let store = fixture.open().await;
        store
            .commit(None, &service(1), &event("seeded"), None)
            .await
            .expect("create");
        let info = store.put_blob(b"model bytes").await.expect("blob");
        assert_eq!(info.size, 11);
    }
    let store = fixture.open().await;
    assert_eq!(store.services().await.expect("list").len(), 1);
    assert_eq!(
        store.blob(&digest(b"model bytes")).await.expect("blob"),
        b"model bytes"
    );
    assert!(matches!(
        store.blob("nope").await,
        Err(StoreError::MissingBlob(_))
    ));
}

pub(crate) async fn events_page_newest_first_and_filter_by_service<F: Fixture>(fixture: &F) {
    let store = fixture.open().await;
    for i in 0..5 {
        store
            .record(&event(&format!("e{i}")), None)
            .await
            .expect("record");
    }
    let mut other = event("elsewhere");
    other.service = Some("churn".into());
    store.record(&other, None).await.expect("record");
    let q = EventQuery {
        service: Some("iris".into()),
        before_id: None,
        limit: 2,
    };
    let page = store.events(&q).await.expect("page");
    assert_eq!(
        page.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        vec!["e4", "e3"]
    );
    let q = EventQuery {
        before_id: Some(page[1].id),
        ..q
    };
    let next = store.events(&q).await.expect("next");
    assert_eq!(
        next.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        vec!["e2", "e1"]
    );
}

pub(crate) async fn blobs_are_content_addressed_and_idempotent<F: Fixture>(fixture: &F) {
    let store = fixture.open().await;
    let a = store.put_blob(b"x").await.expect("put");
    let b = store.put_blob(b"x").await.expect("put again");
    assert_eq!(a, b);
    assert_eq!(
        a.sha256,
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    );
}

pub(crate) async fn a_rollout_state_is_replaced_whole_with_its_event<F: Fixture>(fixture: &F) {
    let store = fixture.open().await;
    let first = serde_json::json!({"index": 0});
    store
        .save_rollout("iris", &first, Some(&event("rollout_started")), None)
        .await
        .expect("save");
    let second = serde_json::json!({"index": 1});
    store
        .save_rollout("iris", &second, None, None)
        .await
        .expect("save");
    drop(store);
    let store = fixture.open().await;
    assert_eq!(
        store.rollouts().await.expect("read"),
        vec![("iris".to_owned(), second)]
    );
    let events = store
        .events(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "rollout_started");
}

/// Commits (read the revision, then write) racing with rollout saves and events on other
/// connections of the pool: none fails with `database is locked`.
pub(crate) async fn concurrent_writers_wait_for_each_other_instead_of_failing<F: Fixture>(
    fixture: &F,
) {
    let store = fixture.open().await;
    store
        .commit(None, &service(1), &event("seeded"), None)
        .await
        .expect("create");
    let saver = store.clone();
    let saves = tokio::spawn(async move {
        for i in 0..200 {
            let state = serde_json::json!({ "i": i });
            saver
                .save_rollout("iris", &state, Some(&event("tick")), None)
                .await
                .expect("rollout saved");
        }
    });
    let recorder = store.clone();
    let records = tokio::spawn(async move {
        for _ in 0..200 {
            recorder
                .record(&event("noted"), None)
                .await
                .expect("recorded");
        }
    });
    for revision in 1..=200 {
        store
            .commit(
                Some(revision),
                &service(revision + 1),
                &event("changed"),
                None,
            )
            .await
            .expect("a commit racing other writers succeeds");
    }
    saves.await.expect("saves");
    records.await.expect("records");
    let all = store
        .events(&EventQuery {
            service: None,
            before_id: None,
            limit: 1000,
        })
        .await
        .expect("events");
    assert_eq!(all.len(), 601);
}

/// Two replicas commit a change computed from the same revision at once: exactly one wins,
/// the other is told of the conflict, and only the winner's event is logged.
pub(crate) async fn two_writers_from_one_revision_one_wins<F: Fixture>(fixture: &F) {
    let a = fixture.open().await;
    let b = fixture.open().await;
    a.commit(None, &service(1), &event("seeded"), None)
        .await
        .expect("create");
    for round in 1..=20u64 {
        let next = service(round + 1);
        let (from_a, from_b) = (event("from a"), event("from b"));
        let (ra, rb) = tokio::join!(
            a.commit(Some(round), &next, &from_a, None),
            b.commit(Some(round), &next, &from_b, None),
        );
        assert!(
            ra.is_ok() != rb.is_ok(),
            "round {round}: exactly one of two racing commits wins ({ra:?}, {rb:?})"
        );
        let err = ra.err().or(rb.err()).expect("a loser");
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    }
    let fresh = named("fresh", 1);
    let (by_a, by_b) = (event("created by a"), event("created by b"));
    let (ca, cb) = tokio::join!(
        a.commit(None, &fresh, &by_a, None),
        b.commit(None, &fresh, &by_b, None),
    );
    assert!(ca.is_ok() != cb.is_ok(), "one of two creations wins");
    let events = a
        .events(&EventQuery {
            limit: 100,
            ..EventQuery::default()
        })
        .await
        .expect("events");
    assert_eq!(events.len(), 22, "one event per winning commit");
}

fn named(name: &str, revision: u64) -> StoredService {
    StoredService {
        name: name.into(),
        ..service(revision)
    }
}

const TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// One holder at a time: a second replica is refused while the lease runs, renewing keeps the
/// epoch, a lapsed or released lease goes to the next replica with a higher epoch.
pub(crate) async fn one_replica_holds_the_lease_until_it_lapses_or_is_released<F: Fixture>(
    fixture: &F,
) {
    let (a, b) = (fixture.open().await, fixture.open().await);
    let first = a
        .acquire_lease("a", TTL)
        .await
        .expect("a")
        .expect("a leads");
    assert_eq!(
        b.acquire_lease("b", TTL).await.expect("b"),
        None,
        "a's lease runs"
    );
    let renewed = a
        .acquire_lease("a", TTL)
        .await
        .expect("a")
        .expect("renewed");
    assert_eq!(renewed, first, "renewing keeps the epoch");
    a.release_lease("a").await.expect("released");
    let second = b
        .acquire_lease("b", TTL)
        .await
        .expect("b")
        .expect("b leads");
    assert!(second.epoch > first.epoch, "{second:?} after {first:?}");
    let short = std::time::Duration::from_millis(50);
    assert_eq!(
        b.acquire_lease("b", short)
            .await
            .expect("b")
            .map(|f| f.epoch),
        Some(second.epoch)
    );
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    let third = a
        .acquire_lease("a", TTL)
        .await
        .expect("a")
        .expect("lapsed: a leads again");
    assert!(third.epoch > second.epoch);
}

/// A controller write carrying a lease that another replica has since taken is refused, and
/// leaves nothing behind; the current holder's writes go through.
pub(crate) async fn a_write_fenced_by_a_lost_lease_is_refused<F: Fixture>(fixture: &F) {
    let (a, b) = (fixture.open().await, fixture.open().await);
    a.commit(None, &service(1), &event("seeded"), None)
        .await
        .expect("create");
    let old = a
        .acquire_lease("a", TTL)
        .await
        .expect("a")
        .expect("a leads");
    a.save_rollout("iris", &serde_json::json!({"index": 1}), None, Some(&old))
        .await
        .expect("the holder writes");
    a.release_lease("a").await.expect("released");
    let new = b
        .acquire_lease("b", TTL)
        .await
        .expect("b")
        .expect("b leads");
    let stale = serde_json::json!({"index": 99});
    let err = a
        .save_rollout("iris", &stale, Some(&event("late")), Some(&old))
        .await
        .expect_err("fenced");
    assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
    let err = a
        .commit(Some(1), &service(2), &event("late change"), Some(&old))
        .await
        .expect_err("fenced");
    assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
    let err = a
        .record(&event("late note"), Some(&old))
        .await
        .expect_err("fenced");
    assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
    b.save_rollout("iris", &serde_json::json!({"index": 2}), None, Some(&new))
        .await
        .expect("the new holder writes");
    assert_eq!(
        a.rollouts().await.expect("rollouts"),
        vec![("iris".to_owned(), serde_json::json!({"index": 2}))]
    );
    let events = a
        .events(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .expect("events");
    assert_eq!(events.len(), 1, "no refused write left an event");
}
