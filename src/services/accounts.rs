//! Channel accounts: creating one, changing its settings, archiving it and replacing its
//! grants, each in one transaction with its `access` event and its audit entry (R1–R11).

use chrono::Utc;
use diesel::Connection;
use serde_json::json;

use crate::db::accounts::{self, AccountChanges, AccountRow, GrantRow, NewAccountRow};
use crate::db::{self, DbError, DbPool, audit, events, org};
use crate::domain::account::validate_credentials;
use crate::error::ApiError;

/// Creates an account (its credentials checked by the caller), with its event and audit.
pub async fn create(pool: &DbPool, new: NewAccountRow, actor: i64) -> Result<AccountRow, ApiError> {
    db::run(pool, move |conn| {
        conn.build_transaction().run(|conn| {
            if let Err(e) = check_references(
                conn,
                new.responsible_user_id,
                new.responsible_role_id,
                new.department_id,
            )? {
                return Ok(Err(e));
            }
            let row = accounts::insert(conn, &new)?;
            events::access_changed(conn, Some(row.id), None)?;
            audit::note(
                conn,
                Some(actor),
                "account_created",
                format!("account:{}", row.id),
                json!({"kind": row.kind, "name": row.name}),
            )?;
            Ok(Ok(row))
        })
    })
    .await?
}

/// Changes an account's settings; a credentials patch is merged into the stored ones and
/// the result checked. `changes.responsible_*` are `Some` when the responsible changes.
pub async fn update(
    pool: &DbPool,
    id: i64,
    mut changes: AccountChanges,
    credentials_patch: Option<serde_json::Value>,
    actor: i64,
) -> Result<AccountRow, ApiError> {
    db::run(pool, move |conn| {
        conn.build_transaction().run(|conn| {
            let Some(current) = accounts::find(conn, id)? else {
                return Ok(Err(ApiError::NotFound("account")));
            };
            // One field may change at a time: the given ones are merged into the stored.
            changes.credentials = credentials_patch
                .as_ref()
                .map(|patch| merged_credentials(&current.credentials, patch));
            if let Some(credentials) = &changes.credentials
                && let Err(e) = validate_credentials(&current.kind, credentials)
            {
                return Ok(Err(e.into()));
            }
            if let Err(e) = check_references(
                conn,
                changes.responsible_user_id.flatten(),
                changes.responsible_role_id.flatten(),
                changes.department_id.flatten(),
            )? {
                return Ok(Err(e));
            }
            let row = accounts::update(conn, id, &changes)?;
            events::access_changed(conn, Some(id), None)?;
            audit::note(
                conn,
                Some(actor),
                "account_changed",
                format!("account:{id}"),
                json!({"credentials": changes.credentials.is_some()}),
            )?;
            Ok(row.ok_or(ApiError::NotFound("account")))
        })
    })
    .await?
}

/// Archives an account (its dialogs stay readable); `false` when there is none to archive.
pub async fn archive(pool: &DbPool, id: i64, actor: i64) -> Result<bool, DbError> {
    db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let archived = accounts::archive(conn, id, Utc::now())?;
            if archived {
                events::access_changed(conn, Some(id), None)?;
                audit::note(
                    conn,
                    Some(actor),
                    "account_archived",
                    format!("account:{id}"),
                    json!({}),
                )?;
            }
            Ok(archived)
        })
    })
    .await
}

/// Replaces who has which rights on an account and returns the grants as stored; 422
/// when a user or role appears twice.
pub async fn replace_grants(
    pool: &DbPool,
    id: i64,
    grants: Vec<GrantRow>,
    actor: i64,
) -> Result<Vec<GrantRow>, ApiError> {
    db::run(pool, move |conn| {
        conn.transaction(|conn| {
            accounts::replace_grants(conn, id, &grants)?;
            events::access_changed(conn, Some(id), None)?;
            audit::note(
                conn,
                Some(actor),
                "grants_changed",
                format!("account:{id}"),
                json!({"grants": grants.len()}),
            )?;
            accounts::grants_of(conn, id)
        })
    })
    .await
    .map_err(|e| match e.constraint() {
        Some((diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            ApiError::invalid("grants", "a user or role appears twice")
        }
        _ => e.into(),
    })
}

/// Checks that the responsible user/role and the department exist.
fn check_references(
    conn: &mut diesel::PgConnection,
    user: Option<i64>,
    role: Option<i64>,
    department: Option<i64>,
) -> Result<Result<(), ApiError>, DbError> {
    if let Some(user) = user
        && crate::db::users::find(conn, user)?.is_none()
    {
        return Ok(Err(ApiError::invalid(
            "responsible",
            "responsible.user_id: no such user",
        )));
    }
    if let Some(role) = role
        && org::count_roles(conn, &[role])? != 1
    {
        return Ok(Err(ApiError::invalid(
            "responsible",
            "responsible.role_id: no such role",
        )));
    }
    if let Some(department) = department
        && !org::department_exists(conn, department)?
    {
        return Ok(Err(ApiError::invalid(
            "department_id",
            "department_id: no such department",
        )));
    }
    Ok(Ok(()))
}

/// The stored credentials with a patch applied: each field given replaces that field,
/// `null` removes it (JSON merge patch, one level deep). A patch that is not an object
/// replaces the whole, and validation says what is wrong with it.
fn merged_credentials(stored: &serde_json::Value, patch: &serde_json::Value) -> serde_json::Value {
    let (Some(stored), Some(patch)) = (stored.as_object(), patch.as_object()) else {
        return patch.clone();
    };
    let mut merged = stored.clone();
    for (name, value) in patch {
        if value.is_null() {
            merged.remove(name);
        } else {
            merged.insert(name.clone(), value.clone());
        }
    }
    serde_json::Value::Object(merged)
}
