//! The CRM side: clients and prospects with their contact persons, merging two clients
//! into one, and interests (deals) with their statuses.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::DbError;
use super::schema::{
    client_merges, clients, contact_persons, dialogs, interests, interlocutors, tasks,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = clients, check_for_backend(diesel::pg::Pg))]
pub struct ClientCard {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub notes: String,
    pub merged_into_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub erased_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct ClientFields {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub phone: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ClientQuery {
    pub q: Option<String>,
    pub kind: Option<String>,
    /// Clients with an id below this (the next page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub fn list_clients(
    conn: &mut PgConnection,
    query: &ClientQuery,
) -> Result<Vec<ClientCard>, DbError> {
    let mut select = clients::table
        .filter(clients::merged_into_id.is_null())
        .order(clients::id.desc())
        .limit(query.limit)
        .select(ClientCard::as_select())
        .into_boxed();
    if let Some(kind) = &query.kind {
        select = select.filter(clients::kind.eq(kind.clone()));
    }
    if let Some(before) = query.before_id {
        select = select.filter(clients::id.lt(before));
    }
    if let Some(q) = &query.q {
        let pattern = super::messages::like_pattern(q);
        select = select.filter(
            clients::name
                .ilike(pattern.clone())
                .or(clients::phone.ilike(pattern.clone()))
                .or(clients::email.ilike(pattern)),
        );
    }
    Ok(select.load(conn)?)
}

pub fn client_card(conn: &mut PgConnection, id: i64) -> Result<Option<ClientCard>, DbError> {
    Ok(clients::table
        .find(id)
        .select(ClientCard::as_select())
        .first(conn)
        .optional()?)
}

pub fn create_client(
    conn: &mut PgConnection,
    fields: &ClientFields,
    now: DateTime<Utc>,
) -> Result<ClientCard, DbError> {
    Ok(diesel::insert_into(clients::table)
        .values((
            clients::kind.eq(fields.kind.as_deref().unwrap_or("client")),
            clients::name.eq(fields.name.as_deref().unwrap_or_default()),
            clients::phone.eq(fields.phone.clone().flatten()),
            clients::email.eq(fields.email.clone().flatten()),
            clients::notes.eq(fields.notes.as_deref().unwrap_or_default()),
            clients::created_at.eq(now),
            clients::updated_at.eq(now),
        ))
        .returning(ClientCard::as_returning())
        .get_result(conn)?)
}

#[derive(AsChangeset)]
#[diesel(table_name = clients)]
struct ClientChanges<'a> {
    kind: Option<&'a str>,
    name: Option<&'a str>,
    phone: Option<Option<&'a str>>,
    email: Option<Option<&'a str>>,
    notes: Option<&'a str>,
    updated_at: DateTime<Utc>,
}

pub fn update_client(
    conn: &mut PgConnection,
    id: i64,
    fields: &ClientFields,
    now: DateTime<Utc>,
) -> Result<Option<ClientCard>, DbError> {
    let changes = ClientChanges {
        kind: fields.kind.as_deref(),
        name: fields.name.as_deref(),
        phone: fields.phone.as_ref().map(|p| p.as_deref()),
        email: fields.email.as_ref().map(|e| e.as_deref()),
        notes: fields.notes.as_deref(),
        updated_at: now,
    };
    Ok(diesel::update(
        clients::table
            .find(id)
            .filter(clients::merged_into_id.is_null()),
    )
    .set(&changes)
    .returning(ClientCard::as_returning())
    .get_result(conn)
    .optional()?)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contact_persons, check_for_backend(diesel::pg::Pg))]
