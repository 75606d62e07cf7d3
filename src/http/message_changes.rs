//! An operator changes a reply already sent (R48): edits its text or deletes it for
//! everyone where the channel allows it (Telegram, VK: `domain::account::
//! edits_sent_messages`) — only the reply's author, while they may write in the dialog;
//! and reacts to a client's message where the channel lets a business react (Telegram,
//! WhatsApp: `domain::account::reacts`) — anyone who may write in the dialog. The channel
//! is asked first and only what it accepted is recorded (an old text kept in the
//! message's edits), with the message's event, so every open workstation shows it.

use actix_web::{HttpResponse, delete, patch, post, put, web};
use chrono::Utc;

use super::AppState;
use super::auth::Caller;
use super::dialog_actions::MAX_REPLY_CHARS;
use super::dialogs::{message_item, rights_on, visible_dialog};
use super::dto::{EditMessageRequest, MessageItem, ReactionRequest};
use crate::db::changes::Target;
use crate::db::{self, DbError};
use crate::domain::account::{REACTIONS, edits_sent_messages, reacts};
use crate::error::ApiError;

/// The body of an edit is one short text.
const MAX_EDIT_BODY: usize = 64 * 1024;

/// Changes the text of the caller's own reply on the channel and in the dialog.
#[utoipa::path(
    tag = "dialogs",
    params(("id" = i64, Path), ("message_id" = i64, Path)),
    request_body = EditMessageRequest,
    responses(
        (status = 200, body = MessageItem),
        (status = 403, description = "not the reply's author, or no right to write here", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "not sent yet, or deleted", body = crate::error::ErrorBody),
        (status = 422, description = "the channel does not allow it, or the text does not fit", body = crate::error::ErrorBody),
        (status = 502, description = "the channel refused the edit", body = crate::error::ErrorBody),
    )
)]
#[patch("/{id}/messages/{message_id}")]
pub async fn edit_message(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
    request: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (dialog_id, message_id) = path.into_inner();
    // Who may change it is known before the body is read.
    let (reply, kind) = own_sent_reply(&state, &caller, dialog_id, message_id).await?;
    let body: EditMessageRequest = super::json_body(&request, payload, MAX_EDIT_BODY).await?;
    let text = body.text.trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_REPLY_CHARS {
        return Err(ApiError::invalid(
            "text",
            format!("text: 1 to {MAX_REPLY_CHARS} characters"),
        ));
    }
    if reply.has_files && kind == "telegram" {
        return Err(ApiError::invalid(
            "text",
            "text: a reply with files cannot be edited on Telegram; delete it and send it again",
        ));
    }
    if text != reply.text {
        let channel_message_id = reply.channel_message_id.clone().unwrap_or_default();
        channel_of(&state, reply.account_id)
            .await?
            .edit(&reply.recipient, &channel_message_id, &text)
            .await
            .map_err(refused)?;
        db::run(&state.pool, move |conn| {
            db::changes::reply_edited(conn, message_id, &text, Utc::now())
        })
        .await?;
    }
    Ok(HttpResponse::Ok().json(item(&state, dialog_id, message_id).await?))
}

/// Deletes the caller's own reply for everyone on the channel; the dialog keeps it,
/// marked deleted, with its text in the edits.
#[utoipa::path(
    tag = "dialogs",
    params(("id" = i64, Path), ("message_id" = i64, Path)),
    responses(
        (status = 200, body = MessageItem),
        (status = 403, description = "not the reply's author, or no right to write here", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "not sent yet, or deleted already", body = crate::error::ErrorBody),
        (status = 422, description = "the channel does not allow it", body = crate::error::ErrorBody),
        (status = 502, description = "the channel refused the deletion (e.g. too old)", body = crate::error::ErrorBody),
    )
)]
#[delete("/{id}/messages/{message_id}")]
pub async fn delete_message(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (dialog_id, message_id) = path.into_inner();
    let (reply, _) = own_sent_reply(&state, &caller, dialog_id, message_id).await?;
    let channel_message_id = reply.channel_message_id.clone().unwrap_or_default();
    channel_of(&state, reply.account_id)
        .await?
        .delete(&reply.recipient, &channel_message_id)
        .await
        .map_err(refused)?;
    db::run(&state.pool, move |conn| {
        db::changes::reply_deleted(conn, message_id, Utc::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(item(&state, dialog_id, message_id).await?))
}

/// Reacts to the client's message on the channel (Telegram, WhatsApp), or takes the
/// reaction back; anyone who may write in the dialog may.
#[utoipa::path(
    tag = "dialogs",
    params(("id" = i64, Path), ("message_id" = i64, Path)),
    request_body = ReactionRequest,
    responses(
        (status = 200, body = MessageItem),
        (status = 403, description = "no right to write in this dialog", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "not a client's message from the channel", body = crate::error::ErrorBody),
        (status = 422, description = "the channel does not allow it, or not one of the reactions", body = crate::error::ErrorBody),
        (status = 502, description = "the channel refused the reaction", body = crate::error::ErrorBody),
    )
)]
#[put("/{id}/messages/{message_id}/reaction")]
pub async fn react(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
    request: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (dialog_id, message_id) = path.into_inner();
    let (row, access) = visible_dialog(&state, &caller, dialog_id).await?;
    if !rights_on(&access, &row).send {
        return Err(ApiError::Forbidden(
            "you may read this dialog but not write in it".into(),
        ));
    }
    let body: ReactionRequest = super::json_body(&request, payload, MAX_EDIT_BODY).await?;
    let emoji = body.emoji.filter(|e| !e.is_empty());
    if emoji.as_deref().is_some_and(|e| !REACTIONS.contains(&e)) {
        return Err(ApiError::invalid(
            "emoji",
            format!("emoji: one of {}, or null", REACTIONS.join(" ")),
        ));
    }
    let kind = account_kind(&state, row.account_id).await?;
    if !reacts(kind) {
        return Err(ApiError::Invalid {
            code: "channel_cannot_react",
            field: None,
            message: "this channel does not let a business react to a message".into(),
        });
    }
    let target = db::run(&state.pool, move |conn| {
        db::changes::target(conn, dialog_id, message_id)
    })
    .await?
    .ok_or(ApiError::NotFound("message"))?;
    let Some(channel_message_id) = target
        .channel_message_id
        .filter(|_| target.direction == "in")
    else {
        return Err(ApiError::conflict(
            "not_a_client_message",
            "only a client's message from the channel can be reacted to",
        ));
    };
    channel_of(&state, row.account_id)
        .await?
        .react(&target.recipient, &channel_message_id, emoji.as_deref())
        .await
        .map_err(refused)?;
    db::run(&state.pool, move |conn| {
        db::changes::reacted_by_us(conn, message_id, emoji.as_deref())
    })
    .await?;
    Ok(HttpResponse::Ok().json(item(&state, dialog_id, message_id).await?))
}

