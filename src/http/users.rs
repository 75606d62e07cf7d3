//! Users, roles and departments (API.md "Session and users"). Every signed-in user may
//! list them (redirects and assignments need to choose a colleague); only administrators
//! change them.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::Utc;
use diesel::PgConnection;

use super::AppState;
use super::auth::Caller;
use super::dto::{
    CreateDepartmentRequest, CreateRoleRequest, CreateUserRequest, DepartmentResponse, Page,
    PageQuery, RoleResponse, UpdateUserRequest, UserResponse,
};
use crate::db::{self, DbError, org, users};
use crate::domain::people::{DisplayName, Login, Password, locks_out_self};
use crate::error::ApiError;
use crate::security;
use crate::services::org as org_service;
use crate::services::people;

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

pub fn user_response(row: users::UserRow, role_ids: Vec<i64>) -> UserResponse {
    UserResponse {
        id: row.id,
        login: row.login,
        display_name: row.display_name,
        department_id: row.department_id,
        role_ids,
        is_admin: row.is_admin,
        disabled: row.disabled,
        locale: row.locale,
        created_at: row.created_at,
        status: row.status,
        status_since: row.status_since,
    }
}

pub fn role_responses(conn: &mut PgConnection, ids: &[i64]) -> Result<Vec<RoleResponse>, DbError> {
    Ok(org::list_roles(conn)?
        .into_iter()
        .filter(|role| ids.contains(&role.id))
        .map(role_response)
        .collect())
}

fn role_response(row: org::RoleRow) -> RoleResponse {
    RoleResponse {
        id: row.id,
        name: row.name,
        description: row.description,
    }
}

pub fn department_response(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<DepartmentResponse>, DbError> {
    Ok(org::list_departments(conn)?
        .into_iter()
        .find(|d| d.id == id)
        .map(dept_response))
}

fn dept_response(row: org::DepartmentRow) -> DepartmentResponse {
    DepartmentResponse {
        id: row.id,
        name: row.name,
        parent_id: row.parent_id,
    }
}

/// Argon2 takes tens of milliseconds of CPU: never on an async thread.
async fn hash_off_thread(password: Password) -> Result<String, ApiError> {
    crate::telemetry::spawn_blocking_with_span(move || security::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// Parses `cursor`/`limit` of an id-ordered list: (after id, limit).
pub fn id_page(query: &PageQuery) -> Result<(i64, i64), ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit: between 1 and {MAX_PAGE}"),
        ));
    }
    let after = match &query.cursor {
        None => 0,
        Some(cursor) => cursor
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| ApiError::invalid("cursor", "cursor: not a cursor this list gave"))?,
    };
    Ok((after, i64::from(limit)))
}

fn parse_locale(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw {
        None => Ok(None),
        Some(locale @ ("ru" | "en")) => Ok(Some(locale.to_owned())),
        Some(_) => Err(ApiError::invalid("locale", "locale: `ru` or `en`")),
    }
}

fn with_roles(
    conn: &mut PgConnection,
    rows: Vec<users::UserRow>,
) -> Result<Vec<UserResponse>, DbError> {
    let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
    let pairs = users::roles_of(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let role_ids = pairs
                .iter()
                .filter(|(u, _)| *u == row.id)
                .map(|(_, r)| *r)
                .collect();
            user_response(row, role_ids)
        })
        .collect())
}

/// Users, ordered by id.
#[utoipa::path(
    tag = "users",
    params(PageQuery),
    responses((status = 200, body = Page<UserResponse>), (status = 401, body = crate::error::ErrorBody))
)]
#[get("")]
pub async fn list_users(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<UserResponse>>, ApiError> {
    let (after, limit) = id_page(&query)?;
    let page = db::run(&state.pool, move |conn| {
        let rows = users::list(conn, after, limit + 1)?;
        with_roles(conn, rows)
    })
    .await?;
    Ok(web::Json(page_of(page, limit, |u| u.id)))
}

/// Cuts a page fetched with one extra item and gives the cursor of the next page.
pub fn page_of<T: utoipa::ToSchema>(
    mut items: Vec<T>,
    limit: i64,
    id: impl Fn(&T) -> i64,
) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|item| id(item).to_string()))
        .flatten();
    Page { items, next_cursor }
}

/// Create a user (administrators).
#[utoipa::path(
    tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserResponse),
        (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "the login is taken", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
    )
)]
#[post(
    "",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn create_user(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body = body.into_inner();
    let login = Login::parse(&body.login)?;
    let password = Password::parse(&body.password)?;
    let display_name = DisplayName::parse("display_name", &body.display_name)?;
    let locale = parse_locale(body.locale.as_deref())?.unwrap_or_else(|| "ru".to_owned());
    let actor = caller.user_id.0;
    let hash = hash_off_thread(password).await?;
    let row = people::create_user(
        &state.pool,
        people::NewUser {
            login: login.as_str().to_owned(),
            display_name: display_name.as_str().to_owned(),
            password_hash: hash,
            department_id: body.department_id,
            is_admin: body.is_admin,
            locale,
            role_ids: body.role_ids,
        },
        actor,
    )
    .await?;
    let created = db::run(&state.pool, move |conn| with_roles(conn, vec![row]))
        .await?
        .remove(0);
    Ok(HttpResponse::Created().json(created))
}

