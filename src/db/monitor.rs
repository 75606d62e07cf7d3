//! Aggregate figures for monitoring dashboards (R37).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};

use super::DbError;

#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct StatusCount {
    #[diesel(sql_type = BigInt)]
    pub account_id: i64,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Figures {
    /// Dialogs per account and status.
    pub dialogs: Vec<StatusCount>,
    /// Seconds the oldest dialog has waited in New (new or returned), if any waits.
    pub oldest_waiting_seconds: Option<i64>,
    /// Active dialogs whose last message is the client's: waiting for an answer.
    pub unanswered: i64,
    pub messages_in_last_minute: i64,
    pub messages_out_last_minute: i64,
}

/// The figures over `accounts`, as of `now`.
pub fn figures(
    conn: &mut PgConnection,
    accounts: &[i64],
    now: DateTime<Utc>,
) -> Result<Figures, DbError> {
    let dialogs = diesel::sql_query(
        "SELECT account_id, status, count(*) AS count FROM dialogs \
         WHERE account_id = ANY($1) GROUP BY account_id, status ORDER BY account_id, status",
    )
    .bind::<Array<BigInt>, _>(accounts)
    .load::<StatusCount>(conn)?;

    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Nullable<Timestamptz>)]
        oldest: Option<DateTime<Utc>>,
        #[diesel(sql_type = BigInt)]
        unanswered: i64,
        #[diesel(sql_type = BigInt)]
        inbound: i64,
        #[diesel(sql_type = BigInt)]
        outbound: i64,
    }
    let row = diesel::sql_query(
        "SELECT \
           (SELECT min(created_at) FROM dialogs WHERE account_id = ANY($1) AND status IN ('new', 'returned')) AS oldest, \
           (SELECT count(*) FROM dialogs WHERE account_id = ANY($1) AND status <> 'closed' \
              AND last_message_direction = 'in') AS unanswered, \
           (SELECT count(*) FROM messages WHERE account_id = ANY($1) AND direction = 'in' \
              AND created_at > $2 - interval '1 minute') AS inbound, \
           (SELECT count(*) FROM messages WHERE account_id = ANY($1) AND direction = 'out' \
              AND created_at > $2 - interval '1 minute') AS outbound",
    )
    .bind::<Array<BigInt>, _>(accounts)
    .bind::<Timestamptz, _>(now)
    .get_result::<Row>(conn)?;
    Ok(Figures {
        dialogs,
        oldest_waiting_seconds: row.oldest.map(|t| (now - t).num_seconds().max(0)),
        unanswered: row.unanswered,
        messages_in_last_minute: row.inbound,
        messages_out_last_minute: row.outbound,
    })
}
