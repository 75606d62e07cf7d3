//! Acting on a dialog (R21–R29, R33): thin handlers that check the request, build a
//! `DialogCommand` and hand it to the dialog's actor; the state machine decides, the actor
//! commits. Refusals map to 403 (no send right), 409 (taken, closed, redirected) and 422
//! (a reason or reference that does not fit).

use std::sync::Arc;

use actix_web::{HttpResponse, get, patch, post, put, web};
use chrono::Utc;

use super::AppState;
use super::auth::Caller;
use super::dialogs::{detail_of, message_item, rights_on, visible_dialog, who};
use super::dto::{
    CloseRequest, DialogDetail, LeadRequest, LinkInterestRequest, ReadRequest, ReadResponse,
    RedirectRequest, RedirectTargets, RenameRequest, ReplyRequest, ReplyResponse, SiteLink,
    TaskRequest, TaskResponse, UploadBody,
};
use crate::actors::{DialogCommand, EngineError, MarkRead};
use crate::db::dialogs::{NewAttachment, NewContent, NewInterest};
use crate::db::{self, tasks};
use crate::domain::dialog::{Command, Rejection, Target};
use crate::domain::{InterestId, RoleId, UserId};
use crate::error::ApiError;

pub const MAX_REPLY_CHARS: usize = 4096;
const MAX_COMMENT_CHARS: usize = 2000;

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Rejected(rejection) => {
                let message = rejection.to_string();
                match rejection {
                    Rejection::NotVisible => ApiError::NotFound("dialog"),
                    Rejection::NoSendRight => ApiError::Forbidden(message),
                    Rejection::Closed => ApiError::conflict("dialog_closed", message),
                    Rejection::TakenByOther => ApiError::conflict("dialog_taken", message),
                    Rejection::RedirectedToOther | Rejection::RedirectedToOtherRole => {
                        ApiError::conflict("dialog_redirected", message)
                    }
                    Rejection::ReasonRequired => ApiError::Invalid {
                        code: "reason_required",
                        field: Some("reason_id".into()),
                        message,
                    },
                    Rejection::InvalidTitle => ApiError::invalid("title", message),
                    Rejection::NoClient => ApiError::conflict("no_client", message),
                    Rejection::AlreadyLinked => ApiError::conflict("already_linked", message),
                }
            }
            EngineError::Invalid { field, message } => ApiError::invalid(field, message),
            EngineError::NotFound => ApiError::NotFound("dialog"),
            EngineError::Db(db) => db.into(),
            EngineError::Timeout | EngineError::Stopped => ApiError::Unavailable(error.to_string()),
        }
    }
}

