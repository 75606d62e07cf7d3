//! A client's conversations (R10, R31, R32, R34): every dialog with the client on every
//! account, a search in them and their attachments. Whatever the account rights, a
//! client's conversations are readable from the client's card (R10), so these routes
//! need only a signed-in user.

use actix_web::{get, web};

use super::AppState;
use super::auth::Caller;
use super::dialogs::{attachment_item, items_of, message_item};
use super::dto::{
    AttachmentsQuery, ClientAttachment, ClientSearchQuery, DialogItem, MessageItem, MessagePage,
    MessagesQuery,
};
use super::personal_data::note_read;
use crate::db::data_access::{READ_CLIENT, READ_DIALOG};
use crate::db::dialog_list::{self, ListFilter};
use crate::db::{self, clients, messages};
use crate::domain::dialog::DialogStatus;
use crate::error::ApiError;

const MAX_ITEMS: u32 = 200;

async fn existing_client(state: &AppState, id: i64) -> Result<(), ApiError> {
    db::run(&state.pool, move |conn| clients::find_client(conn, id))
        .await?
        .map(|_| ())
        .ok_or(ApiError::NotFound("client"))
}

fn limit_of(limit: Option<u32>) -> Result<i64, ApiError> {
    match limit.unwrap_or(50) {
        n @ 1..=MAX_ITEMS => Ok(i64::from(n)),
        _ => Err(ApiError::invalid(
            "limit",
            format!("limit: between 1 and {MAX_ITEMS}"),
        )),
    }
}

/// Every dialog with the client, newest first (R34).
#[utoipa::path(tag = "clients", params(("id" = i64, Path)), responses((status = 200, body = Vec<DialogItem>), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/dialogs")]
pub async fn client_dialogs(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<DialogItem>>, ApiError> {
    let id = id.into_inner();
    existing_client(&state, id).await?;
    let user_id = caller.user_id.0;
    let items = db::run(&state.pool, move |conn| {
        dialogs_of_client(conn, user_id, id, 1000)
    })
    .await?;
    Ok(web::Json(items))
}

/// The client's dialogs on every channel, newest first, as the list shows them (with
/// `user_id`'s read marks), whatever the user's rights on their accounts (R10, R34).
pub fn dialogs_of_client(
    conn: &mut diesel::PgConnection,
    user_id: i64,
    client_id: i64,
    limit: i64,
) -> Result<Vec<DialogItem>, db::DbError> {
    let filter = ListFilter {
        user_id,
        visible_accounts: None,
        statuses: DialogStatus::ALL.iter().map(|s| s.as_str()).collect(),
        account_id: None,
        responsible_user_id: None,
        responsible_of: None,
        department_id: None,
        client_id: Some(client_id),
        search: None,
        by_priority: false,
        cursor: None,
        limit,
        undelivered: false,
    };
    let rows = dialog_list::page(conn, &filter)?;
    items_of(conn, &rows)
}

/// One dialog's messages read from the client's card (R10, R34): "переписка с клиентами,
/// независимо от настроек доступа, доступна для просмотра всем пользователям из карточки
/// клиента" — every user may read the client's conversations, whatever their rights on
/// the dialog's account; reading only (nothing here changes the dialog or its read marks).
#[utoipa::path(
    tag = "clients",
    params(("id" = i64, Path), ("dialog_id" = i64, Path), MessagesQuery),
    responses((status = 200, body = MessagePage), (status = 404, description = "no such client, or the dialog is not theirs", body = crate::error::ErrorBody))
)]
#[get("/{id}/dialogs/{dialog_id}/messages")]
pub async fn client_dialog_messages(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
    query: web::Query<MessagesQuery>,
) -> Result<web::Json<MessagePage>, ApiError> {
    let (client_id, dialog_id) = path.into_inner();
    let theirs = db::run(&state.pool, move |conn| db::dialogs::find(conn, dialog_id))
        .await?
        .is_some_and(|dialog| dialog.client_id == Some(client_id));
    if !theirs {
        return Err(ApiError::NotFound("dialog"));
    }
    if query.before.is_none() {
        note_read(
            &state,
            &caller,
            READ_DIALOG,
            Some(client_id),
            Some(dialog_id),
        )
        .await?;
    }
    super::dialogs::message_page(&state, dialog_id, &query).await
}

/// Messages in every dialog with the client that contain `q`, newest first (R31).
#[utoipa::path(tag = "clients", params(("id" = i64, Path), ClientSearchQuery), responses((status = 200, body = Vec<MessageItem>), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[get("/{id}/messages")]
pub async fn client_messages(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<ClientSearchQuery>,
) -> Result<web::Json<Vec<MessageItem>>, ApiError> {
    let id = id.into_inner();
    let needle = query.q.trim().to_owned();
    if needle.is_empty() || needle.chars().count() > 200 {
        return Err(ApiError::invalid("q", "q: 1 to 200 characters"));
    }
    let limit = limit_of(query.limit)?;
    existing_client(&state, id).await?;
    note_read(&state, &caller, READ_CLIENT, Some(id), None).await?;
    let found = db::run(&state.pool, move |conn| {
        messages::search_client(conn, id, &needle, limit)
    })
    .await?;
    Ok(web::Json(found.into_iter().map(message_item).collect()))
}

/// Images, links and files from every dialog with the client, newest first (R32).
#[utoipa::path(tag = "clients", params(("id" = i64, Path), AttachmentsQuery), responses((status = 200, body = Vec<ClientAttachment>), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/attachments")]
pub async fn client_attachments(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<AttachmentsQuery>,
) -> Result<web::Json<Vec<ClientAttachment>>, ApiError> {
    let id = id.into_inner();
    let kind = match query.kind.as_deref() {
        None => None,
        Some(kind @ ("image" | "link" | "file")) => Some(kind.to_owned()),
        Some(_) => return Err(ApiError::invalid("kind", "kind: image, link or file")),
    };
    let limit = limit_of(query.limit)?;
    existing_client(&state, id).await?;
    note_read(&state, &caller, READ_CLIENT, Some(id), None).await?;
    let (files, texts) = db::run(&state.pool, move |conn| {
        let files = messages::client_attachments(conn, id, kind.as_deref(), limit)?;
        // Links written in messages count as links too (R32).
        let texts = match kind.as_deref() {
            None | Some("link") => messages::client_texts_with_links(conn, id, limit)?,
            _ => Vec::new(),
        };
        Ok((files, texts))
    })
    .await?;
    let item = |attachment, found: messages::FoundIn| ClientAttachment {
        attachment,
        dialog_id: found.dialog_id,
        dialog_number: found.dialog_number,
        message_id: found.message_id,
        created_at: found.at,
    };
    let mut items: Vec<ClientAttachment> = files
        .into_iter()
        .map(|(a, found)| item(attachment_item(a), found))
        .collect();
    for (text, found) in texts {
        for link in crate::domain::text::links_in(&text) {
            let known = items.iter().any(|i| {
                i.message_id == found.message_id && i.attachment.url.as_deref() == Some(link)
            });
            if !known {
                items.push(item(
                    super::dto::AttachmentItem {
                        id: 0,
                        kind: "link".into(),
                        file_name: link.to_owned(),
                        mime_type: None,
                        size_bytes: None,
                        url: Some(link.to_owned()),
                    },
                    found.clone(),
                ));
            }
        }
    }
    // Newest first, whatever they came from.
    items.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then(b.message_id.cmp(&a.message_id))
    });
    items.truncate(limit as usize);
    Ok(web::Json(items))
}
