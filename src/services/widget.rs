//! The website chat's visitors (R40): who they are on the account (an interlocutor, a
//! prospect, made once however many requests race) and where they came from (the page,
//! referrer and browser of each visit).

use chrono::Utc;

use crate::db::clients::Sender;
use crate::db::widget::{self as rows, Visit};
use crate::db::{self, DbError, DbPool};

/// A visitor who introduced themselves: their interlocutor on the account (made when
/// there is none yet) and the visit with what they told.
pub async fn introduce(
    pool: &DbPool,
    account_id: i64,
    sender: Sender,
    visit: Visit,
) -> Result<(), DbError> {
    db::run(pool, move |conn| {
        let interlocutor_id = known_visitor(conn, account_id, &sender)?;
        rows::note_visit(
            conn,
            &Visit {
                interlocutor_id,
                ..visit
            },
        )
    })
    .await
}

/// Notes where a visitor known on the account writes from; nothing for one not yet
/// known (their first message makes them an interlocutor).
pub async fn note_visit(
    pool: &DbPool,
    account_id: i64,
    visitor_id: String,
    visit: Visit,
) -> Result<(), DbError> {
    db::run(pool, move |conn| {
        if let Some(found) = db::clients::find_interlocutor(conn, account_id, &visitor_id)? {
            rows::note_visit(
                conn,
                &Visit {
                    interlocutor_id: found.id,
                    ..visit
                },
            )?;
        }
        Ok(())
    })
    .await
}

/// The visitor's interlocutor on the account, made (a prospect) when there is none yet.
fn known_visitor(
    conn: &mut diesel::PgConnection,
    account_id: i64,
    sender: &Sender,
) -> Result<i64, DbError> {
    if let Some(found) = db::clients::find_interlocutor(conn, account_id, &sender.external_id)? {
        return Ok(found.id);
    }
    match db::clients::create_interlocutor(conn, account_id, sender, false, Utc::now()) {
        Ok(created) => Ok(created.id),
        Err(DbError::VersionConflict) => {
            db::clients::find_interlocutor(conn, account_id, &sender.external_id)?
                .map(|found| found.id)
                .ok_or(DbError::Invariant("a visitor vanished"))
        }
        Err(other) => Err(other),
    }
}
