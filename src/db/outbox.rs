//! The outbox and what channels report back: claiming due messages (oldest first, one
//! at a time per dialog so a dialog's order holds, `SKIP LOCKED` so several processes
//! never take the same row), recording each attempt, delivery states that never go
//! backwards, edits, blocks, and remembered channel receipts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};
use serde_json::json;

use super::DbError;
use super::events::{self, NewEvent};
use super::schema::{channel_receipts, dialogs, failed_updates, interlocutors, messages, outbox};

/// An outbox row taken for sending, with what the channel needs.
#[derive(Debug, Clone, QueryableByName)]
pub struct Due {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub message_id: i64,
    #[diesel(sql_type = BigInt)]
    pub dialog_id: i64,
    #[diesel(sql_type = Text)]
    pub delivery_key: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Text)]
    pub text: String,
    #[diesel(sql_type = Text)]
    pub recipient: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub blocked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_inbound_at: Option<DateTime<Utc>>,
}

/// Takes up to `limit` due rows of the account: for each dialog only its oldest unsent
/// row. A taken row is leased for `lease_secs`: if this process dies while sending, the
/// row becomes due again then (and is sent again: at least once).
pub fn claim(
    conn: &mut PgConnection,
    account_id: i64,
    lease_secs: f64,
    limit: i64,
) -> Result<Vec<Due>, DbError> {
    Ok(diesel::sql_query(
        "WITH claimed AS ( \
           UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1, \
                  next_attempt_at = now() + make_interval(secs => $2), updated_at = now() \
           FROM ( \
             SELECT c.id FROM outbox c \
             WHERE c.account_id = $1 AND c.status IN ('queued', 'sending') \
               AND c.next_attempt_at <= now() \
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.dialog_id = c.dialog_id \
                               AND p.status IN ('queued', 'sending') AND p.id < c.id) \
             ORDER BY c.id LIMIT $3 FOR UPDATE SKIP LOCKED \
           ) picked \
           WHERE o.id = picked.id \
           RETURNING o.id, o.message_id, o.dialog_id, o.delivery_key, o.attempts) \
         SELECT claimed.id, claimed.message_id, claimed.dialog_id, claimed.delivery_key, \
                claimed.attempts, m.text, i.external_id AS recipient, i.blocked_at, \
                i.last_inbound_at \
         FROM claimed \
         JOIN messages m ON m.id = claimed.message_id \
         JOIN dialogs d ON d.id = claimed.dialog_id \
         JOIN interlocutors i ON i.id = d.interlocutor_id \
         ORDER BY claimed.id",
    )
    .bind::<BigInt, _>(account_id)
    .bind::<Double, _>(lease_secs)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}

/// When the next row of the account falls due (to sleep until then).
pub fn next_due(
    conn: &mut PgConnection,
    account_id: i64,
) -> Result<Option<DateTime<Utc>>, DbError> {
    Ok(outbox::table
        .filter(outbox::account_id.eq(account_id))
        .filter(outbox::status.eq_any(["queued", "sending"]))
        .select(diesel::dsl::min(outbox::next_attempt_at))
        .first(conn)?)
}

/// The `message` event of a stored message that changed (an edit, a reaction): the event
/// pump adds the message as it is now.
pub(super) fn changed_message_event(
    account_id: i64,
    dialog_id: i64,
    payload: serde_json::Value,
) -> NewEvent {
    NewEvent {
        kind: "message",
        account_id: Some(account_id),
        dialog_id: Some(dialog_id),
        user_id: None,
        payload,
    }
}

fn delivery_event(
    account_id: i64,
    dialog_id: i64,
    message_id: i64,
    state: &str,
    error: Option<&str>,
) -> NewEvent {
    NewEvent {
        kind: "delivery",
        account_id: Some(account_id),
        dialog_id: Some(dialog_id),
        user_id: None,
        payload: json!({
            "dialog_id": dialog_id,
            "message_id": message_id,
            "delivery": state,
            "error": error,
        }),
    }
}

/// The channel accepted the message.
pub fn mark_sent(
    conn: &mut PgConnection,
    account_id: i64,
    due: &Due,
    channel_message_id: Option<&str>,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        let now = Utc::now();
        let updated = diesel::update(
            outbox::table
                .find(due.id)
                .filter(outbox::status.eq_any(["queued", "sending"])),
        )
        .set((
            outbox::status.eq("sent"),
            outbox::sent_at.eq(now),
            outbox::updated_at.eq(now),
            outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Ok(());
        }
        // The channel's id of the sent message (receipts and edits find it by that). When
        // another message of the account already holds that id, the message is sent all
        // the same and kept without it: failing here would send it again.
        let recorded = conn.transaction(|conn| {
            diesel::update(messages::table.find(due.message_id))
                .set(messages::channel_message_id.eq(channel_message_id))
                .execute(conn)
        });
        match recorded {
            Ok(_) => {}
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                tracing::warn!(
                    account = account_id,
                    message = due.message_id,
                    "the channel's id of a sent message is taken by another message; kept without it"
                );
            }
            Err(error) => return Err(error.into()),
        }
        // A status callback may have arrived first (WhatsApp): keep the furthest state.
        advance(
            conn,
            account_id,
            due.dialog_id,
            due.message_id,
            "sent",
            None,
        )?;
        Ok(())
    })
}

