//! Users and the roles they hold.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::{user_roles, users};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct UserRow {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub password_hash: String,
    pub department_id: Option<i64>,
    pub is_admin: bool,
    pub disabled: bool,
    pub locale: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// R46: `online` or `away`, set by the user.
    pub status: String,
    pub status_since: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUserRow<'a> {
    pub login: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub department_id: Option<i64>,
    pub is_admin: bool,
    pub locale: &'a str,
}

/// Changes to a user; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub login: Option<String>,
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub department_id: Option<Option<i64>>,
    pub is_admin: Option<bool>,
    pub disabled: Option<bool>,
    pub locale: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Sets a user's status (R46) and returns the row; since when changes only with it.
pub fn set_status(
    conn: &mut PgConnection,
    user_id: i64,
    status: &str,
    now: DateTime<Utc>,
) -> Result<Option<UserRow>, DbError> {
    Ok(diesel::update(users::table.find(user_id))
        .set((
            users::status_since.eq(diesel::dsl::sql::<diesel::sql_types::Timestamptz>(
                "CASE WHEN status = ",
            )
            .bind::<diesel::sql_types::Text, _>(status)
            .sql(" THEN status_since ELSE ")
            .bind::<diesel::sql_types::Timestamptz, _>(now)
            .sql(" END")),
            users::status.eq(status),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .optional()?)
}

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

pub fn count(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(users::table.count().get_result(conn)?)
}

pub fn insert(
    conn: &mut PgConnection,
    user: &NewUserRow<'_>,
    role_ids: &[i64],
) -> Result<UserRow, DbError> {
    conn.transaction(|conn| {
        let row: UserRow = diesel::insert_into(users::table)
            .values(user)
            .returning(UserRow::as_returning())
            .get_result(conn)?;
        replace_roles(conn, row.id, role_ids)?;
        Ok(row)
    })
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Finds a user by login, without regard to case.
pub fn find_by_login(conn: &mut PgConnection, login: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(lower(users::login).eq(lower(login)))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// A page of users ordered by id, starting after `after_id`.
pub fn list(conn: &mut PgConnection, after_id: i64, limit: i64) -> Result<Vec<UserRow>, DbError> {
    Ok(users::table
        .filter(users::id.gt(after_id))
        .order(users::id.asc())
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)?)
}

pub fn update(
    conn: &mut PgConnection,
    id: i64,
    changes: &UserChanges,
    role_ids: Option<&[i64]>,
) -> Result<Option<UserRow>, DbError> {
    conn.transaction(|conn| {
        let row: Option<UserRow> = diesel::update(users::table.find(id))
            .set(changes)
            .returning(UserRow::as_returning())
            .get_result(conn)
            .optional()?;
        if let (Some(row), Some(role_ids)) = (&row, role_ids) {
            replace_roles(conn, row.id, role_ids)?;
        }
        Ok(row)
    })
}

fn replace_roles(conn: &mut PgConnection, user_id: i64, role_ids: &[i64]) -> Result<(), DbError> {
    diesel::delete(user_roles::table.filter(user_roles::user_id.eq(user_id))).execute(conn)?;
    let rows: Vec<_> = role_ids
        .iter()
        .map(|role_id| {
            (
                user_roles::user_id.eq(user_id),
                user_roles::role_id.eq(role_id),
            )
        })
        .collect();
    diesel::insert_into(user_roles::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

/// The role ids of each of `user_ids`, as (user id, role id) pairs ordered by user.
pub fn roles_of(conn: &mut PgConnection, user_ids: &[i64]) -> Result<Vec<(i64, i64)>, DbError> {
    Ok(user_roles::table
        .filter(user_roles::user_id.eq_any(user_ids))
        .order((user_roles::user_id, user_roles::role_id))
        .select((user_roles::user_id, user_roles::role_id))
        .load(conn)?)
}

/// How many of `ids` are existing users who are not disabled.
pub fn count_live(conn: &mut PgConnection, ids: &[i64]) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .filter(users::disabled.eq(false))
        .count()
        .get_result(conn)?)
}
