use super::*;
use crate::store::contract::{contract_tests, Fixture};

/// A store in a temporary directory; opening it again reopens the same file.
struct TempStore(tempfile::TempDir);

#[async_trait]
impl Fixture for TempStore {
    type Store = SqliteStore;
    async fn open(&self) -> SqliteStore {
        SqliteStore::open(self.0.path()).await.expect("open")
    }
}

contract_tests!(TempStore(tempfile::tempdir().expect("tempdir")));

/// The tables of the first release, made by that release itself (no migration record).
const FIRST_RELEASE: &[&str] = &[
    "CREATE TABLE services (name TEXT PRIMARY KEY, doc TEXT NOT NULL, previous TEXT,
        revision BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, bytes BLOB NOT NULL, size BIGINT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at BIGINT NOT NULL,
        actor TEXT NOT NULL, service TEXT, kind TEXT NOT NULL, before_doc TEXT,
        after_doc TEXT, detail TEXT)",
    "CREATE INDEX events_by_service ON events (service, id)",
    "CREATE TABLE rollouts (service TEXT PRIMARY KEY, state TEXT NOT NULL,
        updated_at BIGINT NOT NULL)",
    r#"INSERT INTO services VALUES ('iris', '{"input_width":4,"versions":{"v1":{"onnx":"sha256:1"}},"route":{"weights":{"v1":100}}}', NULL, 7, 0)"#,
    "INSERT INTO events (at, actor, service, kind) VALUES (0, 'config', 'iris', 'seeded')",
    r#"INSERT INTO rollouts VALUES ('iris', '{"index":2}', 0)"#,
];

/// A data dir written by the first release opens: its rows are read as they were, the schema
/// is brought under versioned migrations, and a later open finds nothing left to do.
#[tokio::test]
async fn a_first_release_data_dir_opens_and_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("rollgate.db"))
        .create_if_missing(true);
    let old = SqlitePool::connect_with(options).await.expect("old db");
    for statement in FIRST_RELEASE {
        sqlx::query(statement).execute(&old).await.expect(statement);
    }
    old.close().await;

    let store = SqliteStore::open(dir.path()).await.expect("upgraded");
    let services = store.services().await.expect("services");
    assert_eq!(services.len(), 1);
    assert_eq!(
        (services[0].name.as_str(), services[0].revision),
        ("iris", 7)
    );
    assert_eq!(
        store.rollouts().await.expect("rollouts"),
        vec![("iris".to_owned(), serde_json::json!({"index": 2}))]
    );
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY 1")
        .fetch_all(&store.pool)
        .await
        .expect("migration record");
    let known: Vec<i64> = super::super::schema::sqlite()
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(applied, known, "every migration is recorded as applied");
    store.pool.close().await;
    let again = SqliteStore::open(dir.path()).await.expect("reopened");
    assert_eq!(again.services().await.expect("services").len(), 1);
}
