//! Channel accounts and their grants (API.md "Channel accounts", R1–R11). Everyone sees
//! the accounts they have rights on; the program's administrator creates and deletes
//! them; account administrators change their settings and grants. Credentials are
//! write-only.

use std::sync::Arc;

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::Utc;

use super::AppState;
use super::auth::Caller;
use super::dto::{
    AccountResponse, CreateAccountRequest, FailedUpdateResponse, FailedUpdatesQuery, GrantBody,
    ResponsibleBody, RightsBody, UpdateAccountRequest, WidgetSnippet,
};
use crate::db::accounts::{self, AccessMap, AccountChanges, AccountRow, GrantRow, NewAccountRow};
use crate::db::{self};
use crate::domain::AccountId;
use crate::domain::access::Rights;
use crate::domain::account::{parse_kind, validate_credentials};
use crate::domain::people::DisplayName;
use crate::error::ApiError;
use crate::services::accounts as accounts_service;

fn rights_body(rights: Rights) -> RightsBody {
    RightsBody {
        view: rights.view,
        send: rights.send,
        admin: rights.admin,
    }
}

pub fn account_response(row: AccountRow, rights: Rights) -> AccountResponse {
    let responsible = match (row.responsible_user_id, row.responsible_role_id) {
        (None, None) => None,
        (user_id, role_id) => Some(ResponsibleBody { user_id, role_id }),
    };
    AccountResponse {
        id: row.id,
        kind: row.kind,
        name: row.name,
        lead_source: row.lead_source,
        require_close_reason: row.require_close_reason,
        create_clients: row.create_clients,
        responsible,
        auto_link_interests: row.auto_link_interests,
        everyone_may_view: row.everyone_may_view,
        group_chats: row.group_chats,
        priority: row.priority,
        department_id: row.department_id,
        enabled: row.enabled,
        has_credentials: row.credentials.as_object().is_some_and(|o| !o.is_empty()),
        demo: row.demo,
        created_at: row.created_at,
        my_rights: rights_body(rights),
    }
}

/// The caller's rights on every account: remembered (`known`), or read and remembered.
pub async fn access(state: &AppState, caller: &Caller) -> Result<Arc<AccessMap>, ApiError> {
    let user_id = caller.user_id.0;
    if let Some(rights) = state.known.rights(user_id) {
        return Ok(rights);
    }
    let ticket = state.known.ticket();
    let rights =
        Arc::new(db::run(&state.pool, move |conn| accounts::access_of(conn, user_id)).await?);
    state
        .known
        .keep_rights(ticket, user_id, Arc::clone(&rights));
    Ok(rights)
}

fn parse_responsible(
    body: Option<&ResponsibleBody>,
) -> Result<(Option<i64>, Option<i64>), ApiError> {
    match body {
        None => Ok((None, None)),
        Some(ResponsibleBody {
            user_id: Some(_),
            role_id: Some(_),
        }) => Err(ApiError::invalid(
            "responsible",
            "responsible: a user or a role, not both",
        )),
        Some(r) => Ok((r.user_id, r.role_id)),
    }
}

/// Accounts the caller has rights on, by priority.
#[utoipa::path(tag = "accounts", responses((status = 200, body = Vec<AccountResponse>)))]
#[get("")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Vec<AccountResponse>>, ApiError> {
    let access = access(&state, &caller).await?;
    let visible = access.visible();
    let rows = db::run(&state.pool, move |conn| {
        accounts::list(conn, Some(&visible))
    })
    .await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|row| {
                let rights = access.rights(AccountId(row.id));
                account_response(row, rights)
            })
            .collect(),
    ))
}

