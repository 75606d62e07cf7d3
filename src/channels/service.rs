//! `Channels`: runs every account's channel. Per enabled account it keeps the connected
//! channel (for webhooks), an outbox sender, and — for polling modes — a long-poll loop
//! that only one server process runs at a time (a PostgreSQL advisory lock held on a
//! connection of its own). It follows the committed events: an account saved anywhere
//! restarts its tasks, an operator's reply wakes the sender, the global switch (R2)
//! pauses everything.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Arbiter, ArbiterHandle};
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::{AnyChannel, ChannelError, Delivery, DeliveryState, MediaRef, Update, outbox};
use crate::actors::{Engine, Hub, InboundOutcome};
use crate::db::outbox as rows;
use crate::db::{self, DbError, DbPool, accounts::AccountRow};
use crate::domain::text::{make_storable as make_text_storable, storable};

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

/// What "fetch now" did (R30).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FetchReport {
    /// Whether this server ran a poll.
    pub polled: bool,
    /// Updates received from the channel in this poll.
    pub received: usize,
    /// New messages stored (duplicates are not counted).
    pub stored: usize,
    /// Why nothing was polled, when nothing was.
    pub note: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Engine(#[from] crate::actors::EngineError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ApplyError {
    /// Whether the same update may well succeed when it comes again: the database or
    /// the engine was unavailable, or a concurrent change won. Anything else (content
    /// the database refuses, a broken rule) would fail the same way every time.
    pub fn is_transient(&self) -> bool {
        use crate::actors::EngineError;
        match self {
            ApplyError::Db(error) | ApplyError::Engine(EngineError::Db(error)) => {
                error.is_unavailable()
            }
            ApplyError::Engine(EngineError::Timeout | EngineError::Stopped) => true,
            ApplyError::Engine(_) => false,
        }
    }
}

