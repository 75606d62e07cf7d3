//! The personal-data kit (R47, 152-FZ): an account's retention (previewed, set, run), a
//! client's data exported and erased on request, the log of who read a client's card or
//! dialog, and consents. Retention, export, erasure and the log are the program
//! administrators'; a consent may be recorded by whoever may answer in the dialog.

use std::io::Read;

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, get, post, put, web};
use chrono::Utc;
use futures_util::stream;

use super::AppState;
use super::auth::{Caller, Credential};
use super::dto::{
    AccessEntry, AccessLogQuery, AccessPage, ConsentBody, ConsentRequest, EraseRequest,
    RemovedBody, RetentionBody, RetentionQuery, RetentionRequest,
};
use crate::db::data_access::{self as reads, ConsentRow};
use crate::db::personal_data::{self as rows, Removed};
use crate::db::{self};
use crate::domain::AccountId;
use crate::error::ApiError;
use crate::services::personal_data as service;

/// The longest retention one may set, in months (ten years).
const MAX_MONTHS: u32 = 120;

/// A control character (NUL cannot even be stored) or a bidirectional override, which
/// would make an audited text read differently from what it says.
fn unsafe_char(c: char) -> bool {
    c.is_control() || crate::domain::text::is_bidi_control(c)
}

fn removed_body(removed: Removed) -> RemovedBody {
    RemovedBody {
        dialogs: removed.dialogs,
        messages: removed.messages,
        files: removed.files,
        bytes: removed.bytes,
    }
}

fn months_field(months: Option<u32>) -> Result<Option<u32>, ApiError> {
    match months {
        Some(m) if !(1..=MAX_MONTHS).contains(&m) => Err(ApiError::invalid(
            "months",
            format!("months: from 1 to {MAX_MONTHS}, or null to keep everything"),
        )),
        other => Ok(other),
    }
}

/// Records that the caller read a client's card or a dialog (R47's access log).
pub async fn note_read(
    state: &AppState,
    caller: &Caller,
    what: &'static str,
    client_id: Option<i64>,
    dialog_id: Option<i64>,
) -> Result<(), ApiError> {
    let user = caller.user_id.0;
    let credential = match &caller.credential {
        Credential::Session { token_id, .. } | Credential::ApiToken { token_id, .. } => {
            Some(*token_id)
        }
    };
    service::note_read(&state.pool, user, credential, what, client_id, dialog_id).await?;
    Ok(())
}

/// Records that the caller opened a dialog (its client is looked up).
pub async fn note_dialog_read(
    state: &AppState,
    caller: &Caller,
    dialog_id: i64,
) -> Result<(), ApiError> {
    note_read(state, caller, reads::READ_DIALOG, None, Some(dialog_id)).await
}

async fn retention_body(
    state: &AppState,
    account_id: i64,
    preview_months: Option<u32>,
) -> Result<RetentionBody, ApiError> {
    let now = Utc::now();
    let found = db::run(&state.pool, move |conn| {
        let Some(months) = rows::retention_of(conn, account_id)? else {
            return Ok(None);
        };
        let months = months.map(i32::unsigned_abs);
        let preview_months = preview_months.or(months);
        let preview = preview_months
            .map(|m| rows::retention_preview(conn, account_id, m, now))
            .transpose()?;
        Ok(Some((months, preview_months, preview)))
    })
    .await?;
    let (months, preview_months, preview) = found.ok_or(ApiError::NotFound("account"))?;
    Ok(RetentionBody {
        months,
        preview_months,
        cutoff: preview_months.map(|m| rows::cutoff(now, m)),
        preview: preview.map(removed_body),
    })
}

/// An account's retention, with what a run now would remove (for `?months=`, a preview
/// of that many months before switching it on). Program administrators.
#[utoipa::path(tag = "personal data", params(("id" = i64, Path), RetentionQuery), responses((status = 200, body = RetentionBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[get(
    "/{id}/retention",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn get_retention(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<RetentionQuery>,
) -> Result<web::Json<RetentionBody>, ApiError> {
    caller.require_admin()?;
    let months = months_field(query.months)?;
    Ok(web::Json(
        retention_body(&state, id.into_inner(), months).await?,
    ))
}

/// Switch an account's retention on (1–120 months) or off (`null`); audited. The answer
/// previews what the daily run will remove.
#[utoipa::path(tag = "personal data", params(("id" = i64, Path)), request_body = RetentionRequest, responses((status = 200, body = RetentionBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[put(
    "/{id}/retention",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn put_retention(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<RetentionRequest>,
) -> Result<web::Json<RetentionBody>, ApiError> {
    caller.require_admin()?;
    let (id, months) = (id.into_inner(), months_field(body.months)?);
    service::set_retention(&state.pool, id, months, caller.user_id.0)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Ok(web::Json(retention_body(&state, id, None).await?))
}

