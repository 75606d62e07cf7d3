//! The channels' webhooks (called by the messengers, not by users). The raw body is
//! verified by the account's channel before anything is parsed; the answer is 2xx only
//! after the updates are committed, so a failure makes the channel deliver again, and the
//! dedup keys make that harmless. With integration switched off (R2) or the account
//! disabled the answer is 503, so the channel keeps the update and retries later.

use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::AppState;
use crate::channels::{AnyChannel, WebhookError, WebhookRequest};
use crate::db;
use crate::error::ApiError;

/// Webhook bodies larger than this are refused (channels send small JSON).
const MAX_BODY: usize = 1024 * 1024;

pub fn body_limit() -> web::PayloadConfig {
    web::PayloadConfig::new(MAX_BODY)
}

/// Telegram update (`X-Telegram-Bot-Api-Secret-Token`).
#[utoipa::path(tag = "webhooks", params(("account_id" = i64, Path)), request_body(content = String, content_type = "application/json", description = "the channel's own JSON, verified over its raw bytes"), responses((status = 200), (status = 403), (status = 404), (status = 503)))]
#[post("/telegram/{account_id}")]
pub async fn telegram(
    state: web::Data<AppState>,
    request: HttpRequest,
    account_id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    receive(&state, "telegram", *account_id, &request, body, false).await
}

/// VK Callback API event (confirmation handshake, `secret` field, answer `ok`).
#[utoipa::path(tag = "webhooks", params(("account_id" = i64, Path)), request_body(content = String, content_type = "application/json", description = "the channel's own JSON, verified over its raw bytes"), responses((status = 200), (status = 403), (status = 404), (status = 503)))]
#[post("/vk/{account_id}")]
pub async fn vk(
    state: web::Data<AppState>,
    request: HttpRequest,
    account_id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    receive(&state, "vk", *account_id, &request, body, false).await
}

/// Viber callback (`X-Viber-Content-Signature`).
#[utoipa::path(tag = "webhooks", params(("account_id" = i64, Path)), request_body(content = String, content_type = "application/json", description = "the channel's own JSON, verified over its raw bytes"), responses((status = 200), (status = 403), (status = 404), (status = 503)))]
#[post("/viber/{account_id}")]
pub async fn viber(
    state: web::Data<AppState>,
    request: HttpRequest,
    account_id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    receive(&state, "viber", *account_id, &request, body, false).await
}

/// MAX update (`X-Max-Bot-Api-Secret`).
#[utoipa::path(tag = "webhooks", params(("account_id" = i64, Path)), request_body(content = String, content_type = "application/json", description = "the channel's own JSON, verified over its raw bytes"), responses((status = 200), (status = 403), (status = 404), (status = 503)))]
#[post("/max/{account_id}")]
pub async fn max(
    state: web::Data<AppState>,
    request: HttpRequest,
    account_id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    receive(&state, "max", *account_id, &request, body, false).await
}

/// WhatsApp webhook verification (`hub.mode`, `hub.verify_token`, `hub.challenge`).
#[utoipa::path(tag = "webhooks", params(("account_id" = i64, Path)), responses((status = 200), (status = 403), (status = 404), (status = 503, description = "integration is switched off or the database is unreachable: the channel retries")))]
#[get("/whatsapp/{account_id}")]
pub async fn whatsapp_verify(
    state: web::Data<AppState>,
    request: HttpRequest,
    account_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    receive(
        &state,
        "whatsapp",
        *account_id,
        &request,
        web::Bytes::new(),
        true,
    )
    .await
}

/// WhatsApp notification (`X-Hub-Signature-256`).
#[utoipa::path(tag = "webhooks", params(("account_id" = i64, Path)), request_body(content = String, content_type = "application/json", description = "the channel's own JSON, verified over its raw bytes"), responses((status = 200), (status = 403), (status = 404), (status = 503)))]
#[post("/whatsapp/{account_id}")]
pub async fn whatsapp(
    state: web::Data<AppState>,
    request: HttpRequest,
    account_id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    receive(&state, "whatsapp", *account_id, &request, body, false).await
}

