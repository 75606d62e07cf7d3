//! Dialogs: opening one, committing a decided command (guarded by the dialog's version,
//! with its messages, system lines, outbox row and events in one transaction), read marks.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::schema::{dialog_reads, dialogs, interests, messages, outbox};
use super::{DbError, events};
use crate::domain::dialog::{DialogState, DialogStatus, Event, Target};
use crate::domain::{InterestId, RoleId, UserId};

/// The longest preview kept on a dialog and sent in events.
pub const PREVIEW_CHARS: usize = 200;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = dialogs, check_for_backend(diesel::pg::Pg))]
pub struct DialogRow {
    pub id: i64,
    pub number: i64,
    pub title: Option<String>,
    pub account_id: i64,
    pub interlocutor_id: i64,
    pub client_id: Option<i64>,
    pub status: String,
    pub responsible_user_id: Option<i64>,
    pub responsible_role_id: Option<i64>,
    pub is_lead: bool,
    pub interest_id: Option<i64>,
    pub close_reason_id: Option<i64>,
    pub close_comment: Option<String>,
    pub closed_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_message_preview: String,
    pub last_message_direction: Option<String>,
    pub last_inbound_message_id: Option<i64>,
    pub version: i64,
}

impl DialogRow {
    /// The state machine's view of this row, under its account's close-reason rule.
    pub fn state(&self, require_close_reason: bool) -> DialogState {
        DialogState {
            status: DialogStatus::parse(&self.status).unwrap_or(DialogStatus::Closed),
            responsible_user: self.responsible_user_id.map(UserId),
            responsible_role: self.responsible_role_id.map(RoleId),
            title: self.title.clone(),
            interest: self.interest_id.map(InterestId),
            has_client: self.client_id.is_some(),
            is_lead: self.is_lead,
            require_close_reason,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = dialogs)]
pub struct NewDialogRow {
    pub account_id: i64,
    pub interlocutor_id: i64,
    pub client_id: Option<i64>,
    pub responsible_user_id: Option<i64>,
    pub responsible_role_id: Option<i64>,
    pub is_lead: bool,
    pub interest_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// Set to the opening time, so the list's sort key is never empty.
    pub last_message_at: Option<DateTime<Utc>>,
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Option<DialogRow>, DbError> {
    Ok(dialogs::table
        .find(id)
        .select(DialogRow::as_select())
        .first(conn)
        .optional()?)
}

/// `dialogs.status <> 'closed'` with the word written into the SQL, not bound. A bound
/// value cannot prove a partial index's predicate, so a prepared statement's generic plan
/// (what PostgreSQL switches to after five runs) would skip the indexes on active dialogs
/// and scan the account's dialogs; written out, the statement stays cached and indexed.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId, diesel::expression::ValidGrouping)]
pub struct IsActive;

impl Expression for IsActive {
    type SqlType = diesel::sql_types::Bool;
}

impl<QS> AppearsOnTable<QS> for IsActive where dialogs::status: AppearsOnTable<QS> {}

impl<QS> SelectableExpression<QS> for IsActive where dialogs::status: SelectableExpression<QS> {}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for IsActive {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("\"dialogs\".\"status\" <> 'closed'");
        Ok(())
    }
}

/// A dialog with its account's rule that closing needs a reason, in one read.
pub fn find_with_close_rule(
    conn: &mut PgConnection,
    id: i64,
) -> Result<Option<(DialogRow, bool)>, DbError> {
    use super::schema::channel_accounts;
    Ok(dialogs::table
        .inner_join(channel_accounts::table)
        .filter(dialogs::id.eq(id))
        .select((
            DialogRow::as_select(),
            channel_accounts::require_close_reason,
        ))
        .first(conn)
        .optional()?)
}

pub fn find_active(
    conn: &mut PgConnection,
    account_id: i64,
    interlocutor_id: i64,
) -> Result<Option<DialogRow>, DbError> {
    Ok(dialogs::table
        .filter(dialogs::account_id.eq(account_id))
        .filter(dialogs::interlocutor_id.eq(interlocutor_id))
        .filter(IsActive)
        .select(DialogRow::as_select())
        .first(conn)
        .optional()?)
}

/// What the database knows of an inbound message's sender on an account, read in one
/// round trip: the steady case (a known interlocutor writing into their active dialog)
/// needs nothing else before the message is committed.
#[derive(Debug, Clone)]
pub struct InboundContext {
    /// The account already stored a message with this channel id.
    pub duplicate: bool,
    pub interlocutor: Option<super::clients::InterlocutorRow>,
    /// The interlocutor's active dialog on the account.
    pub active: Option<DialogRow>,
    /// Some enabled processing rule applies to the account (R8).
    pub has_rules: bool,
}

pub fn inbound_context(
    conn: &mut PgConnection,
    account_id: i64,
    external_id: &str,
    channel_message_id: &str,
) -> Result<InboundContext, DbError> {
    use super::clients::InterlocutorRow;
    use super::schema::{interlocutors, rules};
    let duplicate = diesel::dsl::exists(
        messages::table
            .filter(messages::account_id.eq(account_id))
            .filter(messages::channel_message_id.eq(channel_message_id)),
    );
    let has_rules = diesel::dsl::exists(
        rules::table.filter(rules::enabled.eq(true)).filter(
            rules::account_id
                .eq(account_id)
                .or(rules::account_id.is_null()),
        ),
    );
    let found: Option<(InterlocutorRow, Option<DialogRow>, bool, bool)> = interlocutors::table
        .left_join(
            dialogs::table.on(dialogs::interlocutor_id
                .eq(interlocutors::id)
                .and(dialogs::account_id.eq(interlocutors::account_id))
                .and(IsActive)),
        )
        .filter(interlocutors::account_id.eq(account_id))
        .filter(interlocutors::external_id.eq(external_id))
        .select((
            InterlocutorRow::as_select(),
            Option::<DialogRow>::as_select(),
            duplicate,
            has_rules,
        ))
        .first(conn)
        .optional()?;
    if let Some((interlocutor, active, duplicate, has_rules)) = found {
        return Ok(InboundContext {
            duplicate,
            interlocutor: Some(interlocutor),
            active,
            has_rules,
        });
    }
    // Someone new: rarer, and about to cost inserts anyway.
    let (duplicate, has_rules) = diesel::select((duplicate, has_rules)).get_result(conn)?;
    Ok(InboundContext {
        duplicate,
        interlocutor: None,
        active: None,
        has_rules,
    })
}

/// Opens a dialog for the inbound message that is about to be committed to it; `None`
/// when the interlocutor already has an active one on the account (another process opened
/// it first: the partial unique index decides).
///
/// No event is written here: the message's commit that follows carries the `dialog` event,
/// and a dialog is shown to no one before its first message. So opening is one insert that
/// takes no turn on the events log.
pub fn open(conn: &mut PgConnection, dialog: &NewDialogRow) -> Result<Option<DialogRow>, DbError> {
    Ok(diesel::insert_into(dialogs::table)
        .values(dialog)
        .on_conflict_do_nothing()
        .returning(DialogRow::as_returning())
        .get_result(conn)
        .optional()?)
}

/// A system line written outside a command (the dialog's state does not change): what
/// happened automatically, e.g. an interest linked when the dialog opened (R7).
pub fn add_system_line(
    conn: &mut PgConnection,
    dialog: &DialogRow,
    kind: &'static str,
    data: serde_json::Value,
) -> Result<i64, DbError> {
    conn.transaction(|conn| {
        let id: i64 = diesel::insert_into(messages::table)
            .values((
                messages::dialog_id.eq(dialog.id),
                messages::account_id.eq(dialog.account_id),
                messages::direction.eq("system"),
                messages::system_kind.eq(kind),
                messages::system_data.eq(&data),
                messages::created_at.eq(Utc::now()),
            ))
            .returning(messages::id)
            .get_result(conn)?;
        events::append(
            conn,
            &[events::NewEvent {
                kind: "message",
                account_id: Some(dialog.account_id),
                dialog_id: Some(dialog.id),
                user_id: None,
                payload: json!({"dialog_id": dialog.id, "message_id": id, "direction": "system",
                                "system_kind": kind, "preview": ""}),
            }],
        )?;
        Ok(id)
    })
}

/// A message that comes with a command: an inbound one, or an operator's reply.
#[derive(Debug, Clone)]
pub enum NewContent {
    Inbound {
        text: String,
        channel_message_id: String,
        channel_sent_at: Option<DateTime<Utc>>,
        attachments: Vec<NewAttachment>,
        /// Who wrote it in a group conversation (`{"external_id", "name"}`).
        sender: Option<serde_json::Value>,
        /// A place, a card, a sticker, a poll, the quoted message (R48).
        extras: Box<crate::domain::content::Extras>,
    },
    Reply {
        text: String,
        attachments: Vec<NewAttachment>,
    },
}

#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub kind: String,
    pub file_name: String,
    pub mime_type: Option<String>,
    pub size_bytes: Option<i64>,
    pub channel_file_id: Option<String>,
    pub url: Option<String>,
    /// A file of ours under the data folder's `media/` (an operator's upload).
    pub storage_path: Option<String>,
}

