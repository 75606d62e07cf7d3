//! R46: presence. `POST /presence` is a client's claim (viewing or typing in a dialog,
//! leaving it, or just being at the workstation); it travels to every process as a
//! notification (`db::presence`, `actors::presence`) and reaches the operators' streams
//! as `presence` frames. `GET /presence` is the snapshot a client starts from.

use actix_web::{HttpResponse, get, post, web};

use super::AppState;
use super::accounts::access;
use super::auth::Caller;
use super::dialogs::visible_dialog;
use super::dto::{OperatorPresenceBody, PresenceBody, PresenceRequest, ViewerPresence};
use crate::domain::AccountId;
use crate::domain::presence::Claim;
use crate::error::ApiError;

/// Say what you do now: view or type in a dialog you may view, leave it, or just be here.
#[utoipa::path(
    tag = "presence",
    request_body = PresenceRequest,
    responses(
        (status = 204, description = "told to every colleague who may see it"),
        (status = 404, description = "no dialog the caller may view", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
    )
)]
#[post("/presence")]
pub async fn claim(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<PresenceRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let claim = Claim::parse(&body.claim)?;
    let dialog = match (claim.needs_dialog(), body.dialog_id) {
        (true, None) => {
            return Err(ApiError::invalid(
                "dialog_id",
                format!("`{}` is about a dialog: give its dialog_id", claim.as_str()),
            ));
        }
        (true, Some(id)) => {
            let (row, _) = visible_dialog(&state, &caller, id).await?;
            Some((row.id, row.account_id))
        }
        (false, _) => None,
    };
    crate::services::presence::claim(&state.pool, caller.user_id.0, dialog, claim).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who views or types in the dialogs you may see, and which colleagues are online, away
/// or offline.
#[utoipa::path(tag = "presence", responses((status = 200, body = PresenceBody)))]
#[get("/presence")]
pub async fn snapshot(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<PresenceBody>, ApiError> {
    let access = access(&state, &caller).await?;
    let presence = state.hub.presence();
    let viewers = presence
        .viewers(|account| access.rights(AccountId(account)).view)
        .into_iter()
        .map(|v| ViewerPresence {
            dialog_id: v.dialog_id,
            user_id: v.user_id,
            display_name: v.display_name,
            activity: v.activity.as_str().to_owned(),
        })
        .collect();
    let operators = presence
        .operators()
        .into_iter()
        .map(|o| OperatorPresenceBody {
            user_id: o.user_id,
            display_name: o.display_name,
            availability: o.availability.as_str().to_owned(),
        })
        .collect();
    Ok(web::Json(PresenceBody { viewers, operators }))
}