/// Connect a channel account (administrators).
#[utoipa::path(
    tag = "accounts",
    request_body = CreateAccountRequest,
    responses((status = 201, body = AccountResponse), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody))
)]
#[post(
    "",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn create_account(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body = body.into_inner();
    let kind = parse_kind(&body.kind)?;
    let name = DisplayName::parse("name", &body.name)?;
    validate_credentials(kind, &body.credentials)?;
    let (user, role) = parse_responsible(body.responsible.as_ref())?;
    let row = accounts_service::create(
        &state.pool,
        NewAccountRow {
            kind: kind.to_owned(),
            name: name.into_inner(),
            credentials: body.credentials,
            lead_source: body.lead_source,
            require_close_reason: body.require_close_reason,
            create_clients: body.create_clients,
            responsible_user_id: user,
            responsible_role_id: role,
            auto_link_interests: body.auto_link_interests,
            everyone_may_view: body.everyone_may_view,
            priority: body.priority,
            department_id: body.department_id,
            enabled: body.enabled,
            group_chats: body.group_chats,
        },
        caller.user_id.0,
    )
    .await?;
    state.known.forget_all();
    Ok(HttpResponse::Created().json(account_response(row, Rights::ALL)))
}

/// One account (404 when the caller has no rights on it).
#[utoipa::path(tag = "accounts", params(("id" = i64, Path)), responses((status = 200, body = AccountResponse), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}")]
pub async fn get_account(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<AccountResponse>, ApiError> {
    let id = id.into_inner();
    let rights = access(&state, &caller).await?.rights(AccountId(id));
    if !rights.view {
        return Err(ApiError::NotFound("account"));
    }
    let row = db::run(&state.pool, move |conn| accounts::find(conn, id))
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Ok(web::Json(account_response(row, rights)))
}

/// A website account's widget (R40): its public id and the line of HTML that puts it on
/// the site (its administrators; 404 for any other kind).
#[utoipa::path(tag = "accounts", params(("id" = i64, Path)), responses((status = 200, body = WidgetSnippet), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/widget")]
pub async fn widget_snippet(
    state: web::Data<AppState>,
    caller: Caller,
    request: actix_web::HttpRequest,
    id: web::Path<i64>,
) -> Result<web::Json<WidgetSnippet>, ApiError> {
    let id = id.into_inner();
    require_account_admin(&state, &caller, id).await?;
    let row = db::run(&state.pool, move |conn| accounts::find(conn, id))
        .await?
        .filter(|row| row.kind == "web")
        .ok_or(ApiError::NotFound("website account"))?;
    let secret = db::run(&state.pool, db::settings::installation_secret).await?;
    let widget_id = crate::domain::widget::widget_id(&secret, row.id);
    let info = request.connection_info();
    let origin = format!("{}://{}", info.scheme(), info.host());
    Ok(web::Json(WidgetSnippet {
        snippet: format!(
            "<script src=\"{origin}/widget.js\" data-account=\"{widget_id}\" async></script>"
        ),
        widget_id,
    }))
}

/// The caller's rights on an account that must be visible (404) and administered (403).
async fn require_account_admin(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Rights, ApiError> {
    // Administering anything needs the `admin` scope on a token.
    caller.require_scope(crate::domain::people::Scope::Admin)?;
    let rights = access(state, caller).await?.rights(AccountId(id));
    if !rights.view {
        return Err(ApiError::NotFound("account"));
    }
    if !rights.admin {
        return Err(ApiError::Forbidden(
            "only an administrator of this account may change it".into(),
        ));
    }
    Ok(rights)
}

/// Change an account's settings (program or account administrators).
#[utoipa::path(
    tag = "accounts",
    params(("id" = i64, Path)),
    request_body = UpdateAccountRequest,
    responses((status = 200, body = AccountResponse), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody))
)]
#[patch("/{id}")]
pub async fn update_account(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateAccountRequest>,
) -> Result<web::Json<AccountResponse>, ApiError> {
    let id = id.into_inner();
    let rights = require_account_admin(&state, &caller, id).await?;
    let body = body.into_inner();
    // `api_url` sends the account's calls (and token) to another host: only the program's
    // administrators may set it, not an account's.
    if body
        .credentials
        .as_ref()
        .is_some_and(|c| c.get("api_url").is_some())
        && !caller.is_admin
    {
        return Err(ApiError::Forbidden(
            "only the program's administrator may set api_url".into(),
        ));
    }
    let name = body
        .name
        .as_deref()
        .map(|n| DisplayName::parse("name", n))
        .transpose()?;
    let responsible = match &body.responsible {
        None => None,
        Some(r) => Some(parse_responsible(r.as_ref())?),
    };
    let (user, role) = responsible.unwrap_or((None, None));
    let changes = AccountChanges {
        name: name.map(DisplayName::into_inner),
        credentials: None,
        lead_source: body.lead_source,
        require_close_reason: body.require_close_reason,
        create_clients: body.create_clients,
        responsible_user_id: responsible.map(|_| user),
        responsible_role_id: responsible.map(|_| role),
        auto_link_interests: body.auto_link_interests,
        everyone_may_view: body.everyone_may_view,
        priority: body.priority,
        department_id: body.department_id,
        enabled: body.enabled,
        group_chats: body.group_chats,
        updated_at: Some(Utc::now()),
    };
    let row =
        accounts_service::update(&state.pool, id, changes, body.credentials, caller.user_id.0)
            .await?;
    state.known.forget_all();
    Ok(web::Json(account_response(row, rights)))
}

