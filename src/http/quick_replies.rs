//! Quick replies (R41): templates an operator inserts into the composer with "/" and edits
//! before sending. Personal ones are their owner's; an account's are used by whoever may
//! view it and changed by its administrators; global ones are used by everyone and
//! changed by the program's administrators (`domain::quick_replies`). The most used come
//! first. Import and export as CSV (the text; files stay with their template).
//!
//! A template may carry up to five files: uploaded one at a time by whoever may edit it,
//! stored in the data folder, served to whoever may use it. The composer fetches them
//! with the text and adds them to the reply, where the operator may remove them before
//! sending; they go out like any other file of a reply.

use std::collections::HashMap;

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};

use super::AppState;
use super::accounts::access;
use super::auth::Caller;
use super::dto::{
    CreateQuickReplyRequest, ImportQuickRepliesRequest, ImportedBody, QuickRepliesQuery,
    QuickReplyBody, QuickReplyFileBody, UpdateQuickReplyRequest, UploadBody,
};
use crate::db::quick_replies::{self as rows, NewQuickReply, QuickReplyFileRow, QuickReplyRow};
use crate::db::{self, accounts::AccessMap};
use crate::domain::AccountId;
use crate::domain::quick_replies::{Asker, Scope, may_edit, may_use};
use crate::domain::text::spreadsheet_safe;
use crate::error::ApiError;
use crate::services::quick_replies as service;

const MAX_NAME: usize = 100;
const MAX_TEXT: usize = 4096;
/// The most templates one import may hold.
const MAX_IMPORT: usize = 1000;
/// A file's body: up to 10 MB in base64 (4/3 larger) with its name.
pub(crate) const MAX_FILE_BODY: usize = 14 * 1024 * 1024;

fn asker(caller: &Caller, access: &AccessMap, account: Option<i64>) -> Asker {
    Asker {
        user_id: caller.user_id.0,
        is_admin: caller.is_admin,
        account_rights: account.map_or(crate::domain::access::Rights::NONE, |a| {
            access.rights(AccountId(a))
        }),
    }
}

fn scope_of(row: &QuickReplyRow) -> Scope {
    Scope::parse(&row.scope).unwrap_or(Scope::Personal)
}

fn file_body(file: QuickReplyFileRow) -> QuickReplyFileBody {
    QuickReplyFileBody {
        id: file.id,
        file_name: file.file_name,
        mime_type: file.mime_type,
        size_bytes: file.size_bytes,
    }
}

/// Each template with its files (one query for all of them).
async fn with_files(
    state: &AppState,
    found: Vec<QuickReplyRow>,
) -> Result<Vec<(QuickReplyRow, Vec<QuickReplyFileBody>)>, ApiError> {
    let ids: Vec<i64> = found.iter().map(|row| row.id).collect();
    let files = db::run(&state.pool, move |conn| rows::files_of(conn, &ids)).await?;
    let mut by_reply: HashMap<i64, Vec<QuickReplyFileBody>> = HashMap::new();
    for file in files {
        by_reply
            .entry(file.quick_reply_id)
            .or_default()
            .push(file_body(file));
    }
    Ok(found
        .into_iter()
        .map(|row| {
            let own = by_reply.remove(&row.id).unwrap_or_default();
            (row, own)
        })
        .collect())
}

fn body(
    (row, files): (QuickReplyRow, Vec<QuickReplyFileBody>),
    caller: &Caller,
    access: &AccessMap,
) -> QuickReplyBody {
    let editable = may_edit(
        scope_of(&row),
        row.owner_user_id,
        asker(caller, access, row.account_id),
    );
    QuickReplyBody {
        id: row.id,
        scope: row.scope,
        account_id: row.account_id,
        name: row.name,
        text: row.text,
        uses: row.uses,
        may_edit: editable,
        files,
    }
}

fn name_field(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            format!("name: 1 to {MAX_NAME} characters, no control characters"),
        ));
    }
    Ok(name.to_owned())
}

