//! `Channels`: runs every account's channel. Per enabled account it keeps the connected
//! channel (for webhooks), an outbox sender, and — for polling modes — a long-poll loop
//! that only one server process runs at a time (a PostgreSQL advisory lock held on a
//! connection of its own). It follows the committed events: an account saved anywhere
//! restarts its tasks, an operator's reply wakes the sender, the global switch (R2)
//! pauses everything.
//!
//! This file is the supervisor (each account's tasks started, stopped and reconciled
//! with the database); `inbound` takes verified deliveries to the engine, `media` keeps
//! files in the data folder, `poller` is the long-poll loop.

mod inbound;
mod media;
mod poller;

pub use self::inbound::FetchReport;
use self::poller::Poller;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Arbiter, ArbiterHandle};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::{AnyChannel, outbox};
use crate::actors::{Engine, Hub};
use crate::db::outbox as rows;
use crate::db::{self, DbError, DbPool, accounts::AccountRow};

/// The longest message text stored (the `messages.text` check).
const MAX_TEXT_CHARS: usize = 100_000;
/// How long one long poll may be held by the channel.
const LONG_POLL: Duration = Duration::from_secs(25);
/// The advisory lock namespace of pollers ("poll").
const POLL_LOCK: i32 = 0x706f_6c6c;
const RETRY_LOCK_EVERY: Duration = Duration::from_secs(5);
/// How often every account's channel is checked against the database.
const RECONCILE_EVERY: Duration = Duration::from_secs(30);
/// Channels redeliver for at most a week (WhatsApp); receipts are kept a day longer.
const RECEIPTS_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(8);
/// How long an update that could not be stored is kept for the administrators.
const FAILED_UPDATES_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(30);
const PRUNE_RECEIPTS_EVERY: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub struct Channels {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DbPool,
    engine: Engine,
    database_url: String,
    media_dir: PathBuf,
    arbiter: ArbiterHandle,
    running: Mutex<HashMap<i64, Running>>,
    integration_enabled: AtomicBool,
    /// Wakes paused loops when the global switch turns on.
    switched: Notify,
    /// The installation's secret, read (or made) once.
    secret: tokio::sync::OnceCell<Arc<[u8]>>,
}

struct Running {
    /// The account's kind (`telegram`, `vk`, …).
    kind: String,
    fingerprint: String,
    channel: Arc<AnyChannel>,
    wake: Arc<Notify>,
    fetch: Option<mpsc::Sender<oneshot::Sender<FetchReport>>>,
    stop: watch::Sender<bool>,
}

impl Channels {
    /// Starts the channels of every enabled account on an arbiter of their own, and
    /// follows the events of `hub`.
    pub fn start(
        pool: DbPool,
        engine: Engine,
        hub: &Hub,
        database_url: String,
        data_dir: PathBuf,
    ) -> (Channels, Arbiter) {
        let arbiter = Arbiter::new();
        let channels = Channels {
            inner: Arc::new(Inner {
                pool,
                engine,
                database_url,
                media_dir: data_dir.join("media"),
                arbiter: arbiter.handle(),
                running: Mutex::new(HashMap::new()),
                integration_enabled: AtomicBool::new(true),
                switched: Notify::new(),
                secret: tokio::sync::OnceCell::new(),
            }),
        };
        let events = hub.subscribe();
        let me = channels.clone();
        let live = hub.clone();
        arbiter.spawn(async move {
            // The accounts are read once the hub publishes: an account saved before that
            // is in what is read, one saved after arrives as an event. Nothing falls
            // between the two.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while live.latest_id() < 0 && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            me.refresh_switch().await;
            me.reload_all().await;
            me.follow(events).await;
        });
        let pool = channels.inner.pool.clone();
        arbiter.spawn(async move {
            loop {
                tokio::time::sleep(PRUNE_RECEIPTS_EVERY).await;
                let before = chrono::Utc::now() - RECEIPTS_KEPT;
                if let Err(error) =
                    db::run(&pool, move |conn| rows::prune_receipts(conn, before)).await
                {
                    tracing::warn!(error = %error, "channel receipts not pruned");
                }
                let before = chrono::Utc::now() - FAILED_UPDATES_KEPT;
                if let Err(error) =
                    db::run(&pool, move |conn| rows::prune_failed_updates(conn, before)).await
                {
                    tracing::warn!(error = %error, "failed updates not pruned");
                }
            }
        });
        (channels, arbiter)
    }