/// An interest to create with "accept lead" (R22).
#[derive(Debug, Clone)]
pub struct NewInterest {
    pub title: String,
    pub description: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
}

/// Everything one decided command writes.
#[derive(Debug, Clone)]
pub struct Change {
    pub dialog_id: i64,
    pub account_id: i64,
    pub expected_version: i64,
    pub actor: Option<i64>,
    pub events: Vec<Event>,
    pub after: DialogState,
    pub content: Option<NewContent>,
    pub close_reason_id: Option<i64>,
    pub comment: Option<String>,
    pub new_interest: Option<NewInterest>,
    pub now: DateTime<Utc>,
}

/// What a committed change wrote.
#[derive(Debug, Clone)]
pub struct Committed {
    pub dialog: DialogRow,
    /// Messages and system lines written, in order.
    pub message_ids: Vec<i64>,
    pub event_ids: Vec<i64>,
}

struct Line {
    direction: &'static str,
    author: Option<i64>,
    text: String,
    channel_message_id: Option<String>,
    channel_sent_at: Option<DateTime<Utc>>,
    delivery: Option<&'static str>,
    system_kind: Option<&'static str>,
    system_data: Option<serde_json::Value>,
    attachments: Vec<NewAttachment>,
    sender: Option<serde_json::Value>,
    /// `messages.content`, and its line for the list when the text is empty (R48).
    content: Option<serde_json::Value>,
    summary: Option<String>,
}

