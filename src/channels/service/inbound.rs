//! What comes in: a verified delivery handed to the engine and the database, and "fetch
//! now" (R30).

use std::time::Duration;

use diesel::Connection;
use serde::Serialize;
use tokio::sync::oneshot;

use super::{Channels, LONG_POLL, MAX_TEXT_CHARS};
use crate::actors::InboundOutcome;
use crate::channels::{AnyChannel, ChannelError, Delivery, DeliveryState, Update};
use crate::db::outbox as rows;
use crate::db::{self, DbError};
use crate::domain::text::{make_storable as make_text_storable, storable};

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

impl FetchReport {
    pub(super) fn not_polled(note: &str) -> Self {
        FetchReport {
            polled: false,
            received: 0,
            stored: 0,
            note: Some(note.to_owned()),
        }
    }
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

impl Channels {
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
}
