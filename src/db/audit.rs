//! The append-only audit log: who did what to whom, from where (logins, tokens, rights).
//! The database refuses UPDATE and DELETE on it (a trigger).

use diesel::prelude::*;

use super::DbError;
use super::schema::audit_log;

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditRow<'a> {
    pub actor_user_id: Option<i64>,
    pub action: &'a str,
    pub target: String,
    pub ip: Option<String>,
    pub details: serde_json::Value,
}

pub fn record(conn: &mut PgConnection, row: &NewAuditRow<'_>) -> Result<(), DbError> {
    diesel::insert_into(audit_log::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Records an action that came through the API or the command line (no client address).
pub fn note(
    conn: &mut PgConnection,
    actor_user_id: Option<i64>,
    action: &str,
    target: impl Into<String>,
    details: serde_json::Value,
) -> Result<(), DbError> {
    record(
        conn,
        &NewAuditRow {
            actor_user_id,
            action,
            target: target.into(),
            ip: None,
            details,
        },
    )
}