fn text_field(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty()
        || text.chars().count() > MAX_TEXT
        || text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(ApiError::invalid(
            "text",
            format!("text: 1 to {MAX_TEXT} characters, no control characters"),
        ));
    }
    Ok(text.to_owned())
}

/// The scope and account of a new template, checked against what the caller may edit.
fn new_scope(
    caller: &Caller,
    access: &AccessMap,
    scope: Option<&str>,
    account_id: Option<i64>,
) -> Result<(Scope, Option<i64>), ApiError> {
    let scope = match scope {
        None => Scope::Personal,
        Some(raw) => Scope::parse(raw)
            .ok_or_else(|| ApiError::invalid("scope", "scope: personal, account or global"))?,
    };
    let account = match (scope, account_id) {
        (Scope::Account, Some(id)) => Some(id),
        (Scope::Account, None) => {
            return Err(ApiError::invalid(
                "account_id",
                "account_id: the account whose template it is",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid(
                "account_id",
                "account_id: only for scope `account`",
            ));
        }
        (_, None) => None,
    };
    if !may_edit(
        scope,
        Some(caller.user_id.0),
        asker(caller, access, account),
    ) {
        return Err(ApiError::Forbidden(match scope {
            Scope::Account => "an account's templates are made by its administrators".into(),
            _ => "global templates are made by the program's administrators".into(),
        }));
    }
    Ok((scope, account))
}

/// The templates the caller may use, the most used first (in one account's dialogs with
/// `account_id`).
#[utoipa::path(tag = "quick replies", params(QuickRepliesQuery), responses((status = 200, body = Vec<QuickReplyBody>)))]
#[get("")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<QuickRepliesQuery>,
) -> Result<web::Json<Vec<QuickReplyBody>>, ApiError> {
    let access = access(&state, &caller).await?;
    let mut accounts = access.visible();
    if let Some(only) = query.account_id {
        accounts.retain(|a| *a == only);
    }
    let user = caller.user_id.0;
    let found = db::run(&state.pool, move |conn| rows::usable(conn, user, &accounts)).await?;
    Ok(web::Json(
        with_files(&state, found)
            .await?
            .into_iter()
            .map(|row| body(row, &caller, &access))
            .collect(),
    ))
}

/// Create a template: personal by default; an account's (its administrators) or global
/// (the program's administrators).
#[utoipa::path(tag = "quick replies", request_body = CreateQuickReplyRequest, responses((status = 201, body = QuickReplyBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    request: web::Json<CreateQuickReplyRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = request.into_inner();
    let (name, text) = (name_field(&request.name)?, text_field(&request.text)?);
    let access = access(&state, &caller).await?;
    let (scope, account) = new_scope(
        &caller,
        &access,
        request.scope.as_deref(),
        request.account_id,
    )?;
    let new = NewQuickReply {
        scope: scope.as_str().to_owned(),
        owner_user_id: (scope == Scope::Personal).then_some(caller.user_id.0),
        account_id: account,
        name,
        text,
        created_by: Some(caller.user_id.0),
    };
    let mut created = service::create(&state.pool, vec![new]).await?;
    let row = created.pop().ok_or(ApiError::NotFound("quick reply"))?;
    Ok(HttpResponse::Created().json(body((row, Vec::new()), &caller, &access)))
}

/// A template the caller may use (404 otherwise), with the rights map.
async fn usable_one(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<(QuickReplyRow, std::sync::Arc<AccessMap>), ApiError> {
    let access = access(state, caller).await?;
    let row = db::run(&state.pool, move |conn| rows::find(conn, id))
        .await?
        .filter(|row| {
            may_use(
                scope_of(row),
                row.owner_user_id,
                asker(caller, &access, row.account_id),
            )
        })
        .ok_or(ApiError::NotFound("quick reply"))?;
    Ok((row, access))
}

fn require_edit(row: &QuickReplyRow, caller: &Caller, access: &AccessMap) -> Result<(), ApiError> {
    if may_edit(
        scope_of(row),
        row.owner_user_id,
        asker(caller, access, row.account_id),
    ) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this template is changed by its account's or the program's administrators".into(),
        ))
    }
}

