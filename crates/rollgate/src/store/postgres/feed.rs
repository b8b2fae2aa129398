//! The change feed of the shared store: LISTEN on one connection for the notifications each
//! commit sends. A notification sent while the listening connection is down is lost for good,
//! so every way the feed can end (a notification, a lost connection, a reconnection) means the
//! same thing to the caller: read the store again and catch up.

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::time::Duration;

/// The channel commits notify on.
pub(crate) const CHANNEL: &str = "rollgate_changes";

/// How long to wait before trying a lost listening connection again.
const RETRY: Duration = Duration::from_secs(1);

/// Wakes its owner when the shared store may hold something newer than what it has.
pub(crate) struct PgFeed {
    pool: PgPool,
    channel: &'static str,
    listener: Option<PgListener>,
}

impl PgFeed {
    /// A feed of committed changes that connects on its first use.
    pub(crate) fn new(pool: PgPool) -> Self {
        Self::on(pool, CHANNEL)
    }

    /// A feed of another channel's notifications.
    pub(crate) fn on(pool: PgPool, channel: &'static str) -> Self {
        Self {
            pool,
            channel,
            listener: None,
        }
    }
}

#[async_trait::async_trait]
impl crate::store::ChangeFeed for PgFeed {
    /// Returns when the caller should catch up: a change was announced, or the listening
    /// connection was (re)established and what was announced meanwhile is unknown.
    async fn changed(&mut self) {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                match listen(&self.pool, self.channel).await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "change feed: cannot listen, retrying");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                }
            };
            match listener.try_recv().await {
                Ok(Some(_)) => {
                    // Drain what else is already buffered: one catch-up covers them all.
                    while listener.next_buffered().is_some() {}
                    return;
                }
                Ok(None) | Err(_) => {
                    // Lost: reconnect explicitly (and catch up once listening again) rather
                    // than letting `recv` reconnect silently over the gap.
                    tracing::warn!("change feed: listening connection lost");
                    self.listener = None;
                    return;
                }
            }
        }
    }
}

async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
