//! A visitor's conversation: its history, a new message (one per `Idempotency-Key`,
//! files as a reply carries them) and its files by their number.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::visitors::{clipped, page, sender_of};
use super::{MAX_MESSAGE_BODY, MAX_TEXT, Site, site, visitor};
use crate::actors::Inbound;
use crate::channels::{Delivery, Update};
use crate::db;
use crate::db::widget::{self as rows, Visit, VisitorMessage};
use crate::error::ApiError;
use crate::http::AppState;

/// A message as the visitor sees it.
#[derive(Serialize)]
pub(super) struct MessageBody {
    /// The message's number in the visitor's conversation.
    id: i64,
    /// `visitor` or `operator`.
    from: &'static str,
    text: String,
    at: chrono::DateTime<Utc>,
    /// The operator's first name.
    operator: Option<String>,
    deleted: bool,
    files: Vec<FileBody>,
}

#[derive(Serialize)]
pub(super) struct FileBody {
    name: String,
    /// `image` or `file`.
    kind: String,
    size: Option<i64>,
}

pub(super) fn message_body(number: i64, message: VisitorMessage) -> MessageBody {
    MessageBody {
        id: number,
        from: if message.inbound {
            "visitor"
        } else {
            "operator"
        },
        text: message.text,
        at: message.created_at,
        operator: message.operator,
        deleted: message.deleted,
        files: message
            .files
            .into_iter()
            .map(|(_, kind, name, size)| FileBody {
                name,
                kind: if kind == "image" { kind } else { "file".into() },
                size,
            })
            .collect(),
    }
}

/// The visitor's interlocutor, once they have written or introduced themselves.
pub(super) async fn interlocutor_of(
    state: &AppState,
    site: &Site,
    visitor_id: &str,
) -> Result<Option<i64>, ApiError> {
    let (account_id, external) = (site.account_id, visitor_id.to_owned());
    Ok(db::run(&state.pool, move |conn| {
        db::clients::find_interlocutor(conn, account_id, &external)
    })
    .await?
    .map(|found| found.id))
}

pub(super) async fn history(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let site = site(&state, &req).await?;
    let visitor_id = visitor(&state, &req, &site).await?;
    let Some(interlocutor) = interlocutor_of(&state, &site, &visitor_id).await? else {
        return Ok(site.answer(StatusCode::OK).json(json!({ "messages": [] })));
    };
    let messages = db::run(&state.pool, move |conn| {
        rows::visitor_messages(conn, interlocutor, 0)
    })
    .await?;
    let body: Vec<MessageBody> = messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| message_body(i as i64 + 1, m))
        .collect();
    Ok(site
        .answer(StatusCode::OK)
        .json(json!({ "messages": body })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    #[serde(default)]
    text: String,
    #[serde(default)]
    attachments: Vec<crate::http::dto::UploadBody>,
    #[serde(default)]
    page_url: Option<String>,
    #[serde(default)]
    referrer: Option<String>,
}

pub(super) async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let site = site(&state, &req).await?;
    let visitor_id = visitor(&state, &req, &site).await?;
    if state.widget.per_visitor.check_key(&visitor_id).is_err() {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: 10,
        });
    }
    // One message per key: a retry of the same send is the same message.
    let key = req
        .headers()
        .get(crate::http::idempotency::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 100 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "idempotency_key_required",
                "send each message with an Idempotency-Key (1-100 visible characters)",
            )
        })?
        .to_owned();
    let body: SendRequest = crate::http::json_body(&req, payload, MAX_MESSAGE_BODY).await?;
    let text = body.text.trim().to_owned();
    if text.is_empty() && body.attachments.is_empty() {
        return Err(ApiError::invalid(
            "text",
            "text: write something or attach a file",
        ));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(
            "text",
            format!("text: at most {MAX_TEXT} characters"),
        ));
    }
    let uploads = crate::http::dialog_actions::decode_uploads(body.attachments)?;
    let channel_message_id = format!("{visitor_id}:{key}");
    // A retry whose first try was stored: the same message, nothing stored again.
    if let Some(found) = stored_message(&state, &site, &visitor_id, &channel_message_id).await? {
        return Ok(site.answer(StatusCode::OK).json(found));
    }
    let attachments =
        crate::http::dialog_actions::stored_attachments(&state.channels, uploads).await?;
    let account_id = site.account_id;
    // The name the visitor gave (kept on their interlocutor), else «Посетитель …».
    let known_name = {
        let external = visitor_id.clone();
        db::run(&state.pool, move |conn| {
            db::clients::find_interlocutor(conn, account_id, &external)
        })
        .await?
        .map(|found| found.display_name)
    };
    let inbound = Inbound {
        sender: sender_of(&visitor_id, known_name),
        channel_message_id: channel_message_id.clone(),
        text,
        sent_at: Some(Utc::now()),
        attachments,
        author: None,
        extras: Box::default(),
    };
    let delivery = Delivery {
        receipt: None,
        updates: vec![Update::Message(inbound)],
        answer: String::new(),
        raw: String::new(),
    };
    if let Err(error) = state
        .channels
        .apply(account_id, &site.channel, delivery)
        .await
    {
        tracing::warn!(account = account_id, error = %error, "a visitor's message was not stored");
        return Err(ApiError::Unavailable(
            "the message was not stored; send it again".into(),
        ));
    }
    // Where they are now (what they told at `POST visitors` stays).
    let seen = Visit {
        page_url: page(body.page_url),
        referrer: page(body.referrer),
        user_agent: clipped(
            req.headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            512,
        ),
        ..Visit::default()
    };
    crate::services::widget::note_visit(&state.pool, account_id, visitor_id.clone(), seen).await?;
    let stored = stored_message(&state, &site, &visitor_id, &channel_message_id)
        .await?
        .ok_or_else(|| ApiError::internal("a visitor's message vanished"))?;
    Ok(site.answer(StatusCode::CREATED).json(stored))
}