/// An operator's file, fetched by Viber (which has no upload) from the signed public
/// link our outbound message names. Only outbound files, only with the right signature.
#[utoipa::path(tag = "webhooks", params(("attachment_id" = i64, Path), ("sig" = String, Query)), responses((status = 200, description = "the file"), (status = 404)))]
#[get("/viber/media/{attachment_id}")]
pub async fn viber_media(
    state: web::Data<AppState>,
    attachment_id: web::Path<i64>,
    query: web::Query<MediaQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = *attachment_id;
    let found = db::run(&state.pool, move |conn| {
        let Some(attachment) = db::outbox::find_attachment(conn, id)? else {
            return Ok(None);
        };
        let account = db::accounts::find(conn, attachment.account_id)?;
        Ok(account.map(|account| (attachment, account)))
    })
    .await?;
    let (attachment, account) = found
        .filter(|(a, account)| {
            account.kind == "viber"
                && a.storage_path
                    .as_deref()
                    .is_some_and(|p| p.starts_with("out-"))
        })
        .ok_or(ApiError::NotFound("file"))?;
    let token = account.credentials["auth_token"].as_str().unwrap_or("");
    if token.is_empty() || !crate::channels::viber::media_signature_matches(token, id, &query.sig) {
        return Err(ApiError::NotFound("file"));
    }
    let path = state
        .channels
        .media_path(attachment.storage_path.as_deref().unwrap_or_default());
    let bytes = web::block(move || std::fs::read(path))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|_| ApiError::NotFound("file"))?;
    // Only pictures keep their type; anything else is an opaque download, so a file an
    // operator uploaded can never run as a page or a script on this origin.
    // What the bytes are (`domain::media`), whatever type was declared for them.
    let picture = crate::domain::media::sniff_picture(&bytes);
    let mut response = HttpResponse::Ok();
    match picture {
        Some(mime) => response.content_type(mime),
        None => response
            .content_type("application/octet-stream")
            .insert_header(("content-disposition", "attachment")),
    };
    Ok(response.body(bytes))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct MediaQuery {
    sig: String,
}

async fn receive(
    state: &AppState,
    kind: &'static str,
    account_id: i64,
    request: &HttpRequest,
    body: web::Bytes,
    method_get: bool,
) -> Result<HttpResponse, ApiError> {
    let channel = channel_of(state, kind, account_id).await?;
    if !state.channels.integration_enabled() {
        return Err(ApiError::Unavailable(
            "integration is switched off; deliver again later".into(),
        ));
    }
    let incoming = WebhookRequest {
        method_get,
        headers: request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect(),
        query: web::Query::<Vec<(String, String)>>::from_query(request.query_string())
            .map(web::Query::into_inner)
            .unwrap_or_default(),
        body: body.to_vec(),
    };
    let mut delivery = match channel.webhook(&incoming) {
        Ok(delivery) => delivery,
        Err(WebhookError::Forbidden) => {
            metrics::counter!("dialogi_webhooks_refused_total", "kind" => kind).increment(1);
            return Err(ApiError::Forbidden(
                "the signature or secret does not match".into(),
            ));
        }
        Err(WebhookError::Malformed(message)) => {
            return Err(ApiError::BadRequest {
                code: "malformed_webhook",
                message,
            });
        }
    };
    if delivery.raw.is_empty() && !delivery.updates.is_empty() {
        delivery.raw = String::from_utf8_lossy(&incoming.body).into_owned();
    }
    let answer = delivery.answer.clone();
    match state.channels.apply(account_id, &channel, delivery).await {
        Ok(_) => {
            metrics::counter!("dialogi_webhooks_total", "kind" => kind).increment(1);
            Ok(HttpResponse::Ok()
                .content_type(ContentType::plaintext())
                .body(answer))
        }
        Err(error) => {
            tracing::warn!(account = account_id, kind, error = %error, "webhook not stored; the channel will deliver it again");
            Err(ApiError::Unavailable(
                "the update was not stored; deliver it again".into(),
            ))
        }
    }
}

/// The account's channel, if the account exists with this kind and is enabled. A
/// running channel answers from memory (the channels service follows every change of
/// the account); otherwise the account is read to say why there is none.
async fn channel_of(
    state: &AppState,
    kind: &'static str,
    account_id: i64,
) -> Result<std::sync::Arc<AnyChannel>, ApiError> {
    if let Some(channel) = state.channels.running_of_kind(account_id, kind) {
        return Ok(channel);
    }
    let row = db::run(&state.pool, move |conn| {
        db::accounts::find(conn, account_id)
    })
    .await?;
    let row = row
        .filter(|row| row.kind == kind && row.archived_at.is_none())
        .ok_or(ApiError::NotFound("account"))?;
    if !row.enabled {
        return Err(ApiError::Unavailable(
            "the account is disabled; deliver again later".into(),
        ));
    }
    state
        .channels
        .channel(account_id)
        .await
        .ok_or_else(|| ApiError::Unavailable("the account's channel is not running".into()))
}
