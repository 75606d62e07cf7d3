//! Quick replies (R41): the templates, and how often each was used.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::quick_replies;

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

pub fn delete(conn: &mut PgConnection, id: i64) -> Result<bool, DbError> {
    Ok(diesel::delete(quick_replies::table.find(id)).execute(conn)? == 1)
}

/// Counts one use (the list sorts by use).
pub fn used(conn: &mut PgConnection, id: i64) -> Result<bool, DbError> {
    Ok(diesel::update(quick_replies::table.find(id))
        .set(quick_replies::uses.eq(quick_replies::uses + 1))
        .execute(conn)?
        == 1)
}
