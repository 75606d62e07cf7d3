//! API tokens for CRMs, scripts and dashboards (administrators only). A token acts as its
//! user, narrowed to its scopes; its secret is shown once, at creation.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::Utc;

use super::AppState;
use super::auth::Caller;
use super::dto::{CreateTokenRequest, CreatedTokenResponse, TokenResponse};
use crate::db::{self, tokens, users};
use crate::domain::people::{DisplayName, parse_scopes};
use crate::error::ApiError;
use crate::security;
use crate::services::tokens as tokens_service;

const MAX_EXPIRY_DAYS: u32 = 3650;

fn token_response(row: tokens::TokenRow) -> TokenResponse {
    TokenResponse {
        id: row.id,
        name: row.name,
        user_id: row.user_id,
        scopes: row.scopes,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        expires_at: row.expires_at,
    }
}

/// Live API tokens of every user, newest first (administrators).
#[utoipa::path(tag = "tokens", responses((status = 200, body = Vec<TokenResponse>), (status = 403, body = crate::error::ErrorBody)))]
#[get(
    "",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn list_tokens(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Vec<TokenResponse>>, ApiError> {
    caller.require_admin()?;
    let rows = db::run(&state.pool, |conn| tokens::list_api(conn, None)).await?;
    Ok(web::Json(rows.into_iter().map(token_response).collect()))
}

/// Create an API token (administrators). The answer holds the secret, once.
#[utoipa::path(
    tag = "tokens",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, body = CreatedTokenResponse),
        (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
    )
)]
#[post(
    "",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn create_token(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body = body.into_inner();
    let name = DisplayName::parse("name", &body.name)?;
    let scopes = parse_scopes(&body.scopes)?;
    let expires_at = match body.expires_in_days {
        None => None,
        Some(days @ 1..=MAX_EXPIRY_DAYS) => {
            Some(Utc::now() + chrono::Duration::days(i64::from(days)))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "expires_in_days",
                format!("expires_in_days: between 1 and {MAX_EXPIRY_DAYS}"),
            ));
        }
    };
    let owner = body.user_id.unwrap_or(caller.user_id.0);
    let actor = caller.user_id.0;
    let secret = security::new_token()?;
    let created = db::run(&state.pool, move |conn| {
        let Some(user) = users::find(conn, owner)? else {
            return Ok(Err(ApiError::invalid("user_id", "user_id: no such user")));
        };
        Ok(Ok(tokens_service::issue(
            conn,
            &user,
            name.as_str(),
            &scopes,
            expires_at,
            Some(actor),
            &secret,
        )?))
    })
    .await??;
    let mut response = HttpResponse::Created().json(CreatedTokenResponse {
        token: token_response(created.0),
        token_secret: created.1,
    });
    // The secret is shown this once: an idempotent retry must not replay it.
    response
        .extensions_mut()
        .insert(crate::http::idempotency::HoldsSecret);
    Ok(response)
}

/// Revoke an API token (administrators).
#[utoipa::path(
    tag = "tokens",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody))
)]
#[delete(
    "/{id}",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn revoke_token(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let revoked = tokens_service::revoke(&state.pool, id, caller.user_id.0).await?;
    if revoked {
        state.known.forget_all();
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("token"))
    }
}
