//! Messages and attachments: reading a dialog's feed, deduplication by the channel's id,
//! and searching a client's conversations (R31, R32).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::dialogs::NewAttachment;
use super::schema::{attachments, dialogs, messages, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct MessageRow {
    pub id: i64,
    pub dialog_id: i64,
    pub direction: String,
    pub author_user_id: Option<i64>,
    pub text: String,
    pub delivery: Option<String>,
    pub delivery_error: Option<String>,
    pub system_kind: Option<String>,
    pub system_data: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    /// Who wrote it in a group conversation: `{"external_id", "name"}`.
    pub sender: Option<serde_json::Value>,
    /// What it holds besides text and files (`domain::content::Extras`, R48).
    pub content: Option<serde_json::Value>,
    /// When the interlocutor deleted it (its text is then in `message_edits`).
    pub deleted_at: Option<DateTime<Utc>>,
    /// When its text and files were removed (retention or erasure, R47).
    pub redacted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = attachments, check_for_backend(diesel::pg::Pg))]
pub struct AttachmentRow {
    pub id: i64,
    pub message_id: i64,
    pub kind: String,
    pub file_name: String,
    pub mime_type: Option<String>,
    pub size_bytes: Option<i64>,
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A message with the display name of its author and its attachments.
#[derive(Debug, Clone)]
pub struct FeedItem {
    pub message: MessageRow,
    pub author_name: Option<String>,
    pub attachments: Vec<AttachmentRow>,
}

pub fn insert_attachments(
    conn: &mut PgConnection,
    message_id: i64,
    new: &[NewAttachment],
) -> Result<(), DbError> {
    if new.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = new
        .iter()
        .map(|a| {
            (
                attachments::message_id.eq(message_id),
                attachments::kind.eq(&a.kind),
                attachments::file_name.eq(&a.file_name),
                attachments::mime_type.eq(&a.mime_type),
                attachments::size_bytes.eq(a.size_bytes),
                attachments::channel_file_id.eq(&a.channel_file_id),
                attachments::url.eq(&a.url),
                attachments::storage_path.eq(&a.storage_path),
            )
        })
        .collect();
    diesel::insert_into(attachments::table)
        .values(&rows)
        .execute(conn)?;
    Ok(())
}

/// A page of a dialog's feed, newest first, older than `before` when given.
pub fn feed(
    conn: &mut PgConnection,
    dialog_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<FeedItem>, DbError> {
    let mut query = messages::table
        .left_join(users::table.on(users::id.nullable().eq(messages::author_user_id)))
        .filter(messages::dialog_id.eq(dialog_id))
        .order(messages::id.desc())
        .limit(limit)
        .select((MessageRow::as_select(), users::display_name.nullable()))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(messages::id.lt(before));
    }
    let rows: Vec<(MessageRow, Option<String>)> = query.load(conn)?;
    with_attachments(conn, rows)
}

/// These messages as the feed shows them, in any order (the live events' payloads).
pub fn feed_items(conn: &mut PgConnection, ids: &[i64]) -> Result<Vec<FeedItem>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One trip: a message with several attachments comes once per attachment.
    let rows: Vec<(MessageRow, Option<String>, Option<AttachmentRow>)> = messages::table
        .left_join(users::table.on(users::id.nullable().eq(messages::author_user_id)))
        .left_join(attachments::table.on(attachments::message_id.eq(messages::id)))
        .filter(messages::id.eq_any(ids))
        .order((messages::id.asc(), attachments::id.asc()))
        .select((
            MessageRow::as_select(),
            users::display_name.nullable(),
            Option::<AttachmentRow>::as_select(),
        ))
        .load(conn)?;
    let mut items: Vec<FeedItem> = Vec::with_capacity(ids.len());
    for (message, author_name, attachment) in rows {
        match items.last_mut() {
            Some(item) if item.message.id == message.id => item.attachments.extend(attachment),
            _ => items.push(FeedItem {
                message,
                author_name,
                attachments: attachment.into_iter().collect(),
            }),
        }
    }
    Ok(items)
}