/// Change a template's name or text.
#[utoipa::path(tag = "quick replies", params(("id" = i64, Path)), request_body = UpdateQuickReplyRequest, responses((status = 200, body = QuickReplyBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[patch("/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    request: web::Json<UpdateQuickReplyRequest>,
) -> Result<web::Json<QuickReplyBody>, ApiError> {
    let (row, access) = usable_one(&state, &caller, id.into_inner()).await?;
    require_edit(&row, &caller, &access)?;
    let request = request.into_inner();
    let name = request.name.as_deref().map(name_field).transpose()?;
    let text = request.text.as_deref().map(text_field).transpose()?;
    let row = service::update(&state.pool, row.id, name, text).await?;
    let one = with_files(&state, vec![row]).await?.pop();
    let one = one.ok_or(ApiError::NotFound("quick reply"))?;
    Ok(web::Json(body(one, &caller, &access)))
}

/// Delete a template.
#[utoipa::path(tag = "quick replies", params(("id" = i64, Path)), responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
#[delete("/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (row, access) = usable_one(&state, &caller, id.into_inner()).await?;
    require_edit(&row, &caller, &access)?;
    service::delete(&state.pool, &state.channels, row.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a file to a template (at most five, each up to 10 MB); whoever may change the
/// template may.
#[utoipa::path(tag = "quick replies", params(("id" = i64, Path)), request_body = UploadBody, responses((status = 201, body = QuickReplyFileBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 507, description = "the data folder is full or cannot be written: the file was not stored", body = crate::error::ErrorBody)))]
#[post("/{id}/files")]
pub async fn add_file(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Who may change the template is known before a large body is read.
    let (row, access) = usable_one(&state, &caller, id.into_inner()).await?;
    require_edit(&row, &caller, &access)?;
    let upload: UploadBody = super::json_body(&request, payload, MAX_FILE_BODY).await?;
    let (upload, bytes) = super::dialog_actions::decode_uploads(vec![upload])?
        .pop()
        .ok_or_else(|| ApiError::internal("a file decoded to nothing"))?;
    let file = service::TemplateFile {
        file_name: upload.file_name,
        mime_type: upload.mime_type,
        bytes,
    };
    let file = service::add_file(&state.pool, &state.channels, row.id, file).await?;
    Ok(HttpResponse::Created().json(file_body(file)))
}

/// A template's file, for whoever may use the template (pictures inline, anything else
/// as a sandboxed download).
#[utoipa::path(tag = "quick replies", params(("id" = i64, Path), ("file_id" = i64, Path)), responses((status = 200, description = "the file"), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/files/{file_id}")]
pub async fn download_file(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, file_id) = path.into_inner();
    let (row, _) = usable_one(&state, &caller, id).await?;
    let reply_id = row.id;
    let file = db::run(&state.pool, move |conn| rows::files_of(conn, &[reply_id]))
        .await?
        .into_iter()
        .find(|file| file.id == file_id)
        .ok_or(ApiError::NotFound("file"))?;
    let path = state.channels.media_path(&file.storage_path);
    let bytes = web::block(move || std::fs::read(path))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(super::attachments::served(
        bytes,
        &file.file_name,
        &format!("file-{file_id}"),
    ))
}