pub struct ContactRow {
    pub id: i64,
    pub client_id: i64,
    pub name: String,
    pub position: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub fn contacts_of(conn: &mut PgConnection, client_id: i64) -> Result<Vec<ContactRow>, DbError> {
    Ok(contact_persons::table
        .filter(contact_persons::client_id.eq(client_id))
        .order(contact_persons::id.asc())
        .select(ContactRow::as_select())
        .load(conn)?)
}

pub struct NewContact {
    pub client_id: i64,
    pub name: String,
    pub position: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

pub fn add_contact(conn: &mut PgConnection, new: &NewContact) -> Result<ContactRow, DbError> {
    Ok(diesel::insert_into(contact_persons::table)
        .values((
            contact_persons::client_id.eq(new.client_id),
            contact_persons::name.eq(&new.name),
            contact_persons::position.eq(&new.position),
            contact_persons::phone.eq(&new.phone),
            contact_persons::email.eq(&new.email),
        ))
        .returning(ContactRow::as_returning())
        .get_result(conn)?)
}

/// What a merge moved.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Moved {
    pub interlocutors: usize,
    pub dialogs: usize,
    pub interests: usize,
    pub contacts: usize,
    pub tasks: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("a client cannot be merged into itself")]
    Same,
    #[error("no such client")]
    Missing,
    #[error("the client was merged into another one already")]
    AlreadyMerged,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for MergeError {
    fn from(error: diesel::result::Error) -> Self {
        MergeError::Db(error.into())
    }
}

/// Merges `from` into `into` (one person known twice): their interlocutors, dialogs,
/// interests, contact persons and tasks move; `from` stays, marked merged, for history;
/// the merge is recorded. A prospect merged with a client is a client.
pub fn merge_clients(
    conn: &mut PgConnection,
    from: i64,
    into: i64,
    by: i64,
    now: DateTime<Utc>,
) -> Result<(ClientCard, Moved), MergeError> {
    if from == into {
        return Err(MergeError::Same);
    }
    conn.transaction(|conn| {
        // Both rows locked in id order, so two crossing merges cannot deadlock.
        let mut locked: Vec<ClientCard> = clients::table
            .filter(clients::id.eq_any([from, into]))
            .order(clients::id.asc())
            .for_update()
            .select(ClientCard::as_select())
            .load(conn)?;
        if locked.len() != 2 {
            return Err(MergeError::Missing);
        }
        if locked.iter().any(|c| c.merged_into_id.is_some()) {
            return Err(MergeError::AlreadyMerged);
        }
        let source = locked
            .iter()
            .position(|c| c.id == from)
            .map(|i| locked.remove(i))
            .ok_or(MergeError::Missing)?;
        let moved = Moved {
            interlocutors: diesel::update(
                interlocutors::table.filter(interlocutors::client_id.eq(from)),
            )
            .set(interlocutors::client_id.eq(into))
            .execute(conn)?,
            dialogs: diesel::update(dialogs::table.filter(dialogs::client_id.eq(from)))
                // The version moves, so a dialog's actor re-reads the row.
                .set((
                    dialogs::client_id.eq(into),
                    dialogs::version.eq(dialogs::version + 1),
                ))
                .execute(conn)?,
            interests: diesel::update(interests::table.filter(interests::client_id.eq(from)))
                .set(interests::client_id.eq(into))
                .execute(conn)?,
            contacts: diesel::update(
                contact_persons::table.filter(contact_persons::client_id.eq(from)),
            )
            .set(contact_persons::client_id.eq(into))
            .execute(conn)?,
            tasks: diesel::update(tasks::table.filter(tasks::client_id.eq(from)))
                .set(tasks::client_id.eq(into))
                .execute(conn)?,
        };
        diesel::update(clients::table.find(from))
            .set((
                clients::merged_into_id.eq(into),
                clients::updated_at.eq(now),
            ))
            .execute(conn)?;
        if source.kind == "client" {
            diesel::update(clients::table.find(into))
                .set(clients::kind.eq("client"))
                .execute(conn)?;
        }
        diesel::insert_into(client_merges::table)
            .values((
                client_merges::from_client_id.eq(from),
                client_merges::into_client_id.eq(into),
                client_merges::merged_by.eq(by),
                client_merges::merged_at.eq(now),
                client_merges::details.eq(json!({"moved": moved, "from_name": source.name})),
            ))
            .execute(conn)?;
        let card = diesel::update(clients::table.find(into))
            .set(clients::updated_at.eq(now))
            .returning(ClientCard::as_returning())
            .get_result(conn)?;
        super::audit::note(
            conn,
            Some(by),
            "clients_merged",
            format!("client:{into}"),
            json!({"from": from, "moved": moved}),
        )?;
        Ok((card, moved))
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = interests, check_for_backend(diesel::pg::Pg))]
pub struct InterestCard {
    pub id: i64,
    pub client_id: i64,
    pub title: String,
    pub description: String,
    pub status: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub responsible_user_id: Option<i64>,
    pub basis_dialog_id: Option<i64>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

pub fn list_interests(
    conn: &mut PgConnection,
    client_id: Option<i64>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<InterestCard>, DbError> {
    let mut select = interests::table
        .order((interests::created_at.desc(), interests::id.desc()))
        .limit(limit)
        .select(InterestCard::as_select())
        .into_boxed();
    if let Some(client) = client_id {
        select = select.filter(interests::client_id.eq(client));
    }
    if let Some(status) = status {
        select = select.filter(interests::status.eq(status.to_owned()));
    }
    Ok(select.load(conn)?)
}

pub fn interest_card(conn: &mut PgConnection, id: i64) -> Result<Option<InterestCard>, DbError> {
    Ok(interests::table
        .find(id)
        .select(InterestCard::as_select())
        .first(conn)
        .optional()?)
}

pub struct NewInterestCard {
    pub client_id: i64,
    pub title: String,
    pub description: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub responsible_user_id: Option<i64>,
    pub created_by: i64,
}

pub fn create_interest(
    conn: &mut PgConnection,
    new: &NewInterestCard,
    now: DateTime<Utc>,
) -> Result<InterestCard, DbError> {
    Ok(diesel::insert_into(interests::table)
        .values((
            interests::client_id.eq(new.client_id),
            interests::title.eq(&new.title),
            interests::description.eq(&new.description),
            interests::amount_minor.eq(new.amount_minor),
            interests::currency.eq(&new.currency),
            interests::responsible_user_id.eq(new.responsible_user_id),
            interests::created_by.eq(new.created_by),
            interests::created_at.eq(now),
            interests::updated_at.eq(now),
        ))
        .returning(InterestCard::as_returning())
        .get_result(conn)?)
}

#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = interests)]
pub struct InterestChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub amount_minor: Option<Option<i64>>,
    pub currency: Option<Option<String>>,
    pub responsible_user_id: Option<Option<i64>>,
    pub closed_at: Option<Option<DateTime<Utc>>>,
}

pub fn update_interest(
    conn: &mut PgConnection,
    id: i64,
    changes: &InterestChanges,
    now: DateTime<Utc>,
) -> Result<Option<InterestCard>, DbError> {
    Ok(diesel::update(interests::table.find(id))
        .set((changes, interests::updated_at.eq(now)))
        .returning(InterestCard::as_returning())
        .get_result(conn)
        .optional()?)
}

/// The dialogs linked to an interest, newest first.
pub fn interest_dialogs(
    conn: &mut PgConnection,
    interest_id: i64,
) -> Result<Vec<(i64, i64)>, DbError> {
    Ok(dialogs::table
        .filter(dialogs::interest_id.eq(interest_id))
        .order(dialogs::id.desc())
        .select((dialogs::id, dialogs::account_id))
        .load(conn)?)
}