/// The visitor's message stored under this channel id, as the visitor sees it.
async fn stored_message(
    state: &AppState,
    site: &Site,
    visitor_id: &str,
    channel_message_id: &str,
) -> Result<Option<MessageBody>, ApiError> {
    let Some(interlocutor) = interlocutor_of(state, site, visitor_id).await? else {
        return Ok(None);
    };
    let (account_id, key) = (site.account_id, channel_message_id.to_owned());
    Ok(db::run(&state.pool, move |conn| {
        use crate::db::schema::messages;
        use diesel::prelude::*;
        let found: Option<i64> = messages::table
            .filter(messages::account_id.eq(account_id))
            .filter(messages::channel_message_id.eq(&key))
            .select(messages::id)
            .first(conn)
            .optional()?;
        let Some(id) = found else {
            return Ok(None);
        };
        let number = rows::visitor_position(conn, interlocutor, id)?;
        let message = rows::visitor_messages(conn, interlocutor, id - 1)?
            .into_iter()
            .find(|m| m.message_id == id);
        Ok(message.map(|m| message_body(number, m)))
    })
    .await?)
}

/// The k-th file (from 1) of the visitor's n-th message.
pub(super) async fn file(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i64, usize)>,
) -> Result<HttpResponse, ApiError> {
    let (_, number, k) = path.into_inner();
    let site = site(&state, &req).await?;
    let visitor_id = visitor(&state, &req, &site).await?;
    let interlocutor = interlocutor_of(&state, &site, &visitor_id)
        .await?
        .ok_or(ApiError::NotFound("file"))?;
    let messages = db::run(&state.pool, move |conn| {
        rows::visitor_messages(conn, interlocutor, 0)
    })
    .await?;
    let (attachment_id, _, name, _) = usize::try_from(number - 1)
        .ok()
        .and_then(|i| messages.into_iter().nth(i))
        .and_then(|m| k.checked_sub(1).and_then(|k| m.files.into_iter().nth(k)))
        .ok_or(ApiError::NotFound("file"))?;
    let (path, _, _) = state
        .channels
        .stored_media(attachment_id)
        .await
        .map_err(|error| ApiError::BadGateway(format!("the file cannot be read: {error}")))?
        .ok_or(ApiError::NotFound("file"))?;
    let bytes = web::block(move || std::fs::read(path))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(e.into()))?;
    let served = crate::http::attachments::served(bytes, &name, "file");
    let mut response = served;
    if let Some(origin) = site
        .origin
        .as_deref()
        .and_then(|o| HeaderValue::from_str(o).ok())
    {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}
