//! Clients and prospects (R5), interlocutors (a person on one account), interests, and
//! close reasons: what the account actor resolves an inbound message against.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbError;
use super::schema::{clients, close_reasons, dialogs, interests, interlocutors};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = interlocutors, check_for_backend(diesel::pg::Pg))]
pub struct InterlocutorRow {
    pub id: i64,
    pub account_id: i64,
    pub external_id: String,
    pub display_name: String,
    pub username: Option<String>,
    pub client_id: Option<i64>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub blocked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = clients, check_for_backend(diesel::pg::Pg))]
pub struct ClientRow {
    pub id: i64,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = interests, check_for_backend(diesel::pg::Pg))]
pub struct InterestRow {
    pub id: i64,
    pub client_id: i64,
    pub title: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = close_reasons, check_for_backend(diesel::pg::Pg))]
pub struct CloseReasonRow {
    pub id: i64,
    pub name: String,
    pub is_default: bool,
    pub archived: bool,
    pub position: i32,
}

/// Who wrote, as the channel describes them.
#[derive(Debug, Clone)]
pub struct Sender {
    pub external_id: String,
    pub display_name: String,
    pub username: Option<String>,
}

/// How stale an interlocutor's `last_inbound_at` may be: it moves at most once a minute
/// (a reply window computed from it closes at most this much early, never late).
pub const LAST_INBOUND_SLACK_SECS: i64 = 60;

/// How long a last inbound time stored at `at` holds before it moves again: between 45
/// and 60 s, picked from `at` itself, so every process agrees on it. Interlocutors who
/// first wrote together (a campaign, a restart) would otherwise all need their update,
/// and a fresh read of their conversation, in the same second of every minute.
pub fn last_inbound_holds(at: DateTime<Utc>) -> chrono::Duration {
    // splitmix64's finaliser: nearby instants spread over the whole range.
    let mut x = at.timestamp_micros() as u64;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let spread_ms = (LAST_INBOUND_SLACK_SECS * 1000) / 4;
    let offset = i64::try_from(x % spread_ms as u64).unwrap_or(0);
    chrono::Duration::milliseconds(LAST_INBOUND_SLACK_SECS * 1000 - offset)
}

