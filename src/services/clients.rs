//! Clients and prospects (R5), their contact persons and interests (R22, R23): each write
//! one transaction with its audit entry where the change is recorded.

use chrono::Utc;
use diesel::Connection;
use serde_json::json;

use crate::db::crm::{
    self, ClientCard, ClientFields, ContactRow, InterestCard, InterestChanges, MergeError, Moved,
    NewContact, NewInterestCard,
};
use crate::db::{self, DbPool, audit};
use crate::error::ApiError;

/// Adds a client or prospect by hand.
pub async fn create_client(
    pool: &DbPool,
    fields: ClientFields,
    actor: i64,
) -> Result<ClientCard, ApiError> {
    Ok(db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let row = crm::create_client(conn, &fields, Utc::now())?;
            audit::note(
                conn,
                Some(actor),
                "client_created",
                format!("client:{}", row.id),
                json!({}),
            )?;
            Ok(row)
        })
    })
    .await?)
}

/// Changes a client (`kind: client` promotes a prospect); 404 when there is none.
pub async fn update_client(
    pool: &DbPool,
    id: i64,
    fields: ClientFields,
    actor: i64,
) -> Result<ClientCard, ApiError> {
    db::run(pool, move |conn| {
        conn.transaction(|conn| {
            let Some(row) = crm::update_client(conn, id, &fields, Utc::now())? else {
                return Ok(None);
            };
            audit::note(
                conn,
                Some(actor),
                "client_changed",
                format!("client:{id}"),
                json!({"kind": fields.kind}),
            )?;
            Ok(Some(row))
        })
    })
    .await?
    .ok_or(ApiError::NotFound("client"))
}

/// Merges client `from` into `into` (one transaction in `db::crm`, recorded there).
pub async fn merge(
    pool: &DbPool,
    from: i64,
    into: i64,
    actor: i64,
) -> Result<(ClientCard, Moved), ApiError> {
    let merged = db::run(pool, move |conn| {
        Ok(crm::merge_clients(conn, from, into, actor, Utc::now()))
    })
    .await?;
    merged.map_err(|error| match error {
        MergeError::Same => ApiError::invalid(
            "from_client_id",
            "from_client_id: another client than this one",
        ),
        MergeError::Missing => ApiError::NotFound("client"),
        MergeError::AlreadyMerged => ApiError::Conflict {
            code: "already_merged",
            message: "one of the clients was merged into another one already".into(),
        },
        MergeError::Db(error) => error.into(),
    })
}

/// Adds a contact person to a client that was not merged away; 404 otherwise.
pub async fn add_contact(pool: &DbPool, new: NewContact) -> Result<ContactRow, ApiError> {
    db::run(pool, move |conn| {
        if !is_live(conn, new.client_id)? {
            return Ok(None);
        }
        crm::add_contact(conn, &new).map(Some)
    })
    .await?
    .ok_or(ApiError::NotFound("client"))
}

/// Creates an interest of a client that was not merged away; 404 otherwise.
pub async fn create_interest(
    pool: &DbPool,
    new: NewInterestCard,
) -> Result<InterestCard, ApiError> {
    db::run(pool, move |conn| {
        if !is_live(conn, new.client_id)? {
            return Ok(None);
        }
        crm::create_interest(conn, &new, Utc::now()).map(Some)
    })
    .await?
    .ok_or(ApiError::NotFound("client"))
}

/// Changes an interest at `now` (the time its `closed_at` was set with); 404 when there
/// is none.
pub async fn update_interest(
    pool: &DbPool,
    id: i64,
    changes: InterestChanges,
    now: chrono::DateTime<Utc>,
) -> Result<InterestCard, ApiError> {
    db::run(pool, move |conn| {
        crm::update_interest(conn, id, &changes, now)
    })
    .await?
    .ok_or(ApiError::NotFound("interest"))
}

/// Whether a client exists and was not merged into another.
fn is_live(conn: &mut diesel::PgConnection, id: i64) -> Result<bool, db::DbError> {
    Ok(crm::client_card(conn, id)?.is_some_and(|c| c.merged_into_id.is_none()))
}
