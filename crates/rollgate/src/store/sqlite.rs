//! The embedded store: SQLite in `--data-dir`, in WAL mode with `synchronous = FULL`, so a
//! change acknowledged to a client has reached the disk and survives `kill -9` or power loss.

use super::{
    digest, now_ms, stored_rollout, stored_service, BlobInfo, Event, EventQuery, Fence, NewEvent,
    Store, StoreError, StoredService, CONTROLLER_LEASE,
};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;

/// SQLite-backed [`Store`].
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database `rollgate.db` in `dir`.
    pub(crate) async fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        let options = SqliteConnectOptions::new()
            .filename(dir.join("rollgate.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        super::schema::sqlite().run(&pool).await?;
        Ok(Self { pool })
    }

    /// A write transaction that holds SQLite's write lock from its first statement
    /// (`BEGIN IMMEDIATE`). A deferred transaction that reads first (the revision check) and
    /// writes next fails at once with `SQLITE_BUSY_SNAPSHOT` when another connection wrote in
    /// between (the rollout controller saving its state while an API change commits), and the
    /// busy timeout does not apply to that; taken up front, the lock is waited for instead.
    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_string(v).ok()
}

fn from_json(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

#[async_trait]
impl Store for SqliteStore {
    async fn services(&self) -> Result<Vec<StoredService>, StoreError> {
        let rows = sqlx::query("SELECT name, doc, previous, revision FROM services ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let doc: String = row.get("doc");
                stored_service(
                    row.get("name"),
                    &doc,
                    row.get("previous"),
                    row.get("revision"),
                )
            })
            .collect()
    }

    async fn commit(
        &self,
        expected: Option<u64>,
        service: &StoredService,
        event: &NewEvent,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        check_fence(&mut tx, fence).await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT revision FROM services WHERE name = ?")
                .bind(&service.name)
                .fetch_optional(&mut *tx)
                .await?;
        let current = current.map(|r| r as u64);
        if current != expected {
            return Err(StoreError::Conflict {
                service: service.name.clone(),
                expected: expected.unwrap_or(0),
                current: current.unwrap_or(0),
            });
        }
        let doc = serde_json::to_string(&service.doc)
            .map_err(|e| StoreError::Corrupt(service.name.clone(), e.to_string()))?;
        sqlx::query(
            "INSERT INTO services (name, doc, previous, revision, updated_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, previous = excluded.previous,
             revision = excluded.revision, updated_at = excluded.updated_at",
        )
        .bind(&service.name)
        .bind(doc)
        .bind(&service.previous)
        .bind(service.revision as i64)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_rollout(
        &self,
        service: &str,
        state: &serde_json::Value,
        event: Option<&NewEvent>,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        check_fence(&mut tx, fence).await?;
        sqlx::query(
            "INSERT INTO rollouts (service, state, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (service) DO UPDATE SET state = excluded.state,
             updated_at = excluded.updated_at",
        )
        .bind(service)
        .bind(state.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if let Some(event) = event {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn rollouts(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let rows = sqlx::query("SELECT service, state FROM rollouts ORDER BY service")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let text: String = row.get("state");
                stored_rollout(row.get("service"), &text)
            })
            .collect()
    }

    async fn record(&self, event: &NewEvent, fence: Option<&Fence>) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        check_fence(&mut tx, fence).await?;
        let id = insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn acquire_lease(
        &self,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Fence>, StoreError> {
        let now = now_ms();
        let epoch: Option<i64> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (name) DO UPDATE SET
               epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch
                       ELSE leases.epoch + 1 END,
               holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leases.holder = excluded.holder OR leases.expires_at < ?4
             RETURNING epoch",
        )
        .bind(CONTROLLER_LEASE)
        .bind(holder)
        .bind(now + ttl.as_millis() as i64)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(epoch.map(|epoch| Fence {
            holder: holder.to_owned(),
            epoch,
        }))
    }

    async fn release_lease(&self, holder: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?")
            .bind(CONTROLLER_LEASE)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn publish_windows(
        &self,
        replica: &str,
        windows: &[(String, String, String)],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for (service, version, doc) in windows {
            sqlx::query(
                "INSERT INTO fleet_windows (replica, service, version, doc, at_ms) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (replica, service, version) DO UPDATE SET doc = excluded.doc,
                 at_ms = excluded.at_ms",
            )
            .bind(replica)
            .bind(service)
            .bind(version)
            .bind(doc)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn fleet_windows(
        &self,
        service: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT replica, version, doc FROM fleet_windows WHERE service = ? ORDER BY replica, version")
            .bind(service)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("replica"), r.get("version"), r.get("doc")))
            .collect())
    }

    async fn relay_put(&self, kind: &str, from: &str, body: &str) -> Result<i64, StoreError> {
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO relay_inbox (kind, body, from_replica, created_at)
             VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(kind)
        .bind(body)
        .bind(from)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn relay_answer(&self, id: i64) -> Result<Option<(u16, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT status, answer FROM relay_inbox WHERE id = ? AND answer IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.get::<i32, _>("status") as u16, r.get("answer"))))
    }

    async fn relay_pending(
        &self,
        kind: &str,
        max_age: std::time::Duration,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let oldest = now_ms() - max_age.as_millis() as i64;
        sqlx::query("DELETE FROM relay_inbox WHERE created_at < ?")
            .bind(oldest - 60_000)
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT id, body FROM relay_inbox WHERE answer IS NULL AND created_at >= ?
             AND kind = ? ORDER BY id",
        )
        .bind(oldest)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("id"), r.get("body")))
            .collect())
    }

    async fn relay_reply(&self, id: i64, status: u16, answer: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE relay_inbox SET status = ?, answer = ? WHERE id = ? AND answer IS NULL",
        )
        .bind(i32::from(status))
        .bind(answer)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn put_blob(&self, bytes: &[u8]) -> Result<BlobInfo, StoreError> {
        let sha256 = digest(bytes);
        sqlx::query("INSERT INTO blobs (sha256, bytes, size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING")
            .bind(&sha256)
            .bind(bytes)
            .bind(bytes.len() as i64)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(BlobInfo {
            sha256,
            size: bytes.len() as u64,
        })
    }

    async fn blob(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        sqlx::query_scalar("SELECT bytes FROM blobs WHERE sha256 = ?")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::MissingBlob(sha256.to_owned()))
    }

    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, service, kind, before_doc, after_doc, detail FROM events
             WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR id < ?2)
             ORDER BY id DESC LIMIT ?3",
        )
        .bind(&q.service)
        .bind(q.before_id)
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(event_from_row).collect())
    }
}