/// Records that a known interlocutor wrote to us at `now`: they can be written to again,
/// and their last inbound time moves. Written only when it changes something that
/// matters: a busy interlocutor's every message would otherwise cost a commit (and a disk
/// flush) of its own.
/// Returns their last inbound time as now stored.
pub fn note_inbound(
    conn: &mut PgConnection,
    found: &InterlocutorRow,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, DbError> {
    match found.last_inbound_at {
        Some(at) if found.blocked_at.is_none() && now < at + last_inbound_holds(at) => Ok(at),
        _ => {
            diesel::update(interlocutors::table.find(found.id))
                .set((
                    interlocutors::last_inbound_at.eq(now),
                    interlocutors::blocked_at.eq(None::<DateTime<Utc>>),
                ))
                .execute(conn)?;
            Ok(now)
        }
    }
}

/// Creates the interlocutor of `sender` on the account with a new client
/// (`create_clients`) or prospect (R5). `Err(DbError::VersionConflict)` when another
/// process created them first (nothing of ours is kept).
pub fn create_interlocutor(
    conn: &mut PgConnection,
    account_id: i64,
    sender: &Sender,
    create_clients: bool,
    now: DateTime<Utc>,
) -> Result<InterlocutorRow, DbError> {
    conn.transaction(|conn| {
        let name = if sender.display_name.trim().is_empty() {
            sender.external_id.clone()
        } else {
            sender.display_name.trim().chars().take(300).collect()
        };
        let client_id: i64 = diesel::insert_into(clients::table)
            .values((
                clients::kind.eq(if create_clients { "client" } else { "prospect" }),
                clients::name.eq(&name),
                clients::created_at.eq(now),
                clients::updated_at.eq(now),
            ))
            .returning(clients::id)
            .get_result(conn)?;
        let inserted: Option<InterlocutorRow> = diesel::insert_into(interlocutors::table)
            .values((
                interlocutors::account_id.eq(account_id),
                interlocutors::external_id.eq(&sender.external_id),
                interlocutors::display_name.eq(&name),
                interlocutors::username.eq(&sender.username),
                interlocutors::client_id.eq(client_id),
                interlocutors::last_inbound_at.eq(now),
                interlocutors::created_at.eq(now),
                interlocutors::updated_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .returning(InterlocutorRow::as_returning())
            .get_result(conn)
            .optional()?;
        match inserted {
            Some(row) => Ok(row),
            // Another process created them first: roll back our client, use theirs.
            None => Err(DbError::VersionConflict),
        }
    })
}

pub fn find_interlocutor(
    conn: &mut PgConnection,
    account_id: i64,
    external_id: &str,
) -> Result<Option<InterlocutorRow>, DbError> {
    Ok(interlocutors::table
        .filter(interlocutors::account_id.eq(account_id))
        .filter(interlocutors::external_id.eq(external_id))
        .select(InterlocutorRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_client(conn: &mut PgConnection, id: i64) -> Result<Option<ClientRow>, DbError> {
    Ok(clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?)
}

/// The client's active interests, newest first (R7: the newest is linked automatically).
pub fn active_interests(
    conn: &mut PgConnection,
    client_id: i64,
) -> Result<Vec<InterestRow>, DbError> {
    Ok(interests::table
        .filter(interests::client_id.eq(client_id))
        .filter(interests::status.eq("active"))
        .order((interests::created_at.desc(), interests::id.desc()))
        .select(InterestRow::as_select())
        .load(conn)?)
}

pub fn find_interest(conn: &mut PgConnection, id: i64) -> Result<Option<InterestRow>, DbError> {
    Ok(interests::table
        .find(id)
        .select(InterestRow::as_select())
        .first(conn)
        .optional()?)
}

/// How many dialogs each of `client_ids` has (R34).
pub fn dialog_counts(
    conn: &mut PgConnection,
    client_ids: &[i64],
) -> Result<Vec<(i64, i64)>, DbError> {
    // No clients (a page of prospects' dialogs, a dialog without one): no trip at all.
    if client_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Option<i64>, i64)> = dialogs::table
        .filter(dialogs::client_id.eq_any(client_ids))
        .group_by(dialogs::client_id)
        .select((dialogs::client_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(client, n)| client.map(|c| (c, n)))
        .collect())
}

pub fn close_reasons(
    conn: &mut PgConnection,
    include_archived: bool,
) -> Result<Vec<CloseReasonRow>, DbError> {
    let mut query = close_reasons::table
        .order((close_reasons::position.asc(), close_reasons::id.asc()))
        .select(CloseReasonRow::as_select())
        .into_boxed();
    if !include_archived {
        query = query.filter(close_reasons::archived.eq(false));
    }
    Ok(query.load(conn)?)
}

pub fn find_close_reason(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<CloseReasonRow>, DbError> {
    Ok(close_reasons::table
        .find(id)
        .select(CloseReasonRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert_close_reason(
    conn: &mut PgConnection,
    name: &str,
    position: i32,
) -> Result<CloseReasonRow, DbError> {
    Ok(diesel::insert_into(close_reasons::table)
        .values((
            close_reasons::name.eq(name),
            close_reasons::position.eq(position),
        ))
        .returning(CloseReasonRow::as_returning())
        .get_result(conn)?)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = close_reasons)]
pub struct CloseReasonChanges {
    pub name: Option<String>,
    pub archived: Option<bool>,
    pub position: Option<i32>,
    pub is_default: Option<bool>,
}

/// Changes a close reason; making it the default takes that from the previous default.
pub fn update_close_reason(
    conn: &mut PgConnection,
    id: i64,
    changes: &CloseReasonChanges,
) -> Result<Option<CloseReasonRow>, DbError> {
    conn.transaction(|conn| {
        if changes.is_default == Some(true) {
            diesel::update(close_reasons::table.filter(close_reasons::is_default.eq(true)))
                .set(close_reasons::is_default.eq(false))
                .execute(conn)?;
        }
        Ok(diesel::update(close_reasons::table.find(id))
            .set(changes)
            .returning(CloseReasonRow::as_returning())
            .get_result(conn)
            .optional()?)
    })
}

pub fn interlocutor(conn: &mut PgConnection, id: i64) -> Result<Option<InterlocutorRow>, DbError> {
    Ok(interlocutors::table
        .find(id)
        .select(InterlocutorRow::as_select())
        .first(conn)
        .optional()?)
}

/// When the interlocutor last wrote (the WhatsApp 24-hour window starts there).
pub fn last_inbound_at(
    conn: &mut PgConnection,
    interlocutor_id: i64,
) -> Result<Option<DateTime<Utc>>, DbError> {
    Ok(interlocutors::table
        .find(interlocutor_id)
        .select(interlocutors::last_inbound_at)
        .first::<Option<DateTime<Utc>>>(conn)
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_inbound_time_holds_between_45_and_60_seconds_and_spreads_nearby_instants() {
        let start = DateTime::<Utc>::from_timestamp(1_790_000_000, 0).expect("a time");
        let holds: Vec<i64> = (0..1000)
            .map(|i| {
                last_inbound_holds(start + chrono::Duration::milliseconds(i)).num_milliseconds()
            })
            .collect();
        assert!(holds.iter().all(|h| (45_000..=60_000).contains(h)));
        // Instants a millisecond apart land all over the range, not next to each other.
        let early = holds.iter().filter(|h| **h < 52_500).count();
        assert!(
            (350..=650).contains(&early),
            "{early} of 1000 in the first half"
        );
        assert_eq!(last_inbound_holds(start), last_inbound_holds(start));
    }
}