fn clean_comment(comment: Option<String>) -> Result<Option<String>, ApiError> {
    match comment.map(|c| c.trim().to_owned()) {
        Some(c) if c.chars().count() > MAX_COMMENT_CHARS => Err(ApiError::invalid(
            "comment",
            format!("comment: at most {MAX_COMMENT_CHARS} characters"),
        )),
        Some(c) if c.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Sends `command` (with its extras) as the caller and answers the dialog afterwards.
async fn act(
    state: &AppState,
    caller: &Caller,
    id: i64,
    command: Command,
    extras: impl FnOnce(&mut DialogCommand),
) -> Result<DialogDetail, ApiError> {
    let access = super::accounts::access(state, caller).await?;
    // The dialog's actor checks that the caller may see it (else 404) and takes their
    // rights on its account from `access`: no read of the dialog here.
    let mut message = DialogCommand::by_viewer(Arc::clone(&access), command);
    extras(&mut message);
    let outcome = state.engine.command(id, message).await?;
    detail_of(state, caller, &outcome.dialog, &access).await
}

/// Take the dialog into work (R24); accepting your own dialog again changes nothing.
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), responses((status = 200, body = DialogDetail), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
#[post("/{id}/accept")]
pub async fn accept(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<DialogDetail>, ApiError> {
    Ok(web::Json(
        act(&state, &caller, id.into_inner(), Command::Accept, |_| {}).await?,
    ))
}

/// Reply to the interlocutor; accepts the dialog for the caller when it is not theirs
/// yet (R21). The message goes out through the channel's outbox.
#[utoipa::path(
    tag = "dialogs",
    params(("id" = i64, Path)),
    request_body = ReplyRequest,
    responses((status = 201, body = ReplyResponse), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 507, description = "the data folder is full or cannot be written: the files were not stored", body = crate::error::ErrorBody))
)]
#[post("/{id}/messages")]
pub async fn reply(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    request: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // Who may see and write in the dialog is known before a large body is read.
    let (row, access) = visible_dialog(&state, &caller, id).await?;
    require_send(&access, &row)?;
    let body: ReplyRequest = super::json_body(&request, payload, MAX_REPLY_BODY).await?;
    let text = body.text;
    if text.trim().is_empty() && body.attachments.is_empty() {
        return Err(ApiError::invalid(
            "text",
            "text: write something or attach a file",
        ));
    }
    let uploads = decode_uploads(body.attachments)?;
    if text.chars().count() > MAX_REPLY_CHARS {
        return Err(ApiError::invalid(
            "text",
            format!("text: at most {MAX_REPLY_CHARS} characters"),
        ));
    }
    let attachments = stored_attachments(&state.channels, uploads).await?;
    let stored: Vec<String> = attachments
        .iter()
        .filter_map(|a| a.storage_path.clone())
        .collect();
    let command = DialogCommand {
        content: Some(NewContent::Reply { text, attachments }),
        ..DialogCommand::new(who(&access, row.account_id), Command::Reply)
    };
    let outcome = match state.engine.command(id, command).await {
        Ok(outcome) => outcome,
        Err(error) => {
            // The reply was refused: its files go too.
            state.channels.remove_uploads(&stored).await;
            return Err(error.into());
        }
    };
    let message_id = outcome
        .message_ids
        .last()
        .copied()
        .ok_or_else(|| ApiError::internal("a reply wrote no message"))?;
    let message = db::run(&state.pool, move |conn| {
        Ok(db::messages::feed(conn, id, Some(message_id + 1), 1)?.pop())
    })
    .await?
    .ok_or_else(|| ApiError::internal("the reply vanished"))?;
    let dialog = detail_of(&state, &caller, &row, &access).await?.dialog;
    Ok(HttpResponse::Created().json(ReplyResponse {
        message: message_item(message),
        dialog,
    }))
}

/// Stores a message's decoded files in the data folder, all or none (507 when the folder
/// cannot take them), as the attachments the message is written with.
pub(crate) async fn stored_attachments(
    channels: &crate::channels::Channels,
    uploads: Vec<(Upload, Vec<u8>)>,
) -> Result<Vec<NewAttachment>, ApiError> {
    let (uploads, bytes): (Vec<Upload>, Vec<Vec<u8>>) = uploads.into_iter().unzip();
    let names = channels
        .store_uploads(bytes)
        .await
        .map_err(ApiError::StorageFull)?;
    Ok(uploads
        .into_iter()
        .zip(names)
        .map(|(upload, name)| NewAttachment {
            kind: upload.kind,
            file_name: upload.file_name,
            mime_type: upload.mime_type,
            size_bytes: Some(upload.size),
            channel_file_id: None,
            url: None,
            storage_path: Some(name),
        })
        .collect())
}

/// Refuses a caller who may read the dialog but not write in it (before its body is read).
fn require_send(
    access: &crate::db::accounts::AccessMap,
    row: &crate::db::dialogs::DialogRow,
) -> Result<(), ApiError> {
    if rights_on(access, row).send {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "you may read this dialog but not write in it".into(),
        ))
    }
}

/// Whether a request is a reply (`POST /api/v1/dialogs/{id}/messages`), the one route
/// whose body may carry files.
pub fn is_reply_path(method: &actix_web::http::Method, path: &str) -> bool {
    reply_dialog_id(method, path).is_some()
}