/// One user.
#[utoipa::path(
    tag = "users",
    params(("id" = i64, Path)),
    responses((status = 200, body = UserResponse), (status = 404, body = crate::error::ErrorBody))
)]
#[get("/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<UserResponse>, ApiError> {
    let id = id.into_inner();
    let user = db::run(&state.pool, move |conn| match users::find(conn, id)? {
        Some(row) => Ok(with_roles(conn, vec![row])?.pop()),
        None => Ok(None),
    })
    .await?;
    user.map(web::Json).ok_or(ApiError::NotFound("user"))
}

/// Change a user (administrators). Disabling a user or changing the password ends their
/// sessions; an administrator cannot disable or demote themselves.
#[utoipa::path(
    tag = "users",
    params(("id" = i64, Path)),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
    )
)]
#[patch(
    "/{id}",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn update_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateUserRequest>,
) -> Result<web::Json<UserResponse>, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let body = body.into_inner();
    if locks_out_self(id == caller.user_id.0, body.disabled, body.is_admin) {
        return Err(ApiError::conflict(
            "cannot_lock_out_self",
            "an administrator cannot disable or demote themselves; ask another administrator",
        ));
    }
    let login = body.login.as_deref().map(Login::parse).transpose()?;
    let password = body.password.as_deref().map(Password::parse).transpose()?;
    let display_name = body
        .display_name
        .as_deref()
        .map(|name| DisplayName::parse("display_name", name))
        .transpose()?;
    let locale = parse_locale(body.locale.as_deref())?;
    let password_hash = match password {
        Some(password) => Some(hash_off_thread(password).await?),
        None => None,
    };
    let update = people::UserUpdate {
        changes: users::UserChanges {
            login: login.map(|l| l.as_str().to_owned()),
            display_name: display_name.map(DisplayName::into_inner),
            password_hash,
            department_id: body.department_id,
            is_admin: body.is_admin,
            disabled: body.disabled,
            locale,
            updated_at: Some(Utc::now()),
        },
        role_ids: body.role_ids,
    };
    let (row, role_ids) = people::update_user(&state.pool, id, update, caller.user_id.0).await?;
    let updated = user_response(row, role_ids);
    state.known.forget_all();
    Ok(web::Json(updated))
}

/// Roles, by name.
#[utoipa::path(tag = "users", responses((status = 200, body = Vec<RoleResponse>)))]
#[get("/roles")]
pub async fn list_roles(
    state: web::Data<AppState>,
    _caller: Caller,
) -> Result<web::Json<Vec<RoleResponse>>, ApiError> {
    let rows = db::run(&state.pool, org::list_roles).await?;
    Ok(web::Json(rows.into_iter().map(role_response).collect()))
}

/// Create a role (administrators).
#[utoipa::path(
    tag = "users",
    request_body = CreateRoleRequest,
    responses((status = 201, body = RoleResponse), (status = 409, body = crate::error::ErrorBody))
)]
#[post(
    "/roles",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn create_role(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body = body.into_inner();
    let name = DisplayName::parse("name", &body.name)?;
    if body.description.chars().count() > 2000 {
        return Err(ApiError::invalid(
            "description",
            "description: at most 2000 characters",
        ));
    }
    let description = body.description.trim().to_owned();
    let row = org_service::create_role(
        &state.pool,
        name.into_inner(),
        description,
        caller.user_id.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(role_response(row)))
}

/// Departments, by name.
#[utoipa::path(tag = "users", responses((status = 200, body = Vec<DepartmentResponse>)))]
#[get("/departments")]
pub async fn list_departments(
    state: web::Data<AppState>,
    _caller: Caller,
) -> Result<web::Json<Vec<DepartmentResponse>>, ApiError> {
    let rows = db::run(&state.pool, org::list_departments).await?;
    Ok(web::Json(rows.into_iter().map(dept_response).collect()))
}

/// Create a department (administrators).
#[utoipa::path(
    tag = "users",
    request_body = CreateDepartmentRequest,
    responses((status = 201, body = DepartmentResponse), (status = 409, body = crate::error::ErrorBody))
)]
#[post(
    "/departments",
    wrap = "actix_web::middleware::from_fn(crate::http::auth::admin_only)"
)]
pub async fn create_department(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateDepartmentRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body = body.into_inner();
    let name = DisplayName::parse("name", &body.name)?;
    let row = org_service::create_department(
        &state.pool,
        name.into_inner(),
        body.parent_id,
        caller.user_id.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(dept_response(row)))
}
