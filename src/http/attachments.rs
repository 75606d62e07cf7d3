//! Attachment files (R32): served to users who may see the dialog's account. A file is
//! downloaded from the channel once, into the data folder under a name of ours, and
//! served from there.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, get, web};

use super::AppState;
use super::auth::Caller;
use crate::db;
use crate::domain::AccountId;
use crate::error::ApiError;

/// Download an attachment (JPEG, PNG, GIF and WebP pictures inline, anything else as a
/// sandboxed download).
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), responses((status = 200, description = "the file"), (status = 404, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody), (status = 507, description = "the data folder is full or cannot be written: the file was not stored", body = crate::error::ErrorBody)))]
#[get("/attachments/{id}")]
pub async fn download_attachment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = db::run(&state.pool, move |conn| {
        db::outbox::find_attachment(conn, id)
    })
    .await?;
    let attachment = found.ok_or(ApiError::NotFound("attachment"))?;
    // The account's viewers may open it; so may anyone when the dialog has a client,
    // whose conversations are readable from the client's card whatever the rights (R10).
    let access = super::accounts::access(&state, &caller).await?;
    if !access.rights(AccountId(attachment.account_id)).view {
        let dialog_id = attachment.dialog_id;
        let has_client = db::run(&state.pool, move |conn| db::dialogs::find(conn, dialog_id))
            .await?
            .is_some_and(|d| d.client_id.is_some());
        if !has_client {
            return Err(ApiError::NotFound("attachment"));
        }
    }
    // The declared type is not trusted for how the file is served (below).
    let (path, _declared_type, name) = state
        .channels
        .stored_media(id)
        .await
        .map_err(|error| match error {
            crate::channels::ChannelError::Storage(cause) => ApiError::StorageFull(cause),
            other => ApiError::BadGateway(format!("the file cannot be fetched: {other}")),
        })?
        .ok_or(ApiError::NotFound("attachment"))?;
    let bytes = web::block(move || std::fs::read(path))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(served(bytes, &name, &format!("attachment-{id}")))
}

/// A stored file as the browser gets it: shown in the page only when the bytes are a
/// JPEG, PNG, GIF or WebP picture, with the type the bytes say; anything else (SVG,
/// HTML, whatever was declared) is a download the browser may not render, sandboxed even
/// if it tried. `fallback` names a file whose own name is empty once cleaned.
pub(crate) fn served(bytes: Vec<u8>, name: &str, fallback: &str) -> HttpResponse {
    let picture = crate::domain::media::sniff_picture(&bytes);
    let safe_name: String = crate::domain::text::file_name(name)
        .chars()
        .filter(|c| !matches!(c, '/' | '\\' | '"'))
        .take(200)
        .collect();
    let mut response = HttpResponse::Ok();
    response
        .insert_header((
            header::CONTENT_TYPE,
            picture.unwrap_or("application/octet-stream"),
        ))
        .insert_header(ContentDisposition {
            disposition: if picture.is_some() {
                DispositionType::Inline
            } else {
                DispositionType::Attachment
            },
            parameters: vec![DispositionParam::Filename(if safe_name.is_empty() {
                fallback.to_owned()
            } else {
                safe_name
            })],
        });
    if picture.is_none() {
        response.insert_header((
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        ));
    }
    response
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400"))
        .body(bytes)
}