/// Apply an account's retention now (the daily run does the same); audited.
#[utoipa::path(tag = "personal data", params(("id" = i64, Path)), responses((status = 200, body = RemovedBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, description = "the account keeps everything", body = crate::error::ErrorBody)))]
#[post(
    "/{id}/retention/run",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn run_retention(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<RemovedBody>, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let exists = db::run(&state.pool, move |conn| rows::retention_of(conn, id)).await?;
    if exists.is_none() {
        return Err(ApiError::NotFound("account"));
    }
    let removed = service::apply_retention(
        &state.pool,
        state.channels.media_dir(),
        id,
        Some(caller.user_id.0),
    )
    .await?
    .ok_or(ApiError::Conflict {
        code: "no_retention",
        message: "the account keeps everything: set its retention first".into(),
    })?;
    Ok(web::Json(removed_body(removed)))
}

/// Erase a client on request (152-FZ): the texts, files, names and contact details of
/// the client, its contact persons, interlocutors and dialogs are removed or replaced;
/// dialogs and their statistics stay. Audited with the reason. Program administrators.
#[utoipa::path(tag = "personal data", params(("id" = i64, Path)), request_body = EraseRequest, responses((status = 200, body = RemovedBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post(
    "/{id}/erase",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn erase_client(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<EraseRequest>,
) -> Result<web::Json<RemovedBody>, ApiError> {
    caller.require_admin()?;
    let reason = body.into_inner().reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(unsafe_char) {
        return Err(ApiError::invalid(
            "reason",
            "reason: why the data is erased (the request, its date), up to 500 characters, no control characters",
        ));
    }
    let removed = service::erase_client(
        &state.pool,
        state.channels.media_dir(),
        id.into_inner(),
        caller.user_id.0,
        reason,
    )
    .await?
    .ok_or(ApiError::NotFound("client"))?;
    Ok(web::Json(removed_body(removed)))
}