/// The message will not be sent; `recipient_gone` also marks the interlocutor blocked.
pub fn mark_failed(
    conn: &mut PgConnection,
    account_id: i64,
    due: &Due,
    reason: &str,
    recipient_gone: bool,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        let now = Utc::now();
        diesel::update(outbox::table.find(due.id))
            .set((
                outbox::status.eq("failed"),
                outbox::last_error.eq(reason),
                outbox::updated_at.eq(now),
            ))
            .execute(conn)?;
        if recipient_gone {
            diesel::update(
                interlocutors::table
                    .filter(interlocutors::account_id.eq(account_id))
                    .filter(interlocutors::external_id.eq(&due.recipient)),
            )
            .set(interlocutors::blocked_at.eq(now))
            .execute(conn)?;
            super::events::blocks_changed(conn, account_id)?;
        }
        advance(
            conn,
            account_id,
            due.dialog_id,
            due.message_id,
            "failed",
            Some(reason),
        )?;
        // The list marks the dialog (R44): its row is published again.
        dialog_changed(conn, due.dialog_id)?;
        Ok(())
    })
}

/// Not sent this time: due again at `at`.
pub fn reschedule(
    conn: &mut PgConnection,
    due: &Due,
    at: DateTime<Utc>,
    reason: &str,
) -> Result<(), DbError> {
    diesel::update(outbox::table.find(due.id))
        .set((
            outbox::status.eq("queued"),
            outbox::next_attempt_at.eq(at),
            outbox::last_error.eq(reason),
            outbox::updated_at.eq(Utc::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Puts a claimed row back without counting the attempt (the chat's pace said wait).
pub fn defer(conn: &mut PgConnection, due: &Due, at: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(outbox::table.find(due.id))
        .set((
            outbox::status.eq("queued"),
            outbox::next_attempt_at.eq(at),
            outbox::attempts.eq(outbox::attempts - 1),
        ))
        .execute(conn)?;
    Ok(())
}

fn rank(state: &str) -> i32 {
    match state {
        "pending" => 0,
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" => 4,
        _ => -1,
    }
}

/// Moves a message's delivery state forward (pending → sent → delivered → read, or
/// failed), never back; an event tells the operators.
fn advance(
    conn: &mut PgConnection,
    account_id: i64,
    dialog_id: i64,
    message_id: i64,
    state: &str,
    error: Option<&str>,
) -> Result<bool, DbError> {
    let current: Option<Option<String>> = messages::table
        .find(message_id)
        .select(messages::delivery)
        .for_update()
        .first(conn)
        .optional()?;
    let Some(Some(current)) = current else {
        return Ok(false);
    };
    // A failure after delivery (late WhatsApp status) does not undo it; read is final.
    let forward = rank(state) > rank(&current) && !(state == "failed" && rank(&current) >= 2);
    if !forward {
        return Ok(false);
    }
    diesel::update(messages::table.find(message_id))
        .set((
            messages::delivery.eq(state),
            messages::delivery_error.eq(error),
        ))
        .execute(conn)?;
    events::append(
        conn,
        &[delivery_event(
            account_id, dialog_id, message_id, state, error,
        )],
    )?;
    Ok(true)
}

/// A delivery state reported by the channel for one of our messages, found by the
/// channel's id or by our outbox key. False when no such message (not ours, or the
/// state is not newer).
pub fn delivery_reported(
    conn: &mut PgConnection,
    account_id: i64,
    channel_message_id: &str,
    delivery_key: Option<&str>,
    state: &str,
    error: Option<&str>,
) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        let by_id: Option<(i64, i64)> = messages::table
            .filter(messages::account_id.eq(account_id))
            .filter(messages::channel_message_id.eq(channel_message_id))
            .filter(messages::direction.eq("out"))
            .select((messages::id, messages::dialog_id))
            .first(conn)
            .optional()?;
        let found = match (by_id, delivery_key) {
            (Some(found), _) => Some(found),
            (None, Some(key)) => outbox::table
                .filter(outbox::account_id.eq(account_id))
                .filter(outbox::delivery_key.eq(key))
                .select((outbox::message_id, outbox::dialog_id))
                .first(conn)
                .optional()?,
            (None, None) => None,
        };
        let Some((message_id, dialog_id)) = found else {
            return Ok(false);
        };
        if state == "failed" {
            diesel::update(
                outbox::table
                    .filter(outbox::message_id.eq(message_id))
                    .filter(outbox::status.ne("sent")),
            )
            .set((outbox::status.eq("failed"), outbox::last_error.eq(error)))
            .execute(conn)?;
        }
        let advanced = advance(conn, account_id, dialog_id, message_id, state, error)?;
        if advanced && state == "failed" {
            dialog_changed(conn, dialog_id)?;
        }
        Ok(advanced)
    })
}

/// Publishes the dialog's row again (its `undelivered` mark changed).
fn dialog_changed(conn: &mut PgConnection, dialog_id: i64) -> Result<(), DbError> {
    if let Some(dialog) = super::dialogs::find(conn, dialog_id)? {
        events::append(conn, &[super::dialogs::dialog_event(&dialog)])?;
    }
    Ok(())
}

/// Sends a failed reply again (R44): the same message, a new attempt of its outbox row
/// with the same delivery key (a channel that takes one cannot make a duplicate), its
/// delivery back to `pending`, and the `delivery` event. `None` when the message of
/// `dialog_id` is not a failed reply.
pub fn retry(
    conn: &mut PgConnection,
    dialog_id: i64,
    message_id: i64,
) -> Result<Option<i64>, DbError> {
    conn.transaction(|conn| {
        let account_id: Option<i64> = diesel::update(
            outbox::table
                .filter(outbox::message_id.eq(message_id))
                .filter(outbox::dialog_id.eq(dialog_id))
                .filter(outbox::status.eq("failed")),
        )
        .set((
            outbox::status.eq("queued"),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(Utc::now()),
            outbox::last_error.eq(None::<String>),
            outbox::updated_at.eq(Utc::now()),
        ))
        .returning(outbox::account_id)
        .get_result(conn)
        .optional()?;
        let Some(account_id) = account_id else {
            return Ok(None);
        };
        diesel::update(messages::table.find(message_id))
            .set((
                messages::delivery.eq("pending"),
                messages::delivery_error.eq(None::<String>),
            ))
            .execute(conn)?;
        events::append(
            conn,
            &[delivery_event(
                account_id, dialog_id, message_id, "pending", None,
            )],
        )?;
        dialog_changed(conn, dialog_id)?;
        Ok(Some(account_id))
    })
}

/// How many of our messages one report of reading may mark at most (the newest).
const READ_AT_MOST: i64 = 500;

/// The interlocutor `external_id` read our messages on the account up to the channel's
/// message id `up_to` (ids that grow, as VK's): each one sent or delivered up to there
/// becomes read, with its `delivery` event. Returns how many changed.
pub fn read_up_to(
    conn: &mut PgConnection,
    account_id: i64,
    external_id: &str,
    up_to: i64,
) -> Result<usize, DbError> {
    conn.transaction(|conn| {
        let found: Vec<(i64, i64)> = messages::table
            .inner_join(dialogs::table.on(dialogs::id.eq(messages::dialog_id)))
            .inner_join(interlocutors::table.on(interlocutors::id.eq(dialogs::interlocutor_id)))
            .filter(messages::account_id.eq(account_id))
            .filter(interlocutors::external_id.eq(external_id))
            .filter(messages::direction.eq("out"))
            .filter(messages::delivery.eq_any(["sent", "delivered"]))
            // CASE: only a number is compared (group conversations' keys are not).
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "CASE WHEN messages.channel_message_id ~ '^[0-9]{1,18}$' \
                     THEN messages.channel_message_id::bigint <= ",
                )
                .bind::<BigInt, _>(up_to)
                .sql(" ELSE false END"),
            )
            .order(messages::id.desc())
            .limit(READ_AT_MOST)
            .select((messages::id, messages::dialog_id))
            .load(conn)?;
        let mut changed = 0;
        for (message_id, dialog_id) in found.into_iter().rev() {
            if advance(conn, account_id, dialog_id, message_id, "read", None)? {
                changed += 1;
            }
        }
        Ok(changed)
    })
}

