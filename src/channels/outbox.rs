//! The outbox sender of one account: takes due messages after they are committed, one
//! at a time per dialog, sends them at the channel's pace, and records each attempt —
//! sent, retried with exponential backoff and jitter (or after the channel's
//! `retry_after`), or failed for good. A restart loses nothing: unsent rows stay due.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Notify, watch};

use super::{AnyChannel, Outgoing, SendOutcome, service::Channels};
use crate::db::outbox::{self as rows, Due};
use crate::db::{self, DbError, DbPool};

/// How long a taken row stays ours before another process may take it again.
const LEASE_SECS: f64 = 60.0;
const BATCH: i64 = 20;
/// How late a call may start and still count from its slot: the timer's granularity
/// (about a millisecond). With `between` at 34 ms, calls that start at most this late
/// still put no more than 30 in any second.
const SLOT_SLACK: Duration = Duration::from_millis(3);
/// After this many attempts a message is marked failed.
pub const MAX_ATTEMPTS: i32 = 12;
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often an idle sender looks for due rows written by other processes.
const IDLE_LOOK: Duration = Duration::from_secs(5);

pub struct Sender {
    pool: DbPool,
    account_id: i64,
    channel: Arc<AnyChannel>,
    wake: Arc<Notify>,
    stopped: watch::Receiver<bool>,
    channels: Channels,
    /// When each recipient last got a message (the per-chat pace).
    last_to: HashMap<String, Instant>,
    last_any: Option<Instant>,
    /// The channel asked us to hold all sends until then.
    paused_until: Option<Instant>,
}

impl Sender {
    pub fn new(
        pool: DbPool,
        account_id: i64,
        channel: Arc<AnyChannel>,
        wake: Arc<Notify>,
        stopped: watch::Receiver<bool>,
        channels: Channels,
    ) -> Self {
        Self {
            pool,
            account_id,
            channel,
            wake,
            stopped,
            channels,
            last_to: HashMap::new(),
            last_any: None,
            paused_until: None,
        }
    }

