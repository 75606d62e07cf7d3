//! Automatic processing rules (R8). Global rules are the program administrator's; a
//! rule of one account is its administrators' too. Conditions and actions are checked
//! before they are saved (a bad pattern or a missing user is a 422, not a rule that
//! fails on every message).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde_json::json;

use super::AppState;
use super::auth::Caller;
use super::dto::{CreateRuleRequest, RuleBody, UpdateRuleRequest};
use crate::db::rules::{self, RuleFields, RuleRow};
use crate::db::{self};
use crate::domain::AccountId;
use crate::domain::people::Scope;
use crate::domain::rules::{Action, Condition, validate_actions, validate_conditions};
use crate::error::ApiError;
use crate::services;

fn rule_body(row: RuleRow) -> RuleBody {
    RuleBody {
        id: row.id,
        account_id: row.account_id,
        name: row.name,
        position: row.position,
        enabled: row.enabled,
        stop_processing: row.stop_processing,
        conditions: row.conditions,
        actions: row.actions,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Whether the caller may manage rules of `account` (None: global rules).
async fn may_manage(
    state: &AppState,
    caller: &Caller,
    account: Option<i64>,
) -> Result<bool, ApiError> {
    if caller.is_admin && caller.has_scope(Scope::Admin) {
        return Ok(true);
    }
    let Some(account) = account else {
        return Ok(false);
    };
    caller.require_scope(Scope::Admin)?;
    Ok(super::accounts::access(state, caller)
        .await?
        .rights(AccountId(account))
        .admin)
}

/// Parses and checks conditions and actions, and that what they name exists.
async fn checked(
    state: &AppState,
    account_id: Option<i64>,
    conditions: serde_json::Value,
    actions: serde_json::Value,
) -> Result<(serde_json::Value, serde_json::Value), ApiError> {
    let parsed_conditions: Vec<Condition> = serde_json::from_value(conditions.clone())
        .map_err(|e| ApiError::invalid("conditions", format!("conditions: {e}")))?;
    validate_conditions(&parsed_conditions)?;
    let parsed_actions: Vec<Action> = serde_json::from_value(actions.clone())
        .map_err(|e| ApiError::invalid("actions", format!("actions: {e}")))?;
    validate_actions(&parsed_actions)?;
    let (mut users, mut roles, mut reasons) = (Vec::new(), Vec::new(), Vec::new());
    for action in &parsed_actions {
        match action {
            Action::Assign { user_id, role_id } | Action::Redirect { user_id, role_id } => {
                users.extend(user_id);
                roles.extend(role_id);
            }
            Action::Close { reason_id } => reasons.extend(reason_id),
            _ => {}
        }
    }
    // The accounts the rule can act on: its own, or those its conditions name, or all.
    let named: Option<Vec<i64>> = parsed_conditions.iter().find_map(|c| match c {
        Condition::Account { ids } => Some(ids.clone()),
        _ => None,
    });
    let kinds: Option<Vec<String>> = parsed_conditions.iter().find_map(|c| match c {
        Condition::Channel { kinds } => Some(kinds.clone()),
        _ => None,
    });
    let scope: Option<Vec<i64>> = account_id.map(|id| vec![id]).or(named);
    let missing = db::run(&state.pool, move |conn| {
        if !users.is_empty() && db::users::count_live(conn, &users)? != users.len() as i64 {
            return Ok(Some("actions: no such user (or disabled)".to_owned()));
        }
        // As a manual redirect: a rule may hand a dialog only to someone who may answer
        // on every account it can act on.
        if !users.is_empty() {
            let accounts: Vec<i64> = db::accounts::list(conn, scope.as_deref())?
                .into_iter()
                .filter(|a| kinds.as_ref().is_none_or(|k| k.contains(&a.kind)))
                .map(|a| a.id)
                .collect();
            for user in &users {
                let access = db::accounts::access_of(conn, *user)?;
                if let Some(account) = accounts
                    .iter()
                    .find(|a| !access.rights(AccountId(**a)).send)
                {
                    return Ok(Some(format!(
                        "actions: user {user} may not answer on account {account}, which this rule can act on"
                    )));
                }
            }
        }
        if !roles.is_empty() && db::org::count_roles(conn, &roles)? != roles.len() as i64 {
            return Ok(Some("actions: no such role".to_owned()));
        }
        for reason in reasons {
            if db::clients::find_close_reason(conn, reason)?.is_none_or(|r| r.archived) {
                return Ok(Some("actions: no such close reason".to_owned()));
            }
        }
        Ok(None)
    })
    .await?;
    if let Some(message) = missing {
        return Err(ApiError::invalid("actions", message));
    }
    Ok((conditions, actions))
}

fn name_of(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "name: 1 to 200 characters"));
    }
    Ok(name.to_owned())
}

