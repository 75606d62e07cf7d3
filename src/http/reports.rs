//! Close reasons (managed list) and the report "analysis of close reasons" (R35).

use actix_web::{HttpResponse, get, patch, post, web};

use super::AppState;
use super::accounts::access;
use super::auth::Caller;
use super::dto::{
    CloseReasonItem, CloseReasonReport, CloseReasonReportQuery, CloseReasonReportRow,
    CreateCloseReason, UpdateCloseReason,
};
use crate::db::clients::{self, CloseReasonChanges, CloseReasonRow};
use crate::db::{self, reports};
use crate::domain::people::DisplayName;
use crate::error::ApiError;

fn reason_item(row: CloseReasonRow) -> CloseReasonItem {
    CloseReasonItem {
        id: row.id,
        name: row.name,
        is_default: row.is_default,
        archived: row.archived,
        position: row.position,
    }
}

/// Close reasons in their order; archived ones are left out.
#[utoipa::path(tag = "reports", responses((status = 200, body = Vec<CloseReasonItem>)))]
#[get("/close-reasons")]
pub async fn list_close_reasons(
    state: web::Data<AppState>,
    _caller: Caller,
) -> Result<web::Json<Vec<CloseReasonItem>>, ApiError> {
    let rows = db::run(&state.pool, |conn| clients::close_reasons(conn, false)).await?;
    Ok(web::Json(rows.into_iter().map(reason_item).collect()))
}

/// Add a close reason (administrators).
#[utoipa::path(tag = "reports", request_body = CreateCloseReason, responses((status = 201, body = CloseReasonItem), (status = 409, body = crate::error::ErrorBody)))]
#[post("/close-reasons")]
pub async fn create_close_reason(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateCloseReason>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let name = DisplayName::parse("name", &body.name)?;
    let position = body.position;
    let row = db::run(&state.pool, move |conn| {
        clients::insert_close_reason(conn, name.as_str(), position)
    })
    .await
    .map_err(|e| match e.constraint() {
        Some((diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            ApiError::conflict("reason_taken", "a close reason with this name exists")
        }
        _ => e.into(),
    })?;
    Ok(HttpResponse::Created().json(reason_item(row)))
}

/// Rename, reorder, archive or make default a close reason (administrators).
#[utoipa::path(tag = "reports", params(("id" = i64, Path)), request_body = UpdateCloseReason, responses((status = 200, body = CloseReasonItem), (status = 404, body = crate::error::ErrorBody)))]
#[patch("/close-reasons/{id}")]
pub async fn update_close_reason(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateCloseReason>,
) -> Result<web::Json<CloseReasonItem>, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let body = body.into_inner();
    let name = body
        .name
        .as_deref()
        .map(|n| DisplayName::parse("name", n))
        .transpose()?;
    let changes = CloseReasonChanges {
        name: name.map(DisplayName::into_inner),
        archived: body.archived,
        position: body.position,
        is_default: body.is_default,
    };
    if changes.name.is_none()
        && changes.archived.is_none()
        && changes.position.is_none()
        && changes.is_default.is_none()
    {
        return Err(ApiError::invalid("name", "nothing to change"));
    }
    let row = db::run(&state.pool, move |conn| {
        clients::update_close_reason(conn, id, &changes)
    })
    .await?;
    row.map(|r| web::Json(reason_item(r)))
        .ok_or(ApiError::NotFound("close reason"))
}

/// How many dialogs were closed for each reason, with shares (R35), over the accounts the
/// caller may see.
#[utoipa::path(tag = "reports", params(CloseReasonReportQuery), responses((status = 200, body = CloseReasonReport)))]
#[get("/reports/close-reasons")]
pub async fn close_reason_report(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<CloseReasonReportQuery>,
) -> Result<web::Json<CloseReasonReport>, ApiError> {
    let query = query.into_inner();
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(ApiError::invalid("to", "to: after from"));
    }
    let filter = reports::CloseReasonFilter {
        visible_accounts: access(&state, &caller).await?.visible(),
        from: query.from,
        to: query.to,
        account_id: query.account_id,
        closed_by: query.user_id,
        leads_only: query.leads_only.unwrap_or(false),
    };
    let rows = db::run(&state.pool, move |conn| {
        reports::close_reasons(conn, &filter)
    })
    .await?;
    let total: i64 = rows.iter().map(|(_, _, n)| n).sum();
    Ok(web::Json(CloseReasonReport {
        total,
        rows: rows
            .into_iter()
            .map(|(reason_id, name, count)| CloseReasonReportRow {
                reason_id,
                reason: name.unwrap_or_else(|| "Без причины".to_owned()),
                count,
                share: if total > 0 {
                    count as f64 / total as f64
                } else {
                    0.0
                },
            })
            .collect(),
    }))
}
