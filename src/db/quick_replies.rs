//! Quick replies (R41): the templates, and how often each was used.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::{quick_replies, quick_reply_files};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = quick_replies, check_for_backend(diesel::pg::Pg))]
pub struct QuickReplyRow {
    pub id: i64,
    pub scope: String,
    pub owner_user_id: Option<i64>,
    pub account_id: Option<i64>,
    pub name: String,
    pub text: String,
    pub uses: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = quick_replies)]
pub struct NewQuickReply {
    pub scope: String,
    pub owner_user_id: Option<i64>,
    pub account_id: Option<i64>,
    pub name: String,
    pub text: String,
    pub created_by: Option<i64>,
}

/// The templates a user may use: their own, the global ones, and those of the accounts
/// in `accounts`; the most used first.
pub fn usable(
    conn: &mut PgConnection,
    user_id: i64,
    accounts: &[i64],
) -> Result<Vec<QuickReplyRow>, DbError> {
    Ok(quick_replies::table
        .filter(
            quick_replies::owner_user_id
                .eq(user_id)
                .or(quick_replies::scope.eq("global"))
                .or(quick_replies::account_id.eq_any(accounts)),
        )
        .order((
            quick_replies::uses.desc(),
            quick_replies::name,
            quick_replies::id,
        ))
        .select(QuickReplyRow::as_select())
        .load(conn)?)
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Option<QuickReplyRow>, DbError> {
    Ok(quick_replies::table
        .find(id)
        .select(QuickReplyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts templates (one, or an import's rows) in one transaction.
pub fn insert(
    conn: &mut PgConnection,
    new: &[NewQuickReply],
) -> Result<Vec<QuickReplyRow>, DbError> {
    Ok(diesel::insert_into(quick_replies::table)
        .values(new)
        .returning(QuickReplyRow::as_returning())
        .get_results(conn)?)
}

pub fn update(
    conn: &mut PgConnection,
    id: i64,
    name: Option<&str>,
    text: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<QuickReplyRow>, DbError> {
    let target = quick_replies::table.find(id);
    Ok(diesel::update(target)
        .set((
            name.map(|n| quick_replies::name.eq(n.to_owned())),
            text.map(|t| quick_replies::text.eq(t.to_owned())),
            quick_replies::updated_at.eq(now),
        ))
        .returning(QuickReplyRow::as_returning())
        .get_result(conn)
        .optional()?)
}

/// Deletes a template with its files' rows; returns the names of the files in the data
/// folder (for the caller to remove), or `None` when there was no such template.
pub fn delete(conn: &mut PgConnection, id: i64) -> Result<Option<Vec<String>>, DbError> {
    conn.transaction(|conn| {
        let files = diesel::delete(
            quick_reply_files::table.filter(quick_reply_files::quick_reply_id.eq(id)),
        )
        .returning(quick_reply_files::storage_path)
        .get_results(conn)?;
        let deleted = diesel::delete(quick_replies::table.find(id)).execute(conn)? == 1;
        Ok(deleted.then_some(files))
    })
}

/// The most files one template holds.
pub const MAX_FILES: i64 = 5;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = quick_reply_files, check_for_backend(diesel::pg::Pg))]
pub struct QuickReplyFileRow {
    pub id: i64,
    pub quick_reply_id: i64,
    pub file_name: String,
    pub mime_type: Option<String>,
    pub size_bytes: i64,
    pub storage_path: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = quick_reply_files)]
pub struct NewQuickReplyFile {
    pub quick_reply_id: i64,
    pub file_name: String,
    pub mime_type: Option<String>,
    pub size_bytes: i64,
    pub storage_path: String,
}

/// The files of these templates, in the order they were added.
pub fn files_of(
    conn: &mut PgConnection,
    reply_ids: &[i64],
) -> Result<Vec<QuickReplyFileRow>, DbError> {
    Ok(quick_reply_files::table
        .filter(quick_reply_files::quick_reply_id.eq_any(reply_ids))
        .order(quick_reply_files::id)
        .select(QuickReplyFileRow::as_select())
        .load(conn)?)
}

/// Adds a file to a template that holds fewer than [`MAX_FILES`] (`None` when it is full
/// or gone); the template is locked meanwhile, so two uploads cannot both be the fifth.
pub fn add_file(
    conn: &mut PgConnection,
    new: &NewQuickReplyFile,
) -> Result<Option<QuickReplyFileRow>, DbError> {
    conn.transaction(|conn| {
        let exists = quick_replies::table
            .find(new.quick_reply_id)
            .select(quick_replies::id)
            .for_update()
            .first::<i64>(conn)
            .optional()?
            .is_some();
        let held: i64 = quick_reply_files::table
            .filter(quick_reply_files::quick_reply_id.eq(new.quick_reply_id))
            .count()
            .get_result(conn)?;
        if !exists || held >= MAX_FILES {
            return Ok(None);
        }
        Ok(Some(
            diesel::insert_into(quick_reply_files::table)
                .values(new)
                .returning(QuickReplyFileRow::as_returning())
                .get_result(conn)?,
        ))
    })
}

/// Removes a template's file; returns its name in the data folder.
pub fn remove_file(
    conn: &mut PgConnection,
    reply_id: i64,
    file_id: i64,
) -> Result<Option<String>, DbError> {
    Ok(diesel::delete(
        quick_reply_files::table
            .find(file_id)
            .filter(quick_reply_files::quick_reply_id.eq(reply_id)),
    )
    .returning(quick_reply_files::storage_path)
    .get_result(conn)
    .optional()?)
}

/// Counts one use (the list sorts by use).
pub fn used(conn: &mut PgConnection, id: i64) -> Result<bool, DbError> {
    Ok(diesel::update(quick_replies::table.find(id))
        .set(quick_replies::uses.eq(quick_replies::uses + 1))
        .execute(conn)?
        == 1)
}