/// The interlocutor read our message `channel_message_id`: whoever reads a chat has read
/// what came before in it, so each of our earlier messages to them on the account that
/// is still "sent" or "delivered" becomes read too, with its `delivery` event (Viber's
/// `seen` and WhatsApp's `read` name only the newest). Returns how many changed.
pub fn read_through(
    conn: &mut PgConnection,
    account_id: i64,
    channel_message_id: &str,
) -> Result<usize, DbError> {
    conn.transaction(|conn| {
        let read: Option<(i64, i64)> = messages::table
            .inner_join(dialogs::table.on(dialogs::id.eq(messages::dialog_id)))
            .filter(messages::account_id.eq(account_id))
            .filter(messages::channel_message_id.eq(channel_message_id))
            .filter(messages::direction.eq("out"))
            .select((messages::id, dialogs::interlocutor_id))
            .first(conn)
            .optional()?;
        let Some((read_id, interlocutor_id)) = read else {
            return Ok(0);
        };
        let earlier: Vec<(i64, i64)> = messages::table
            .inner_join(dialogs::table.on(dialogs::id.eq(messages::dialog_id)))
            .filter(messages::account_id.eq(account_id))
            .filter(dialogs::interlocutor_id.eq(interlocutor_id))
            .filter(messages::direction.eq("out"))
            .filter(messages::id.lt(read_id))
            .filter(messages::delivery.eq_any(["sent", "delivered"]))
            .order(messages::id.desc())
            .limit(READ_AT_MOST)
            .select((messages::id, messages::dialog_id))
            .load(conn)?;
        let mut changed = 0;
        for (message_id, dialog_id) in earlier.into_iter().rev() {
            if advance(conn, account_id, dialog_id, message_id, "read", None)? {
                changed += 1;
            }
        }
        Ok(changed)
    })
}