impl Line {
    /// The list's preview of this message: its text, else what it holds, else a clip for
    /// files.
    fn preview(&self) -> String {
        match &self.summary {
            Some(summary) if self.text.trim().is_empty() => preview(summary, false),
            _ => preview(&self.text, !self.attachments.is_empty()),
        }
    }

    fn system(kind: &'static str, author: Option<i64>, data: serde_json::Value) -> Self {
        Self {
            direction: "system",
            author,
            text: String::new(),
            channel_message_id: None,
            channel_sent_at: None,
            delivery: None,
            system_kind: Some(kind),
            system_data: Some(data),
            attachments: Vec::new(),
            sender: None,
            content: None,
            summary: None,
        }
    }
}

/// Commits a decided command in one transaction: guarded dialog update (`version`),
/// messages and system lines, the outbox row of a reply, the interest of an accepted lead,
/// and the events. `Err(DbError::VersionConflict)` when the dialog changed meanwhile
/// (another process): nothing is written, the caller reloads and decides again.
pub fn commit(conn: &mut PgConnection, change: &Change) -> Result<Committed, DbError> {
    let mut all = conn.transaction(|conn| write_with_events(conn, std::slice::from_ref(change)))?;
    all.pop()
        .ok_or(DbError::Invariant("a commit wrote nothing"))
}

/// Writes the changes and appends all their events in one go, under one turn of the
/// events lock, inside the caller's transaction.
fn write_with_events(
    conn: &mut PgConnection,
    changes: &[Change],
) -> Result<Vec<Committed>, DbError> {
    let written = write_all(conn, changes)?;
    let counts: Vec<usize> = written.iter().map(|(_, events)| events.len()).collect();
    let (mut committed, new_events): (Vec<Committed>, Vec<Vec<events::NewEvent>>) =
        written.into_iter().unzip();
    let mut ids = events::append(conn, &new_events.concat())?.into_iter();
    for (one, n) in committed.iter_mut().zip(counts) {
        one.event_ids = ids.by_ref().take(n).collect();
    }
    Ok(committed)
}

