//! R45: web push subscriptions and the server's VAPID key (RFC 8292), made the first time
//! it is asked for; two processes asking at once agree on one.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use super::schema::settings;
use super::{DbError, settings as kv};

/// The settings key of the VAPID key pair (PKCS#8, hex). Never served by `/settings`.
pub const VAPID_KEY: &str = "vapid_pkcs8";

/// The VAPID key pair, made by `generate` (PKCS#8) the first time.
pub fn vapid_pkcs8(
    conn: &mut PgConnection,
    generate: impl FnOnce() -> Option<Vec<u8>>,
) -> Result<Vec<u8>, DbError> {
    let stored = |conn: &mut PgConnection| -> Result<Option<Vec<u8>>, DbError> {
        Ok(kv::get(conn, VAPID_KEY)?
            .and_then(|value| value.as_str().and_then(|s| hex::decode(s).ok())))
    };
    if let Some(key) = stored(conn)? {
        return Ok(key);
    }
    let fresh = generate().ok_or(DbError::Invariant("no randomness for the VAPID key"))?;
    diesel::insert_into(settings::table)
        .values((
            settings::key.eq(VAPID_KEY),
            settings::value.eq(serde_json::Value::String(hex::encode(fresh))),
            settings::updated_at.eq(Utc::now()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    stored(conn)?.ok_or(DbError::Invariant("the VAPID key is not hex"))
}

/// Keeps `endpoint` for `user_id` (an endpoint belongs to one browser: a new owner takes it).
pub fn subscribe(conn: &mut PgConnection, user_id: i64, endpoint: &str) -> Result<(), DbError> {
    diesel::sql_query(
        "INSERT INTO push_subscriptions (user_id, endpoint) VALUES ($1, $2) \
         ON CONFLICT (endpoint) DO UPDATE SET user_id = EXCLUDED.user_id",
    )
    .bind::<BigInt, _>(user_id)
    .bind::<Text, _>(endpoint)
    .execute(conn)?;
    Ok(())
}

/// Forgets the user's `endpoint`; false when it was not theirs.
pub fn unsubscribe(conn: &mut PgConnection, user_id: i64, endpoint: &str) -> Result<bool, DbError> {
    Ok(
        diesel::sql_query("DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2")
            .bind::<BigInt, _>(user_id)
            .bind::<Text, _>(endpoint)
            .execute(conn)?
            > 0,
    )
}

/// The endpoint a push service said is gone (404, 410).
pub fn forget(conn: &mut PgConnection, endpoint: &str) -> Result<(), DbError> {
    diesel::sql_query("DELETE FROM push_subscriptions WHERE endpoint = $1")
        .bind::<Text, _>(endpoint)
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, QueryableByName)]
struct Endpoint {
    #[diesel(sql_type = Text)]
    endpoint: String,
}

/// Every endpoint of these users (enabled ones).
pub fn endpoints_of(conn: &mut PgConnection, user_ids: &[i64]) -> Result<Vec<String>, DbError> {
    let found: Vec<Endpoint> = diesel::sql_query(
        "SELECT p.endpoint FROM push_subscriptions p JOIN users u ON u.id = p.user_id \
         WHERE p.user_id = ANY($1) AND NOT u.disabled ORDER BY p.id",
    )
    .bind::<Array<BigInt>, _>(user_ids)
    .load(conn)?;
    Ok(found.into_iter().map(|e| e.endpoint).collect())
}

/// Who a redirected dialog now waits for: its responsible user, if one.
pub fn responsible_of(conn: &mut PgConnection, dialog_id: i64) -> Result<Option<i64>, DbError> {
    use super::schema::dialogs;
    Ok(dialogs::table
        .find(dialog_id)
        .select(dialogs::responsible_user_id)
        .first::<Option<i64>>(conn)
        .optional()?
        .flatten())
}
