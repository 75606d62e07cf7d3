//! Changes to stored messages after the fact (R48): the interlocutor's edits and
//! deletions, an operator's edits and deletions of their own sent replies, and replies
//! typed outside Dialogi on the platform. Each keeps the old text in `message_edits`,
//! writes the message's event and, when the message is its dialog's newest, moves the
//! list's preview with the dialog's event — all in one transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::DbError;
use super::events;
use super::outbox::changed_message_event;
use super::schema::{attachments, dialogs, interlocutors, message_edits, messages, outbox};

/// The interlocutor edited a message: its old text goes to `message_edits`, the new one
/// takes its place, and the list's preview follows when it is the dialog's newest message.
pub fn message_edited(
    conn: &mut PgConnection,
    account_id: i64,
    channel_message_id: &str,
    text: &str,
    edited_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    conn.transaction(
        |conn| match find_for_change(conn, account_id, channel_message_id)? {
            Some(found) => apply_edit(conn, &found, text, edited_at),
            None => Ok(false),
        },
    )
}

/// An operator's edit of their own sent reply, once the channel accepted it.
pub fn reply_edited(
    conn: &mut PgConnection,
    message_id: i64,
    text: &str,
    edited_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    conn.transaction(|conn| match lock(conn, message_id)? {
        Some(found) => apply_edit(conn, &found, text, edited_at),
        None => Ok(false),
    })
}

/// An operator's deletion of their own sent reply, once the channel accepted it.
pub fn reply_deleted(
    conn: &mut PgConnection,
    message_id: i64,
    deleted_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    conn.transaction(|conn| match lock(conn, message_id)? {
        Some(found) => apply_deletion(conn, &found, deleted_at),
        None => Ok(false),
    })
}

fn apply_edit(
    conn: &mut PgConnection,
    found: &Found,
    text: &str,
    edited_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    if found.text == text || found.deleted {
        return Ok(false);
    }
    keep_old_text(conn, found.id, &found.text, edited_at)?;
    diesel::update(messages::table.find(found.id))
        .set((messages::text.eq(text), messages::edited_at.eq(edited_at)))
        .execute(conn)?;
    let preview = super::dialogs::preview(text, found.has_files);
    changed_with_preview(
        conn,
        found,
        json!({
            "dialog_id": found.dialog_id,
            "message_id": found.id,
            "direction": found.direction,
            "edited": true,
            "preview": preview,
        }),
        preview.clone(),
    )?;
    Ok(true)
}

/// The interlocutor deleted a message on the channel (WhatsApp `revoke`): the row stays,
/// marked deleted, its text kept in `message_edits`; the preview follows when it is the
/// dialog's newest message.
pub fn message_deleted(
    conn: &mut PgConnection,
    account_id: i64,
    channel_message_id: &str,
    deleted_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    conn.transaction(
        |conn| match find_for_change(conn, account_id, channel_message_id)? {
            Some(found) => apply_deletion(conn, &found, deleted_at),
            None => Ok(false),
        },
    )
}

fn apply_deletion(
    conn: &mut PgConnection,
    found: &Found,
    deleted_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    if found.deleted {
        return Ok(false);
    }
    if !found.text.is_empty() {
        keep_old_text(conn, found.id, &found.text, deleted_at)?;
    }
    diesel::update(messages::table.find(found.id))
        .set((messages::text.eq(""), messages::deleted_at.eq(deleted_at)))
        .execute(conn)?;
    changed_with_preview(
        conn,
        found,
        json!({
            "dialog_id": found.dialog_id,
            "message_id": found.id,
            "direction": found.direction,
            "deleted": true,
            "preview": DELETED_PREVIEW,
        }),
        DELETED_PREVIEW.to_owned(),
    )?;
    Ok(true)
}