fn reply_dialog_id(method: &actix_web::http::Method, path: &str) -> Option<i64> {
    if method != actix_web::http::Method::POST {
        return None;
    }
    path.strip_prefix("/api/v1/dialogs/")?
        .strip_suffix("/messages")?
        .parse()
        .ok()
}

/// For a reply that carries an `Idempotency-Key` (whose body is read before the route
/// runs): the caller may see and write in the dialog, checked before the body is read.
pub async fn may_reply(state: &AppState, request: &actix_web::HttpRequest) -> Result<(), ApiError> {
    use actix_web::FromRequest;
    let Some(id) = reply_dialog_id(request.method(), request.path()) else {
        return Ok(());
    };
    let caller = Caller::from_request(request, &mut actix_web::dev::Payload::None).await?;
    let (row, access) = visible_dialog(state, &caller, id).await?;
    require_send(&access, &row)
}

/// A reply's body may carry files: 5 of up to 10 MB, in base64 (4/3 larger).
pub(crate) const MAX_REPLY_BODY: usize = 70 * 1024 * 1024;
const MAX_REPLY_FILES: usize = 5;
pub(crate) const MAX_REPLY_FILE_BYTES: usize = 10 * 1024 * 1024;

pub(crate) struct Upload {
    pub kind: String,
    pub file_name: String,
    pub mime_type: Option<String>,
    pub size: i64,
}

