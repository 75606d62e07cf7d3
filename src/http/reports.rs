//! Close reasons (managed list) and the report "analysis of close reasons" (R35).

use actix_web::{HttpResponse, get, patch, post, web};

use super::AppState;
use super::accounts::access;
use super::auth::Caller;
use super::dto::{
    CloseReasonItem, CloseReasonReport, CloseReasonReportQuery, CloseReasonReportRow,
    CreateCloseReason, ReportGroup, UpdateCloseReason,
};
use crate::db::clients::{self, CloseReasonChanges, CloseReasonRow};
use crate::db::{self, reports};
use crate::domain::people::DisplayName;
use crate::error::ApiError;
use crate::services::org;

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
#[get("")]
pub async fn list_close_reasons(
    state: web::Data<AppState>,
    _caller: Caller,
) -> Result<web::Json<Vec<CloseReasonItem>>, ApiError> {
    let rows = db::run(&state.pool, |conn| clients::close_reasons(conn, false)).await?;
    Ok(web::Json(rows.into_iter().map(reason_item).collect()))
}

/// Add a close reason (administrators).
#[utoipa::path(tag = "reports", request_body = CreateCloseReason, responses((status = 201, body = CloseReasonItem), (status = 409, body = crate::error::ErrorBody)))]
#[post(
    "",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn create_close_reason(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateCloseReason>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let name = DisplayName::parse("name", &body.name)?;
    let row = org::create_close_reason(
        &state.pool,
        name.into_inner(),
        body.position,
        caller.user_id.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(reason_item(row)))
}

/// Rename, reorder, archive or make default a close reason (administrators).
#[utoipa::path(tag = "reports", params(("id" = i64, Path)), request_body = UpdateCloseReason, responses((status = 200, body = CloseReasonItem), (status = 404, body = crate::error::ErrorBody), (status = 409, description = "another close reason has this name", body = crate::error::ErrorBody)))]
#[patch(
    "/{id}",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
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
    let row = org::update_close_reason(&state.pool, id, changes, caller.user_id.0).await?;
    Ok(web::Json(reason_item(row)))
}

/// How many dialogs were closed for each reason, with shares (R35), over the accounts the
/// caller may see: by reason, by account, by user and by period; as JSON or CSV.
#[utoipa::path(tag = "reports", params(CloseReasonReportQuery), responses((status = 200, body = CloseReasonReport), (status = 422, body = crate::error::ErrorBody)))]
#[get("/reports/close-reasons")]
pub async fn close_reason_report(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<CloseReasonReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(ApiError::invalid("to", "to: after from"));
    }
    let period: &'static str = match query.period.as_deref().unwrap_or("month") {
        "day" => "day",
        "week" => "week",
        "month" => "month",
        _ => return Err(ApiError::invalid("period", "period: day, week or month")),
    };
    let csv = match query.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        _ => return Err(ApiError::invalid("format", "format: json or csv")),
    };
    let filter = reports::CloseReasonFilter {
        visible_accounts: access(&state, &caller).await?.visible(),
        from: query.from,
        to: query.to,
        account_id: query.account_id,
        closed_by: query.user_id,
        leads_only: query.leads_only.unwrap_or(false),
    };
    let data = db::run(&state.pool, move |conn| {
        reports::close_reasons(conn, &filter, period)
    })
    .await?;
    let report = build_report(&data);
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                actix_web::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"close-reasons.csv\"",
            ))
            .body(report_csv(&report)));
    }
    Ok(HttpResponse::Ok().json(report))
}

const NO_REASON: &str = "Без причины";

fn share(count: i64, total: i64) -> f64 {
    if total > 0 {
        count as f64 / total as f64
    } else {
        0.0
    }
}

