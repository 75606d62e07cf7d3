//! People: creating and changing a user, each in one transaction with its roles, its
//! `access` event and its audit entry; a user's own status (R46).

use chrono::Utc;
use diesel::{Connection, PgConnection};
use serde_json::json;

use crate::db::{self, DbError, DbPool, audit, org, tokens, users};
use crate::domain::people::UserStatus;
use crate::domain::presence::Claim;
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

/// What an administrator changes of a user: the row's fields and, when given, the roles.
#[derive(Debug)]
pub struct UserUpdate {
    pub changes: users::UserChanges,
    pub role_ids: Option<Vec<i64>>,
}

impl UserUpdate {
    /// A new password or disabling the user ends their sessions.
    fn ends_sessions(&self) -> bool {
        self.changes.password_hash.is_some() || self.changes.disabled == Some(true)
    }
}

/// Changes a user: 404 when there is none, 409 when the new login is taken, 422 for a
/// department or a role that does not exist. Ends the user's sessions when
/// [`UserUpdate::ends_sessions`]; every process forgets what it knew of their rights
/// (the `access` event). Returns the row and its roles.
pub async fn update_user(
    pool: &DbPool,
    id: i64,
    update: UserUpdate,
    actor: i64,
) -> Result<(users::UserRow, Vec<i64>), ApiError> {
    db::run(pool, move |conn| {
        conn.build_transaction().run(|conn| {
            let UserUpdate { changes, role_ids } = &update;
            let department = changes.department_id.flatten();
            if let Err(e) = check_references(conn, department, role_ids.as_deref())? {
                return Ok(Err(e));
            }
            if let Some(login) = &changes.login
                && users::find_by_login(conn, login)?.is_some_and(|other| other.id != id)
            {
                return Ok(Err(ApiError::conflict(
                    "login_taken",
                    "this login is taken",
                )));
            }
            let Some(row) = users::update(conn, id, changes, role_ids.as_deref())? else {
                return Ok(Err(ApiError::NotFound("user")));
            };
            if update.ends_sessions() {
                tokens::revoke_sessions_of(conn, id, Utc::now())?;
            }
            db::events::access_changed(conn, None, Some(id))?;
            audit::note(
                conn,
                Some(actor),
                "user_changed",
                format!("user:{id}"),
                json!({
                    "login": changes.login.is_some(),
                    "password": changes.password_hash.is_some(),
                    "is_admin": changes.is_admin,
                    "disabled": changes.disabled,
                    "role_ids": role_ids,
                }),
            )?;
            let roles = roles_of(conn, id)?;
            Ok(Ok((row, roles)))
        })
    })
    .await?
}

/// Sets a user's own status (R46); colleagues see it at once (a presence signal sent at
/// commit). `None` when there is no such user.
pub async fn set_status(
    pool: &DbPool,
    user_id: i64,
    status: UserStatus,
) -> Result<Option<(users::UserRow, Vec<i64>)>, DbError> {
    db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let Some(user) = users::set_status(conn, user_id, status.as_str(), Utc::now())? else {
                return Ok(None);
            };
            db::presence::signal(conn, user_id, None, Claim::Here)?;
            Ok(Some((user, roles_of(conn, user_id)?)))
        })
    })
    .await
}

/// The role ids of one user.
pub fn roles_of(conn: &mut PgConnection, user_id: i64) -> Result<Vec<i64>, DbError> {
    Ok(users::roles_of(conn, &[user_id])?
        .into_iter()
        .map(|(_, role_id)| role_id)
        .collect())
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
