//! Global switches (R2, the outbound list): changed in one transaction with their
//! `settings` event and audit entry; this process's channels follow before the answer,
//! every other process's on the event.

use chrono::Utc;
use diesel::Connection;
use serde_json::json;

use crate::channels::Channels;
use crate::db::settings::{self, SettingRow};
use crate::db::{self, DbError, DbPool, audit, events};

/// Stores `values` (key, value) and returns every setting as stored; nothing changes,
/// and no event is written, when `values` is empty.
pub async fn put(
    pool: &DbPool,
    channels: &Channels,
    values: Vec<(String, serde_json::Value)>,
    actor: i64,
) -> Result<Vec<SettingRow>, DbError> {
    let rows = db::run(pool, move |conn| {
        conn.transaction(|conn| {
            if !values.is_empty() {
                settings::put_many(conn, &values, Utc::now())?;
                events::append(
                    conn,
                    &[events::NewEvent {
                        kind: "settings",
                        account_id: None,
                        dialog_id: None,
                        user_id: None,
                        payload: json!({}),
                    }],
                )?;
                audit::note(
                    conn,
                    Some(actor),
                    "settings_changed",
                    "settings",
                    json!(values.iter().cloned().collect::<serde_json::Map<_, _>>()),
                )?;
            }
            settings::all(conn)
        })
    })
    .await?;
    channels.refresh_switch().await;
    Ok(rows)
}
