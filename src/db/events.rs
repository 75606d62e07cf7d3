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
/// The LISTEN/NOTIFY channel that tells every process new events committed.
pub const CHANNEL: &str = "dialogi_events";

/// An event as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct StoredEvent {
    pub id: i64,
    pub kind: String,
    pub account_id: Option<i64>,
    pub dialog_id: Option<i64>,
    pub user_id: Option<i64>,
    pub payload: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Events after `id`, in id (= commit) order, at most `limit`.
pub fn after(conn: &mut PgConnection, id: i64, limit: i64) -> Result<Vec<StoredEvent>, DbError> {
    Ok(events::table
        .filter(events::id.gt(id))
        .order(events::id.asc())
        .limit(limit)
        .select(StoredEvent::as_select())
        .load(conn)?)
}

/// The newest event id, 0 when there is none.
pub fn latest_id(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(events::table
        .select(diesel::dsl::max(events::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

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
    let ids: Vec<i64> = diesel::insert_into(events::table)
        .values(&rows)
        .returning(events::id)
        .get_results(conn)?;
    // Delivered at commit to every process that listens (see `actors::hub`).
    diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(conn)?;
    Ok(ids)
}