/// A message typed outside Dialogi, on the platform (VK `message_reply`), to the
/// interlocutor `external_id`. Stored in their newest dialog as an outbound message that
/// was sent (`extras.typed_on` names the platform), with the list row following — unless
/// it is one of ours coming back: a message we already have (its id), or one whose
/// `random_id` is one we gave one of the account's latest sends (it may come back before
/// our send's answer is recorded). Nothing is stored when the person has no dialog.
#[allow(clippy::too_many_arguments)]
pub fn typed_outside(
    conn: &mut PgConnection,
    account_id: i64,
    external_id: &str,
    channel_message_id: &str,
    text: &str,
    sent_at: Option<DateTime<Utc>>,
    attachments: &[super::dialogs::NewAttachment],
    ours: impl Fn(i64) -> bool,
    platform: &str,
) -> Result<bool, DbError> {
    /// How many of the account's latest sends a `random_id` is compared with.
    const RECENT_SENDS: i64 = 500;
    conn.transaction(|conn| {
        let known = diesel::select(diesel::dsl::exists(
            messages::table
                .filter(messages::account_id.eq(account_id))
                .filter(messages::channel_message_id.eq(channel_message_id)),
        ))
        .get_result::<bool>(conn)?;
        if known {
            return Ok(false);
        }
        let recent: Vec<i64> = outbox::table
            .filter(outbox::account_id.eq(account_id))
            .order(outbox::id.desc())
            .limit(RECENT_SENDS)
            .select(outbox::id)
            .load(conn)?;
        if recent.into_iter().any(&ours) {
            return Ok(false);
        }
        let dialog: Option<i64> = super::schema::dialogs::table
            .inner_join(interlocutors::table)
            .filter(dialogs::account_id.eq(account_id))
            .filter(interlocutors::external_id.eq(external_id))
            .order(dialogs::id.desc())
            .select(dialogs::id)
            .first(conn)
            .optional()?;
        let Some(dialog_id) = dialog else {
            return Ok(false);
        };
        let extras = crate::domain::content::Extras {
            typed_on: Some(platform.to_owned()),
            ..Default::default()
        };
        let now = Utc::now();
        let inserted: Option<i64> = diesel::insert_into(messages::table)
            .values((
                messages::dialog_id.eq(dialog_id),
                messages::account_id.eq(account_id),
                messages::direction.eq("out"),
                messages::text.eq(text),
                messages::channel_message_id.eq(channel_message_id),
                messages::delivery.eq("sent"),
                messages::channel_sent_at.eq(sent_at),
                messages::created_at.eq(now),
                messages::content.eq(extras.to_json()),
            ))
            .on_conflict_do_nothing()
            .returning(messages::id)
            .get_result(conn)
            .optional()?;
        let Some(message_id) = inserted else {
            return Ok(false);
        };
        super::messages::insert_attachments(conn, message_id, attachments)?;
        let preview = super::dialogs::preview(text, !attachments.is_empty());
        let row: super::dialogs::DialogRow = diesel::update(dialogs::table.find(dialog_id))
            .set((
                dialogs::last_message_at.eq(now),
                dialogs::last_message_preview.eq(&preview),
                dialogs::last_message_direction.eq("out"),
            ))
            .returning(super::dialogs::DialogRow::as_returning())
            .get_result(conn)?;
        events::append(
            conn,
            &[
                changed_message_event(
                    account_id,
                    dialog_id,
                    json!({"dialog_id": dialog_id, "message_id": message_id, "direction": "out",
                        "system_kind": null, "preview": preview}),
                ),
                super::dialogs::dialog_event(&row),
            ],
        )?;
        Ok(true)
    })
}

/// The interlocutor reacted to a message of the account (ours or theirs), found by the
/// channel's id: the emoji is kept in the message's extras (`reaction`, removed when taken
/// back) and a `message` event carries the message as it is now. False when no such
/// message.
pub fn reacted(
    conn: &mut PgConnection,
    account_id: i64,
    channel_message_id: &str,
    emoji: Option<&str>,
) -> Result<bool, DbError> {
    let id: Option<i64> = messages::table
        .filter(messages::account_id.eq(account_id))
        .filter(messages::channel_message_id.eq(channel_message_id))
        .select(messages::id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => set_reaction(conn, id, Reactor::Client, emoji),
        None => Ok(false),
    }
}

/// Our reaction to the client's message `message_id` (none takes it back), once the
/// channel took it: kept in its extras (`our_reaction`), with the message's event.
pub fn reacted_by_us(
    conn: &mut PgConnection,
    message_id: i64,
    emoji: Option<&str>,
) -> Result<bool, DbError> {
    set_reaction(conn, message_id, Reactor::Us, emoji)
}

/// Whose reaction a message carries.
#[derive(Clone, Copy)]
enum Reactor {
    Client,
    Us,
}

/// Sets one side's reaction in the message's extras, with the message's event that names
/// it (`reaction` or `our_reaction`), in one transaction. False when no such message.
fn set_reaction(
    conn: &mut PgConnection,
    message_id: i64,
    reactor: Reactor,
    emoji: Option<&str>,
) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        let found: Option<(i64, i64, String, Option<serde_json::Value>)> = messages::table
            .find(message_id)
            .select((
                messages::dialog_id,
                messages::account_id,
                messages::direction,
                messages::content,
            ))
            .for_update()
            .first(conn)
            .optional()?;
        let Some((dialog_id, account_id, direction, content)) = found else {
            return Ok(false);
        };
        let mut extras: crate::domain::content::Extras = content
            .and_then(|c| serde_json::from_value(c).ok())
            .unwrap_or_default();
        let (slot, key) = match reactor {
            Reactor::Client => (&mut extras.reaction, "reaction"),
            Reactor::Us => (&mut extras.our_reaction, "our_reaction"),
        };
        *slot = emoji.map(str::to_owned);
        diesel::update(messages::table.find(message_id))
            .set(messages::content.eq(extras.to_json()))
            .execute(conn)?;
        let mut payload = json!({"dialog_id": dialog_id, "message_id": message_id,
            "direction": direction, "system_kind": null});
        payload[key] = json!(emoji);
        events::append(
            conn,
            &[changed_message_event(account_id, dialog_id, payload)],
        )?;
        Ok(true)
    })
}