    /// The installation's secret (`db::settings::installation_secret`), read once.
    pub(super) async fn installation_secret(&self) -> Result<Arc<[u8]>, DbError> {
        let pool = self.inner.pool.clone();
        self.inner
            .secret
            .get_or_try_init(|| async move {
                let secret = db::run(&pool, db::settings::installation_secret).await?;
                Ok(Arc::from(secret))
            })
            .await
            .cloned()
    }

    pub fn integration_enabled(&self) -> bool {
        self.inner.integration_enabled.load(Ordering::Acquire)
    }

    /// The connected channel of an account, starting it when this process has not yet
    /// heard of the account (it was created a moment ago elsewhere).
    pub async fn channel(&self, account_id: i64) -> Option<Arc<AnyChannel>> {
        if let Some(running) = self.running(account_id) {
            return Some(running);
        }
        self.reload(account_id, false).await;
        self.running(account_id)
    }

    /// The channel of an account of `kind` this process runs: the account is enabled
    /// and not archived as of its last change (every change reaches each process as an
    /// `access` event, and all accounts are looked at again every few minutes). `None`
    /// when it is not running; the caller reads the account to say why.
    pub fn running_of_kind(&self, account_id: i64, kind: &str) -> Option<Arc<AnyChannel>> {
        let running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .get(&account_id)
            .filter(|r| r.kind == kind)
            .map(|r| Arc::clone(&r.channel))
    }

    /// A rule changed (anywhere) or an interlocutor's block changed here: the account
    /// actors read their interlocutors afresh.
    pub(super) fn forget_recalled(&self) {
        self.inner.engine.registry().forget_recalled();
    }

    fn running(&self, account_id: i64) -> Option<Arc<AnyChannel>> {
        let running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
        running.get(&account_id).map(|r| Arc::clone(&r.channel))
    }

    /// Wakes an account's sender (an operator replied).
    pub fn wake(&self, account_id: i64) {
        let running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = running.get(&account_id) {
            r.wake.notify_one();
        }
    }

    /// Reads the integration switch (R2) again: on its `settings` event, and at once in the
    /// process that changed it, so the answer to the change means "in effect here".
    pub async fn refresh_switch(&self) {
        let values = db::run(&self.inner.pool, |conn| {
            Ok((
                db::settings::get(conn, db::settings::INTEGRATION_ENABLED)?,
                db::settings::get(conn, db::settings::OUTBOUND_HOSTS)?,
            ))
        })
        .await;
        let Ok((value, outbound)) = values else {
            return;
        };
        // R47: the administrator's outbound hosts, in force for every account's client.
        super::net::set_outbound_hosts(
            outbound.and_then(|hosts| serde_json::from_value::<Vec<String>>(hosts).ok()),
        );
        let enabled = value.and_then(|v| v.as_bool()).unwrap_or(true);
        let was = self
            .inner
            .integration_enabled
            .swap(enabled, Ordering::AcqRel);
        if enabled && !was {
            self.inner.switched.notify_waiters();
        }
    }