/// Commits the decided commands of different dialogs in one transaction (group commit):
/// their events take one turn on the events log's lock and the whole batch one flush to
/// disk. Each result is what [`commit`] of that change alone would give: when any change
/// of the batch fails (a version conflict, a duplicate), nothing of the batch is kept and
/// each change is committed alone, so one change's failure is never another's.
pub fn commit_batch(
    conn: &mut PgConnection,
    changes: &[Change],
) -> Vec<Result<Committed, DbError>> {
    if changes.len() > 1 {
        let together = conn.transaction(|conn| write_with_events(conn, changes));
        match together {
            Ok(all) => return all.into_iter().map(Ok).collect(),
            Err(error) => {
                tracing::debug!(%error, changes = changes.len(), "batch failed; committing each alone");
            }
        }
    }
    changes.iter().map(|change| commit(conn, change)).collect()
}

/// The messages and system lines a decided command writes, and the dialog's interest
/// after it. Only accepting a lead writes here (its new interest), inside the caller's
/// transaction.
fn lines_of(conn: &mut PgConnection, change: &Change) -> Result<(Vec<Line>, Option<i64>), DbError> {
    let now = change.now;
    let mut interest_id = change.after.interest.map(|i| i.0);
    let mut lines = Vec::new();
    for event in &change.events {
        match event {
            Event::MessageReceived | Event::Replied { .. } | Event::AutoReplied => {}
            Event::Accepted { by } => lines.push(Line::system("accepted", person(*by), json!({}))),
            Event::Assigned { to } => lines.push(Line::system(
                "assigned",
                change.actor,
                json!({"to": target_json(to)}),
            )),
            Event::MarkedLead => lines.push(Line::system("marked_lead", change.actor, json!({}))),
            Event::Closed { by } => lines.push(Line::system(
                "closed",
                person(*by),
                json!({"reason_id": change.close_reason_id, "comment": change.comment}),
            )),
            Event::Redirected { by, to } => {
                let to = target_json(to);
                lines.push(Line::system(
                    "redirected",
                    person(*by),
                    json!({"to": to, "comment": change.comment}),
                ));
            }
            Event::Renamed { title } => lines.push(Line::system(
                "renamed",
                change.actor,
                json!({"title": title}),
            )),
            Event::InterestLinked { interest } => {
                interest_id = Some(interest.0);
                lines.push(Line::system(
                    "interest_linked",
                    change.actor,
                    json!({"interest_id": interest.0}),
                ));
            }
            Event::LeadAccepted { by } => {
                let Some(new) = &change.new_interest else {
                    return Err(DbError::Invariant("accept lead without an interest"));
                };
                let client_id = find(conn, change.dialog_id)?
                    .and_then(|d| d.client_id)
                    .ok_or(DbError::Query(diesel::result::Error::NotFound))?;
                let id: i64 = diesel::insert_into(interests::table)
                    .values((
                        interests::client_id.eq(client_id),
                        interests::title.eq(&new.title),
                        interests::description.eq(&new.description),
                        interests::amount_minor.eq(new.amount_minor),
                        interests::currency.eq(&new.currency),
                        interests::responsible_user_id.eq(by.0),
                        interests::basis_dialog_id.eq(change.dialog_id),
                        interests::created_by.eq(by.0),
                        interests::created_at.eq(now),
                    ))
                    .returning(interests::id)
                    .get_result(conn)?;
                interest_id = Some(id);
                lines.push(Line::system(
                    "lead_accepted",
                    Some(by.0),
                    json!({"interest_id": id, "title": new.title}),
                ));
            }
        }
    }
    match &change.content {
        Some(NewContent::Inbound {
            text,
            channel_message_id,
            channel_sent_at,
            attachments,
            sender,
            extras,
        }) => lines.push(Line {
            direction: "in",
            author: None,
            text: text.clone(),
            channel_message_id: Some(channel_message_id.clone()),
            channel_sent_at: *channel_sent_at,
            delivery: None,
            system_kind: None,
            system_data: None,
            attachments: attachments.clone(),
            sender: sender.clone(),
            content: extras.to_json(),
            summary: extras.content.as_ref().map(|c| c.summary()),
        }),
        Some(NewContent::Reply { text, attachments }) => lines.push(Line {
            direction: "out",
            author: change.actor,
            text: text.clone(),
            channel_message_id: None,
            channel_sent_at: None,
            delivery: Some("pending"),
            system_kind: None,
            system_data: None,
            attachments: attachments.clone(),
            sender: None,
            content: None,
            summary: None,
        }),
        None => {}
    }
    Ok((lines, interest_id))
}

