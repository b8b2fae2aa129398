//! The shared store: PostgreSQL, for several replicas. Same tables and semantics as the
//! embedded store; what differs is how concurrent writers are kept apart. SQLite serialises
//! whole write transactions; here a revision check is part of the write itself (`UPDATE ...
//! WHERE revision = $expected`, or an `INSERT` that does nothing when the name exists), so two
//! replicas committing from the same revision cannot both succeed.

use super::{
    digest, now_ms, stored_rollout, stored_service, BlobInfo, Event, EventQuery, Fence, NewEvent,
    Store, StoreError, StoredService, CONTROLLER_LEASE,
};
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::Row;
use std::time::Duration;

pub(crate) mod feed;

/// The channel relayed requests are announced on.
pub(crate) const RELAY_CHANNEL: &str = "rollgate_relay";

/// How long a caller waits for a pooled connection before the store reports itself
/// unavailable: a control write during an outage answers 503 quickly instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// PostgreSQL-backed [`Store`].
#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` and brings the schema up to date.
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        super::schema::postgres().run(&pool).await?;
        Ok(Self { pool })
    }

    /// The connection pool, for the parts of the shared store beyond the [`Store`] trait
    /// (the change feed, the leader lease).
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

async fn current_revision(tx: &mut Tx, name: &str) -> Result<Option<u64>, StoreError> {
    let current: Option<i64> = sqlx::query_scalar("SELECT revision FROM services WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(current.map(|r| r as u64))
}

fn conflict(name: &str, expected: Option<u64>, current: Option<u64>) -> StoreError {
    StoreError::Conflict {
        service: name.to_owned(),
        expected: expected.unwrap_or(0),
        current: current.unwrap_or(0),
    }
}

/// Writes the document if the stored revision is still `expected`; `false` if it is not.
async fn write_service(
    tx: &mut Tx,
    expected: Option<u64>,
    service: &StoredService,
    doc: &str,
) -> Result<bool, StoreError> {
    let Some(expected) = expected else {
        // DO NOTHING rather than letting the key refuse it: a refused insert would abort the
        // transaction, and the conflict's current revision is read in it next.
        let inserted = sqlx::query(
            "INSERT INTO services (name, doc, previous, revision, updated_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&service.name)
        .bind(doc)
        .bind(&service.previous)
        .bind(service.revision as i64)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        return Ok(inserted.rows_affected() == 1);
    };
    let updated = sqlx::query(
        "UPDATE services SET doc = $2, previous = $3, revision = $4, updated_at = $5
         WHERE name = $1 AND revision = $6",
    )
    .bind(&service.name)
    .bind(doc)
    .bind(&service.previous)
    .bind(service.revision as i64)
    .bind(now_ms())
    .bind(expected as i64)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

#[async_trait]
impl Store for PgStore {
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
        let doc = serde_json::to_string(&service.doc)
            .map_err(|e| StoreError::Corrupt(service.name.clone(), e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        check_fence(&mut tx, fence).await?;
        if !write_service(&mut tx, expected, service, &doc).await? {
            let current = current_revision(&mut tx, &service.name).await?;
            return Err(conflict(&service.name, expected, current));
        }
        insert_event(&mut tx, event).await?;
        announce(&mut tx, &service.name, service.revision).await?;
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
        let mut tx = self.pool.begin().await?;
        check_fence(&mut tx, fence).await?;
        sqlx::query(
            "INSERT INTO rollouts (service, state, updated_at) VALUES ($1, $2, $3)
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
        let mut tx = self.pool.begin().await?;
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
        let epoch: Option<i64> = sqlx::query_scalar(&format!(
            "INSERT INTO leases (name, holder, epoch, expires_at) VALUES ($1, $2, 1, {NOW} + $3)
             ON CONFLICT (name) DO UPDATE SET
               epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch
                       ELSE leases.epoch + 1 END,
               holder = excluded.holder, expires_at = excluded.expires_at
             WHERE leases.holder = excluded.holder OR leases.expires_at < {NOW}
             RETURNING epoch"
        ))
        .bind(CONTROLLER_LEASE)
        .bind(holder)
        .bind(ttl.as_millis() as i64)
        .fetch_optional(&self.pool)
        .await?;
        Ok(epoch.map(|epoch| Fence {
            holder: holder.to_owned(),
            epoch,
        }))
    }

    async fn release_lease(&self, holder: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2")
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
        let mut tx = self.pool.begin().await?;
        for (service, version, doc) in windows {
            sqlx::query(
                "INSERT INTO fleet_windows (replica, service, version, doc, at_ms) VALUES ($1, $2, $3, $4, $5)
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
        let rows = sqlx::query("SELECT replica, version, doc FROM fleet_windows WHERE service = $1 ORDER BY replica, version")
            .bind(service)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("replica"), r.get("version"), r.get("doc")))
            .collect())
    }

    async fn relay_put(&self, kind: &str, from: &str, body: &str) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO relay_inbox (kind, body, from_replica, created_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(kind)
        .bind(body)
        .bind(from)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(RELAY_CHANNEL)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn relay_answer(&self, id: i64) -> Result<Option<(u16, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT status, answer FROM relay_inbox WHERE id = $1 AND answer IS NOT NULL",
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
        sqlx::query("DELETE FROM relay_inbox WHERE created_at < $1")
            .bind(oldest - 60_000)
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT id, body FROM relay_inbox WHERE answer IS NULL AND created_at >= $1
             AND kind = $2 ORDER BY id",
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
            "UPDATE relay_inbox SET status = $1, answer = $2 WHERE id = $3 AND answer IS NULL",
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
        sqlx::query(
            "INSERT INTO blobs (sha256, bytes, size, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sha256) DO NOTHING",
        )
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
        sqlx::query_scalar("SELECT bytes FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::MissingBlob(sha256.to_owned()))
    }

    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, service, kind, before_doc, after_doc, detail FROM events
             WHERE ($1::TEXT IS NULL OR service = $1) AND ($2::BIGINT IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(&q.service)
        .bind(q.before_id)
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(event_from_row).collect())
    }
}

/// The database's clock in milliseconds since the Unix epoch: leases are timed on one clock
/// for all replicas, whatever their own clocks say.
const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::BIGINT";

/// Refuses the transaction's write unless `fence`'s lease is still held. `FOR SHARE` holds the
/// lease row until the commit, so a takeover (which updates it) waits for this write to end
/// or comes first and refuses it: no write of an old leader lands after a new leader begins.
async fn check_fence(tx: &mut Tx, fence: Option<&Fence>) -> Result<(), StoreError> {
    let Some(fence) = fence else { return Ok(()) };
    let held: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT epoch FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3
         AND expires_at >= {NOW} FOR SHARE"
    ))
    .bind(CONTROLLER_LEASE)
    .bind(&fence.holder)
    .bind(fence.epoch)
    .fetch_optional(&mut **tx)
    .await?;
    held.map(|_| ()).ok_or_else(|| fence.refused())
}

/// Tells every listening replica that a service changed. Sent inside the committing
/// transaction, so PostgreSQL delivers it only if the change commits, and after it does.
async fn announce(tx: &mut Tx, service: &str, revision: u64) -> Result<(), StoreError> {
    let payload = serde_json::json!({ "service": service, "revision": revision }).to_string();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(feed::CHANNEL)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_event(tx: &mut Tx, e: &NewEvent) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO events (at, actor, service, kind, before_doc, after_doc, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(now_ms())
    .bind(&e.actor)
    .bind(&e.service)
    .bind(&e.kind)
    .bind(e.before.as_ref().map(serde_json::Value::to_string))
    .bind(e.after.as_ref().map(serde_json::Value::to_string))
    .bind(e.detail.as_ref().map(serde_json::Value::to_string))
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

fn event_from_row(row: PgRow) -> Event {
    let json = |column: &str| {
        row.get::<Option<String>, _>(column)
            .and_then(|t| serde_json::from_str(&t).ok())
    };
    Event {
        id: row.get("id"),
        at_ms: row.get("at"),
        actor: row.get("actor"),
        service: row.get("service"),
        kind: row.get("kind"),
        before: json("before_doc"),
        after: json("after_doc"),
        detail: json("detail"),
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