    pub async fn run(mut self) {
        loop {
            if *self.stopped.borrow() {
                return;
            }
            let mut stopped = self.stopped.clone();
            if !self.channels.wait_switched_on(&mut stopped).await {
                return;
            }
            if let Some(until) = self.paused_until.take() {
                let wait = until.saturating_duration_since(Instant::now());
                if self.sleep(wait).await {
                    return;
                }
            }
            let sent_any = match self.send_due().await {
                Ok(taken) => taken > 0,
                Err(error) => {
                    tracing::warn!(account = self.account_id, error = %error, "outbox not read");
                    false
                }
            };
            if sent_any {
                continue;
            }
            let account_id = self.account_id;
            let next = db::run(&self.pool, move |conn| rows::next_due(conn, account_id))
                .await
                .ok()
                .flatten();
            let wait = next
                .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(IDLE_LOOK)
                .min(IDLE_LOOK);
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = self.stopped.changed() => return,
            }
        }
    }

    /// Sleeps, or returns true when the account stopped meanwhile.
    async fn sleep(&mut self, wait: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = self.stopped.changed() => true,
        }
    }

    /// Sends what is due; returns how many rows it took.
    async fn send_due(&mut self) -> Result<usize, db::DbError> {
        let account_id = self.account_id;
        let due = db::run(&self.pool, move |conn| {
            rows::claim(conn, account_id, LEASE_SECS, BATCH)
        })
        .await?;
        let taken = due.len();
        for item in due {
            let (per_chat, between) = self.channel.pacing(&item.recipient);
            if *self.stopped.borrow() || self.paused_until.is_some() {
                self.put_back(item, Duration::ZERO).await?;
                continue;
            }
            if item.blocked_at.is_some() {
                self.record_failed(
                    item,
                    "the person blocked the bot, unsubscribed or denied messages",
                    false,
                )
                .await?;
                continue;
            }
            if let Some(last) = self.last_to.get(&item.recipient) {
                let ready = *last + per_chat;
                if ready > Instant::now() {
                    let wait = ready - Instant::now();
                    self.put_back(item, wait).await?;
                    continue;
                }
            }
            let files = match self.channels.outgoing_files(item.message_id).await {
                Ok(files) => files,
                Err(DbError::Invariant(reason)) => {
                    self.record_failed(item, reason, false).await?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            // The bot's pace is kept between the calls themselves: whatever was read for
            // this message was read before the wait. Each call has a slot `between` after
            // the previous one's; a call the timer wakes a little late keeps its slot, so
            // the timer's lateness does not slow the bot down call after call.
            let mut slot = Instant::now();
            if let Some(last) = self.last_any {
                let target = last + between;
                let wait = target.saturating_duration_since(Instant::now());
                if !wait.is_zero() && self.sleep(wait).await {
                    self.put_back(item, Duration::ZERO).await?;
                    continue;
                }
                let woke = Instant::now();
                if woke.saturating_duration_since(target) <= SLOT_SLACK {
                    slot = target;
                } else {
                    slot = woke;
                }
            }
            let outgoing = Outgoing {
                delivery_key: item.delivery_key.clone(),
                outbox_id: item.id,
                random_id: crate::domain::outbox::vk_random_id(
                    &self.channels.installation_secret().await?,
                    item.id,
                ),
                recipient: item.recipient.clone(),
                text: item.text.clone(),
                last_inbound_at: item.last_inbound_at,
                files,
            };
            // The bot's pace counts from the start of each call (its rate is calls per
            // second, however long each takes); a chat's from the end (conservative).
            self.last_any = Some(slot);
            let outcome = self.channel.send(&outgoing).await;
            let now = Instant::now();
            self.last_to.insert(item.recipient.clone(), now);
            if self.last_to.len() > 10_000 {
                self.last_to
                    .retain(|_, at| at.elapsed() < Duration::from_secs(5));
            }
            self.record(item, outcome).await?;
        }
        Ok(taken)
    }

    async fn put_back(&self, item: Due, wait: Duration) -> Result<(), db::DbError> {
        let at = Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or_default();
        db::run(&self.pool, move |conn| rows::defer(conn, &item, at)).await
    }

    async fn record(&mut self, item: Due, outcome: SendOutcome) -> Result<(), db::DbError> {
        let account_id = self.account_id;
        match outcome {
            SendOutcome::Sent { channel_message_id } => {
                db::run(&self.pool, move |conn| {
                    rows::mark_sent(conn, account_id, &item, channel_message_id.as_deref())
                })
                .await
            }
            SendOutcome::Failed {
                reason,
                recipient_gone,
            } => self.record_failed(item, &reason, recipient_gone).await,
            SendOutcome::Retry { after, reason } => {
                if item.attempts >= MAX_ATTEMPTS {
                    let reason = format!("gave up after {} attempts: {reason}", item.attempts);
                    return self.record_failed(item, &reason, false).await;
                }
                if let Some(after) = after {
                    // A rate limit holds the whole account, not just this message.
                    self.paused_until = Some(Instant::now() + after);
                }
                let wait = after.unwrap_or_else(|| backoff(item.attempts));
                tracing::info!(account = account_id, outbox = item.id, attempt = item.attempts, wait_ms = wait.as_millis() as u64, reason = %reason, "send retried later");
                let at = Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or_default();
                db::run(&self.pool, move |conn| {
                    rows::reschedule(conn, &item, at, &reason)
                })
                .await
            }
        }
    }

    async fn record_failed(
        &self,
        item: Due,
        reason: &str,
        recipient_gone: bool,
    ) -> Result<(), db::DbError> {
        let (account_id, reason) = (self.account_id, reason.to_owned());
        tracing::info!(account = account_id, outbox = item.id, reason = %reason, "message not sent");
        db::run(&self.pool, move |conn| {
            rows::mark_failed(conn, account_id, &item, &reason, recipient_gone)
        })
        .await?;
        if recipient_gone {
            self.channels.forget_recalled();
        }
        Ok(())
    }
}

/// 1 s, 2 s, 4 s … up to 5 minutes, each shortened by a random part of up to a half so
/// many senders retrying at once spread out.
pub fn backoff(attempt: i32) -> Duration {
    let exponent = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
    let full = Duration::from_secs(1u64 << exponent.min(16)).min(MAX_BACKOFF);
    let mut random = [0u8; 2];
    let jitter = if getrandom::fill(&mut random).is_ok() {
        f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX)
    } else {
        0.5
    };
    full.mul_f64(1.0 - 0.5 * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_with_jitter() {
        for _ in 0..50 {
            let first = backoff(1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let tenth = backoff(10);
            assert!(tenth >= Duration::from_secs(150) && tenth <= MAX_BACKOFF);
        }
    }
}
