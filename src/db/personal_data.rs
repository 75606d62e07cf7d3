//! The personal-data kit (R47, 152-FZ): retention per account, and one client's data
//! exported and erased on request (the access log and consents: `db::data_access`).
//!
//! Removing keeps the rows that statistics count (dialogs, messages with their direction,
//! times and delivery, close reasons): texts, names, contact details and files go. What
//! a removal selects is one query ([`due_for_retention`], [`client_scope`]) shared by its
//! preview and its run, so a run removes exactly what the preview counted.

use chrono::{DateTime, Months, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text, Timestamptz};
use serde::Serialize;
use serde_json::json;

use super::{DbError, audit, dialogs, events};

/// What a removal touches (or would).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub dialogs: i64,
    pub messages: i64,
    pub files: i64,
    pub bytes: i64,
}

/// The messages a retention of `months` removes on `account_id` now: those of dialogs
/// closed before the cut-off, not removed already, system lines excepted.
#[derive(Debug, Clone)]
struct Due {
    messages: Vec<i64>,
    dialogs: Vec<i64>,
}

#[derive(QueryableByName)]
struct IdPair {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    dialog_id: i64,
}

/// The moment before which a dialog closed is due under `months` of retention.
pub fn cutoff(now: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn due_for_retention(
    conn: &mut PgConnection,
    account_id: i64,
    cutoff: DateTime<Utc>,
) -> Result<Due, DbError> {
    let rows: Vec<IdPair> = diesel::sql_query(
        "SELECT m.id, m.dialog_id FROM messages m JOIN dialogs d ON d.id = m.dialog_id \
         WHERE d.account_id = $1 AND d.status = 'closed' AND d.closed_at < $2 \
           AND m.redacted_at IS NULL AND m.system_kind IS NULL \
         ORDER BY m.id",
    )
    .bind::<BigInt, _>(account_id)
    .bind::<Timestamptz, _>(cutoff)
    .load(conn)?;
    let mut dialogs: Vec<i64> = rows.iter().map(|r| r.dialog_id).collect();
    dialogs.sort_unstable();
    dialogs.dedup();
    Ok(Due {
        messages: rows.into_iter().map(|r| r.id).collect(),
        dialogs,
    })
}

#[derive(QueryableByName)]
struct FileTotals {
    #[diesel(sql_type = BigInt)]
    files: i64,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

fn files_of(conn: &mut PgConnection, messages: &[i64]) -> Result<FileTotals, DbError> {
    Ok(diesel::sql_query(
        "SELECT count(*)::bigint AS files, COALESCE(sum(size_bytes), 0)::bigint AS bytes \
         FROM attachments WHERE message_id = ANY($1)",
    )
    .bind::<Array<BigInt>, _>(messages)
    .get_result(conn)?)
}

fn summary(conn: &mut PgConnection, due: &Due) -> Result<Removed, DbError> {
    let files = files_of(conn, &due.messages)?;
    Ok(Removed {
        dialogs: due.dialogs.len() as i64,
        messages: due.messages.len() as i64,
        files: files.files,
        bytes: files.bytes,
    })
}

/// What a retention of `months` on the account would remove now.
pub fn retention_preview(
    conn: &mut PgConnection,
    account_id: i64,
    months: u32,
    now: DateTime<Utc>,
) -> Result<Removed, DbError> {
    let due = due_for_retention(conn, account_id, cutoff(now, months))?;
    summary(conn, &due)
}

/// Applies the account's retention (if it has one) in one transaction, audited; returns
/// what was removed and the stored files to delete once it committed.
pub fn apply_retention(
    conn: &mut PgConnection,
    account_id: i64,
    actor: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<(Removed, Vec<String>)>, DbError> {
    conn.build_transaction().run(|conn| {
        let months: Option<Option<i32>> = super::schema::channel_accounts::table
            .find(account_id)
            .select(super::schema::channel_accounts::retention_months)
            .for_update()
            .first(conn)
            .optional()?;
        let Some(Some(months)) = months else {
            return Ok(None);
        };
        let due = due_for_retention(conn, account_id, cutoff(now, months.unsigned_abs()))?;
        let removed = summary(conn, &due)?;
        let files = redact_messages(conn, &due.messages, now)?;
        clear_previews(conn, &due.dialogs, false)?;
        audit::note(
            conn,
            actor,
            "retention_applied",
            format!("account:{account_id}"),
            json!({"months": months, "removed": removed}),
        )?;
        Ok(Some((removed, files)))
    })
}

/// Accounts with a retention, for the daily run.
pub fn accounts_with_retention(conn: &mut PgConnection) -> Result<Vec<i64>, DbError> {
    use super::schema::channel_accounts::dsl as a;
    Ok(a::channel_accounts
        .filter(a::retention_months.is_not_null())
        .filter(a::archived_at.is_null())
        .select(a::id)
        .order(a::id)
        .load(conn)?)
}

/// Sets (or clears) an account's retention, audited. `None` when there is no account.
pub fn set_retention(
    conn: &mut PgConnection,
    account_id: i64,
    months: Option<u32>,
    actor: i64,
) -> Result<Option<()>, DbError> {
    use super::schema::channel_accounts::dsl as a;
    conn.build_transaction().run(|conn| {
        let months = months.map(|m| m.min(i32::MAX as u32) as i32);
        let changed = diesel::update(a::channel_accounts.find(account_id))
            .set(a::retention_months.eq(months))
            .execute(conn)?;
        if changed == 0 {
            return Ok(None);
        }
        audit::note(
            conn,
            Some(actor),
            "retention_changed",
            format!("account:{account_id}"),
            json!({"months": months}),
        )?;
        Ok(Some(()))
    })
}

/// An account's retention in months, if it has one; `None` when there is no account.
pub fn retention_of(
    conn: &mut PgConnection,
    account_id: i64,
) -> Result<Option<Option<i32>>, DbError> {
    use super::schema::channel_accounts::dsl as a;
    Ok(a::channel_accounts
        .find(account_id)
        .select(a::retention_months)
        .first(conn)
        .optional()?)
}

#[derive(QueryableByName)]
struct StoredPath {
    #[diesel(sql_type = Nullable<Text>)]
    storage_path: Option<String>,
}

/// Empties messages (text, sender, content, earlier versions, files) and marks them
/// removed; returns the stored files no other attachment uses.
fn redact_messages(
    conn: &mut PgConnection,
    messages: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbError> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let paths: Vec<StoredPath> = diesel::sql_query(
        "DELETE FROM attachments WHERE message_id = ANY($1) RETURNING storage_path",
    )
    .bind::<Array<BigInt>, _>(messages)
    .load(conn)?;
    let mut paths: Vec<String> = paths.into_iter().filter_map(|p| p.storage_path).collect();
    paths.sort_unstable();
    paths.dedup();
    let still_used: Vec<StoredPath> = diesel::sql_query(
        "SELECT DISTINCT storage_path FROM attachments WHERE storage_path = ANY($1)",
    )
    .bind::<Array<Text>, _>(&paths)
    .load(conn)?;
    paths.retain(|p| {
        !still_used
            .iter()
            .any(|u| u.storage_path.as_deref() == Some(p))
    });
    diesel::sql_query("DELETE FROM message_edits WHERE message_id = ANY($1)")
        .bind::<Array<BigInt>, _>(messages)
        .execute(conn)?;
    diesel::sql_query(
        "UPDATE messages SET text = '', sender = NULL, content = NULL, redacted_at = $2 \
         WHERE id = ANY($1)",
    )
    .bind::<Array<BigInt>, _>(messages)
    .bind::<Timestamptz, _>(now)
    .execute(conn)?;
    Ok(paths)
}

/// Empties the dialogs' previews (and, when `titles`, their titles and close comments),
/// in the rows and in the events a stream replays, and tells subscribers.
fn clear_previews(
    conn: &mut PgConnection,
    dialog_ids: &[i64],
    titles: bool,
) -> Result<(), DbError> {
    if dialog_ids.is_empty() {
        return Ok(());
    }
    let set_titles = if titles {
        ", title = NULL, close_comment = NULL"
    } else {
        ""
    };
    diesel::sql_query(format!(
        "UPDATE dialogs SET last_message_preview = '', version = version + 1{set_titles} \
         WHERE id = ANY($1)"
    ))
    .bind::<Array<BigInt>, _>(dialog_ids)
    .execute(conn)?;
    // A replayed event says no more than the dialog now does.
    let nulled = if titles {
        "'title', 'comment', 'text', 'name'"
    } else {
        "'text'"
    };
    diesel::sql_query(format!(
        "UPDATE events SET payload = ( \
           SELECT jsonb_object_agg(k, CASE \
             WHEN k IN ('preview', 'last_message_preview') THEN '\"\"'::jsonb \
             WHEN k IN ({nulled}) THEN 'null'::jsonb ELSE v END) \
           FROM jsonb_each(payload) AS e(k, v)) \
         WHERE dialog_id = ANY($1) AND jsonb_typeof(payload) = 'object' \
           AND payload <> '{{}}'::jsonb"
    ))
    .bind::<Array<BigInt>, _>(dialog_ids)
    .execute(conn)?;
    let rows: Vec<dialogs::DialogRow> = super::schema::dialogs::table
        .filter(super::schema::dialogs::id.eq_any(dialog_ids))
        .select(dialogs::DialogRow::as_select())
        .load(conn)?;
    let new: Vec<events::NewEvent> = rows.iter().map(dialogs::dialog_event).collect();
    events::append(conn, &new)?;
    Ok(())
}

/// The interlocutors and dialogs of a client.
#[derive(Debug, Clone, Default)]
struct ClientScope {
    interlocutors: Vec<i64>,
    external_ids: Vec<String>,
    dialogs: Vec<i64>,
}

#[derive(QueryableByName)]
struct Interlocutor {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    external_id: String,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

fn client_scope(conn: &mut PgConnection, client_id: i64) -> Result<ClientScope, DbError> {
    let interlocutors: Vec<Interlocutor> = diesel::sql_query(
        "SELECT id, external_id FROM interlocutors WHERE client_id = $1 ORDER BY id",
    )
    .bind::<BigInt, _>(client_id)
    .load(conn)?;
    let ids: Vec<i64> = interlocutors.iter().map(|i| i.id).collect();
    let dialogs: Vec<Id> = diesel::sql_query(
        "SELECT id FROM dialogs WHERE client_id = $1 OR interlocutor_id = ANY($2) ORDER BY id",
    )
    .bind::<BigInt, _>(client_id)
    .bind::<Array<BigInt>, _>(&ids)
    .load(conn)?;
    Ok(ClientScope {
        interlocutors: ids,
        external_ids: interlocutors.into_iter().map(|i| i.external_id).collect(),
        dialogs: dialogs.into_iter().map(|d| d.id).collect(),
    })
}

#[derive(QueryableByName)]
struct Document {
    #[diesel(sql_type = Nullable<Jsonb>)]
    document: Option<serde_json::Value>,
}

/// A stored file of an exported client: the attachment and where its bytes are.
#[derive(Debug, Clone)]
pub struct ExportedFile {
    pub attachment_id: i64,
    pub file_name: String,
}

/// Everything stored about a client, as one JSON document, and its files; `None` when
/// there is no such client.
pub fn export_client(
    conn: &mut PgConnection,
    client_id: i64,
) -> Result<Option<(serde_json::Value, Vec<ExportedFile>)>, DbError> {
    let scope = client_scope(conn, client_id)?;
    let found: Document = diesel::sql_query(EXPORT_SQL)
        .bind::<BigInt, _>(client_id)
        .bind::<Array<BigInt>, _>(&scope.interlocutors)
        .bind::<Array<BigInt>, _>(&scope.dialogs)
        .get_result(conn)?;
    let Some(document) = found.document else {
        return Ok(None);
    };
    #[derive(QueryableByName)]
    struct File {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        file_name: String,
    }
    let files: Vec<File> = diesel::sql_query(
        "SELECT a.id, a.file_name FROM attachments a JOIN messages m ON m.id = a.message_id \
         WHERE m.dialog_id = ANY($1) AND a.kind <> 'link' ORDER BY a.id",
    )
    .bind::<Array<BigInt>, _>(&scope.dialogs)
    .load(conn)?;
    Ok(Some((
        document,
        files
            .into_iter()
            .map(|f| ExportedFile {
                attachment_id: f.id,
                file_name: f.file_name,
            })
            .collect(),
    )))
}

/// The export document: `$1` the client, `$2` its interlocutors, `$3` its dialogs.
const EXPORT_SQL: &str = "
SELECT CASE WHEN c.id IS NULL THEN NULL ELSE jsonb_build_object(
  'client', to_jsonb(c),
  'contact_persons', COALESCE((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.id)
      FROM contact_persons p WHERE p.client_id = c.id), '[]'::jsonb),
  'interests', COALESCE((SELECT jsonb_agg(to_jsonb(i) ORDER BY i.id)
      FROM interests i WHERE i.client_id = c.id), '[]'::jsonb),
  'interlocutors', COALESCE((SELECT jsonb_agg(to_jsonb(l) || jsonb_build_object(
        'account', (SELECT jsonb_build_object('id', a.id, 'kind', a.kind, 'name', a.name)
                    FROM channel_accounts a WHERE a.id = l.account_id),
        'consents', COALESCE((SELECT jsonb_agg(to_jsonb(k) ORDER BY k.id)
                    FROM consents k WHERE k.interlocutor_id = l.id), '[]'::jsonb))
      ORDER BY l.id)
      FROM interlocutors l WHERE l.id = ANY($2)), '[]'::jsonb),
  'dialogs', COALESCE((SELECT jsonb_agg(to_jsonb(d) || jsonb_build_object(
        'close_reason', (SELECT r.name FROM close_reasons r WHERE r.id = d.close_reason_id),
        'messages', COALESCE((SELECT jsonb_agg(to_jsonb(m) || jsonb_build_object(
              'author_name', (SELECT u.display_name FROM users u WHERE u.id = m.author_user_id),
              'earlier_versions', COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'text', e.old_text, 'edited_at', e.edited_at) ORDER BY e.id)
                  FROM message_edits e WHERE e.message_id = m.id), '[]'::jsonb),
              'attachments', COALESCE((SELECT jsonb_agg((to_jsonb(f) - 'storage_path'
                    - 'channel_file_id') || jsonb_build_object('file', CASE
                    WHEN f.kind = 'link' THEN NULL
                    ELSE 'files/' || f.id || '/' || f.file_name END) ORDER BY f.id)
                  FROM attachments f WHERE f.message_id = m.id), '[]'::jsonb))
            ORDER BY m.id)
          FROM messages m WHERE m.dialog_id = d.id), '[]'::jsonb))
      ORDER BY d.id)
      FROM dialogs d WHERE d.id = ANY($3)), '[]'::jsonb),
  'tasks', COALESCE((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.id)
      FROM tasks t WHERE t.client_id = c.id OR t.dialog_id = ANY($3)), '[]'::jsonb)
) END AS document
FROM (SELECT 1) one LEFT JOIN clients c ON c.id = $1";