/// One dialog's part of the batched guarded UPDATE (see `UPDATE_DIALOGS`).
struct DialogUpdate {
    id: i64,
    version: i64,
    accepted: bool,
    closing: bool,
    preview: Option<String>,
    direction: Option<&'static str>,
    last_inbound: Option<i64>,
}

/// The guarded update of every dialog of a batch, in one statement: each row is updated
/// only if its version is still the one the change was decided on. Every column that
/// changes is set at once, so each CHECK constraint sees the finished row.
const UPDATE_DIALOGS: &str = "\
UPDATE dialogs AS d SET
    status = v.status,
    responsible_user_id = v.responsible_user_id,
    responsible_role_id = v.responsible_role_id,
    title = v.title,
    interest_id = v.interest_id,
    is_lead = v.is_lead,
    version = d.version + 1,
    accepted_at = CASE WHEN v.accepted THEN v.at ELSE d.accepted_at END,
    closed_at = CASE WHEN v.closing THEN v.at ELSE d.closed_at END,
    closed_by = CASE WHEN v.closing THEN v.actor ELSE d.closed_by END,
    close_reason_id = CASE WHEN v.closing THEN v.close_reason_id ELSE d.close_reason_id END,
    close_comment = CASE WHEN v.closing THEN v.close_comment ELSE d.close_comment END,
    last_message_at = CASE WHEN v.preview IS NULL THEN d.last_message_at ELSE v.at END,
    last_message_preview = COALESCE(v.preview, d.last_message_preview),
    last_message_direction = COALESCE(v.direction, d.last_message_direction),
    last_inbound_message_id = COALESCE(v.last_inbound, d.last_inbound_message_id)
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[],
            $7::bigint[], $8::bool[], $9::bool[], $10::bool[], $11::bigint[], $12::bigint[],
            $13::text[], $14::timestamptz[], $15::text[], $16::text[], $17::bigint[])
    AS v(id, version, status, responsible_user_id, responsible_role_id, title, interest_id,
         is_lead, accepted, closing, actor, close_reason_id, close_comment, at, preview,
         direction, last_inbound)
WHERE d.id = v.id AND d.version = v.version
RETURNING d.*";