/// Delete an account (administrators): it is archived, its dialogs stay readable.
#[utoipa::path(tag = "accounts", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
#[delete(
    "/{id}",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn delete_account(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let archived = accounts_service::archive(&state.pool, id, caller.user_id.0).await?;
    if archived {
        state.known.forget_all();
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("account"))
    }
}

fn grant_body(row: GrantRow) -> GrantBody {
    GrantBody {
        user_id: row.user_id,
        role_id: row.role_id,
        view: row.can_view,
        send: row.can_send,
        admin: row.can_admin,
    }
}

/// Who has which rights on an account (account administrators).
#[utoipa::path(tag = "accounts", params(("id" = i64, Path)), responses((status = 200, body = Vec<GrantBody>), (status = 403, body = crate::error::ErrorBody)))]
#[get("/{id}/grants")]
pub async fn get_grants(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<Vec<GrantBody>>, ApiError> {
    let id = id.into_inner();
    require_account_admin(&state, &caller, id).await?;
    let rows = db::run(&state.pool, move |conn| accounts::grants_of(conn, id)).await?;
    Ok(web::Json(rows.into_iter().map(grant_body).collect()))
}

/// Replace the grants of an account (account administrators).
#[utoipa::path(
    tag = "accounts",
    params(("id" = i64, Path)),
    request_body = Vec<GrantBody>,
    responses((status = 200, body = Vec<GrantBody>), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody))
)]
#[put("/{id}/grants")]
pub async fn put_grants(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<Vec<GrantBody>>,
) -> Result<web::Json<Vec<GrantBody>>, ApiError> {
    let id = id.into_inner();
    require_account_admin(&state, &caller, id).await?;
    let grants = body.into_inner();
    if grants.len() > 1000 {
        return Err(ApiError::invalid("grants", "at most 1000 grants"));
    }
    let mut rows = Vec::with_capacity(grants.len());
    for grant in &grants {
        if grant.user_id.is_some() == grant.role_id.is_some() {
            return Err(ApiError::invalid(
                "grants",
                "each grant names a user_id or a role_id",
            ));
        }
        rows.push(GrantRow {
            account_id: id,
            user_id: grant.user_id,
            role_id: grant.role_id,
            can_view: grant.view || grant.send || grant.admin,
            can_send: grant.send,
            can_admin: grant.admin,
        });
    }
    let saved = accounts_service::replace_grants(&state.pool, id, rows, caller.user_id.0).await?;
    state.known.forget_all();
    Ok(web::Json(saved.into_iter().map(grant_body).collect()))
}