/// What the list shows for a dialog whose newest message was deleted.
pub const DELETED_PREVIEW: &str = "🗑";

/// A stored message about to change, locked.
struct Found {
    id: i64,
    dialog_id: i64,
    account_id: i64,
    direction: String,
    text: String,
    deleted: bool,
    has_files: bool,
}

fn find_for_change(
    conn: &mut PgConnection,
    account_id: i64,
    channel_message_id: &str,
) -> Result<Option<Found>, DbError> {
    let id: Option<i64> = messages::table
        .filter(messages::account_id.eq(account_id))
        .filter(messages::channel_message_id.eq(channel_message_id))
        .select(messages::id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => lock(conn, id),
        None => Ok(None),
    }
}

/// The message `id`, locked for the change.
fn lock(conn: &mut PgConnection, id: i64) -> Result<Option<Found>, DbError> {
    type Row = (i64, i64, String, String, Option<DateTime<Utc>>);
    let found: Option<Row> = messages::table
        .find(id)
        .select((
            messages::dialog_id,
            messages::account_id,
            messages::direction,
            messages::text,
            messages::deleted_at,
        ))
        .for_update()
        .first(conn)
        .optional()?;
    let Some((dialog_id, account_id, direction, text, deleted_at)) = found else {
        return Ok(None);
    };
    let has_files = has_files(conn, id)?;
    Ok(Some(Found {
        id,
        dialog_id,
        account_id,
        direction,
        text,
        deleted: deleted_at.is_some(),
        has_files,
    }))
}

/// A stored message an operator acts on (edits, deletes, reacts to), with whom it went
/// to or came from.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: i64,
    pub dialog_id: i64,
    pub account_id: i64,
    pub direction: String,
    pub author_user_id: Option<i64>,
    pub text: String,
    pub channel_message_id: Option<String>,
    pub delivery: Option<String>,
    pub deleted: bool,
    pub has_files: bool,
    /// Whom it went to: the dialog's interlocutor on the channel.
    pub recipient: String,
}

/// The message `message_id` of dialog `dialog_id`, with whom it went to.
pub fn target(
    conn: &mut PgConnection,
    dialog_id: i64,
    message_id: i64,
) -> Result<Option<Target>, DbError> {
    type Row = (
        i64,
        i64,
        String,
        Option<i64>,
        String,
        Option<String>,
        Option<String>,
        Option<DateTime<Utc>>,
        String,
    );
    let row: Option<Row> = messages::table
        .inner_join(dialogs::table.inner_join(interlocutors::table))
        .filter(messages::id.eq(message_id))
        .filter(messages::dialog_id.eq(dialog_id))
        .select((
            messages::id,
            messages::account_id,
            messages::direction,
            messages::author_user_id,
            messages::text,
            messages::channel_message_id,
            messages::delivery,
            messages::deleted_at,
            interlocutors::external_id,
        ))
        .first(conn)
        .optional()?;
    let Some((
        id,
        account_id,
        direction,
        author_user_id,
        text,
        channel_message_id,
        delivery,
        deleted_at,
        recipient,
    )) = row
    else {
        return Ok(None);
    };
    let has_files = has_files(conn, id)?;
    Ok(Some(Target {
        id,
        dialog_id,
        account_id,
        direction,
        author_user_id,
        text,
        channel_message_id,
        delivery,
        deleted: deleted_at.is_some(),
        has_files,
        recipient,
    }))
}

/// Whether message `id` carries files.
fn has_files(conn: &mut PgConnection, id: i64) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        attachments::table.filter(attachments::message_id.eq(id)),
    ))
    .get_result(conn)?)
}

fn keep_old_text(
    conn: &mut PgConnection,
    message_id: i64,
    old_text: &str,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::insert_into(message_edits::table)
        .values((
            message_edits::message_id.eq(message_id),
            message_edits::old_text.eq(old_text),
            message_edits::edited_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The message's event, and when it is its dialog's newest message, the list's preview
/// set to `preview` with the dialog's event (the list row follows).
fn changed_with_preview(
    conn: &mut PgConnection,
    found: &Found,
    payload: serde_json::Value,
    preview: String,
) -> Result<(), DbError> {
    let mut changes = vec![changed_message_event(
        found.account_id,
        found.dialog_id,
        payload,
    )];
    let newest: Option<i64> = messages::table
        .filter(messages::dialog_id.eq(found.dialog_id))
        .filter(messages::system_kind.is_null())
        .select(diesel::dsl::max(messages::id))
        .first(conn)?;
    if newest == Some(found.id) {
        let row: super::dialogs::DialogRow = diesel::update(dialogs::table.find(found.dialog_id))
            .set(dialogs::last_message_preview.eq(preview))
            .returning(super::dialogs::DialogRow::as_returning())
            .get_result(conn)?;
        changes.push(super::dialogs::dialog_event(&row));
    }
    events::append(conn, &changes)?;
    Ok(())
}
