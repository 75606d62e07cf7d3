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
///
/// One statement, one round trip: it queues the NOTIFY, takes the append lock and inserts
/// the rows. The lock is held from here to the commit, so everything the statement does
/// not do under it keeps the lock shorter. Every row is produced by the join with the
/// lock's one-row subquery, and sorted before it is inserted, so the ids (taken at insert)
/// are drawn under the lock and in the order given.
pub fn append(conn: &mut PgConnection, new: &[NewEvent]) -> Result<Vec<i64>, DbError> {
    use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text};

    #[derive(QueryableByName)]
    struct Appended {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let column =
        |f: fn(&NewEvent) -> Option<i64>| -> Vec<Option<i64>> { new.iter().map(f).collect() };
    // Delivered at commit to every process that listens (see `actors::hub`).
    let appended: Vec<Appended> = super::prepared::Prepared::new(
        "INSERT INTO events (kind, account_id, dialog_id, user_id, payload) \
         SELECT e.kind, e.account_id, e.dialog_id, e.user_id, e.payload \
         FROM (SELECT pg_notify($1, ''), pg_advisory_xact_lock($2)) AS turn, \
              unnest($3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::jsonb[]) \
                WITH ORDINALITY AS e(kind, account_id, dialog_id, user_id, payload, n) \
         ORDER BY e.n \
         RETURNING id",
    )
    .bind::<Text, _>(CHANNEL)
    .bind::<BigInt, _>(APPEND_LOCK)
    .bind::<Array<Text>, _>(new.iter().map(|e| e.kind).collect::<Vec<_>>())
    .bind::<Array<Nullable<BigInt>>, _>(column(|e| e.account_id))
    .bind::<Array<Nullable<BigInt>>, _>(column(|e| e.dialog_id))
    .bind::<Array<Nullable<BigInt>>, _>(column(|e| e.user_id))
    .bind::<Array<Jsonb>, _>(new.iter().map(|e| &e.payload).collect::<Vec<_>>())
    .load(conn)?;
    Ok(appended.into_iter().map(|a| a.id).collect())
}

/// The settings key holding the newest event id that retention removed.
pub const PRUNED_THROUGH: &str = "events_pruned_through";

/// Removes events older than `before`, a batch at a time, and remembers the newest id
/// removed: a stream asked to resume before it must `resync`. Returns how many went.
pub fn prune(
    conn: &mut PgConnection,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<usize, DbError> {
    use diesel::sql_types::{BigInt, Nullable, Timestamptz};
    #[derive(QueryableByName)]
    struct Pruned {
        #[diesel(sql_type = BigInt)]
        n: i64,
        #[diesel(sql_type = Nullable<BigInt>)]
        newest: Option<i64>,
    }
    let mut total = 0;
    loop {
        let pruned = conn.transaction(|conn| {
            let pruned: Pruned = diesel::sql_query(
                "WITH gone AS (DELETE FROM events WHERE id IN \
                   (SELECT id FROM events WHERE created_at < $1 ORDER BY id LIMIT 10000) RETURNING id) \
                 SELECT count(*) AS n, max(id) AS newest FROM gone",
            )
            .bind::<Timestamptz, _>(before)
            .get_result(conn)?;
            if let Some(newest) = pruned.newest {
                diesel::sql_query(
                    "INSERT INTO settings (key, value) VALUES ($1, to_jsonb($2::bigint)) \
                     ON CONFLICT (key) DO UPDATE SET value = to_jsonb(GREATEST((settings.value)::bigint, $2)), \
                     updated_at = now()",
                )
                .bind::<diesel::sql_types::Text, _>(PRUNED_THROUGH)
                .bind::<BigInt, _>(newest)
                .execute(conn)?;
            }
            Ok::<_, DbError>(pruned.n)
        })?;
        total += pruned as usize;
        if pruned < 10_000 {
            return Ok(total);
        }
    }
}

/// The newest event id retention removed (0 when none was).
pub fn pruned_through(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(super::settings::get(conn, PRUNED_THROUGH)?
        .and_then(|value| value.as_i64())
        .unwrap_or(0))
}

/// Tells every process that processing rules changed: account actors stop trusting
/// what they remember of whether any rule applies (see `actors::account`).
pub fn rules_changed(conn: &mut PgConnection, account_id: Option<i64>) -> Result<(), DbError> {
    signal(conn, "rules", account_id, None)
}

/// Tells every process that an interlocutor of `account_id` blocked or unblocked the
/// account (or a send found them gone): account actors stop trusting what they remember
/// of their interlocutors, so the person's next message, wherever it arrives, lifts a
/// block at once (see `actors::account`).
pub fn blocks_changed(conn: &mut PgConnection, account_id: i64) -> Result<(), DbError> {
    signal(conn, "blocks", Some(account_id), None)
}

/// Tells every open stream that rights changed (an account or its grants, a user's roles
/// or status), so streams re-read them at once instead of at their next re-check.
pub fn access_changed(
    conn: &mut PgConnection,
    account_id: Option<i64>,
    user_id: Option<i64>,
) -> Result<(), DbError> {
    signal(conn, "access", account_id, user_id)
}

/// Tells every process that a credential of `user_id` was revoked (a sign-out, a token
/// revoked), so none keeps accepting it from memory (see `http::known`).
pub fn credentials_revoked(conn: &mut PgConnection, user_id: i64) -> Result<(), DbError> {
    signal(conn, "credentials", None, Some(user_id))
}

/// An event that carries no data: its kind, account and user are the message.
fn signal(
    conn: &mut PgConnection,
    kind: &'static str,
    account_id: Option<i64>,
    user_id: Option<i64>,
) -> Result<(), DbError> {
    append(
        conn,
        &[NewEvent {
            kind,
            account_id,
            dialog_id: None,
            user_id,
            payload: serde_json::json!({}),
        }],
    )
    .map(|_| ())
}