    async fn reload_all(&self) {
        let rows = match db::run(&self.inner.pool, |conn| db::accounts::list(conn, None)).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(error = %error, "cannot load the channel accounts");
                return;
            }
        };
        for row in rows {
            self.start_account(row, false);
        }
    }

    /// Re-reads an account and restarts its tasks when its settings changed.
    async fn reload(&self, account_id: i64, saved: bool) {
        let row = db::run(&self.inner.pool, move |conn| {
            db::accounts::find(conn, account_id)
        })
        .await;
        match row {
            Ok(Some(row)) if row.archived_at.is_none() => self.start_account(row, saved),
            Ok(_) => self.stop_account(account_id),
            Err(error) => {
                tracing::warn!(account = account_id, error = %error, "cannot reload the account")
            }
        }
    }

    fn stop_account(&self, account_id: i64) {
        let mut running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = running.remove(&account_id) {
            let _ = old.stop.send(true);
        }
    }

    fn start_account(&self, row: AccountRow, saved: bool) {
        let fingerprint = format!("{}|{}|{}", row.kind, row.credentials, row.enabled);
        {
            let running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
            if running
                .get(&row.id)
                .is_some_and(|r| r.fingerprint == fingerprint)
            {
                return;
            }
        }
        self.stop_account(row.id);
        if !row.enabled {
            return;
        }
        let mut credentials = row.credentials.clone();
        if row.kind == "viber" && credentials.get("sender_name").is_none() {
            credentials["sender_name"] = serde_json::Value::String(row.name.clone());
        }
        let channel = match AnyChannel::connect(&row.kind, &credentials) {
            Ok(channel) => Arc::new(channel),
            Err(error) => {
                tracing::warn!(account = row.id, error = %error, "the account's channel cannot start");
                return;
            }
        };
        let (stop, stopped) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let fetch = if channel.polls() {
            let (tx, rx) = mpsc::channel(8);
            let poller = Poller {
                channels: self.clone(),
                account_id: row.id,
                channel: Arc::clone(&channel),
                stopped: stopped.clone(),
                fetch: rx,
            };
            self.inner.arbiter.spawn(poller.run());
            Some(tx)
        } else {
            None
        };
        let sender = outbox::Sender::new(
            self.inner.pool.clone(),
            row.id,
            Arc::clone(&channel),
            Arc::clone(&wake),
            stopped,
            self.clone(),
        );
        self.inner.arbiter.spawn(sender.run());
        if saved {
            let (channel, id) = (Arc::clone(&channel), row.id);
            self.inner.arbiter.spawn(async move {
                if let Err(error) = channel.register_webhook(id).await {
                    tracing::warn!(account = id, error = %error, "the webhook was not registered with the channel");
                }
            });
        }
        let mut running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
        running.insert(
            row.id,
            Running {
                kind: row.kind.clone(),
                fingerprint,
                channel,
                wake,
                fetch,
                stop,
            },
        );
    }

    /// Follows committed events from every process.
    async fn follow(
        &self,
        mut events: tokio::sync::broadcast::Receiver<Arc<crate::actors::Published>>,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        // Events committed before this process's pump connected are never seen: a
        // periodic look at every account catches what was missed.
        let mut reconcile = tokio::time::interval(RECONCILE_EVERY);
        reconcile.tick().await;
        loop {
            let received = tokio::select! {
                received = events.recv() => received,
                _ = reconcile.tick() => {
                    self.refresh_switch().await;
                    self.reload_all().await;
                    continue;
                }
            };
            match received {
                Ok(event) => match event.kind.as_str() {
                    "message" if event.payload["direction"] == "out" => {
                        if let Some(account) = event.account_id {
                            self.wake(account);
                        }
                    }
                    "access" => {
                        if let Some(account) = event.account_id {
                            self.reload(account, true).await;
                        }
                    }
                    "settings" => self.refresh_switch().await,
                    "rules" | "blocks" => self.forget_recalled(),
                    _ => {}
                },
                Err(RecvError::Lagged(_)) => {
                    self.refresh_switch().await;
                    self.reload_all().await;
                    let ids: Vec<i64> = {
                        let running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
                        running.keys().copied().collect()
                    };
                    for id in ids {
                        self.wake(id);
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Waits while integration is switched off; false when the account stopped.
    pub(super) async fn wait_switched_on(&self, stopped: &mut watch::Receiver<bool>) -> bool {
        while !self.integration_enabled() {
            tokio::select! {
                _ = self.inner.switched.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => self.refresh_switch().await,
                _ = stopped.changed() => return false,
            }
        }
        !*stopped.borrow()
    }

    pub(super) fn pool(&self) -> &DbPool {
        &self.inner.pool
    }
}
