//! The long-poll loop of an account, run by one server process at a time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use tokio::sync::{mpsc, oneshot, watch};

use super::FetchReport;
use super::{Channels, LONG_POLL, POLL_LOCK, RETRY_LOCK_EVERY};
use crate::channels::{AnyChannel, ChannelError};
use crate::db;
use crate::db::outbox as rows;

/// The long-poll loop of one account. It polls only while it holds the account's
/// advisory lock, so with several server processes exactly one polls; the offset is
/// saved after the updates are committed, so a crash in between replays them (and the
/// messages' unique key drops the copies).
pub(super) struct Poller {
    pub(super) channels: Channels,
    pub(super) account_id: i64,
    pub(super) channel: Arc<AnyChannel>,
    pub(super) stopped: watch::Receiver<bool>,
    pub(super) fetch: mpsc::Receiver<oneshot::Sender<FetchReport>>,
}

impl Poller {
    pub(super) async fn run(mut self) {
        let mut lock: Option<Arc<Mutex<PgConnection>>> = None;
        loop {
            if *self.stopped.borrow() {
                return;
            }
            if !self.channels.wait_switched_on(&mut self.stopped).await {
                return;
            }
            lock = match lock {
                Some(conn) if still_held(&conn).await => Some(conn),
                _ => self.take_lock().await,
            };
            if lock.is_none() {
                // Another process polls this account: answer "fetch now" requests and
                // try again shortly.
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_LOCK_EVERY) => {}
                    _ = self.stopped.changed() => return,
                    Some(reply) = self.fetch.recv() => {
                        let _ = reply.send(FetchReport::not_polled(
                            "another server process polls this account; it receives messages as they arrive",
                        ));
                    }
                }
                continue;
            }
            let state = match db::run(self.channels.pool(), {
                let id = self.account_id;
                move |conn| rows::poll_state(conn, id)
            })
            .await
            {
                Ok(state) => state,
                Err(error) => {
                    tracing::warn!(account = self.account_id, error = %error, "cannot read the poll state");
                    self.pause(Duration::from_secs(2)).await;
                    continue;
                }
            };
            let channel = Arc::clone(&self.channel);
            let (result, reply) = tokio::select! {
                result = channel.poll(&state, LONG_POLL) => (result, None),
                Some(reply) = self.fetch.recv() => {
                    // Fetch now: drop the long poll (nothing is acknowledged by it) and
                    // ask again without waiting.
                    (self.channel.poll(&state, Duration::ZERO).await, Some(reply))
                }
                _ = self.stopped.changed() => return,
            };
            match result {
                Ok(batch) => {
                    let report = self.commit(batch).await;
                    if let Some(reply) = reply {
                        let _ = reply.send(report);
                    }
                }
                Err(error) => {
                    tracing::warn!(account = self.account_id, error = %error, "poll failed");
                    if let Some(reply) = reply {
                        let _ = reply.send(FetchReport::not_polled(&error.to_string()));
                    }
                    let wait = match error {
                        ChannelError::RetryAfter(after) => after,
                        _ => Duration::from_secs(3),
                    };
                    self.pause(wait).await;
                }
            }
        }
    }

    /// Applies a batch, then saves the next poll state; a failure keeps the old state,
    /// so the same updates come again.
    async fn commit(&self, batch: crate::channels::PollBatch) -> FetchReport {
        let received = batch.deliveries.len();
        let mut stored = 0;
        for delivery in batch.deliveries {
            match self
                .channels
                .apply(self.account_id, &self.channel, delivery)
                .await
            {
                Ok(n) => stored += n,
                Err(error) => {
                    tracing::warn!(account = self.account_id, error = %error, "updates not stored; they are polled again");
                    return FetchReport {
                        polled: true,
                        received,
                        stored,
                        note: Some(format!(
                            "stopped at an error, the rest comes again: {error}"
                        )),
                    };
                }
            }
        }
        let (id, next) = (self.account_id, batch.next_state);
        if let Err(error) = db::run(self.channels.pool(), move |conn| {
            rows::save_poll_state(conn, id, &next)
        })
        .await
        {
            tracing::warn!(account = id, error = %error, "poll state not saved; the updates come again and are dropped as copies");
        }
        FetchReport {
            polled: true,
            received,
            stored,
            note: None,
        }
    }

    async fn pause(&mut self, wait: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = self.stopped.changed() => {}
        }
    }

    async fn take_lock(&self) -> Option<Arc<Mutex<PgConnection>>> {
        let url = self.channels.inner.database_url.clone();
        let id = self.account_id;
        tokio::task::spawn_blocking(move || {
            let mut conn = PgConnection::establish(&url).ok()?;
            let held: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "pg_try_advisory_lock({POLL_LOCK}, {})",
                i32::try_from(id).ok()?
            )))
            .get_result(&mut conn)
            .ok()?;
            held.then(|| Arc::new(Mutex::new(conn)))
        })
        .await
        .ok()
        .flatten()
    }
}

/// Whether the lock's connection is still alive (a lost connection releases the lock).
async fn still_held(conn: &Arc<Mutex<PgConnection>>) -> bool {
    let conn = Arc::clone(conn);
    tokio::task::spawn_blocking(move || {
        let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        diesel::sql_query("SELECT 1").execute(&mut *conn).is_ok()
    })
    .await
    .unwrap_or(false)
}
