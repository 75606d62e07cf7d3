//! R46: a presence signal, sent as a notification on `actors::presence::CHANNEL` (never a
//! row): the user's name and hand-set status are read in the same statement, so every
//! process hears a whole `domain::presence::Signal`. Inside a transaction it is delivered
//! at commit, like the events' own notification.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::DbError;
use crate::domain::presence::Claim;

/// The channel, as `actors::presence` listens to it (`db` may not import `actors`).
pub const CHANNEL: &str = "dialogi_presence";

/// Tells every process that `user_id` claims `claim`, about `dialog` (its id and account)
/// when given; false when there is no such user.
pub fn signal(
    conn: &mut PgConnection,
    user_id: i64,
    dialog: Option<(i64, i64)>,
    claim: Claim,
) -> Result<bool, DbError> {
    let sent = diesel::sql_query(
        "SELECT pg_notify($1, json_build_object(\
            'user_id', u.id, 'display_name', u.display_name, 'status', u.status, \
            'dialog', CASE WHEN $2::bigint IS NULL THEN NULL ELSE json_build_array($2, $3) END, \
            'claim', $4)::text) \
         FROM users u WHERE u.id = $5",
    )
    .bind::<Text, _>(CHANNEL)
    .bind::<Nullable<BigInt>, _>(dialog.map(|(id, _)| id))
    .bind::<Nullable<BigInt>, _>(dialog.map(|(_, account)| account))
    .bind::<Text, _>(claim.as_str())
    .bind::<BigInt, _>(user_id)
    .execute(conn)?;
    Ok(sent > 0)
}