/// Writes decided commands of different dialogs inside the caller's transaction: all
/// their messages in one insert, the guarded update of all their dialogs in one statement.
/// Returns, per change, what it wrote (`event_ids` still empty) and the events to append.
/// `Err(DbError::VersionConflict)` when any dialog changed meanwhile.
fn write_all(
    conn: &mut PgConnection,
    changes: &[Change],
) -> Result<Vec<(Committed, Vec<events::NewEvent>)>, DbError> {
    use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};

    let mut lines = Vec::with_capacity(changes.len());
    let mut interests = Vec::with_capacity(changes.len());
    for change in changes {
        let (written, interest_id) = lines_of(conn, change)?;
        lines.push(written);
        interests.push(interest_id);
    }
    let rows: Vec<_> = changes
        .iter()
        .zip(&lines)
        .flat_map(|(change, lines)| {
            lines.iter().map(move |line| {
                (
                    messages::dialog_id.eq(change.dialog_id),
                    messages::account_id.eq(change.account_id),
                    messages::direction.eq(line.direction),
                    messages::author_user_id.eq(line.author),
                    messages::text.eq(&line.text),
                    messages::channel_message_id.eq(&line.channel_message_id),
                    messages::channel_sent_at.eq(line.channel_sent_at),
                    messages::delivery.eq(line.delivery),
                    messages::system_kind.eq(line.system_kind),
                    messages::system_data.eq(&line.system_data),
                    messages::sender.eq(&line.sender),
                    messages::content.eq(&line.content),
                    messages::created_at.eq(change.now),
                )
            })
        })
        .collect();
    // RETURNING gives the ids in the order of the VALUES list.
    let mut ids = if rows.is_empty() {
        Vec::new()
    } else {
        diesel::insert_into(messages::table)
            .values(&rows)
            .returning(messages::id)
            .get_results::<i64>(conn)?
    }
    .into_iter();

    let mut updates = Vec::with_capacity(changes.len());
    let mut written_ids = Vec::with_capacity(changes.len());
    for (change, lines) in changes.iter().zip(&lines) {
        let message_ids: Vec<i64> = ids.by_ref().take(lines.len()).collect();
        for (id, line) in message_ids.iter().zip(lines) {
            super::messages::insert_attachments(conn, *id, &line.attachments)?;
            if line.direction == "out" {
                diesel::insert_into(outbox::table)
                    .values((
                        outbox::message_id.eq(id),
                        outbox::account_id.eq(change.account_id),
                        outbox::dialog_id.eq(change.dialog_id),
                        outbox::delivery_key.eq(format!("msg-{id}")),
                        outbox::created_at.eq(change.now),
                        outbox::next_attempt_at.eq(change.now),
                        outbox::updated_at.eq(change.now),
                    ))
                    .execute(conn)?;
            }
        }
        let last_content = lines.iter().rev().find(|l| l.direction != "system");
        updates.push(DialogUpdate {
            id: change.dialog_id,
            version: change.expected_version,
            accepted: change
                .events
                .iter()
                .any(|e| matches!(e, Event::Accepted { .. })),
            closing: change
                .events
                .iter()
                .any(|e| matches!(e, Event::Closed { .. })),
            preview: last_content.map(Line::preview),
            direction: last_content.map(|l| l.direction),
            last_inbound: message_ids
                .iter()
                .zip(lines)
                .rev()
                .find(|(_, l)| l.direction == "in")
                .map(|(id, _)| *id),
        });
        written_ids.push(message_ids);
    }

    let column = |f: &dyn Fn(usize) -> Option<i64>| -> Vec<Option<i64>> {
        (0..changes.len()).map(f).collect()
    };
    let updated: Vec<DialogRow> = super::prepared::Prepared::new(UPDATE_DIALOGS)
        .bind::<Array<BigInt>, _>(updates.iter().map(|u| u.id).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(updates.iter().map(|u| u.version).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(
            changes
                .iter()
                .map(|c| c.after.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<BigInt>>, _>(column(&|i| {
            changes[i].after.responsible_user.map(|u| u.0)
        }))
        .bind::<Array<Nullable<BigInt>>, _>(column(&|i| {
            changes[i].after.responsible_role.map(|r| r.0)
        }))
        .bind::<Array<Nullable<Text>>, _>(
            changes
                .iter()
                .map(|c| c.after.title.clone())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<BigInt>>, _>(interests.clone())
        .bind::<Array<Bool>, _>(changes.iter().map(|c| c.after.is_lead).collect::<Vec<_>>())
        .bind::<Array<Bool>, _>(updates.iter().map(|u| u.accepted).collect::<Vec<_>>())
        .bind::<Array<Bool>, _>(updates.iter().map(|u| u.closing).collect::<Vec<_>>())
        .bind::<Array<Nullable<BigInt>>, _>(column(&|i| changes[i].actor))
        .bind::<Array<Nullable<BigInt>>, _>(column(&|i| changes[i].close_reason_id))
        .bind::<Array<Nullable<Text>>, _>(
            changes
                .iter()
                .map(|c| c.comment.clone())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Timestamptz>, _>(changes.iter().map(|c| c.now).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(
            updates
                .iter()
                .map(|u| u.preview.clone())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(updates.iter().map(|u| u.direction).collect::<Vec<_>>())
        .bind::<Array<Nullable<BigInt>>, _>(
            updates.iter().map(|u| u.last_inbound).collect::<Vec<_>>(),
        )
        .load(conn)?;
    if updated.len() != changes.len() {
        return Err(DbError::VersionConflict);
    }
    let mut by_id: std::collections::HashMap<i64, DialogRow> =
        updated.into_iter().map(|row| (row.id, row)).collect();

    let mut out = Vec::with_capacity(changes.len());
    for ((change, lines), message_ids) in changes.iter().zip(&lines).zip(written_ids) {
        let dialog = by_id
            .remove(&change.dialog_id)
            .ok_or(DbError::VersionConflict)?;
        let mut new_events: Vec<events::NewEvent> = message_ids
            .iter()
            .zip(lines)
            .map(|(id, line)| events::NewEvent {
                kind: "message",
                account_id: Some(change.account_id),
                dialog_id: Some(change.dialog_id),
                user_id: None,
                payload: json!({
                    "dialog_id": change.dialog_id,
                    "message_id": id,
                    "direction": line.direction,
                    "system_kind": line.system_kind,
                    "preview": line.preview(),
                }),
            })
            .collect();
        new_events.push(dialog_event(&dialog));
        let committed = Committed {
            dialog,
            message_ids,
            event_ids: Vec::new(),
        };
        out.push((committed, new_events));
    }
    Ok(out)
}

/// A user who acted, or nobody when the system did (rules, inbound messages).
fn person(user: UserId) -> Option<i64> {
    (user.0 > 0).then_some(user.0)
}

fn target_json(to: &Target) -> serde_json::Value {
    match to {
        Target::User(user) => json!({"user_id": user.0}),
        Target::Role(role) => json!({"role_id": role.0}),
    }
}

/// The `dialog` event: the dialog's state as subscribers show it.
pub fn dialog_event(dialog: &DialogRow) -> events::NewEvent {
    events::NewEvent {
        kind: "dialog",
        account_id: Some(dialog.account_id),
        dialog_id: Some(dialog.id),
        user_id: None,
        payload: json!({
            "dialog_id": dialog.id,
            "interlocutor_id": dialog.interlocutor_id,
            "status": dialog.status,
            "responsible_user_id": dialog.responsible_user_id,
            "responsible_role_id": dialog.responsible_role_id,
            "title": dialog.title,
            "interest_id": dialog.interest_id,
            "last_message_at": dialog.last_message_at,
            "last_message_preview": dialog.last_message_preview,
            "last_inbound_message_id": dialog.last_inbound_message_id,
            "version": dialog.version,
        }),
    }
}

/// The start of a message for lists and events.
pub fn preview(text: &str, has_attachments: bool) -> String {
    let trimmed = text.trim();
    if trimmed.is_empty() && has_attachments {
        return "📎".to_owned();
    }
    trimmed.chars().take(PREVIEW_CHARS).collect()
}

/// Moves a user's read mark forward (never back) and records a user-scoped event.
/// Returns the mark now in force.
pub fn mark_read(
    conn: &mut PgConnection,
    dialog: &DialogRow,
    user_id: i64,
    up_to: i64,
    now: DateTime<Utc>,
) -> Result<i64, DbError> {
    conn.transaction(|conn| {
        let mark: i64 = diesel::insert_into(dialog_reads::table)
            .values((
                dialog_reads::dialog_id.eq(dialog.id),
                dialog_reads::user_id.eq(user_id),
                dialog_reads::last_read_message_id.eq(up_to),
                dialog_reads::read_at.eq(now),
            ))
            .on_conflict((dialog_reads::dialog_id, dialog_reads::user_id))
            .do_update()
            .set((
                dialog_reads::last_read_message_id.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "GREATEST(dialog_reads.last_read_message_id, excluded.last_read_message_id)",
                )),
                dialog_reads::read_at.eq(now),
            ))
            .returning(dialog_reads::last_read_message_id)
            .get_result(conn)?;
        events::append(
            conn,
            &[events::NewEvent {
                kind: "read",
                account_id: Some(dialog.account_id),
                dialog_id: Some(dialog.id),
                user_id: Some(user_id),
                payload: json!({
                    "dialog_id": dialog.id,
                    "last_read_message_id": mark,
                    "unread": dialog.last_inbound_message_id.is_some_and(|last| last > mark),
                }),
            }],
        )?;
        Ok(mark)
    })
}

/// Whether `message_id` is a message of `dialog_id`.
pub fn has_message(
    conn: &mut PgConnection,
    dialog_id: i64,
    message_id: i64,
) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        messages::table
            .filter(messages::id.eq(message_id))
            .filter(messages::dialog_id.eq(dialog_id)),
    ))
    .get_result(conn)?)
}