/// Remove a file from a template.
#[utoipa::path(tag = "quick replies", params(("id" = i64, Path), ("file_id" = i64, Path)), responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
#[delete("/{id}/files/{file_id}")]
pub async fn remove_file(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, file_id) = path.into_inner();
    let (row, access) = usable_one(&state, &caller, id).await?;
    require_edit(&row, &caller, &access)?;
    service::remove_file(&state.pool, &state.channels, row.id, file_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The template of `POST /api/v1/quick-replies/{id}/files`, whose body may carry a file.
pub fn file_reply_id(method: &actix_web::http::Method, path: &str) -> Option<i64> {
    if method != actix_web::http::Method::POST {
        return None;
    }
    path.strip_prefix("/api/v1/quick-replies/")?
        .strip_suffix("/files")?
        .parse()
        .ok()
}

/// For a file upload that carries an `Idempotency-Key` (whose body is read before the
/// route runs): the caller may change the template, checked before the body is read.
pub async fn may_add_file(state: &AppState, request: &HttpRequest) -> Result<(), ApiError> {
    use actix_web::FromRequest;
    let Some(id) = file_reply_id(request.method(), request.path()) else {
        return Ok(());
    };
    let caller = Caller::from_request(request, &mut actix_web::dev::Payload::None).await?;
    let (row, access) = usable_one(state, &caller, id).await?;
    require_edit(&row, &caller, &access)
}

/// Count one use of a template (the composer calls it when one is inserted).
#[utoipa::path(tag = "quick replies", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
#[post("/{id}/use")]
pub async fn used(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (row, _) = usable_one(&state, &caller, id.into_inner()).await?;
    service::count_use(&state.pool, row.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The templates the caller may use, as CSV (`name,text,scope,account_id`).
#[utoipa::path(tag = "quick replies", responses((status = 200, description = "text/csv")))]
#[get("/export")]
pub async fn export(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let access = access(&state, &caller).await?;
    let accounts = access.visible();
    let user = caller.user_id.0;
    let found = db::run(&state.pool, move |conn| rows::usable(conn, user, &accounts)).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let write = |writer: &mut csv::Writer<Vec<u8>>, fields: [&str; 4]| {
        // A cell a spreadsheet would run as a formula is written as text.
        let safe: Vec<String> = fields
            .iter()
            .map(|f| spreadsheet_safe(f).into_owned())
            .collect();
        writer
            .write_record(&safe)
            .map_err(|e| ApiError::Internal(e.into()))
    };
    write(&mut writer, ["name", "text", "scope", "account_id"])?;
    for row in &found {
        let account = row.account_id.map(|a| a.to_string()).unwrap_or_default();
        write(&mut writer, [&row.name, &row.text, &row.scope, &account])?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(e.to_string().into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename("quick-replies.csv".into())],
        })
        .body(bytes))
}
/// Import templates from CSV (a header row with `name` and `text`), all of one scope; all
/// or nothing: a bad row refuses the whole file, naming its line.
#[utoipa::path(tag = "quick replies", request_body = ImportQuickRepliesRequest, responses((status = 201, body = ImportedBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/import")]
pub async fn import(
    state: web::Data<AppState>,
    caller: Caller,
    request: web::Json<ImportQuickRepliesRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = request.into_inner();
    let access = access(&state, &caller).await?;
    let (scope, account) = new_scope(
        &caller,
        &access,
        request.scope.as_deref(),
        request.account_id,
    )?;
    let bad = |message: String| ApiError::invalid("csv", message);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(request.csv.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad(format!("csv: {e}")))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(name_at), Some(text_at)) = (column("name"), column("text")) else {
        return Err(bad(
            "csv: a header row with `name` and `text` columns".into()
        ));
    };
    let mut new = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(format!("csv: {e}")))?;
        let cell = |at: usize| record.get(at).unwrap_or_default();
        let restored = |value: &str| value.strip_prefix('\'').unwrap_or(value).to_owned();
        let row = || -> Result<NewQuickReply, ApiError> {
            Ok(NewQuickReply {
                scope: scope.as_str().to_owned(),
                owner_user_id: (scope == Scope::Personal).then_some(caller.user_id.0),
                account_id: account,
                name: name_field(&restored(cell(name_at)))?,
                text: text_field(&restored(cell(text_at)))?,
                created_by: Some(caller.user_id.0),
            })
        };
        new.push(row().map_err(|e| bad(format!("csv line {}: {e}", line + 2)))?);
        if new.len() > MAX_IMPORT {
            return Err(bad(format!("csv: at most {MAX_IMPORT} templates at once")));
        }
    }
    if new.is_empty() {
        return Err(bad("csv: no template under the header".into()));
    }
    // One statement: every row or none.
    let created = service::create(&state.pool, new).await?;
    Ok(HttpResponse::Created().json(ImportedBody {
        created: created.len(),
    }))
}
