//! Global settings of the installation (e.g. `integration_enabled`, R2), as JSON values.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::DbError;
use super::schema::settings;

pub const INTEGRATION_ENABLED: &str = "integration_enabled";
/// R47: the outbound hosts the administrator allows (a JSON list), or `null`.
pub const OUTBOUND_HOSTS: &str = "outbound_hosts";
/// The installation's random secret (hex), made on first use: what channel keys that must
/// differ between installations are derived from (VK `random_id`). Never shown.
pub const INSTALLATION_SECRET: &str = "installation_secret";

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

/// The installation's secret, made (32 random bytes) the first time it is asked for; two
/// processes asking at once agree on one.
pub fn installation_secret(conn: &mut PgConnection) -> Result<Vec<u8>, DbError> {
    if let Some(value) = get(conn, INSTALLATION_SECRET)?
        && let Some(secret) = value.as_str().and_then(|s| hex::decode(s).ok())
    {
        return Ok(secret);
    }
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh)
        .map_err(|_| DbError::Invariant("no randomness for the installation secret"))?;
    diesel::insert_into(settings::table)
        .values((
            settings::key.eq(INSTALLATION_SECRET),
            settings::value.eq(serde_json::Value::String(hex::encode(fresh))),
            settings::updated_at.eq(Utc::now()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    get(conn, INSTALLATION_SECRET)?
        .and_then(|value| value.as_str().and_then(|s| hex::decode(s).ok()))
        .ok_or(DbError::Invariant("the installation secret is not hex"))
}