fn with_attachments(
    conn: &mut PgConnection,
    rows: Vec<(MessageRow, Option<String>)>,
) -> Result<Vec<FeedItem>, DbError> {
    let ids: Vec<i64> = rows.iter().map(|(m, _)| m.id).collect();
    let mut files: Vec<AttachmentRow> = attachments::table
        .filter(attachments::message_id.eq_any(&ids))
        .order(attachments::id.asc())
        .select(AttachmentRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(message, author_name)| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                files.drain(..).partition(|a| a.message_id == message.id);
            files = rest;
            FeedItem {
                message,
                author_name,
                attachments: mine,
            }
        })
        .collect())
}

/// Messages of every dialog with a client whose text contains `needle` (any case),
/// newest first (R31).
pub fn search_client(
    conn: &mut PgConnection,
    client_id: i64,
    needle: &str,
    limit: i64,
) -> Result<Vec<FeedItem>, DbError> {
    let rows: Vec<(MessageRow, Option<String>)> = messages::table
        .inner_join(dialogs::table.on(dialogs::id.eq(messages::dialog_id)))
        .left_join(users::table.on(users::id.nullable().eq(messages::author_user_id)))
        .filter(dialogs::client_id.eq(client_id))
        .filter(messages::direction.ne("system"))
        .filter(messages::text.ilike(like_pattern(needle)))
        .order(messages::id.desc())
        .limit(limit)
        .select((MessageRow::as_select(), users::display_name.nullable()))
        .load(conn)?;
    with_attachments(conn, rows)
}

/// Attachments of every dialog with a client, newest first, of one kind when given (R32).
/// Where a client's file or link was: its message, dialog (id and number) and time.
#[derive(Debug, Clone)]
pub struct FoundIn {
    pub message_id: i64,
    pub dialog_id: i64,
    pub dialog_number: i64,
    pub at: DateTime<Utc>,
}

/// Where something was, as the queries select it: message, dialog, dialog number, time.
type Where = (i64, i64, i64, DateTime<Utc>);

impl From<Where> for FoundIn {
    fn from((message_id, dialog_id, dialog_number, at): Where) -> Self {
        Self {
            message_id,
            dialog_id,
            dialog_number,
            at,
        }
    }
}

pub fn client_attachments(
    conn: &mut PgConnection,
    client_id: i64,
    kind: Option<&str>,
    limit: i64,
) -> Result<Vec<(AttachmentRow, FoundIn)>, DbError> {
    let mut query = attachments::table
        .inner_join(messages::table.on(messages::id.eq(attachments::message_id)))
        .inner_join(dialogs::table.on(dialogs::id.eq(messages::dialog_id)))
        .filter(dialogs::client_id.eq(client_id))
        .order(attachments::id.desc())
        .limit(limit)
        .select((
            AttachmentRow::as_select(),
            (
                messages::id,
                messages::dialog_id,
                dialogs::number,
                messages::created_at,
            ),
        ))
        .into_boxed();
    match kind {
        // Files are everything that is neither an image nor a link.
        Some("file") => query = query.filter(attachments::kind.ne_all(vec!["image", "link"])),
        Some(kind) => query = query.filter(attachments::kind.eq(kind.to_owned())),
        None => {}
    }
    let rows: Vec<(AttachmentRow, Where)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(a, found)| (a, FoundIn::from(found)))
        .collect())
}

/// The newest messages of a client's dialogs that hold a web link in their text (R32),
/// with where they are: at most `limit`, newest first.
pub fn client_texts_with_links(
    conn: &mut PgConnection,
    client_id: i64,
    limit: i64,
) -> Result<Vec<(String, FoundIn)>, DbError> {
    let rows: Vec<(String, Where)> = messages::table
        .inner_join(dialogs::table.on(dialogs::id.eq(messages::dialog_id)))
        .filter(dialogs::client_id.eq(client_id))
        .filter(messages::text.ilike("%http%://%"))
        .order(messages::id.desc())
        .limit(limit)
        .select((
            messages::text,
            (
                messages::id,
                messages::dialog_id,
                dialogs::number,
                messages::created_at,
            ),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(text, found)| (text, FoundIn::from(found)))
        .collect())
}

/// An ILIKE pattern that matches `needle` literally anywhere (`%`, `_` and `\` escaped).
pub fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("Иван"), "%Иван%");
    }
}
