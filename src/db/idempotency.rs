//! The store of `Idempotency-Key` requests (API.md): per credential and key, the first
//! request's digest and, once it answered, its answer for a day. `http::idempotency` is
//! the middleware that asks it; this file owns the table's rules (who may take a key
//! over, when an answer replays).

use chrono::{Duration, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::idempotency_keys;

/// How long the answer of an `Idempotency-Key` request replays; older ones are removed
/// with the events' retention ([`prune`], every ten minutes) or taken over by a new claim.
pub const KEPT_FOR: Duration = Duration::hours(24);
/// After this a claim whose answer never came (its process died) may be taken over.
const CLAIM_EXPIRES: Duration = Duration::minutes(1);
/// `response_status` of a claim whose request still runs.
const RUNNING: i16 = 0;
/// `response_status` of a request whose answer held a secret, which is not kept.
const NOT_KEPT: i16 = -1;

/// Whose key it is: the user and the credential (session or API token) that sent it.
pub type Owner = (i64, i64);

/// What a claim of a key found.
#[derive(Debug)]
pub enum Claim {
    /// The key is this request's now: run it.
    Run,
    /// The same request answered before: this is its answer.
    Replay {
        status: u16,
        body: serde_json::Value,
    },
    /// The first request with this key still runs.
    Running,
    /// The key was used for another request.
    OtherRequest,
    /// Done, but its answer held a secret that is not kept.
    NotKept,
}

/// Claims `key` for the request with `digest` of `owner`, or says what was kept for it.
pub fn claim(
    conn: &mut PgConnection,
    (user, credential): Owner,
    key: &str,
    digest: &[u8],
) -> Result<Claim, DbError> {
    conn.transaction(|conn| {
        let now = Utc::now();
        let inserted = diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::user_id.eq(user),
                idempotency_keys::credential_id.eq(credential),
                idempotency_keys::key.eq(key),
                idempotency_keys::request_hash.eq(digest),
                idempotency_keys::response_status.eq(RUNNING),
                idempotency_keys::response_body.eq(serde_json::Value::Null),
                idempotency_keys::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted == 1 {
            return Ok(Claim::Run);
        }
        let (hash, status, body, created_at): (Vec<u8>, i16, serde_json::Value, _) =
            idempotency_keys::table
                .find((user, credential, key))
                .select((
                    idempotency_keys::request_hash,
                    idempotency_keys::response_status,
                    idempotency_keys::response_body,
                    idempotency_keys::created_at,
                ))
                .for_update()
                .first(conn)?;
        let created_at: chrono::DateTime<Utc> = created_at;
        let expired = created_at <= now - KEPT_FOR;
        if hash != digest && !expired {
            return Ok(Claim::OtherRequest);
        }
        if status == NOT_KEPT && !expired {
            return Ok(Claim::NotKept);
        }
        if status != RUNNING && !expired {
            return Ok(Claim::Replay {
                status: status as u16,
                body,
            });
        }
        if status == RUNNING && created_at > now - CLAIM_EXPIRES {
            return Ok(Claim::Running);
        }
        // A day-old answer, or a claim its process left: the key is this request's now.
        diesel::update(idempotency_keys::table.find((user, credential, key)))
            .set((
                idempotency_keys::request_hash.eq(digest),
                idempotency_keys::response_status.eq(RUNNING),
                idempotency_keys::response_body.eq(serde_json::Value::Null),
                idempotency_keys::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(Claim::Run)
    })
}

/// Keeps the answer of a claimed request, to replay for a retry.
pub fn keep(
    conn: &mut PgConnection,
    (user, credential): Owner,
    key: &str,
    status: u16,
    body: serde_json::Value,
) -> Result<(), DbError> {
    diesel::update(idempotency_keys::table.find((user, credential, key)))
        .set((
            idempotency_keys::response_status.eq(status as i16),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks a claimed request done whose answer held a secret: a retry is refused, never
/// replayed.
pub fn keep_not_kept(
    conn: &mut PgConnection,
    (user, credential): Owner,
    key: &str,
) -> Result<(), DbError> {
    diesel::update(idempotency_keys::table.find((user, credential, key)))
        .set(idempotency_keys::response_status.eq(NOT_KEPT))
        .execute(conn)?;
    Ok(())
}

/// Gives up a claim whose request failed, so that a retry runs it.
pub fn release(
    conn: &mut PgConnection,
    (user, credential): Owner,
    key: &str,
) -> Result<(), DbError> {
    diesel::delete(
        idempotency_keys::table
            .find((user, credential, key))
            .filter(idempotency_keys::response_status.eq(RUNNING)),
    )
    .execute(conn)?;
    Ok(())
}

/// Removes the kept answers older than [`KEPT_FOR`]; returns how many.
pub fn prune(conn: &mut PgConnection) -> Result<usize, DbError> {
    let before = Utc::now() - KEPT_FOR;
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
            .execute(conn)?,
    )
}
