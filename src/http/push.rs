//! R45: web push subscriptions. The browser asks for the server's key, subscribes with its
//! push service and hands the endpoint here; `channels::push` does the pushing.

use actix_web::{HttpResponse, delete, get, put, web};

use super::AppState;
use super::auth::Caller;
use super::dto::{PushKeyBody, PushSubscriptionRequest};
use crate::channels::push::{Vapid, endpoint_problem};
use crate::db;
use crate::error::ApiError;

/// The server's VAPID public key (made on first start).
#[utoipa::path(tag = "push", responses((status = 200, body = PushKeyBody)))]
#[get("/push/key")]
pub async fn push_key(
    state: web::Data<AppState>,
    _caller: Caller,
) -> Result<web::Json<PushKeyBody>, ApiError> {
    let vapid = db::run(&state.pool, Vapid::load).await?;
    Ok(web::Json(PushKeyBody {
        public_key: vapid.public_key,
    }))
}

/// Keep this browser's push subscription: the caller is pushed to when an event is for
/// them (a mention, a task given to them, a dialog redirected to them).
#[utoipa::path(
    tag = "push",
    request_body = PushSubscriptionRequest,
    responses(
        (status = 204, description = "kept"),
        (status = 422, description = "not a known push service", body = crate::error::ErrorBody),
    )
)]
#[put("/push/subscription")]
pub async fn subscribe(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<PushSubscriptionRequest>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = body.into_inner().endpoint;
    if let Some(problem) = endpoint_problem(&endpoint, &state.config.push_hosts) {
        return Err(ApiError::invalid("endpoint", problem));
    }
    crate::services::push::subscribe(&state.pool, caller.user_id.0, endpoint).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Forget this browser's push subscription.
#[utoipa::path(
    tag = "push",
    request_body = PushSubscriptionRequest,
    responses(
        (status = 204, description = "forgotten"),
        (status = 404, description = "no such subscription of the caller's", body = crate::error::ErrorBody),
    )
)]
#[delete("/push/subscription")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<PushSubscriptionRequest>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = body.into_inner().endpoint;
    crate::services::push::unsubscribe(&state.pool, caller.user_id.0, endpoint).await?;
    Ok(HttpResponse::NoContent().finish())
}