/// The person blocked or unblocked the bot (or unsubscribed, or denied messages).
pub fn set_blocked(
    conn: &mut PgConnection,
    account_id: i64,
    external_id: &str,
    blocked: bool,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        diesel::update(
            interlocutors::table
                .filter(interlocutors::account_id.eq(account_id))
                .filter(interlocutors::external_id.eq(external_id)),
        )
        .set((
            interlocutors::blocked_at.eq(blocked.then(Utc::now)),
            interlocutors::updated_at.eq(Utc::now()),
        ))
        .execute(conn)?;
        super::events::blocks_changed(conn, account_id)
    })
}

/// Whether the channel delivered this receipt before (then it is acknowledged, dropped).
pub fn receipt_seen(conn: &mut PgConnection, account_id: i64, key: &str) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        channel_receipts::table
            .filter(channel_receipts::account_id.eq(account_id))
            .filter(channel_receipts::receipt_key.eq(key)),
    ))
    .get_result(conn)?)
}

pub fn remember_receipt(
    conn: &mut PgConnection,
    account_id: i64,
    key: &str,
) -> Result<(), DbError> {
    diesel::insert_into(channel_receipts::table)
        .values((
            channel_receipts::account_id.eq(account_id),
            channel_receipts::receipt_key.eq(key),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

/// Forgets receipts older than `before` (channels stop redelivering long before).
pub fn prune_receipts(conn: &mut PgConnection, before: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(
        diesel::delete(channel_receipts::table.filter(channel_receipts::received_at.lt(before)))
            .execute(conn)?,
    )
}

/// An update the channel sent that could not be stored, kept for the administrators.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = failed_updates)]
pub struct FailedUpdateRow {
    pub id: i64,
    pub account_id: i64,
    pub received_at: DateTime<Utc>,
    pub error: String,
    pub raw: String,
}

/// Keeps an update that failed for good, with its raw body (made storable).
pub fn record_failed_update(
    conn: &mut PgConnection,
    account_id: i64,
    error: &str,
    raw: &str,
) -> Result<i64, DbError> {
    use crate::domain::text::storable;
    Ok(diesel::insert_into(failed_updates::table)
        .values((
            failed_updates::account_id.eq(account_id),
            failed_updates::error.eq(storable(error).as_ref()),
            failed_updates::raw.eq(storable(raw).as_ref()),
        ))
        .returning(failed_updates::id)
        .get_result(conn)?)
}

/// The account's failed updates, newest first, before the id `before` when given.
pub fn failed_updates_of(
    conn: &mut PgConnection,
    account_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<FailedUpdateRow>, DbError> {
    let mut query = failed_updates::table
        .filter(failed_updates::account_id.eq(account_id))
        .select(FailedUpdateRow::as_select())
        .order(failed_updates::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(failed_updates::id.lt(before));
    }
    Ok(query.load(conn)?)
}

/// Forgets failed updates older than `before`.
pub fn prune_failed_updates(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(
        diesel::delete(failed_updates::table.filter(failed_updates::received_at.lt(before)))
            .execute(conn)?,
    )
}

/// The newest outbox row of a message (tests and the API show its attempts).
pub fn attempts_of(
    conn: &mut PgConnection,
    message_id: i64,
) -> Result<Option<(String, i32, Option<String>)>, DbError> {
    Ok(outbox::table
        .filter(outbox::message_id.eq(message_id))
        .select((outbox::status, outbox::attempts, outbox::last_error))
        .first(conn)
        .optional()?)
}

/// Stores where an account's poll stopped, after its updates are committed.
pub fn save_poll_state(
    conn: &mut PgConnection,
    account_id: i64,
    state: &serde_json::Value,
) -> Result<(), DbError> {
    use super::schema::channel_accounts;
    diesel::update(channel_accounts::table.find(account_id))
        .set(channel_accounts::poll_state.eq(state))
        .execute(conn)?;
    Ok(())
}

pub fn poll_state(conn: &mut PgConnection, account_id: i64) -> Result<serde_json::Value, DbError> {
    use super::schema::channel_accounts;
    Ok(channel_accounts::table
        .find(account_id)
        .select(channel_accounts::poll_state)
        .first(conn)
        .optional()?
        .unwrap_or_default())
}

/// A local file written for an attachment (under the data folder).
pub fn attachment_stored(
    conn: &mut PgConnection,
    attachment_id: i64,
    path: &str,
    size: i64,
    mime_type: Option<&str>,
) -> Result<(), DbError> {
    use super::schema::attachments;
    diesel::update(attachments::table.find(attachment_id))
        .set((
            attachments::storage_path.eq(path),
            attachments::size_bytes.eq(size),
        ))
        .execute(conn)?;
    if let Some(mime_type) = mime_type {
        diesel::update(
            attachments::table
                .find(attachment_id)
                .filter(attachments::mime_type.is_null()),
        )
        .set(attachments::mime_type.eq(mime_type))
        .execute(conn)?;
    }
    Ok(())
}

use super::schema::attachments;

/// The columns of a `StoredAttachment`.
const STORED_ATTACHMENT: (
    attachments::id,
    messages::account_id,
    messages::dialog_id,
    attachments::kind,
    attachments::file_name,
    attachments::mime_type,
    attachments::storage_path,
    attachments::channel_file_id,
    attachments::url,
) = (
    attachments::id,
    messages::account_id,
    messages::dialog_id,
    attachments::kind,
    attachments::file_name,
    attachments::mime_type,
    attachments::storage_path,
    attachments::channel_file_id,
    attachments::url,
);

/// An attachment with where it lives and whose dialog it belongs to.
#[derive(Debug, Clone, Queryable)]
pub struct StoredAttachment {
    pub id: i64,
    pub account_id: i64,
    pub dialog_id: i64,
    pub kind: String,
    pub file_name: String,
    pub mime_type: Option<String>,
    pub storage_path: Option<String>,
    pub channel_file_id: Option<String>,
    pub url: Option<String>,
}

pub fn find_attachment(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<StoredAttachment>, DbError> {
    Ok(attachments::table
        .inner_join(messages::table)
        .filter(attachments::id.eq(id))
        .select(STORED_ATTACHMENT)
        .first(conn)
        .optional()?)
}

/// The attachments of a message that are not stored locally yet.
pub fn attachments_to_fetch(
    conn: &mut PgConnection,
    message_id: i64,
) -> Result<Vec<StoredAttachment>, DbError> {
    Ok(attachments::table
        .inner_join(messages::table)
        .filter(attachments::message_id.eq(message_id))
        .filter(attachments::storage_path.is_null())
        .filter(attachments::kind.ne("link"))
        .select(STORED_ATTACHMENT)
        .load(conn)?)
}

/// An operator's file attached to an outbound message.
#[derive(Debug, Clone, Queryable)]
pub struct OutboundFile {
    pub id: i64,
    pub kind: String,
    pub file_name: String,
    pub mime_type: Option<String>,
    pub storage_path: Option<String>,
}

pub fn files_of(conn: &mut PgConnection, message_id: i64) -> Result<Vec<OutboundFile>, DbError> {
    use super::schema::attachments;
    Ok(attachments::table
        .filter(attachments::message_id.eq(message_id))
        .filter(attachments::storage_path.is_not_null())
        .order(attachments::id.asc())
        .select((
            attachments::id,
            attachments::kind,
            attachments::file_name,
            attachments::mime_type,
            attachments::storage_path,
        ))
        .load(conn)?)
}