/// Refuses the transaction's write unless `fence`'s lease is still held (inside the write
/// lock, so no takeover can slip in between the check and the commit).
async fn check_fence(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    fence: Option<&Fence>,
) -> Result<(), StoreError> {
    let Some(fence) = fence else { return Ok(()) };
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT epoch FROM leases WHERE name = ? AND holder = ? AND epoch = ? AND expires_at >= ?",
    )
    .bind(CONTROLLER_LEASE)
    .bind(&fence.holder)
    .bind(fence.epoch)
    .bind(now_ms())
    .fetch_optional(&mut **tx)
    .await?;
    held.map(|_| ()).ok_or_else(|| fence.refused())
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    e: &NewEvent,
) -> Result<i64, StoreError> {
    let id = sqlx::query(
        "INSERT INTO events (at, actor, service, kind, before_doc, after_doc, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(now_ms())
    .bind(&e.actor)
    .bind(&e.service)
    .bind(&e.kind)
    .bind(e.before.as_ref().and_then(to_json))
    .bind(e.after.as_ref().and_then(to_json))
    .bind(e.detail.as_ref().and_then(to_json))
    .execute(&mut **tx)
    .await?
    .last_insert_rowid();
    Ok(id)
}

fn event_from_row(row: sqlx::sqlite::SqliteRow) -> Event {
    Event {
        id: row.get("id"),
        at_ms: row.get("at"),
        actor: row.get("actor"),
        service: row.get("service"),
        kind: row.get("kind"),
        before: from_json(row.get("before_doc")),
        after: from_json(row.get("after_doc")),
        detail: from_json(row.get("detail")),
    }
}

#[cfg(test)]
mod tests;
