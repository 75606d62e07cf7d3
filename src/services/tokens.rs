//! API tokens: issuing and revoking one, each in one transaction with its audit entry.

use chrono::Utc;
use diesel::Connection;
use serde_json::json;

use crate::db::{self, DbPool, audit, tokens, users};
use crate::domain::people::Scope;
use crate::error::ApiError;
use crate::security;

/// Issues an API token for `user` and records it in the audit log, in one transaction.
/// Also used by `dialogi token create`.
pub fn issue(
    conn: &mut diesel::PgConnection,
    user: &users::UserRow,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<chrono::DateTime<Utc>>,
    actor: Option<i64>,
    secret: &str,
) -> Result<(tokens::TokenRow, String), db::DbError> {
    let digest = security::token_digest(secret);
    conn.transaction(|conn| {
        let row = tokens::insert(
            conn,
            &tokens::NewTokenRow {
                kind: tokens::KIND_API,
                user_id: user.id,
                token_hash: &digest,
                csrf_token: None,
                name,
                scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
                created_by: actor,
                expires_at,
            },
        )?;
        audit::note(
            conn,
            actor,
            "token_created",
            format!("token:{}", row.id),
            json!({ "user_id": user.id, "scopes": row.scopes }),
        )?;
        Ok((row, secret.to_owned()))
    })
}

/// Revokes an API token; `false` when there is no such (unrevoked) token.
pub async fn revoke(pool: &DbPool, id: i64, actor: i64) -> Result<bool, ApiError> {
    Ok(db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let revoked = tokens::revoke(conn, id, tokens::KIND_API, None, Utc::now())?;
            if revoked {
                audit::note(
                    conn,
                    Some(actor),
                    "token_revoked",
                    format!("token:{id}"),
                    json!({}),
                )?;
            }
            Ok(revoked)
        })
    })
    .await?)
}
