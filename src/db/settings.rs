//! Global settings of the installation (e.g. `integration_enabled`, R2), as JSON values.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::DbError;
use super::schema::settings;

pub const INTEGRATION_ENABLED: &str = "integration_enabled";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settings, check_for_backend(diesel::pg::Pg))]
pub struct SettingRow {
    pub key: String,
    pub value: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

pub fn all(conn: &mut PgConnection) -> Result<Vec<SettingRow>, DbError> {
    Ok(settings::table
        .order(settings::key.asc())
        .select(SettingRow::as_select())
        .load(conn)?)
}

pub fn get(conn: &mut PgConnection, key: &str) -> Result<Option<serde_json::Value>, DbError> {
    Ok(settings::table
        .find(key)
        .select(settings::value)
        .first(conn)
        .optional()?)
}

/// Writes several settings in one transaction.
pub fn put_many(
    conn: &mut PgConnection,
    values: &[(String, serde_json::Value)],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let rows: Vec<_> = values
        .iter()
        .map(|(key, value)| {
            (
                settings::key.eq(key),
                settings::value.eq(value),
                settings::updated_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(settings::table)
        .values(&rows)
        .on_conflict(settings::key)
        .do_update()
        .set((
            settings::value.eq(excluded(settings::value)),
            settings::updated_at.eq(excluded(settings::updated_at)),
        ))
        .execute(conn)?;
    Ok(())
}
