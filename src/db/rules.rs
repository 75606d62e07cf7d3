//! Automatic processing rules (R8), per account or global, in their order.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::rules;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rules, check_for_backend(diesel::pg::Pg))]
pub struct RuleRow {
    pub id: i64,
    pub account_id: Option<i64>,
    pub name: String,
    pub position: i32,
    pub enabled: bool,
    pub stop_processing: bool,
    pub conditions: serde_json::Value,
    pub actions: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = rules, treat_none_as_null = true)]
pub struct RuleFields {
    pub account_id: Option<i64>,
    pub name: String,
    pub position: i32,
    pub enabled: bool,
    pub stop_processing: bool,
    pub conditions: serde_json::Value,
    pub actions: serde_json::Value,
}

/// Rules in the order they run: global and per-account together, by position then id.
/// `accounts` None lists every rule.
pub fn list(conn: &mut PgConnection, accounts: Option<&[i64]>) -> Result<Vec<RuleRow>, DbError> {
    let mut query = rules::table
        .order((rules::position.asc(), rules::id.asc()))
        .select(RuleRow::as_select())
        .into_boxed();
    if let Some(accounts) = accounts {
        query = query.filter(rules::account_id.eq_any(accounts.to_vec()));
    }
    Ok(query.load(conn)?)
}

/// The enabled rules that apply to an account's messages, in order.
pub fn for_account(conn: &mut PgConnection, account_id: i64) -> Result<Vec<RuleRow>, DbError> {
    Ok(rules::table
        .filter(rules::enabled.eq(true))
        .filter(
            rules::account_id
                .eq(account_id)
                .or(rules::account_id.is_null()),
        )
        .order((rules::position.asc(), rules::id.asc()))
        .select(RuleRow::as_select())
        .load(conn)?)
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Option<RuleRow>, DbError> {
    Ok(rules::table
        .find(id)
        .select(RuleRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert(conn: &mut PgConnection, fields: &RuleFields) -> Result<RuleRow, DbError> {
    Ok(diesel::insert_into(rules::table)
        .values(fields)
        .returning(RuleRow::as_returning())
        .get_result(conn)?)
}

pub fn update(
    conn: &mut PgConnection,
    id: i64,
    fields: &RuleFields,
) -> Result<Option<RuleRow>, DbError> {
    Ok(diesel::update(rules::table.find(id))
        .set((fields, rules::updated_at.eq(Utc::now())))
        .returning(RuleRow::as_returning())
        .get_result(conn)
        .optional()?)
}

pub fn delete(conn: &mut PgConnection, id: i64) -> Result<bool, DbError> {
    Ok(diesel::delete(rules::table.find(id)).execute(conn)? > 0)
}
