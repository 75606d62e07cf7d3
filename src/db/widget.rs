//! The website chat (R40): where each visitor came from and the contact they left, and
//! what a visitor may read — the messages of their own dialogs, client's and operators',
//! without notes and system lines.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::{
    attachments, channel_accounts, dialog_reads, dialogs, messages, users, web_visits,
};

/// Where a visitor came from and what they told us, as the operators see it.
#[derive(Debug, Clone, Default, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = web_visits, check_for_backend(diesel::pg::Pg))]
pub struct Visit {
    pub interlocutor_id: i64,
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub consent_at: Option<DateTime<Utc>>,
    pub consent_text: Option<String>,
}

/// Records the visit: fields given replace the stored ones, fields not given stay.
pub fn note_visit(conn: &mut PgConnection, visit: &Visit) -> Result<(), DbError> {
    diesel::insert_into(web_visits::table)
        .values(visit)
        .on_conflict(web_visits::interlocutor_id)
        .do_update()
        .set((visit, web_visits::updated_at.eq(Utc::now())))
        .execute(conn)?;
    Ok(())
}

pub fn visit_of(conn: &mut PgConnection, interlocutor_id: i64) -> Result<Option<Visit>, DbError> {
    Ok(web_visits::table
        .find(interlocutor_id)
        .select(Visit::as_select())
        .first(conn)
        .optional()?)
}

/// The website accounts that may take visitors (enabled, not archived).
pub fn website_accounts(conn: &mut PgConnection) -> Result<Vec<i64>, DbError> {
    Ok(channel_accounts::table
        .filter(channel_accounts::kind.eq("web"))
        .filter(channel_accounts::enabled)
        .filter(channel_accounts::archived_at.is_null())
        .select(channel_accounts::id)
        .load(conn)?)
}

/// The demo company's website account, if this database holds the demo.
pub fn demo_website(conn: &mut PgConnection) -> Result<Option<i64>, DbError> {
    Ok(channel_accounts::table
        .filter(channel_accounts::kind.eq("web"))
        .filter(channel_accounts::demo)
        .filter(channel_accounts::enabled)
        .filter(channel_accounts::archived_at.is_null())
        .select(channel_accounts::id)
        .first(conn)
        .optional()?)
}

/// One message of a visitor's conversation, as the widget shows it.
#[derive(Debug, Clone)]
pub struct VisitorMessage {
    pub message_id: i64,
    pub dialog_id: i64,
    pub inbound: bool,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// The operator's display name, for replies.
    pub operator: Option<String>,
    pub deleted: bool,
    /// (attachment id, kind, file name, size) in order.
    pub files: Vec<(i64, String, String, Option<i64>)>,
}

/// A visitor's messages (both ways) in every dialog of theirs with an id above `after`,
/// oldest first.
pub fn visitor_messages(
    conn: &mut PgConnection,
    interlocutor_id: i64,
    after: i64,
) -> Result<Vec<VisitorMessage>, DbError> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        i64,
        i64,
        String,
        String,
        DateTime<Utc>,
        Option<String>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    )> = messages::table
        .inner_join(dialogs::table.on(dialogs::id.eq(messages::dialog_id)))
        .left_join(users::table.on(users::id.nullable().eq(messages::author_user_id)))
        .filter(dialogs::interlocutor_id.eq(interlocutor_id))
        .filter(messages::direction.eq_any(["in", "out"]))
        .filter(messages::id.gt(after))
        .order(messages::id)
        .select((
            messages::id,
            messages::dialog_id,
            messages::direction,
            messages::text,
            messages::created_at,
            users::display_name.nullable(),
            messages::deleted_at,
            messages::redacted_at,
        ))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let files: Vec<(i64, i64, String, String, Option<i64>)> = attachments::table
        .filter(attachments::message_id.eq_any(&ids))
        .filter(attachments::kind.ne("link"))
        .order(attachments::id)
        .select((
            attachments::message_id,
            attachments::id,
            attachments::kind,
            attachments::file_name,
            attachments::size_bytes,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(message_id, dialog_id, direction, text, created_at, operator, deleted, redacted)| {
                let gone = deleted.is_some() || redacted.is_some();
                VisitorMessage {
                    message_id,
                    dialog_id,
                    inbound: direction == "in",
                    text: if gone { String::new() } else { text },
                    created_at,
                    operator: operator
                        .filter(|_| direction == "out")
                        .map(|name| first_name(&name)),
                    deleted: gone,
                    files: if gone {
                        Vec::new()
                    } else {
                        files
                            .iter()
                            .filter(|f| f.0 == message_id)
                            .map(|f| (f.1, f.2.clone(), f.3.clone(), f.4))
                            .collect()
                    },
                }
            },
        )
        .collect())
}

/// How a visitor sees an operator: their first name only.
fn first_name(display_name: &str) -> String {
    display_name
        .split_whitespace()
        .next()
        .unwrap_or(display_name)
        .to_owned()
}

/// How many of a visitor's messages come before (and including) `message_id`: the
/// message's number as the visitor knows it.
pub fn visitor_position(
    conn: &mut PgConnection,
    interlocutor_id: i64,
    message_id: i64,
) -> Result<i64, DbError> {
    Ok(messages::table
        .inner_join(dialogs::table.on(dialogs::id.eq(messages::dialog_id)))
        .filter(dialogs::interlocutor_id.eq(interlocutor_id))
        .filter(messages::direction.eq_any(["in", "out"]))
        .filter(messages::id.le(message_id))
        .count()
        .get_result(conn)?)
}

/// The dialogs of a visitor.
pub fn visitor_dialogs(conn: &mut PgConnection, interlocutor_id: i64) -> Result<Vec<i64>, DbError> {
    Ok(dialogs::table
        .filter(dialogs::interlocutor_id.eq(interlocutor_id))
        .select(dialogs::id)
        .load(conn)?)
}

/// A client other than `except` whose phone (digits compared) or e-mail (any case) is the
/// one the visitor left: (id, name, `phone` or `email`). A suggestion for the operator,
/// never merged by itself.
pub fn same_client(
    conn: &mut PgConnection,
    phone: Option<&str>,
    email: Option<&str>,
    except: Option<i64>,
) -> Result<Option<(i64, String, String)>, DbError> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        by: String,
    }
    let digits: Option<String> = phone.map(|p| p.chars().filter(char::is_ascii_digit).collect());
    if digits.is_none() && email.is_none() {
        return Ok(None);
    }
    let found: Option<Found> = diesel::sql_query(
        "SELECT id, name, CASE WHEN $1::text IS NOT NULL \
                  AND regexp_replace(coalesce(phone, ''), '\\D', '', 'g') = $1 THEN 'phone' ELSE 'email' END AS by \
         FROM clients WHERE id <> coalesce($3, 0) AND ( \
           ($1::text IS NOT NULL AND length($1) >= 5 AND regexp_replace(coalesce(phone, ''), '\\D', '', 'g') = $1) \
           OR ($2::text IS NOT NULL AND lower(email) = lower($2))) \
         ORDER BY id LIMIT 1",
    )
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(digits)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(email)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>, _>(except)
    .get_result(conn)
    .optional()?;
    Ok(found.map(|f| (f.id, f.name, f.by)))
}

/// The furthest any operator has read in these dialogs (a message id).
pub fn read_mark(conn: &mut PgConnection, dialog_ids: &[i64]) -> Result<Option<i64>, DbError> {
    Ok(dialog_reads::table
        .filter(dialog_reads::dialog_id.eq_any(dialog_ids))
        .select(diesel::dsl::max(dialog_reads::last_read_message_id))
        .first(conn)?)
}