/// Checks and decodes the files of a reply (or of a quick reply); nothing is stored when
/// one is bad.
pub(crate) fn decode_uploads(list: Vec<UploadBody>) -> Result<Vec<(Upload, Vec<u8>)>, ApiError> {
    use base64::Engine as _;
    if list.len() > MAX_REPLY_FILES {
        return Err(ApiError::invalid(
            "attachments",
            format!("attachments: at most {MAX_REPLY_FILES} files"),
        ));
    }
    list.into_iter()
        .map(|file| {
            // No control characters (NUL, a right-to-left override hiding the real
            // extension) and no path separators.
            let file_name: String = crate::domain::text::file_name(&file.file_name)
                .chars()
                .filter(|c| !matches!(c, '/' | '\\'))
                .collect::<String>()
                .trim()
                .trim_start_matches('.')
                .to_owned();
            if file_name.is_empty() || file_name.chars().count() > 255 {
                return Err(ApiError::invalid(
                    "attachments",
                    "attachments: each file needs a name of 1 to 255 characters",
                ));
            }
            let mime_type = file.mime_type.filter(|m| !m.trim().is_empty());
            // A plain `type/subtype` of token characters: it becomes a header later.
            let token = |part: &str| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
            };
            if mime_type.as_ref().is_some_and(|m| {
                m.len() > 100
                    || m.split_once('/')
                        .is_none_or(|(t, s)| !token(t) || !token(s))
            }) {
                return Err(ApiError::invalid(
                    "attachments",
                    "attachments: mime_type looks like `image/jpeg`",
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(file.content_base64.trim())
                .map_err(|_| {
                    ApiError::invalid("attachments", "attachments: content_base64 is not base64")
                })?;
            if bytes.is_empty() || bytes.len() > MAX_REPLY_FILE_BYTES {
                return Err(ApiError::invalid(
                    "attachments",
                    "attachments: each file holds 1 byte to 10 MB",
                ));
            }
            // A picture is what its bytes say (`domain::media`), as when it is served —
            // a declared `image/png` on anything else is sent as a document, and so is a
            // picture its sender declared a document.
            let image = crate::domain::media::sends_as_picture(mime_type.as_deref(), &bytes);
            Ok((
                Upload {
                    kind: if image { "image" } else { "file" }.into(),
                    file_name,
                    mime_type,
                    size: bytes.len() as i64,
                },
                bytes,
            ))
        })
        .collect()
}

/// Mark the dialog read for the caller up to a message (default: the newest).
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), request_body = ReadRequest, responses((status = 200, body = ReadResponse), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/{id}/read")]
pub async fn read(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<ReadRequest>,
) -> Result<web::Json<ReadResponse>, ApiError> {
    let id = id.into_inner();
    visible_dialog(&state, &caller, id).await?;
    let mark = state
        .engine
        .mark_read(
            id,
            MarkRead {
                user_id: caller.user_id.0,
                up_to: body.up_to_message_id,
            },
        )
        .await?;
    Ok(web::Json(ReadResponse {
        last_read_message_id: mark,
    }))
}

/// Close the dialog (R25), with a reason when the account requires one (R4).
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), request_body = CloseRequest, responses((status = 200, body = DialogDetail), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/{id}/close")]
pub async fn close(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<CloseRequest>,
) -> Result<web::Json<DialogDetail>, ApiError> {
    let body = body.into_inner();
    let comment = clean_comment(body.comment)?;
    let reason = body.reason_id;
    let command = Command::Close {
        reason_given: reason.is_some(),
    };
    Ok(web::Json(
        act(&state, &caller, id.into_inner(), command, |c| {
            c.close_reason_id = reason;
            c.comment = comment;
        })
        .await?,
    ))
}

/// Hand the dialog to a user or a role; it becomes Returned (R26).
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), request_body = RedirectRequest, responses((status = 200, body = DialogDetail), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/{id}/redirect")]
pub async fn redirect(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<RedirectRequest>,
) -> Result<web::Json<DialogDetail>, ApiError> {
    let body = body.into_inner();
    let to = match (body.user_id, body.role_id) {
        (Some(user), None) => Target::User(UserId(user)),
        (None, Some(role)) => Target::Role(RoleId(role)),
        _ => {
            return Err(ApiError::invalid(
                "user_id",
                "give a user_id or a role_id (one of them)",
            ));
        }
    };
    let comment = clean_comment(body.comment)?;
    Ok(web::Json(
        act(
            &state,
            &caller,
            id.into_inner(),
            Command::Redirect { to },
            |c| c.comment = comment,
        )
        .await?,
    ))
}

/// Whom the dialog may be handed to (R26): the users (other than the caller) and roles
/// who may answer on its account; anyone else the redirect refuses.
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), responses((status = 200, body = RedirectTargets), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/redirect-targets")]
pub async fn redirect_targets(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<RedirectTargets>, ApiError> {
    let (row, _) = visible_dialog(&state, &caller, id.into_inner()).await?;
    let account_id = row.account_id;
    let (mut user_ids, role_ids) = db::run(&state.pool, move |conn| {
        db::accounts::who_may_answer(conn, account_id)
    })
    .await?;
    user_ids.retain(|user| *user != caller.user_id.0);
    Ok(web::Json(RedirectTargets { user_ids, role_ids }))
}

/// Rename the dialog (R33); `title: null` goes back to the automatic name.
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), request_body = RenameRequest, responses((status = 200, body = DialogDetail), (status = 409, description = "the dialog is closed", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[patch("/{id}")]
pub async fn rename(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<RenameRequest>,
) -> Result<web::Json<DialogDetail>, ApiError> {
    let title = body.into_inner().title;
    Ok(web::Json(
        act(
            &state,
            &caller,
            id.into_inner(),
            Command::Rename { title },
            |_| {},
        )
        .await?,
    ))
}

/// Accept the lead (R22): a new interest of the client with this dialog as its basis, and
/// the dialog accepted and linked to it.
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), request_body = LeadRequest, responses((status = 200, body = DialogDetail), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/{id}/lead")]
pub async fn accept_lead(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<LeadRequest>,
) -> Result<web::Json<DialogDetail>, ApiError> {
    let body = body.into_inner();
    let title = crate::domain::people::DisplayName::parse("title", &body.title)?;
    if body.amount_minor.is_some_and(|a| a < 0) {
        return Err(ApiError::invalid(
            "amount_minor",
            "amount_minor: not negative",
        ));
    }
    if let Some(currency) = &body.currency
        && !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(ApiError::invalid(
            "currency",
            "currency: three capital letters (ISO 4217)",
        ));
    }
    if body.description.chars().count() > 10_000 {
        return Err(ApiError::invalid(
            "description",
            "description: at most 10000 characters",
        ));
    }
    let interest = NewInterest {
        title: title.into_inner(),
        description: body.description,
        amount_minor: body.amount_minor,
        currency: body.currency,
    };
    Ok(web::Json(
        act(&state, &caller, id.into_inner(), Command::AcceptLead, |c| {
            c.new_interest = Some(interest)
        })
        .await?,
    ))
}

/// Link the dialog to an existing interest of its client (R23).
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), request_body = LinkInterestRequest, responses((status = 200, body = DialogDetail), (status = 422, body = crate::error::ErrorBody)))]
#[put("/{id}/interest")]
pub async fn link_interest(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<LinkInterestRequest>,
) -> Result<web::Json<DialogDetail>, ApiError> {
    let interest = InterestId(body.interest_id);
    Ok(web::Json(
        act(
            &state,
            &caller,
            id.into_inner(),
            Command::LinkInterest { interest },
            |_| {},
        )
        .await?,
    ))
}