/// Replaces NUL characters (which PostgreSQL cannot store) in every text of an inbound
/// message; how many fields had one.
fn make_storable(inbound: &mut crate::actors::Inbound) -> usize {
    let sender = &mut inbound.sender;
    let mut texts = vec![
        &mut inbound.text,
        &mut inbound.channel_message_id,
        &mut sender.external_id,
        &mut sender.display_name,
    ];
    texts.extend(sender.username.as_mut());
    if let Some(author) = inbound.author.as_mut() {
        texts.push(&mut author.external_id);
        texts.push(&mut author.display_name);
        texts.extend(author.username.as_mut());
    }
    for attachment in &mut inbound.attachments {
        // Control characters (NUL, bidirectional overrides) never stay in a file name.
        // A link is offered to click only when it is http(s) (not `javascript:`, `data:`).
        if attachment.kind == "link"
            && attachment
                .url
                .as_deref()
                .is_some_and(|url| !crate::domain::text::is_web_link(url))
        {
            let url = attachment.url.take().unwrap_or_default();
            if attachment.file_name.is_empty() {
                attachment.file_name = url;
            }
        }
        // (The database keeps file names of up to 255 characters.)
        attachment.file_name = crate::domain::text::file_name(&attachment.file_name)
            .chars()
            .take(255)
            .collect();
        texts.extend(attachment.mime_type.as_mut());
        texts.extend(attachment.channel_file_id.as_mut());
        texts.extend(attachment.url.as_mut());
    }
    texts
        .into_iter()
        .map(make_text_storable)
        .filter(|replaced| *replaced)
        .count()
}

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

    /// Runs the account's poll now (R30).
    pub async fn fetch_now(&self, account_id: i64) -> Result<FetchReport, ChannelError> {
        if !self.integration_enabled() {
            return Ok(FetchReport::not_polled(
                "integration is switched off in the settings",
            ));
        }
        // An account saved a moment ago elsewhere may not have reached this process yet.
        if self.running(account_id).is_none() {
            self.reload(account_id, false).await;
        }
        let fetch = {
            let running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
            match running.get(&account_id) {
                None => return Ok(FetchReport::not_polled("the account is disabled")),
                Some(r) => r.fetch.clone(),
            }
        };
        let Some(fetch) = fetch else {
            return Ok(FetchReport::not_polled(
                "this account receives messages by webhook, as they are sent: there is nothing to fetch",
            ));
        };
        let (reply, answer) = oneshot::channel();
        fetch
            .send(reply)
            .await
            .map_err(|_| ChannelError::Unsupported("the poller is restarting".into()))?;
        tokio::time::timeout(LONG_POLL + Duration::from_secs(20), answer)
            .await
            .map_err(|_| ChannelError::Network("the poll did not finish in time".into()))?
            .map_err(|_| ChannelError::Unsupported("the poller is restarting".into()))
    }

    /// Hands a verified delivery to the engine and the database; the channel may be
    /// answered once this returns `Ok`.
    ///
    /// An update that fails while the database is unavailable fails the delivery (the
    /// channel delivers it again). One that fails for any other reason would fail the
    /// same way on every redelivery and block the updates behind it: it is kept as a
    /// failed update with its raw body, for the account's administrators, and skipped.
    pub async fn apply(
        &self,
        account_id: i64,
        channel: &AnyChannel,
        delivery: Delivery,
    ) -> Result<usize, ApplyError> {
        let pool = &self.inner.pool;
        if let Some(receipt) = delivery.receipt.clone() {
            let seen = db::run(pool, move |conn| {
                rows::receipt_seen(conn, account_id, &receipt)
            })
            .await?;
            if seen {
                return Ok(0);
            }
        }
        let mut stored = 0;
        for update in delivery.updates {
            let described = delivery.raw.is_empty().then(|| format!("{update:?}"));
            match self.apply_one(account_id, channel, update).await {
                Ok(n) => stored += n,
                Err(error) if error.is_transient() => return Err(error),
                Err(error) => {
                    let raw = described.unwrap_or_else(|| delivery.raw.clone());
                    let message = error.to_string();
                    tracing::warn!(account = account_id, error = %message, "an update could not be stored: kept as a failed update and acknowledged");
                    metrics::counter!("dialogi_updates_failed_total").increment(1);
                    db::run(pool, move |conn| {
                        rows::record_failed_update(conn, account_id, &message, &raw)
                    })
                    .await?;
                }
            }
        }
        if let Some(receipt) = delivery.receipt {
            db::run(pool, move |conn| {
                rows::remember_receipt(conn, account_id, &receipt)
            })
            .await?;
        }
        Ok(stored)
    }

    /// Applies one update; the number of new messages it stored.
    async fn apply_one(
        &self,
        account_id: i64,
        channel: &AnyChannel,
        update: Update,
    ) -> Result<usize, ApplyError> {
        let pool = &self.inner.pool;
        match update {
            Update::Message(mut inbound) => {
                // A group chat's message (it names its author) on an account that does not
                // take group chats: acknowledged and dropped.
                if inbound.author.is_some() {
                    let takes_groups = db::run(pool, move |conn| {
                        Ok(db::accounts::find(conn, account_id)?.is_none_or(|a| a.group_chats))
                    })
                    .await?;
                    if !takes_groups {
                        tracing::debug!(
                            account = account_id,
                            "a group chat's message dropped: the account takes none"
                        );
                        return Ok(0);
                    }
                }
                // The database keeps at most 100,000 characters of a message; a longer
                // one is cut, not refused (a refusal would be redelivered forever).
                if inbound.text.chars().count() > MAX_TEXT_CHARS {
                    inbound.text = inbound.text.chars().take(MAX_TEXT_CHARS).collect();
                }
                let replaced = make_storable(&mut inbound);
                if replaced > 0 {
                    tracing::info!(
                        account = account_id,
                        fields = replaced,
                        "NUL characters in an inbound message replaced by U+FFFD"
                    );
                    metrics::counter!("dialogi_inbound_nul_replaced_total").increment(1);
                }
                if inbound.sender.display_name.is_empty() {
                    let external = inbound.sender.external_id.clone();
                    let known = db::run(pool, move |conn| {
                        db::clients::find_interlocutor(conn, account_id, &external)
                    })
                    .await?
                    .is_some();
                    if !known
                        && let Some((name, username)) =
                            channel.lookup_name(&inbound.sender.external_id).await
                    {
                        inbound.sender.display_name = storable(&name).into_owned();
                        inbound.sender.username = username.map(|u| storable(&u).into_owned());
                    }
                }
                // In a group conversation each message names its author.
                if let Some(author) = inbound.author.as_mut()
                    && author.display_name.is_empty()
                {
                    match channel.lookup_name(&author.external_id).await {
                        Some((name, username)) => {
                            author.display_name = storable(&name).into_owned();
                            author.username = username.map(|u| storable(&u).into_owned());
                        }
                        None => author.display_name = format!("id{}", author.external_id),
                    }
                }
                let has_media = !inbound.attachments.is_empty();
                let outcome = self.inner.engine.inbound(account_id, inbound).await?;
                if let InboundOutcome::Stored { message_id, .. } = outcome {
                    if has_media {
                        self.fetch_media_later(message_id);
                    }
                    return Ok(1);
                }
            }
            Update::Edited {
                channel_message_id,
                mut text,
                edited_at,
            } => {
                make_text_storable(&mut text);
                db::run(pool, move |conn| {
                    db::changes::message_edited(
                        conn,
                        account_id,
                        &channel_message_id,
                        &text,
                        edited_at,
                    )
                })
                .await?;
            }
            Update::TypedOutside {
                external_id,
                channel_message_id,
                mut text,
                sent_at,
                attachments,
                random_id,
                platform,
            } => {
                make_text_storable(&mut text);
                let secret = self.installation_secret().await?;
                db::run(pool, move |conn| {
                    let ours = |outbox_id: i64| {
                        random_id
                            == Some(i64::from(crate::domain::outbox::vk_random_id(
                                &secret, outbox_id,
                            )))
                    };
                    db::changes::typed_outside(
                        conn,
                        account_id,
                        &external_id,
                        &channel_message_id,
                        &text,
                        sent_at,
                        &attachments,
                        ours,
                        platform,
                    )
                })
                .await?;
            }
            Update::Deleted {
                channel_message_id,
                deleted_at,
            } => {
                db::run(pool, move |conn| {
                    db::changes::message_deleted(conn, account_id, &channel_message_id, deleted_at)
                })
                .await?;
            }
            Update::Blocked { external_id } | Update::Unblocked { external_id }
                if external_id.is_empty() => {}
            Update::Blocked { external_id } => {
                // Blocking or allowing messages is the channel's consent record (R47).
                db::run(pool, move |conn| {
                    conn.transaction(|conn| {
                        rows::set_blocked(conn, account_id, &external_id, true)?;
                        db::data_access::channel_consent(conn, account_id, &external_id, false)
                    })
                })
                .await?;
                self.forget_recalled();
            }
            Update::Unblocked { external_id } => {
                // Blocking or allowing messages is the channel's consent record (R47).
                db::run(pool, move |conn| {
                    conn.transaction(|conn| {
                        rows::set_blocked(conn, account_id, &external_id, false)?;
                        db::data_access::channel_consent(conn, account_id, &external_id, true)
                    })
                })
                .await?;
                self.forget_recalled();
            }
            Update::Reaction {
                channel_message_id,
                emoji,
            } => {
                db::run(pool, move |conn| {
                    db::changes::reacted(conn, account_id, &channel_message_id, emoji.as_deref())
                })
                .await?;
            }
            Update::ReadUpTo { external_id, up_to } => {
                db::run(pool, move |conn| {
                    rows::read_up_to(conn, account_id, &external_id, up_to)
                })
                .await?;
            }
            Update::Delivery {
                channel_message_id,
                delivery_key,
                state,
                error,
            } => {
                db::run(pool, move |conn| {
                    rows::delivery_reported(
                        conn,
                        account_id,
                        &channel_message_id,
                        delivery_key.as_deref(),
                        state.as_str(),
                        error.as_deref(),
                    )?;
                    if state == DeliveryState::Read {
                        rows::read_through(conn, account_id, &channel_message_id)?;
                    }
                    Ok(())
                })
                .await?;
            }
        }
        Ok(0)
    }

    /// Downloads an attachment into the data folder (once) and returns its path.
    pub async fn stored_media(
        &self,
        attachment_id: i64,
    ) -> Result<Option<(PathBuf, Option<String>, String)>, ChannelError> {
        let pool = self.inner.pool.clone();
        let found = db::run(&pool, move |conn| {
            rows::find_attachment(conn, attachment_id)
        })
        .await
        .map_err(|e| ChannelError::Api(e.to_string()))?;
        let Some(attachment) = found else {
            return Ok(None);
        };
        // A link is a page the client chose: it is shown, never fetched by the server.
        if attachment.kind == "link" {
            return Ok(None);
        }
        if let Some(path) = &attachment.storage_path {
            let path = self.inner.media_dir.join(path);
            if path.exists() {
                return Ok(Some((path, attachment.mime_type, attachment.file_name)));
            }
        }
        let channel = self
            .channel(attachment.account_id)
            .await
            .ok_or_else(|| ChannelError::Unsupported("the account is disabled".into()))?;
        let file = channel
            .download(&MediaRef {
                channel_file_id: attachment.channel_file_id.clone(),
                url: attachment.url.clone(),
            })
            .await?;
        // The name on disk is ours: the attachment's id, never a name from outside.
        let name = attachment.id.to_string();
        let path = self.inner.media_dir.join(&name);
        let dir = self.inner.media_dir.clone();
        let bytes = file.bytes;
        let size = bytes.len() as i64;
        let on_disk = name.clone();
        tokio::task::spawn_blocking(move || write_whole(&dir, &on_disk, &bytes))
            .await
            .map_err(|e| ChannelError::Api(e.to_string()))?
            .map_err(ChannelError::Storage)?;
        let mime = file.mime_type.clone();
        db::run(&pool, move |conn| {
            rows::attachment_stored(conn, attachment_id, &name, size, mime.as_deref())
        })
        .await
        .map_err(|e| ChannelError::Api(e.to_string()))?;
        Ok(Some((
            path,
            attachment.mime_type.or(file.mime_type),
            attachment.file_name,
        )))
    }

    /// The folder of stored files.
    pub fn media_dir(&self) -> &std::path::Path {
        &self.inner.media_dir
    }

    /// Where a stored file of ours lives (`name` is a name we generated).
    pub fn media_path(&self, name: &str) -> PathBuf {
        self.inner.media_dir.join(name)
    }

    /// Stores an operator's file under the data folder with a random name of ours and
    /// returns that name.
    pub async fn store_upload(&self, bytes: Vec<u8>) -> std::io::Result<String> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
        let name = format!("out-{}", hex::encode(random));
        let (dir, file) = (self.inner.media_dir.clone(), name.clone());
        tokio::task::spawn_blocking(move || write_whole(&dir, &file, &bytes))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(name)
    }

    /// Deletes stored uploads whose message was not written.
    pub async fn remove_uploads(&self, names: &[String]) {
        let paths: Vec<PathBuf> = names.iter().map(|n| self.inner.media_dir.join(n)).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for path in paths {
                let _ = std::fs::remove_file(path);
            }
        })
        .await;
    }

    /// Reads the files of an outbound message from the data folder.
    pub(super) async fn outgoing_files(
        &self,
        message_id: i64,
    ) -> Result<Vec<super::OutgoingFile>, DbError> {
        let rows = db::run(&self.inner.pool, move |conn| {
            rows::files_of(conn, message_id)
        })
        .await?;
        let dir = self.inner.media_dir.clone();
        let files = tokio::task::spawn_blocking(move || {
            rows.into_iter()
                .map(|row| {
                    let name = row.storage_path.clone().unwrap_or_default();
                    let bytes = std::fs::read(dir.join(&name)).map_err(|e| (name, e))?;
                    Ok(super::OutgoingFile {
                        attachment_id: row.id,
                        kind: row.kind,
                        file_name: row.file_name,
                        mime_type: row.mime_type,
                        bytes,
                    })
                })
                .collect::<Result<Vec<_>, (String, std::io::Error)>>()
        })
        .await
        .map_err(|_| DbError::Cancelled)?;
        // A file missing from this server's data folder (several processes need a shared
        // one) is an error, not a message sent without it.
        files.map_err(|(name, error)| {
            tracing::error!(file = %name, error = %error, "an outbound file is missing from the data folder");
            DbError::Invariant("an outbound file is missing from the data folder")
        })
    }

    /// Media links from channels can expire (Viber): fetch them right after the commit.
    fn fetch_media_later(&self, message_id: i64) {
        let me = self.clone();
        self.inner.arbiter.spawn(async move {
            let pool = me.inner.pool.clone();
            let Ok(list) = db::run(&pool, move |conn| rows::attachments_to_fetch(conn, message_id)).await else {
                return;
            };
            for attachment in list {
                match me.stored_media(attachment.id).await {
                    Ok(_) => {}
                    Err(ChannelError::Storage(error)) => {
                        tracing::error!(attachment = attachment.id, error = %error, "media not stored: the data folder is full or cannot be written; the message is kept and the file is fetched again when opened");
                    }
                    Err(error) => {
                        tracing::warn!(attachment = attachment.id, error = %error, "media not downloaded; it is tried again when opened");
                    }
                }
            }
        });
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

impl FetchReport {
    fn not_polled(note: &str) -> Self {
        FetchReport {
            polled: false,
            received: 0,
            stored: 0,
            note: Some(note.to_owned()),
        }
    }
}

/// The long-poll loop of one account. It polls only while it holds the account's
/// advisory lock, so with several server processes exactly one polls; the offset is
/// saved after the updates are committed, so a crash in between replays them (and the
/// messages' unique key drops the copies).
struct Poller {
    channels: Channels,
    account_id: i64,
    channel: Arc<AnyChannel>,
    stopped: watch::Receiver<bool>,
    fetch: mpsc::Receiver<oneshot::Sender<FetchReport>>,
}

impl Poller {
    async fn run(mut self) {
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
    async fn commit(&self, batch: super::PollBatch) -> FetchReport {
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

/// Writes `bytes` to `dir/name` whole or not at all: into a temporary file of its own that
/// is synced and then renamed, and removed when anything fails (a full disk leaves no half
/// file for anyone to serve later).
fn write_whole(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
    let partial = dir.join(format!("{name}.{}.part", hex::encode(random)));
    let written = std::fs::File::create(&partial).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let done = written.and_then(|()| std::fs::rename(&partial, dir.join(name)));
    if done.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    done
}
