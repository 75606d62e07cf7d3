//! The events log: every committed state change, in commit order, for Server-Sent Events
//! to replay from.
//!
//! Why the advisory lock: a BIGSERIAL value is taken at INSERT, not at commit, so with
//! concurrent writers id 11 can commit before id 10, and a subscriber that saw 11 would
//! never see 10. Appending under a transaction-scoped advisory lock makes id order equal
//! commit order; the lock is held only from the append to the commit.

use diesel::prelude::*;

use super::DbError;
use super::schema::events;

/// The advisory lock key that serializes appends to `events` ("dlg" "evt").
pub const APPEND_LOCK: i64 = 0x646c_6765_7674;

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: &'static str,
    pub account_id: Option<i64>,
    pub dialog_id: Option<i64>,
    pub user_id: Option<i64>,
    pub payload: serde_json::Value,
}

/// Appends events inside the caller's transaction; returns their ids in order.
pub fn append(conn: &mut PgConnection, new: &[NewEvent]) -> Result<Vec<i64>, DbError> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(APPEND_LOCK)
        .execute(conn)?;
    let rows: Vec<_> = new
        .iter()
        .map(|e| {
            (
                events::kind.eq(e.kind),
                events::account_id.eq(e.account_id),
                events::dialog_id.eq(e.dialog_id),
                events::user_id.eq(e.user_id),
                events::payload.eq(&e.payload),
            )
        })
        .collect();
    Ok(diesel::insert_into(events::table)
        .values(&rows)
        .returning(events::id)
        .get_results(conn)?)
}