/// Counts per reason of `groups`, most frequent first; shares of `total`.
fn reason_rows<'a>(
    groups: impl Iterator<Item = &'a reports::ClosedGroup>,
    names: &[(i64, String)],
    total: i64,
) -> Vec<CloseReasonReportRow> {
    let mut counts: std::collections::BTreeMap<Option<i64>, i64> = Default::default();
    for group in groups {
        *counts.entry(group.close_reason_id).or_default() += group.n;
    }
    let mut rows: Vec<CloseReasonReportRow> = counts
        .into_iter()
        .map(|(reason_id, count)| CloseReasonReportRow {
            reason_id,
            reason: reason_id
                .and_then(|id| names.iter().find(|(r, _)| *r == id))
                .map_or_else(|| NO_REASON.to_owned(), |(_, name)| name.clone()),
            count,
            share: share(count, total),
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason_id.cmp(&b.reason_id)));
    rows
}

fn build_report(data: &reports::ClosedReport) -> CloseReasonReport {
    let total: i64 = data.groups.iter().map(|g| g.n).sum();
    // One pass per dimension: groups keyed by (id, name), each with its members.
    let group_by = |key: &dyn Fn(&reports::ClosedGroup) -> (Option<i64>, String)| {
        let mut groups: std::collections::BTreeMap<
            (Option<i64>, String),
            Vec<&reports::ClosedGroup>,
        > = Default::default();
        for group in &data.groups {
            groups.entry(key(group)).or_default().push(group);
        }
        groups
            .into_iter()
            .map(|((id, name), members)| {
                let count: i64 = members.iter().map(|g| g.n).sum();
                ReportGroup {
                    id,
                    name,
                    count,
                    share: share(count, total),
                    // Within the group: how its own closed dialogs split by reason.
                    reasons: reason_rows(members.into_iter(), &data.reasons, count),
                }
            })
            .collect::<Vec<_>>()
    };
    let name_in = |list: &[(i64, String)], id: i64| {
        list.iter()
            .find(|(i, _)| *i == id)
            .map_or_else(|| format!("#{id}"), |(_, n)| n.clone())
    };
    let mut by_account = group_by(&|g| (Some(g.account_id), name_in(&data.accounts, g.account_id)));
    let mut by_user = group_by(&|g| match g.closed_by {
        Some(user) => (Some(user), name_in(&data.users, user)),
        None => (None, "Автоматически".to_owned()),
    });
    let by_period = group_by(&|g| (None, g.period.format("%Y-%m-%d").to_string()));
    by_account.sort_by_key(|g| std::cmp::Reverse(g.count));
    by_user.sort_by_key(|g| std::cmp::Reverse(g.count));
    CloseReasonReport {
        total,
        rows: reason_rows(data.groups.iter(), &data.reasons, total),
        by_account,
        by_user,
        by_period,
    }
}

/// One line per group and reason: `dimension,id,name,reason_id,reason,count,share`.
fn report_csv(report: &CloseReasonReport) -> String {
    fn field(value: &str) -> String {
        // Quoted, and never run as a formula by a spreadsheet.
        let safe = crate::domain::text::spreadsheet_safe(value);
        format!("\"{}\"", safe.replace('"', "\"\""))
    }
    let mut out = String::from("dimension,id,name,reason_id,reason,count,share\n");
    let mut line = |dimension: &str, id: Option<i64>, name: &str, row: &CloseReasonReportRow| {
        out.push_str(&format!(
            "{dimension},{},{},{},{},{},{:.4}\n",
            id.map(|i| i.to_string()).unwrap_or_default(),
            field(name),
            row.reason_id.map(|i| i.to_string()).unwrap_or_default(),
            field(&row.reason),
            row.count,
            row.share
        ));
    };
    for row in &report.rows {
        line("total", None, "", row);
    }
    for (dimension, groups) in [
        ("account", &report.by_account),
        ("user", &report.by_user),
        ("period", &report.by_period),
    ] {
        for group in groups {
            for row in &group.reasons {
                line(dimension, group.id, &group.name, row);
            }
        }
    }
    out
}