/// Create a personal task (R27) or an assignment for one or several users (R28) from the
/// dialog.
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), request_body = TaskRequest, responses((status = 201, body = TaskResponse), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/{id}/tasks")]
pub async fn create_task(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<TaskRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let body = body.into_inner();
    let title = crate::domain::people::DisplayName::parse("title", &body.title)?;
    let me = caller.user_id.0;
    let assignees = match body.kind.as_str() {
        "personal" if body.assignee_ids.iter().all(|a| *a == me) => vec![me],
        "personal" => {
            return Err(ApiError::invalid(
                "assignee_ids",
                "a personal task is for yourself; use an assignment",
            ));
        }
        "assignment" if body.assignee_ids.is_empty() => {
            return Err(ApiError::invalid(
                "assignee_ids",
                "an assignment needs at least one user",
            ));
        }
        "assignment" if body.assignee_ids.len() > 100 => {
            return Err(ApiError::invalid("assignee_ids", "at most 100 users"));
        }
        "assignment" => {
            let mut ids = body.assignee_ids.clone();
            ids.sort_unstable();
            ids.dedup();
            ids
        }
        _ => return Err(ApiError::invalid("kind", "kind: personal or assignment")),
    };
    if body.description.chars().count() > 10_000 {
        return Err(ApiError::invalid(
            "description",
            "description: at most 10000 characters",
        ));
    }
    let (row, access) = visible_dialog(&state, &caller, id).await?;
    let status = crate::domain::dialog::DialogStatus::parse(&row.status)
        .ok_or_else(|| ApiError::internal("a dialog with an unknown status"))?;
    crate::domain::dialog::may_add_task(
        status,
        row.responsible_user_id.map(UserId),
        &who(&access, row.account_id),
    )
    .map_err(|rejection| ApiError::from(EngineError::Rejected(rejection)))?;
    let new = tasks::NewTask {
        kind: body.kind,
        title: title.into_inner(),
        description: body.description,
        dialog_id: Some(row.id),
        client_id: row.client_id,
        author_id: me,
        due_at: body.due_at,
        assignee_ids: assignees,
        now: Utc::now(),
    };
    let task = crate::services::tasks::create(&state.pool, new).await?;
    Ok(HttpResponse::Created().json(super::tasks::task_response(task)))
}

/// The dialog on the channel's own site (R29): VK communities have one, Telegram gives
/// the person's public profile when they have a username; otherwise 404.
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), responses((status = 200, body = SiteLink), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/site-link")]
pub async fn site_link(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<SiteLink>, ApiError> {
    let (row, _) = visible_dialog(&state, &caller, id.into_inner()).await?;
    let interlocutor_id = row.interlocutor_id;
    let person = db::run(&state.pool, move |conn| {
        db::clients::interlocutor(conn, interlocutor_id)
    })
    .await?
    .ok_or(ApiError::NotFound("site link"))?;
    let channel = state
        .channels
        .channel(row.account_id)
        .await
        .ok_or(ApiError::NotFound("site link"))?;
    channel
        .dialog_link(&person.external_id, person.username.as_deref())
        .map(|url| web::Json(SiteLink { url }))
        .ok_or(ApiError::NotFound("site link"))
}