/// Everything stored about a client, on request: a tar archive of `client.json` (the
/// card, contact persons, interests, interlocutors with their consents, dialogs with
/// every message, earlier version and attachment, tasks) and `files/` (each attachment's
/// bytes, fetched from the channel if not stored yet). Audited and logged as a read.
#[utoipa::path(tag = "personal data", params(("id" = i64, Path)), responses((status = 200, description = "application/x-tar"), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
#[get(
    "/{id}/export",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn export_client(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let found = service::export_client(&state.pool, id, caller.user_id.0).await?;
    let (mut document, files) = found.ok_or(ApiError::NotFound("client"))?;
    note_read(&state, &caller, reads::READ_EXPORT, Some(id), None).await?;
    // Each file as stored (or fetched now); one that cannot be had is listed as missing.
    let mut stored = Vec::with_capacity(files.len());
    let mut missing = Vec::new();
    for file in files {
        match state.channels.stored_media(file.attachment_id).await {
            Ok(Some((path, _, _))) => stored.push((file, path)),
            Ok(None) | Err(_) => missing.push(file.attachment_id),
        }
    }
    if let Some(map) = document.as_object_mut() {
        map.insert("exported_at".into(), serde_json::json!(Utc::now()));
        map.insert("missing_files".into(), serde_json::json!(missing));
    }
    let folder = state.config.data_dir.join("exports");
    let archive = web::block(move || write_archive(&folder, id, &document, &stored))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::StorageFull)?;
    let chunks = stream::unfold(Some(archive), |file| async move {
        let mut file = file?;
        let read = web::block(move || {
            let mut buffer = vec![0; 256 * 1024];
            let n = file.read(&mut buffer)?;
            buffer.truncate(n);
            Ok::<_, std::io::Error>((buffer, file))
        })
        .await;
        match read {
            Ok(Ok((buffer, _))) if buffer.is_empty() => None,
            Ok(Ok((buffer, file))) => Some((
                Ok::<_, actix_web::Error>(web::Bytes::from(buffer)),
                Some(file),
            )),
            Ok(Err(error)) => Some((Err(error.into()), None)),
            Err(error) => Some((Err(actix_web::error::ErrorInternalServerError(error)), None)),
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/x-tar"))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!("client-{id}.tar"))],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(chunks))
}

/// Writes the archive to a file in `folder` and returns it open for reading, already
/// unlinked (nothing is left behind whatever happens to the response).
fn write_archive(
    folder: &std::path::Path,
    client_id: i64,
    document: &serde_json::Value,
    files: &[(rows::ExportedFile, std::path::PathBuf)],
) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(folder)?;
    let unique = crate::security::new_token().map_err(std::io::Error::other)?;
    let path = folder.join(format!("client-{client_id}-{}.tar", &unique[..16]));
    let result = (|| {
        let file = std::fs::File::create(&path)?;
        let mut builder = tar::Builder::new(file);
        let json = serde_json::to_vec_pretty(document).map_err(std::io::Error::other)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(Utc::now().timestamp().max(0).unsigned_abs());
        header.set_cksum();
        builder.append_data(&mut header, "client.json", json.as_slice())?;
        for (file, stored) in files {
            let name: String = crate::domain::text::file_name(&file.file_name)
                .chars()
                .filter(|c| !matches!(c, '/' | '\\'))
                .take(200)
                .collect();
            let name = match name.trim_start_matches('.') {
                "" => "file".to_owned(),
                clean => clean.to_owned(),
            };
            builder
                .append_path_with_name(stored, format!("files/{}/{name}", file.attachment_id))?;
        }
        builder.into_inner()?.sync_all()?;
        std::fs::File::open(&path)
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// Who read which client's card or dialog, when (newest first); by client, by user, or
/// all. Program administrators.
#[utoipa::path(tag = "personal data", params(AccessLogQuery), responses((status = 200, body = AccessPage), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[get(
    "/data-access",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn access_log(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<AccessLogQuery>,
) -> Result<web::Json<AccessPage>, ApiError> {
    caller.require_admin()?;
    let limit = i64::from(query.limit.unwrap_or(50));
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit: from 1 to 200"));
    }
    let (client, user, before) = (query.client_id, query.user_id, query.before);
    let mut found = db::run(&state.pool, move |conn| {
        reads::access_log(conn, client, user, before, limit + 1)
    })
    .await?;
    let more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    Ok(web::Json(AccessPage {
        next_cursor: more.then(|| found.last().map(|r| r.id)).flatten(),
        items: found
            .into_iter()
            .map(|r| AccessEntry {
                id: r.id,
                at: r.at,
                user_id: r.user_id,
                user_name: r.user_name,
                what: r.what,
                client_id: r.client_id,
                dialog_id: r.dialog_id,
            })
            .collect(),
    }))
}

fn consent_body(row: ConsentRow) -> ConsentBody {
    ConsentBody {
        id: row.id,
        interlocutor_id: row.interlocutor_id,
        given: row.given,
        source: row.source,
        note: row.note,
        recorded_by: row.recorded_by,
        at: row.at,
    }
}

/// The consents given or withdrawn by a client's interlocutors, newest first.
#[utoipa::path(tag = "personal data", params(("id" = i64, Path)), responses((status = 200, body = Vec<ConsentBody>), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/consents")]
pub async fn client_consents(
    state: web::Data<AppState>,
    _caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<ConsentBody>>, ApiError> {
    let id = id.into_inner();
    let found = db::run(&state.pool, move |conn| {
        if db::clients::find_client(conn, id)?.is_none() {
            return Ok(None);
        }
        reads::consents_of(conn, Some(id), None).map(Some)
    })
    .await?
    .ok_or(ApiError::NotFound("client"))?;
    Ok(web::Json(found.into_iter().map(consent_body).collect()))
}

/// Record that the dialog's interlocutor gave (or withdrew) consent to the processing
/// of their personal data, e.g. on the phone; whoever may answer in the dialog.
#[utoipa::path(tag = "personal data", params(("id" = i64, Path)), request_body = ConsentRequest, responses((status = 201, body = ConsentBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/{id}/consent")]
pub async fn record_consent(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<ConsentRequest>,
) -> Result<HttpResponse, ApiError> {
    let (dialog, access) = super::dialogs::visible_dialog(&state, &caller, id.into_inner()).await?;
    if !access.rights(AccountId(dialog.account_id)).send {
        return Err(ApiError::Forbidden(
            "recording a consent needs the right to answer on the account".into(),
        ));
    }
    let body = body.into_inner();
    let note = body.note.trim().to_owned();
    if note.chars().count() > 500 || note.chars().any(unsafe_char) {
        return Err(ApiError::invalid(
            "note",
            "note: up to 500 characters, no control characters",
        ));
    }
    let (user, interlocutor, given) = (caller.user_id.0, dialog.interlocutor_id, body.given);
    let row =
        service::record_consent(&state.pool, interlocutor, given, note, user, dialog.id).await?;
    Ok(HttpResponse::Created().json(consent_body(row)))
}
