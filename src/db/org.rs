//! Roles and departments: the shape of the company that rights and dialogs refer to.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::{departments, roles};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = roles, check_for_backend(diesel::pg::Pg))]
pub struct RoleRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = departments, check_for_backend(diesel::pg::Pg))]
pub struct DepartmentRow {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

pub fn list_roles(conn: &mut PgConnection) -> Result<Vec<RoleRow>, DbError> {
    Ok(roles::table
        .order(roles::name.asc())
        .select(RoleRow::as_select())
        .load(conn)?)
}

pub fn insert_role(
    conn: &mut PgConnection,
    name: &str,
    description: &str,
) -> Result<RoleRow, DbError> {
    Ok(diesel::insert_into(roles::table)
        .values((roles::name.eq(name), roles::description.eq(description)))
        .returning(RoleRow::as_returning())
        .get_result(conn)?)
}

/// How many of `ids` exist as roles.
pub fn count_roles(conn: &mut PgConnection, ids: &[i64]) -> Result<i64, DbError> {
    Ok(roles::table
        .filter(roles::id.eq_any(ids))
        .count()
        .get_result(conn)?)
}

pub fn list_departments(conn: &mut PgConnection) -> Result<Vec<DepartmentRow>, DbError> {
    Ok(departments::table
        .order(departments::name.asc())
        .select(DepartmentRow::as_select())
        .load(conn)?)
}

pub fn insert_department(
    conn: &mut PgConnection,
    name: &str,
    parent_id: Option<i64>,
) -> Result<DepartmentRow, DbError> {
    Ok(diesel::insert_into(departments::table)
        .values((
            departments::name.eq(name),
            departments::parent_id.eq(parent_id),
        ))
        .returning(DepartmentRow::as_returning())
        .get_result(conn)?)
}

pub fn department_exists(conn: &mut PgConnection, id: i64) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(departments::table.find(id))).get_result(conn)?)
}
