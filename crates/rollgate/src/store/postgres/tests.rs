use super::testing::Cluster;
use super::*;
use crate::store::contract::{contract_tests, Fixture};

/// A fresh database in a throwaway cluster; each `open` is another replica's connection.
struct TempDatabase(Cluster);

#[async_trait]
impl Fixture for TempDatabase {
    type Store = PgStore;
    async fn open(&self) -> PgStore {
        PgStore::open(self.0.url()).await.expect("open")
    }
}

contract_tests!(TempDatabase(Cluster::start()));

/// Replicas starting together migrate one database once: sqlx's migration lock makes the
/// others wait, and then find nothing left to apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let cluster = Cluster::start();
    let opens = (0..4).map(|_| PgStore::open(cluster.url()));
    for store in futures_util::future::join_all(opens).await {
        store.expect("every replica opens");
    }
    let store = PgStore::open(cluster.url()).await.expect("open");
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(store.pool())
        .await
        .expect("migration record");
    assert_eq!(
        applied,
        super::super::schema::postgres().iter().count() as i64
    );
}
