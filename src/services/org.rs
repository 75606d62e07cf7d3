//! The organisation's catalogues, kept by the program's administrators: roles,
//! departments and close reasons (R24, R35), each change in one transaction with its
//! audit entry; a name taken is a 409 with its own code.

use diesel::Connection;
use serde_json::json;

use crate::db::clients::{self, CloseReasonChanges, CloseReasonRow};
use crate::db::org::{self, DepartmentRow, RoleRow};
use crate::db::{self, DbError, DbPool, audit};
use crate::error::ApiError;

/// Adds a role; 409 `role_taken` when its name exists.
pub async fn create_role(
    pool: &DbPool,
    name: String,
    description: String,
    actor: i64,
) -> Result<RoleRow, ApiError> {
    db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let row = org::insert_role(conn, &name, &description)?;
            audit::note(
                conn,
                Some(actor),
                "role_created",
                format!("role:{}", row.id),
                json!({"name": row.name}),
            )?;
            Ok(row)
        })
    })
    .await
    .map_err(|e| taken(e, "role_taken", "a role with this name exists"))
}

/// Adds a department under `parent` (422 when there is no such parent); 409
/// `department_taken` when its name exists.
pub async fn create_department(
    pool: &DbPool,
    name: String,
    parent: Option<i64>,
    actor: i64,
) -> Result<DepartmentRow, ApiError> {
    db::run(pool, move |conn| {
        conn.transaction(|conn| {
            if let Some(parent) = parent
                && !org::department_exists(conn, parent)?
            {
                return Ok(Err(ApiError::invalid(
                    "parent_id",
                    "parent_id: no such department",
                )));
            }
            let row = org::insert_department(conn, &name, parent)?;
            audit::note(
                conn,
                Some(actor),
                "department_created",
                format!("department:{}", row.id),
                json!({"name": row.name, "parent_id": parent}),
            )?;
            Ok(Ok(row))
        })
    })
    .await
    .map_err(|e| taken(e, "department_taken", "a department with this name exists"))?
}

/// Adds a close reason; 409 `reason_taken` when its name exists.
pub async fn create_close_reason(
    pool: &DbPool,
    name: String,
    position: i32,
    actor: i64,
) -> Result<CloseReasonRow, ApiError> {
    db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let row = clients::insert_close_reason(conn, &name, position)?;
            audit::note(
                conn,
                Some(actor),
                "close_reason_created",
                format!("close_reason:{}", row.id),
                json!({"name": row.name}),
            )?;
            Ok(row)
        })
    })
    .await
    .map_err(|e| taken(e, "reason_taken", "a close reason with this name exists"))
}

/// Renames, reorders, archives or makes default a close reason; 404 when there is none.
pub async fn update_close_reason(
    pool: &DbPool,
    id: i64,
    changes: CloseReasonChanges,
    actor: i64,
) -> Result<CloseReasonRow, ApiError> {
    db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let Some(row) = clients::update_close_reason(conn, id, &changes)? else {
                return Ok(None);
            };
            audit::note(
                conn,
                Some(actor),
                "close_reason_changed",
                format!("close_reason:{id}"),
                json!({
                    "name": changes.name,
                    "archived": changes.archived,
                    "position": changes.position,
                    "is_default": changes.is_default,
                }),
            )?;
            Ok(Some(row))
        })
    })
    .await
    .map_err(|e| taken(e, "reason_taken", "a close reason with this name exists"))?
    .ok_or(ApiError::NotFound("close reason"))
}

/// A unique violation as a 409 with a clear code; other errors as usual.
fn taken(error: DbError, code: &'static str, message: &str) -> ApiError {
    match error.constraint() {
        Some((diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            ApiError::conflict(code, message)
        }
        _ => error.into(),
    }
}