/// What "test connection" found.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CheckResponse {
    /// Whether the channel accepted the credentials.
    pub ok: bool,
    /// The account as the channel describes it (bot name, community, number).
    pub description: Option<String>,
    /// What went wrong, in words to act on.
    pub error: Option<String>,
}

/// The channel kinds and their credential fields: what the account form asks for (R1).
#[utoipa::path(tag = "accounts", responses((status = 200, body = Vec<super::dto::ChannelKindBody>)))]
#[get("/channel-kinds")]
pub async fn channel_kinds(_caller: Caller) -> web::Json<Vec<super::dto::ChannelKindBody>> {
    use super::dto::CredentialFieldBody;
    use crate::domain::account::{KINDS, credential_fields};
    web::Json(
        KINDS
            .into_iter()
            .map(|kind| super::dto::ChannelKindBody {
                kind,
                fields: credential_fields(kind)
                    .into_iter()
                    .map(|f| CredentialFieldBody {
                        name: f.name,
                        required: f.required,
                        field_type: f.field_type.as_str(),
                        choices: f.choices.to_vec(),
                        admin_only: f.admin_only,
                    })
                    .collect(),
            })
            .collect(),
    )
}

/// Test the account's credentials against the channel ("test connection": Telegram
/// `getMe`, VK `groups.getById`, Viber `get_account_info`, WhatsApp number lookup).
#[utoipa::path(tag = "accounts", params(("id" = i64, Path)), responses((status = 200, body = CheckResponse), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
#[post("/{id}/check")]
pub async fn check_account(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<CheckResponse>, ApiError> {
    let id = id.into_inner();
    require_account_admin(&state, &caller, id).await?;
    let row = db::run(&state.pool, move |conn| accounts::find(conn, id))
        .await?
        .filter(|row| row.archived_at.is_none())
        .ok_or(ApiError::NotFound("account"))?;
    let checked = match crate::channels::AnyChannel::connect(&row.kind, &row.credentials) {
        Ok(channel) => channel.check().await,
        Err(error) => Err(error),
    };
    Ok(web::Json(match checked {
        Ok(description) => CheckResponse {
            ok: true,
            description: Some(description),
            error: None,
        },
        Err(error) => CheckResponse {
            ok: false,
            description: None,
            error: Some(error.to_string()),
        },
    }))
}

/// Fetch messages now (R30): runs the account's poll at once and says what it got.
/// Accounts that receive webhooks have nothing to fetch; the answer says so.
#[utoipa::path(tag = "accounts", params(("id" = i64, Path)), responses((status = 200, body = crate::channels::FetchReport), (status = 404, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
#[post("/{id}/fetch")]
pub async fn fetch_account(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<crate::channels::FetchReport>, ApiError> {
    let id = id.into_inner();
    if !access(&state, &caller).await?.rights(AccountId(id)).view {
        return Err(ApiError::NotFound("account"));
    }
    state
        .channels
        .fetch_now(id)
        .await
        .map(web::Json)
        .map_err(|error| ApiError::BadGateway(error.to_string()))
}

/// The updates of an account that could not be stored, newest first (account
/// administrators): each was acknowledged to the channel so the ones behind it flowed.
#[utoipa::path(tag = "accounts", params(("id" = i64, Path), FailedUpdatesQuery), responses((status = 200, body = Vec<FailedUpdateResponse>), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}/failed-updates")]
pub async fn failed_updates(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<FailedUpdatesQuery>,
) -> Result<web::Json<Vec<FailedUpdateResponse>>, ApiError> {
    let id = id.into_inner();
    require_account_admin(&state, &caller, id).await?;
    let limit = i64::from(query.limit.unwrap_or(50));
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit: from 1 to 200"));
    }
    let before = query.before;
    let rows = db::run(&state.pool, move |conn| {
        crate::db::outbox::failed_updates_of(conn, id, before, limit)
    })
    .await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|row| FailedUpdateResponse {
                id: row.id,
                received_at: row.received_at,
                error: row.error,
                raw: row.raw,
            })
            .collect(),
    ))
}