/// The reply `message_id` of the dialog, when the caller wrote it, may still write in the
/// dialog, and the channel allows changing it; with the account's kind.
async fn own_sent_reply(
    state: &AppState,
    caller: &Caller,
    dialog_id: i64,
    message_id: i64,
) -> Result<(Target, &'static str), ApiError> {
    let (row, access) = visible_dialog(state, caller, dialog_id).await?;
    let reply = db::run(&state.pool, move |conn| {
        db::changes::target(conn, dialog_id, message_id)
    })
    .await?
    .ok_or(ApiError::NotFound("message"))?;
    if reply.direction != "out" || reply.author_user_id != Some(caller.user_id.0) {
        return Err(ApiError::Forbidden(
            "only the operator who sent a reply may change it".into(),
        ));
    }
    if !rights_on(&access, &row).send {
        return Err(ApiError::Forbidden(
            "you may read this dialog but not write in it".into(),
        ));
    }
    let kind = account_kind(state, row.account_id).await?;
    if !edits_sent_messages(kind) {
        return Err(ApiError::Invalid {
            code: "channel_cannot_change",
            field: None,
            message: "this channel does not let a sent message be edited or deleted".into(),
        });
    }
    if reply.deleted {
        return Err(ApiError::conflict(
            "message_deleted",
            "the message was deleted",
        ));
    }
    let sent = matches!(
        reply.delivery.as_deref(),
        Some("sent" | "delivered" | "read")
    );
    if !sent || reply.channel_message_id.is_none() {
        return Err(ApiError::conflict(
            "message_not_sent",
            "the message has not reached the channel yet",
        ));
    }
    Ok((reply, kind))
}

async fn account_kind(state: &AppState, account_id: i64) -> Result<&'static str, ApiError> {
    let kind = db::run(&state.pool, move |conn| {
        db::accounts::find(conn, account_id)?
            .map(|account| account.kind)
            .ok_or(DbError::Invariant("a dialog's account is gone"))
    })
    .await?;
    crate::domain::account::KINDS
        .into_iter()
        .find(|known| *known == kind)
        .ok_or_else(|| ApiError::internal("an account of an unknown kind"))
}

async fn channel_of(
    state: &AppState,
    account_id: i64,
) -> Result<std::sync::Arc<crate::channels::AnyChannel>, ApiError> {
    state.channels.channel(account_id).await.ok_or_else(|| {
        ApiError::Unavailable("the account is not connected right now; try again".into())
    })
}

/// What the channel said, for the operator (never a URL: Telegram's hold the token).
fn refused(error: crate::channels::ChannelError) -> ApiError {
    ApiError::BadGateway(error.to_string())
}

async fn item(state: &AppState, dialog_id: i64, message_id: i64) -> Result<MessageItem, ApiError> {
    let found = db::run(&state.pool, move |conn| {
        Ok(db::messages::feed(conn, dialog_id, Some(message_id + 1), 1)?.pop())
    })
    .await?
    .filter(|feed| feed.message.id == message_id)
    .ok_or(ApiError::NotFound("message"))?;
    Ok(message_item(found))
}

/// Send a failed reply again (R44): the same message, a new attempt with the same
/// delivery key, so a channel that takes one cannot deliver it twice. Whoever may write in
/// the dialog.
#[utoipa::path(
    tag = "dialogs",
    params(("id" = i64, Path), ("message_id" = i64, Path)),
    responses(
        (status = 200, body = MessageItem),
        (status = 403, description = "no right to write here", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "not a failed reply, or the dialog is closed", body = crate::error::ErrorBody),
    )
)]
#[post("/{id}/messages/{message_id}/retry")]
pub async fn retry_message(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (dialog_id, message_id) = path.into_inner();
    let (dialog, access) = visible_dialog(&state, &caller, dialog_id).await?;
    if !rights_on(&access, &dialog).send {
        return Err(ApiError::Forbidden(
            "sending again needs the right to answer on the account".into(),
        ));
    }
    if dialog.status == "closed" {
        return Err(ApiError::Conflict {
            code: "dialog_closed",
            message: "the dialog is closed: nothing is sent in it".into(),
        });
    }
    crate::services::delivery::retry(&state.pool, &state.channels, dialog_id, message_id).await?;
    Ok(HttpResponse::Ok().json(item(&state, dialog_id, message_id).await?))
}
