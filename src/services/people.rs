//! People: creating a user in one transaction with its roles and its audit entry.

use diesel::PgConnection;
use serde_json::json;

use crate::db::{self, DbError, DbPool, audit, org, users};
use crate::error::ApiError;

/// A user to create, its values checked (login, name, password hashed, locale).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    pub display_name: String,
    pub password_hash: String,
    pub department_id: Option<i64>,
    pub is_admin: bool,
    pub locale: String,
    pub role_ids: Vec<i64>,
}

/// Creates a user with its roles; 409 when the login is taken, 422 for a department or a
/// role that does not exist.
pub async fn create_user(
    pool: &DbPool,
    new: NewUser,
    actor: i64,
) -> Result<users::UserRow, ApiError> {
    db::run(pool, move |conn| {
        conn.build_transaction().run(|conn| {
            if let Err(e) = check_references(conn, new.department_id, Some(&new.role_ids))? {
                return Ok(Err(e));
            }
            if users::find_by_login(conn, &new.login)?.is_some() {
                return Ok(Err(ApiError::conflict(
                    "login_taken",
                    "this login is taken",
                )));
            }
            let row = users::insert(
                conn,
                &users::NewUserRow {
                    login: &new.login,
                    display_name: &new.display_name,
                    password_hash: &new.password_hash,
                    department_id: new.department_id,
                    is_admin: new.is_admin,
                    locale: &new.locale,
                },
                &new.role_ids,
            )?;
            audit::note(
                conn,
                Some(actor),
                "user_created",
                format!("user:{}", row.id),
                json!({ "login": row.login, "is_admin": row.is_admin }),
            )?;
            Ok(Ok(row))
        })
    })
    .await?
}

/// Checks that a department and roles named in a request exist (422 otherwise).
pub fn check_references(
    conn: &mut PgConnection,
    department_id: Option<i64>,
    role_ids: Option<&[i64]>,
) -> Result<Result<(), ApiError>, DbError> {
    if let Some(id) = department_id
        && !org::department_exists(conn, id)?
    {
        return Ok(Err(ApiError::invalid(
            "department_id",
            "department_id: no such department",
        )));
    }
    if let Some(ids) = role_ids {
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        if org::count_roles(conn, &unique)? != unique.len() as i64 {
            return Ok(Err(ApiError::invalid("role_ids", "role_ids: no such role")));
        }
    }
    Ok(Ok(()))
}
