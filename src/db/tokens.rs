//! Browser sessions and API tokens, stored as SHA-256 digests.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::{auth_tokens, users};
use super::users::UserRow;

pub const KIND_SESSION: &str = "session";
pub const KIND_API: &str = "api";

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = auth_tokens, check_for_backend(diesel::pg::Pg))]
pub struct TokenRow {
    pub id: i64,
    pub kind: String,
    pub user_id: i64,
    pub csrf_token: Option<String>,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = auth_tokens)]
pub struct NewTokenRow<'a> {
    pub kind: &'a str,
    pub user_id: i64,
    pub token_hash: &'a [u8],
    pub csrf_token: Option<&'a str>,
    pub name: &'a str,
    pub scopes: Vec<String>,
    pub created_by: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub fn insert(conn: &mut PgConnection, token: &NewTokenRow<'_>) -> Result<TokenRow, DbError> {
    Ok(diesel::insert_into(auth_tokens::table)
        .values(token)
        .returning(TokenRow::as_returning())
        .get_result(conn)?)
}

/// The live token with this digest and its user: not revoked, not expired, user enabled.
pub fn find_live(
    conn: &mut PgConnection,
    digest: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<(TokenRow, UserRow)>, DbError> {
    Ok(auth_tokens::table
        .inner_join(users::table.on(users::id.eq(auth_tokens::user_id)))
        .filter(auth_tokens::token_hash.eq(digest))
        .filter(auth_tokens::revoked_at.is_null())
        .filter(
            auth_tokens::expires_at
                .is_null()
                .or(auth_tokens::expires_at.gt(now)),
        )
        .filter(users::disabled.eq(false))
        .select((TokenRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()?)
}

/// Records that the token was used, at most once a minute per token: a token read a
/// moment ago (`found`) that was used within the minute costs no statement at all.
pub fn touch(conn: &mut PgConnection, found: &TokenRow, now: DateTime<Utc>) -> Result<(), DbError> {
    let a_minute_ago = now - chrono::Duration::minutes(1);
    if found.last_used_at.is_some_and(|at| at >= a_minute_ago) {
        return Ok(());
    }
    let id = found.id;
    diesel::update(
        auth_tokens::table.find(id).filter(
            auth_tokens::last_used_at
                .is_null()
                .or(auth_tokens::last_used_at.lt(a_minute_ago)),
        ),
    )
    .set(auth_tokens::last_used_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Revokes one token; `owner` limits it to that user's tokens. Returns whether it existed.
/// Every process hears of it in the same commit (a `credentials` event).
pub fn revoke(
    conn: &mut PgConnection,
    id: i64,
    kind: &str,
    owner: Option<i64>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        let mut query = diesel::update(auth_tokens::table)
            .filter(auth_tokens::id.eq(id))
            .filter(auth_tokens::kind.eq(kind))
            .filter(auth_tokens::revoked_at.is_null())
            .into_boxed();
        if let Some(user_id) = owner {
            query = query.filter(auth_tokens::user_id.eq(user_id));
        }
        let revoked: Option<i64> = query
            .set(auth_tokens::revoked_at.eq(now))
            .returning(auth_tokens::user_id)
            .get_result(conn)
            .optional()?;
        if let Some(user_id) = revoked {
            super::events::credentials_revoked(conn, user_id)?;
        }
        Ok(revoked.is_some())
    })
}

/// Revokes every session of a user (on disable or password change).
pub fn revoke_sessions_of(
    conn: &mut PgConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    conn.transaction(|conn| {
        let revoked = diesel::update(auth_tokens::table)
            .filter(auth_tokens::user_id.eq(user_id))
            .filter(auth_tokens::kind.eq(KIND_SESSION))
            .filter(auth_tokens::revoked_at.is_null())
            .set(auth_tokens::revoked_at.eq(now))
            .execute(conn)?;
        if revoked > 0 {
            super::events::credentials_revoked(conn, user_id)?;
        }
        Ok(revoked)
    })
}

/// API tokens that are not revoked, of one user or (None) of everyone, newest first.
pub fn list_api(conn: &mut PgConnection, owner: Option<i64>) -> Result<Vec<TokenRow>, DbError> {
    let mut query = auth_tokens::table
        .filter(auth_tokens::kind.eq(KIND_API))
        .filter(auth_tokens::revoked_at.is_null())
        .order(auth_tokens::id.desc())
        .select(TokenRow::as_select())
        .into_boxed();
    if let Some(user_id) = owner {
        query = query.filter(auth_tokens::user_id.eq(user_id));
    }
    Ok(query.load(conn)?)
}

/// Whether a token is still live: not revoked, not expired, its user not disabled.
pub fn is_live(conn: &mut PgConnection, id: i64, now: DateTime<Utc>) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        auth_tokens::table
            .inner_join(users::table.on(users::id.eq(auth_tokens::user_id)))
            .filter(auth_tokens::id.eq(id))
            .filter(auth_tokens::revoked_at.is_null())
            .filter(
                auth_tokens::expires_at
                    .is_null()
                    .or(auth_tokens::expires_at.gt(now)),
            )
            .filter(users::disabled.eq(false)),
    ))
    .get_result(conn)?)
}
