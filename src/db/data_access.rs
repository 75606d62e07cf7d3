//! Who read a client's personal data (R47's access log) and the consents interlocutors
//! gave or withdrew.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};

use super::DbError;
use super::schema::{consents, data_access};

/// What was read: a client's card, a dialog, a client's dialog from the card, an export.
pub const READ_CLIENT: &str = "client";
pub const READ_DIALOG: &str = "dialog";
pub const READ_EXPORT: &str = "export";

/// Records that a user read a client's card or a dialog (the dialog's client is looked
/// up, so the log is queryable by client).
pub fn note_read(
    conn: &mut PgConnection,
    user_id: i64,
    credential_id: Option<i64>,
    what: &str,
    client_id: Option<i64>,
    dialog_id: Option<i64>,
) -> Result<(), DbError> {
    diesel::sql_query(
        "INSERT INTO data_access (user_id, credential_id, what, client_id, dialog_id) \
         SELECT $1, $2, $3, COALESCE($4, (SELECT client_id FROM dialogs WHERE id = $5)), $5",
    )
    .bind::<BigInt, _>(user_id)
    .bind::<Nullable<BigInt>, _>(credential_id)
    .bind::<Text, _>(what)
    .bind::<Nullable<BigInt>, _>(client_id)
    .bind::<Nullable<BigInt>, _>(dialog_id)
    .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, QueryableByName)]
pub struct AccessRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub user_name: String,
    #[diesel(sql_type = Text)]
    pub what: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub client_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub dialog_id: Option<i64>,
}

/// Who read what, newest first: by client (its card and every dialog now its own), by
/// user, or both; `before` pages back.
pub fn access_log(
    conn: &mut PgConnection,
    client_id: Option<i64>,
    user_id: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AccessRow>, DbError> {
    Ok(diesel::sql_query(
        "SELECT a.id, a.at, a.user_id, u.display_name AS user_name, a.what, \
           COALESCE(a.client_id, d.client_id) AS client_id, a.dialog_id \
         FROM data_access a JOIN users u ON u.id = a.user_id \
         LEFT JOIN dialogs d ON d.id = a.dialog_id \
         WHERE ($1::bigint IS NULL OR a.client_id = $1 OR d.client_id = $1) \
           AND ($2::bigint IS NULL OR a.user_id = $2) \
           AND ($3::bigint IS NULL OR a.id < $3) \
         ORDER BY a.id DESC LIMIT $4",
    )
    .bind::<Nullable<BigInt>, _>(client_id)
    .bind::<Nullable<BigInt>, _>(user_id)
    .bind::<Nullable<BigInt>, _>(before)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}

/// Where a consent was given or withdrawn.
pub const CONSENT_CHANNEL: &str = "channel";
pub const CONSENT_OPERATOR: &str = "operator";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = consents, check_for_backend(diesel::pg::Pg))]
pub struct ConsentRow {
    pub id: i64,
    pub interlocutor_id: i64,
    pub given: bool,
    pub source: String,
    pub note: String,
    pub recorded_by: Option<i64>,
    pub at: DateTime<Utc>,
}

/// Records a consent given or withdrawn.
pub fn record_consent(
    conn: &mut PgConnection,
    interlocutor_id: i64,
    given: bool,
    source: &str,
    note: &str,
    recorded_by: Option<i64>,
) -> Result<ConsentRow, DbError> {
    Ok(diesel::insert_into(consents::table)
        .values((
            consents::interlocutor_id.eq(interlocutor_id),
            consents::given.eq(given),
            consents::source.eq(source),
            consents::note.eq(note),
            consents::recorded_by.eq(recorded_by),
        ))
        .returning(ConsentRow::as_returning())
        .get_result(conn)?)
}

/// Records a channel's subscribe or unsubscribe (allow or deny messages, block or
/// unblock) as the interlocutor's consent to be written to, given or withdrawn.
pub fn channel_consent(
    conn: &mut PgConnection,
    account_id: i64,
    external_id: &str,
    given: bool,
) -> Result<(), DbError> {
    diesel::sql_query(
        "INSERT INTO consents (interlocutor_id, given, source, note) \
         SELECT id, $3, 'channel', '' FROM interlocutors \
         WHERE account_id = $1 AND external_id = $2",
    )
    .bind::<BigInt, _>(account_id)
    .bind::<Text, _>(external_id)
    .bind::<diesel::sql_types::Bool, _>(given)
    .execute(conn)?;
    Ok(())
}

/// The consents of a client's interlocutors (or of one interlocutor), newest first.
pub fn consents_of(
    conn: &mut PgConnection,
    client_id: Option<i64>,
    interlocutor_id: Option<i64>,
) -> Result<Vec<ConsentRow>, DbError> {
    use super::schema::interlocutors;
    let mut query = consents::table
        .inner_join(interlocutors::table)
        .select(ConsentRow::as_select())
        .order(consents::id.desc())
        .into_boxed();
    if let Some(client_id) = client_id {
        query = query.filter(interlocutors::client_id.eq(client_id));
    }
    if let Some(id) = interlocutor_id {
        query = query.filter(interlocutors::id.eq(id));
    }
    Ok(query.limit(500).load(conn)?)
}

/// Removes from `data_access` the reads before `before` (the daily run keeps three years).
pub fn forget_old_reads(conn: &mut PgConnection, before: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(diesel::delete(data_access::table.filter(data_access::at.lt(before))).execute(conn)?)
}
