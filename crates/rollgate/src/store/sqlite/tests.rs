use super::*;
use rollgate_core::config::{file::ServiceFile, parse, service_file};

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

#[tokio::test]
async fn commits_are_checked_against_the_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    store
        .commit(None, &service(1), &event("seeded"))
        .await
        .expect("create");
    let err = store
        .commit(None, &service(1), &event("again"))
        .await
        .expect_err("exists");
    assert!(
        matches!(err, StoreError::Conflict { current: 1, .. }),
        "{err}"
    );
    store
        .commit(Some(1), &service(2), &event("changed"))
        .await
        .expect("update");
    let err = store
        .commit(Some(1), &service(2), &event("stale"))
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

#[tokio::test]
async fn state_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = SqliteStore::open(dir.path()).await.expect("open");
        store
            .commit(None, &service(1), &event("seeded"))
            .await
            .expect("create");
        let info = store.put_blob(b"model bytes").await.expect("blob");
        assert_eq!(info.size, 11);
    }
    let store = SqliteStore::open(dir.path()).await.expect("reopen");
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

#[tokio::test]
async fn events_page_newest_first_and_filter_by_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    for i in 0..5 {
        store
            .record(&event(&format!("e{i}")))
            .await
            .expect("record");
    }
    let mut other = event("elsewhere");
    other.service = Some("churn".into());
    store.record(&other).await.expect("record");
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

#[tokio::test]
async fn blobs_are_content_addressed_and_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    let a = store.put_blob(b"x").await.expect("put");
    let b = store.put_blob(b"x").await.expect("put again");
    assert_eq!(a, b);
    assert_eq!(
        a.sha256,
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    );
}

#[tokio::test]
async fn a_rollout_state_is_replaced_whole_with_its_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    let first = serde_json::json!({"index": 0});
    store
        .save_rollout("iris", &first, Some(&event("rollout_started")))
        .await
        .expect("save");
    let second = serde_json::json!({"index": 1});
    store
        .save_rollout("iris", &second, None)
        .await
        .expect("save");
    drop(store);
    let store = SqliteStore::open(dir.path()).await.expect("reopen");
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_wait_for_each_other_instead_of_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).await.expect("open");
    store
        .commit(None, &service(1), &event("seeded"))
        .await
        .expect("create");
    let saver = store.clone();
    let saves = tokio::spawn(async move {
        for i in 0..200 {
            let state = serde_json::json!({ "i": i });
            saver
                .save_rollout("iris", &state, Some(&event("tick")))
                .await
                .expect("rollout saved");
        }
    });
    let recorder = store.clone();
    let records = tokio::spawn(async move {
        for _ in 0..200 {
            recorder.record(&event("noted")).await.expect("recorded");
        }
    });
    for revision in 1..=200 {
        store
            .commit(Some(revision), &service(revision + 1), &event("changed"))
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