/// The name an erased client, contact person or interlocutor carries from then on.
pub const ERASED_CLIENT: &str = "Клиент удалён";
pub const ERASED_CONTACT: &str = "Контактное лицо удалено";
pub const ERASED_INTERLOCUTOR: &str = "Собеседник удалён";

/// Erases a client on request: every text, file, name and contact detail of it, its
/// contact persons, interlocutors and dialogs is replaced or removed; rows that
/// statistics count stay. `None` when there is no such client. Returns what was removed
/// and the stored files to delete once it committed.
pub fn erase_client(
    conn: &mut PgConnection,
    client_id: i64,
    actor: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Removed, Vec<String>)>, DbError> {
    conn.build_transaction().run(|conn| {
        #[derive(QueryableByName)]
        struct Card {
            #[diesel(sql_type = Text)]
            name: String,
            #[diesel(sql_type = Nullable<Text>)]
            phone: Option<String>,
            #[diesel(sql_type = Nullable<Text>)]
            email: Option<String>,
        }
        let card: Option<Card> =
            diesel::sql_query("SELECT name, phone, email FROM clients WHERE id = $1 FOR UPDATE")
                .bind::<BigInt, _>(client_id)
                .get_result(conn)
                .optional()?;
        let Some(card) = card else {
            return Ok(None);
        };
        let scope = client_scope(conn, client_id)?;
        let messages: Vec<Id> =
            diesel::sql_query("SELECT id FROM messages WHERE dialog_id = ANY($1) ORDER BY id")
                .bind::<Array<BigInt>, _>(&scope.dialogs)
                .load(conn)?;
        let messages: Vec<i64> = messages.into_iter().map(|m| m.id).collect();
        let files = files_of(conn, &messages)?;
        let removed = Removed {
            dialogs: scope.dialogs.len() as i64,
            messages: messages.len() as i64,
            files: files.files,
            bytes: files.bytes,
        };
        let paths = redact_messages(conn, &messages, now)?;
        // What operators wrote into system lines (a redirect's or a close's comment).
        diesel::sql_query(
            "UPDATE messages SET system_data = system_data - 'comment' - 'title' \
             WHERE dialog_id = ANY($1) AND jsonb_typeof(system_data) = 'object'",
        )
        .bind::<Array<BigInt>, _>(&scope.dialogs)
        .execute(conn)?;
        clear_previews(conn, &scope.dialogs, true)?;
        diesel::sql_query(
            "UPDATE interlocutors SET display_name = $2, username = NULL, profile = '{}', \
               external_id = 'erased:' || id, erased_at = $3, updated_at = $3 \
             WHERE id = ANY($1)",
        )
        .bind::<Array<BigInt>, _>(&scope.interlocutors)
        .bind::<Text, _>(ERASED_INTERLOCUTOR)
        .bind::<Timestamptz, _>(now)
        .execute(conn)?;
        diesel::sql_query("UPDATE consents SET note = '' WHERE interlocutor_id = ANY($1)")
            .bind::<Array<BigInt>, _>(&scope.interlocutors)
            .execute(conn)?;
        diesel::sql_query(
            "UPDATE clients SET name = $2, phone = NULL, email = NULL, notes = '', \
               erased_at = $3, updated_at = $3 WHERE id = $1",
        )
        .bind::<BigInt, _>(client_id)
        .bind::<Text, _>(ERASED_CLIENT)
        .bind::<Timestamptz, _>(now)
        .execute(conn)?;
        diesel::sql_query(
            "UPDATE contact_persons SET name = $2, position = '', phone = NULL, email = NULL \
             WHERE client_id = $1",
        )
        .bind::<BigInt, _>(client_id)
        .bind::<Text, _>(ERASED_CONTACT)
        .execute(conn)?;
        diesel::sql_query(
            "UPDATE interests SET title = 'Интерес ' || id, description = '', updated_at = $2 \
             WHERE client_id = $1",
        )
        .bind::<BigInt, _>(client_id)
        .bind::<Timestamptz, _>(now)
        .execute(conn)?;
        diesel::sql_query(
            "UPDATE tasks SET title = 'Задача ' || id, description = '', updated_at = $3 \
             WHERE client_id = $1 OR dialog_id = ANY($2)",
        )
        .bind::<BigInt, _>(client_id)
        .bind::<Array<BigInt>, _>(&scope.dialogs)
        .bind::<Timestamptz, _>(now)
        .execute(conn)?;
        diesel::sql_query(
            "UPDATE client_merges SET details = '{}' \
             WHERE from_client_id = $1 OR into_client_id = $1",
        )
        .bind::<BigInt, _>(client_id)
        .execute(conn)?;
        // Answers kept for retried requests, and raw updates kept for diagnosis, that
        // hold the client's data.
        let needles: Vec<String> = [Some(card.name), card.phone, card.email]
            .into_iter()
            .flatten()
            .chain(scope.external_ids.iter().cloned())
            .filter(|n| n.chars().count() >= 3)
            .map(|n| format!("%{}%", like_escaped(&n)))
            .collect();
        diesel::sql_query(
            "DELETE FROM idempotency_keys WHERE response_body::text LIKE ANY($3) \
               OR (jsonb_typeof(response_body) = 'object' AND ( \
                 response_body->>'dialog_id' = ANY($2::bigint[]::text[]) \
                 OR response_body->>'client_id' = $1::text))",
        )
        .bind::<BigInt, _>(client_id)
        .bind::<Array<BigInt>, _>(&scope.dialogs)
        .bind::<Array<Text>, _>(&needles)
        .execute(conn)?;
        diesel::sql_query("DELETE FROM failed_updates WHERE raw LIKE ANY($1)")
            .bind::<Array<Text>, _>(&needles)
            .execute(conn)?;
        audit::note(
            conn,
            Some(actor),
            "client_erased",
            format!("client:{client_id}"),
            json!({"reason": reason, "removed": removed}),
        )?;
        Ok(Some((removed, paths)))
    })
}

fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn r47_cutoff_counts_calendar_months() {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 31, 12, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(
            cutoff(now, 1),
            Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0)
                .single()
                .unwrap_or_default()
        );
        assert_eq!(
            cutoff(now, 12),
            Utc.with_ymd_and_hms(2025, 3, 31, 12, 0, 0)
                .single()
                .unwrap_or_default()
        );
    }

    #[test]
    fn r47_like_patterns_match_the_text_itself() {
        assert_eq!(like_escaped("50%_off\\"), "50\\%\\_off\\\\");
    }
}
