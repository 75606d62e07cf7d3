//! Browser sessions: signing in (the session's token and the audit entry of the attempt,
//! one transaction), signing out, and a presented credential looked up with its last use
//! noted.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use diesel::Connection;
use serde_json::json;

use crate::db::tokens::{self, TokenRow};
use crate::db::users::UserRow;
use crate::db::{self, DbError, DbPool, audit};
use crate::security;

/// A session opened: its token (the cookie's value) and CSRF token, and its user.
#[derive(Debug)]
pub struct Opened {
    pub token: String,
    pub csrf_token: String,
    pub user: UserRow,
}

/// Opens a session for `user` when the password was right (`user` is `None` otherwise),
/// valid for `ttl`; either way the attempt is in the audit log with the client's address.
pub async fn sign_in(
    pool: &DbPool,
    user: Option<UserRow>,
    login: String,
    ip: IpAddr,
    ttl: chrono::Duration,
) -> Result<Option<Opened>, crate::error::ApiError> {
    let (token, csrf_token) = (security::new_token()?, security::new_token()?);
    Ok(db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let Some(user) = user else {
                audit::record(
                    conn,
                    &audit::NewAuditRow {
                        actor_user_id: None,
                        action: "login_failed",
                        target: format!("login:{login}"),
                        ip: Some(ip.to_string()),
                        details: json!({}),
                    },
                )?;
                return Ok(None);
            };
            let digest = security::token_digest(&token);
            tokens::insert(
                conn,
                &tokens::NewTokenRow {
                    kind: tokens::KIND_SESSION,
                    user_id: user.id,
                    token_hash: &digest,
                    csrf_token: Some(&csrf_token),
                    name: "",
                    scopes: Vec::new(),
                    created_by: Some(user.id),
                    expires_at: Some(Utc::now() + ttl),
                },
            )?;
            audit::record(
                conn,
                &audit::NewAuditRow {
                    actor_user_id: Some(user.id),
                    action: "login_succeeded",
                    target: format!("user:{}", user.id),
                    ip: Some(ip.to_string()),
                    details: json!({}),
                },
            )?;
            Ok(Some(Opened {
                token,
                csrf_token,
                user,
            }))
        })
    })
    .await?)
}

/// Ends a session of `user`.
pub async fn sign_out(pool: &DbPool, token_id: i64, user: i64) -> Result<(), DbError> {
    db::run(pool, move |conn| {
        tokens::revoke(conn, token_id, tokens::KIND_SESSION, Some(user), Utc::now())
    })
    .await?;
    Ok(())
}

/// The live credential with this digest and its user, its last use set to `now`.
pub async fn find_live(
    pool: &DbPool,
    digest: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Option<(TokenRow, UserRow)>, DbError> {
    db::run(pool, move |conn| {
        let found = tokens::find_live(conn, &digest, now)?;
        if let Some((token, _)) = &found {
            tokens::touch(conn, token, now)?;
        }
        Ok(found)
    })
    .await
}
