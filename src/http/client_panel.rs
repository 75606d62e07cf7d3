//! R43: the client panel beside a dialog — the client or prospect, their contact persons,
//! interests, every dialog with them on every channel, open tasks and colleagues' notes —
//! in one request. Whoever may view the dialog may read it; the client's data is readable
//! by every user anyway (R10), and the reading is logged like the card's (R47).

use actix_web::{get, web};

use super::AppState;
use super::auth::Caller;
use super::clients::dialogs_of_client;
use super::crm::{card_body, contact_body, interest_body};
use super::dialogs::{message_item, visible_dialog};
use super::dto::ClientPanel;
use super::tasks::task_response;
use crate::db::{self, crm, notes, tasks};
use crate::error::ApiError;

/// How many of the client's dialogs, tasks and notes the panel shows.
const PANEL_DIALOGS: i64 = 50;
const PANEL_TASKS: i64 = 50;
const PANEL_NOTES: i64 = 20;

/// The panel beside the dialog: everything about its client in one answer.
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), responses((status = 200, body = ClientPanel), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/panel")]
pub async fn client_panel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<ClientPanel>, ApiError> {
    let (dialog, _) = visible_dialog(&state, &caller, id.into_inner()).await?;
    let dialog_id = dialog.id;
    let Some(client_id) = dialog.client_id else {
        return Ok(web::Json(ClientPanel {
            dialog_id,
            client: None,
            contacts: Vec::new(),
            interests: Vec::new(),
            dialogs: Vec::new(),
            tasks: Vec::new(),
            notes: Vec::new(),
        }));
    };
    let user_id = caller.user_id.0;
    let panel = db::run(&state.pool, move |conn| {
        let Some(card) = crm::client_card(conn, client_id)? else {
            return Ok(None);
        };
        let note_ids = notes::of_client(conn, client_id, PANEL_NOTES)?;
        Ok(Some(ClientPanel {
            dialog_id,
            client: Some(card_body(card)),
            contacts: crm::contacts_of(conn, client_id)?
                .into_iter()
                .map(contact_body)
                .collect(),
            interests: crm::list_interests(conn, Some(client_id), None, 200)?
                .into_iter()
                .map(interest_body)
                .collect(),
            dialogs: dialogs_of_client(conn, user_id, client_id, PANEL_DIALOGS)?,
            tasks: tasks::open_about_client(conn, client_id, user_id, PANEL_TASKS)?
                .into_iter()
                .map(task_response)
                .collect(),
            notes: {
                let mut found: Vec<_> = db::messages::feed_items(conn, &note_ids)?
                    .into_iter()
                    .map(message_item)
                    .collect();
                found.sort_by_key(|m| std::cmp::Reverse(m.id));
                found
            },
        }))
    })
    .await?
    .ok_or(ApiError::NotFound("client"))?;
    super::personal_data::note_read(
        &state,
        &caller,
        db::data_access::READ_CLIENT,
        Some(client_id),
        None,
    )
    .await?;
    Ok(web::Json(panel))
}
