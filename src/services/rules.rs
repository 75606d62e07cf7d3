//! Automatic processing rules (R8): adding, changing and removing one, each in one
//! transaction with its `rules` event and its audit entry. Every process's account
//! actors reload their rules on the event; this process forgets what it recalled before
//! the answer, so the next message already meets the new rules.

use diesel::Connection;
use serde_json::json;

use crate::actors::Registry;
use crate::db::rules::{self, RuleFields, RuleRow};
use crate::db::{self, DbError, DbPool, audit, events};

/// Adds a rule (its conditions and actions checked by the caller).
pub async fn create(
    pool: &DbPool,
    registry: &Registry,
    fields: RuleFields,
    actor: i64,
) -> Result<RuleRow, DbError> {
    let row = db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let row = rules::insert(conn, &fields)?;
            events::rules_changed(conn, row.account_id)?;
            audit::note(
                conn,
                Some(actor),
                "rule_created",
                format!("rule:{}", row.id),
                json!({"name": row.name}),
            )?;
            Ok(row)
        })
    })
    .await?;
    registry.forget_recalled();
    Ok(row)
}

/// Replaces a rule's fields; `None` when there is no such rule.
pub async fn update(
    pool: &DbPool,
    registry: &Registry,
    id: i64,
    fields: RuleFields,
    actor: i64,
) -> Result<Option<RuleRow>, DbError> {
    let row = db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let row = rules::update(conn, id, &fields)?;
            events::rules_changed(conn, fields.account_id)?;
            audit::note(
                conn,
                Some(actor),
                "rule_changed",
                format!("rule:{id}"),
                json!({}),
            )?;
            Ok(row)
        })
    })
    .await?;
    registry.forget_recalled();
    Ok(row)
}

/// Removes a rule.
pub async fn delete(
    pool: &DbPool,
    registry: &Registry,
    rule: RuleRow,
    actor: i64,
) -> Result<(), DbError> {
    db::run(pool, move |conn| {
        conn.transaction(|conn| {
            rules::delete(conn, rule.id)?;
            events::rules_changed(conn, rule.account_id)?;
            audit::note(
                conn,
                Some(actor),
                "rule_deleted",
                format!("rule:{}", rule.id),
                json!({"name": rule.name}),
            )
        })
    })
    .await?;
    registry.forget_recalled();
    Ok(())
}
