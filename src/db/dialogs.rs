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

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
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
}

impl Line {
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
        }
    }
}

/// Commits a decided command in one transaction: guarded dialog update (`version`),
/// messages and system lines, the outbox row of a reply, the interest of an accepted lead,
/// and the events. `Err(DbError::VersionConflict)` when the dialog changed meanwhile
/// (another process): nothing is written, the caller reloads and decides again.
pub fn commit(conn: &mut PgConnection, change: &Change) -> Result<Committed, DbError> {
    conn.transaction(|conn| {
        let (mut committed, new_events) = write(conn, change)?;
        committed.event_ids = events::append(conn, &new_events)?;
        Ok(committed)
    })
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
        let together = conn.transaction(|conn| {
            let mut written = Vec::with_capacity(changes.len());
            let mut new_events = Vec::new();
            for change in changes {
                let (committed, events) = write(conn, change)?;
                written.push((committed, events.len()));
                new_events.extend(events);
            }
            let mut ids = events::append(conn, &new_events)?.into_iter();
            Ok::<_, DbError>(
                written
                    .into_iter()
                    .map(|(mut committed, n)| {
                        committed.event_ids = ids.by_ref().take(n).collect();
                        Ok(committed)
                    })
                    .collect(),
            )
        });
        match together {
            Ok(all) => return all,
            Err(error) => {
                tracing::debug!(%error, changes = changes.len(), "batch failed; committing each alone");
            }
        }
    }
    changes.iter().map(|change| commit(conn, change)).collect()
}

/// Writes a decided command inside the caller's transaction; returns what it wrote
/// (`event_ids` still empty) and the events to append.
fn write(
    conn: &mut PgConnection,
    change: &Change,
) -> Result<(Committed, Vec<events::NewEvent>), DbError> {
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
        }),
        None => {}
    }

    let mut message_ids = Vec::with_capacity(lines.len());
    let mut written = Vec::with_capacity(lines.len());
    for line in &lines {
        let id: i64 = diesel::insert_into(messages::table)
            .values((
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
                messages::created_at.eq(now),
            ))
            .returning(messages::id)
            .get_result(conn)?;
        super::messages::insert_attachments(conn, id, &line.attachments)?;
        if line.direction == "out" {
            diesel::insert_into(outbox::table)
                .values((
                    outbox::message_id.eq(id),
                    outbox::account_id.eq(change.account_id),
                    outbox::dialog_id.eq(change.dialog_id),
                    outbox::delivery_key.eq(format!("msg-{id}")),
                    outbox::created_at.eq(now),
                    outbox::next_attempt_at.eq(now),
                    outbox::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        message_ids.push(id);
        written.push((id, line));
    }

    let after = &change.after;
    let last_content = written.iter().rev().find(|(_, l)| l.direction != "system");
    let last_inbound = written
        .iter()
        .rev()
        .find(|(_, l)| l.direction == "in")
        .map(|(id, _)| *id);
    let was_accepted = change
        .events
        .iter()
        .any(|e| matches!(e, Event::Accepted { .. }));
    let closing = change
        .events
        .iter()
        .any(|e| matches!(e, Event::Closed { .. }));
    // One guarded UPDATE: the version check and every column that changes, so each
    // CHECK constraint sees the finished row.
    let target = dialogs::table
        .find(change.dialog_id)
        .filter(dialogs::version.eq(change.expected_version));
    let updated: Option<DialogRow> = diesel::update(target)
        .set((
            (
                dialogs::status.eq(after.status.as_str()),
                dialogs::responsible_user_id.eq(after.responsible_user.map(|u| u.0)),
                dialogs::responsible_role_id.eq(after.responsible_role.map(|r| r.0)),
                dialogs::title.eq(&after.title),
                dialogs::interest_id.eq(interest_id),
                dialogs::is_lead.eq(after.is_lead),
                dialogs::version.eq(dialogs::version + 1),
            ),
            was_accepted.then_some(dialogs::accepted_at.eq(now)),
            closing.then_some((
                dialogs::closed_at.eq(now),
                dialogs::closed_by.eq(change.actor),
                dialogs::close_reason_id.eq(change.close_reason_id),
                dialogs::close_comment.eq(&change.comment),
            )),
            last_content.map(|(_, line)| {
                (
                    dialogs::last_message_at.eq(now),
                    dialogs::last_message_preview
                        .eq(preview(&line.text, !line.attachments.is_empty())),
                    dialogs::last_message_direction.eq(line.direction),
                )
            }),
            last_inbound.map(|id| dialogs::last_inbound_message_id.eq(id)),
        ))
        .returning(DialogRow::as_returning())
        .get_result(conn)
        .optional()?;
    let Some(dialog) = updated else {
        return Err(DbError::VersionConflict);
    };

    let mut new_events: Vec<events::NewEvent> = written
        .iter()
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
                "preview": preview(&line.text, !line.attachments.is_empty()),
            }),
        })
        .collect();
    new_events.push(dialog_event(&dialog));
    let committed = Committed {
        dialog,
        message_ids,
        event_ids: Vec::new(),
    };
    Ok((committed, new_events))
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
            "status": dialog.status,
            "responsible_user_id": dialog.responsible_user_id,
            "responsible_role_id": dialog.responsible_role_id,
            "title": dialog.title,
            "interest_id": dialog.interest_id,
            "last_message_at": dialog.last_message_at,
            "last_message_preview": dialog.last_message_preview,
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