/// The rules the caller manages, in the order they run.
#[utoipa::path(tag = "rules", responses((status = 200, body = Vec<RuleBody>)))]
#[get("")]
pub async fn list_rules(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Vec<RuleBody>>, ApiError> {
    let everything = caller.is_admin && caller.has_scope(Scope::Admin);
    let administered: Vec<i64> = if everything {
        Vec::new()
    } else {
        let access = super::accounts::access(&state, &caller).await?;
        access
            .visible()
            .into_iter()
            .filter(|a| access.rights(AccountId(*a)).admin)
            .collect()
    };
    let rows = db::run(&state.pool, move |conn| {
        rules::list(conn, (!everything).then_some(administered.as_slice()))
    })
    .await?;
    Ok(web::Json(rows.into_iter().map(rule_body).collect()))
}

/// Add a rule (global: the program's administrators; per account: its administrators).
#[utoipa::path(tag = "rules", request_body = CreateRuleRequest, responses((status = 201, body = RuleBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[post("")]
pub async fn create_rule(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateRuleRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if !may_manage(&state, &caller, body.account_id).await? {
        return Err(ApiError::Forbidden(
            "only administrators manage rules (global rules: the program's)".into(),
        ));
    }
    let (conditions, actions) = checked(
        &state,
        body.account_id,
        body.conditions.unwrap_or_else(|| json!([])),
        body.actions,
    )
    .await?;
    let fields = RuleFields {
        account_id: body.account_id,
        name: name_of(&body.name)?,
        position: body.position.unwrap_or(0),
        enabled: body.enabled.unwrap_or(true),
        stop_processing: body.stop_processing.unwrap_or(false),
        conditions,
        actions,
    };
    let registry = state.engine.registry();
    let row = services::rules::create(&state.pool, registry, fields, caller.user_id.0).await?;
    Ok(HttpResponse::Created().json(rule_body(row)))
}

async fn managed_rule(state: &AppState, caller: &Caller, id: i64) -> Result<RuleRow, ApiError> {
    let row = db::run(&state.pool, move |conn| rules::find(conn, id))
        .await?
        .ok_or(ApiError::NotFound("rule"))?;
    if !may_manage(state, caller, row.account_id).await? {
        return Err(ApiError::NotFound("rule"));
    }
    Ok(row)
}

#[utoipa::path(tag = "rules", params(("id" = i64, Path)), responses((status = 200, body = RuleBody), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}")]
pub async fn get_rule(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<RuleBody>, ApiError> {
    Ok(web::Json(rule_body(
        managed_rule(&state, &caller, *id).await?,
    )))
}

/// Change a rule; fields left out stay.
#[utoipa::path(tag = "rules", params(("id" = i64, Path)), request_body = UpdateRuleRequest, responses((status = 200, body = RuleBody), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[patch("/{id}")]
pub async fn update_rule(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateRuleRequest>,
) -> Result<web::Json<RuleBody>, ApiError> {
    let current = managed_rule(&state, &caller, *id).await?;
    let body = body.into_inner();
    let (conditions, actions) = checked(
        &state,
        current.account_id,
        body.conditions.unwrap_or(current.conditions),
        body.actions.unwrap_or(current.actions),
    )
    .await?;
    let fields = RuleFields {
        account_id: current.account_id,
        name: match body.name {
            Some(name) => name_of(&name)?,
            None => current.name,
        },
        position: body.position.unwrap_or(current.position),
        enabled: body.enabled.unwrap_or(current.enabled),
        stop_processing: body.stop_processing.unwrap_or(current.stop_processing),
        conditions,
        actions,
    };
    let registry = state.engine.registry();
    let row = services::rules::update(&state.pool, registry, current.id, fields, caller.user_id.0)
        .await?;
    row.map(|row| web::Json(rule_body(row)))
        .ok_or(ApiError::NotFound("rule"))
}

#[utoipa::path(tag = "rules", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
#[delete("/{id}")]
pub async fn delete_rule(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let current = managed_rule(&state, &caller, *id).await?;
    let registry = state.engine.registry();
    services::rules::delete(&state.pool, registry, current, caller.user_id.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
