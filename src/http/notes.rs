//! Internal notes (R42): a message of the dialog for colleagues only, never sent to the
//! channel, allowed to anyone who may view the dialog; `@login` mentions a colleague who
//! may view it too, who is told at once and finds it in "Моя работа" until they open the
//! dialog.

use actix_web::{HttpResponse, get, post, web};

use super::AppState;
use super::auth::Caller;
use super::dialogs::{message_item, visible_dialog};
use super::dto::{NoteRequest, ViewerBody};
use crate::db::{self, notes};
use crate::error::ApiError;

/// The longest note, as the longest reply.
const MAX_NOTE_CHARS: usize = 4096;

/// Add a note for colleagues to the dialog; it never reaches the client.
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), request_body = NoteRequest, responses((status = 201, body = super::dto::MessageItem), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("/{id}/notes")]
pub async fn add_note(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<NoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let (dialog, _) = visible_dialog(&state, &caller, id.into_inner()).await?;
    let text = body.into_inner().text.trim().to_owned();
    let length = text.chars().count();
    if length == 0
        || length > MAX_NOTE_CHARS
        || text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(ApiError::invalid(
            "text",
            format!("text: 1 to {MAX_NOTE_CHARS} characters, no control characters"),
        ));
    }
    let logins = notes::mentioned_logins(&text);
    let (author, account) = (caller.user_id.0, dialog.account_id);
    let found = db::run(&state.pool, move |conn| {
        notes::viewers_among(conn, account, &logins).map(|found| (logins, found))
    })
    .await?;
    let (logins, found) = found;
    if let Some(unknown) = logins
        .iter()
        .find(|l| !found.iter().any(|(login, _)| login.eq_ignore_ascii_case(l)))
    {
        return Err(ApiError::invalid(
            "text",
            format!("@{unknown}: no colleague with this login may view this dialog"),
        ));
    }
    let mentioned: Vec<i64> = found
        .into_iter()
        .map(|(_, id)| id)
        .filter(|id| *id != author)
        .collect();
    let message = crate::services::notes::add(&state.pool, dialog, author, text, mentioned).await?;
    Ok(HttpResponse::Created().json(message_item(message)))
}

/// The colleagues who may view the dialog: whom a note may mention.
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), responses((status = 200, body = Vec<ViewerBody>), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/viewers")]
pub async fn viewers(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<ViewerBody>>, ApiError> {
    let (dialog, _) = visible_dialog(&state, &caller, id.into_inner()).await?;
    let account = dialog.account_id;
    let found = db::run(&state.pool, move |conn| notes::viewers(conn, account)).await?;
    Ok(web::Json(
        found
            .into_iter()
            .map(|v| ViewerBody {
                id: v.id,
                login: v.login,
                display_name: v.display_name,
            })
            .collect(),
    ))
}
