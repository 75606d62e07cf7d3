//! The workstation's dialog list (R13–R17): sections, filters, search, channel priority,
//! keyset paging, unread marks per user, and the section counters. Every query is scoped
//! in SQL to the accounts the caller may see.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use super::DbError;
use super::dialogs::DialogRow;
use super::messages::like_pattern;
use super::schema::{channel_accounts, clients, dialog_reads, dialogs, interlocutors, users};

/// Where a page starts: after a (last message time, id) pair, or at an offset (priority order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    After { at: DateTime<Utc>, id: i64 },
    Offset(i64),
}

#[derive(Debug, Clone)]
pub struct ListFilter {
    /// The caller: unread marks are theirs.
    pub user_id: i64,
    /// Accounts the caller may see; `None` for every account (a client's card, R10).
    pub visible_accounts: Option<Vec<i64>>,
    pub statuses: Vec<&'static str>,
    pub account_id: Option<i64>,
    pub responsible_user_id: Option<i64>,
    /// "My work": the responsible is this user or one of these roles of theirs (R6).
    pub responsible_of: Option<(i64, Vec<i64>)>,
    pub department_id: Option<i64>,
    pub client_id: Option<i64>,
    /// One dialog only (the dialog pane).
    pub dialog_id: Option<i64>,
    pub search: Option<String>,
    /// Unread dialogs first, by the account's priority (R16).
    pub by_priority: bool,
    pub cursor: Option<Cursor>,
    pub limit: i64,
}

#[derive(Debug, Clone, Queryable)]
pub struct ListRow {
    pub dialog: DialogRow,
    pub account_name: String,
    pub account_kind: String,
    pub interlocutor_name: String,
    pub client_name: Option<String>,
    pub client_kind: Option<String>,
    pub read_up_to: Option<i64>,
    pub responsible_name: Option<String>,
}

impl ListRow {
    pub fn unread(&self) -> bool {
        crate::domain::sections::is_unread(
            self.dialog
                .last_inbound_message_id
                .map(crate::domain::MessageId),
            self.read_up_to.map(crate::domain::MessageId),
        )
    }
}

const UNREAD_SQL: &str =
    "(dialogs.last_inbound_message_id > COALESCE(dialog_reads.last_read_message_id, 0)) IS TRUE";

/// One page of the list; fetches `limit + 1` rows so the caller knows whether more follow.
pub fn page(conn: &mut PgConnection, filter: &ListFilter) -> Result<Vec<ListRow>, DbError> {
    let user_id = filter.user_id;
    let mut query = dialogs::table
        .inner_join(channel_accounts::table.on(channel_accounts::id.eq(dialogs::account_id)))
        .inner_join(interlocutors::table.on(interlocutors::id.eq(dialogs::interlocutor_id)))
        .left_join(clients::table.on(clients::id.nullable().eq(dialogs::client_id)))
        .left_join(
            dialog_reads::table.on(dialog_reads::dialog_id
                .eq(dialogs::id)
                .and(dialog_reads::user_id.eq(user_id))),
        )
        .left_join(users::table.on(users::id.nullable().eq(dialogs::responsible_user_id)))
        .select((
            DialogRow::as_select(),
            channel_accounts::name,
            channel_accounts::kind,
            interlocutors::display_name,
            clients::name.nullable(),
            clients::kind.nullable(),
            dialog_reads::last_read_message_id.nullable(),
            users::display_name.nullable(),
        ))
        .filter(dialogs::status.eq_any(filter.statuses.clone()))
        .into_boxed();

    if let Some(visible) = &filter.visible_accounts {
        query = query.filter(dialogs::account_id.eq_any(visible.clone()));
    }
    if let Some(account) = filter.account_id {
        query = query.filter(dialogs::account_id.eq(account));
    }
    if let Some(user) = filter.responsible_user_id {
        query = query.filter(dialogs::responsible_user_id.eq(user));
    }
    if let Some((user, roles)) = &filter.responsible_of {
        query = query.filter(
            dialogs::responsible_user_id
                .eq(*user)
                .or(dialogs::responsible_role_id.eq_any(roles.clone())),
        );
    }
    if let Some(id) = filter.dialog_id {
        query = query.filter(dialogs::id.eq(id));
    }
    if let Some(client) = filter.client_id {
        query = query.filter(dialogs::client_id.eq(client));
    }
    if let Some(department) = filter.department_id {
        // The account's department (R11), or the responsible user's.
        query = query.filter(
            sql::<Bool>("(channel_accounts.department_id = ")
                .bind::<BigInt, _>(department)
                .sql(" OR dialogs.responsible_user_id IN (SELECT u.id FROM users u WHERE u.department_id = ")
                .bind::<BigInt, _>(department)
                .sql("))"),
        );
    }
    if let Some(needle) = filter.search.as_deref() {
        // One set of matching dialog ids, each branch served by its own trigram index, so
        // the planner never has to evaluate an OR across four joins row by row.
        let pattern = like_pattern(needle);
        query = query.filter(
            sql::<Bool>("dialogs.id IN (SELECT m.dialog_id FROM messages m WHERE m.text ILIKE ")
                .bind::<Text, _>(pattern.clone())
                .sql(" UNION SELECT d.id FROM dialogs d JOIN interlocutors i ON i.id = d.interlocutor_id WHERE i.display_name ILIKE ")
                .bind::<Text, _>(pattern.clone())
                .sql(" UNION SELECT d.id FROM dialogs d JOIN clients c ON c.id = d.client_id WHERE c.name ILIKE ")
                .bind::<Text, _>(pattern.clone())
                .sql(" UNION SELECT d.id FROM dialogs d JOIN contact_persons p ON p.client_id = d.client_id WHERE p.name ILIKE ")
                .bind::<Text, _>(pattern)
                .sql(")"),
        );
    }

    if filter.by_priority {
        let offset = match filter.cursor {
            Some(Cursor::Offset(n)) => n,
            _ => 0,
        };
        query = query
            .order_by(sql::<Bool>(UNREAD_SQL).desc())
            .then_order_by(channel_accounts::priority.desc())
            .then_order_by(dialogs::last_message_at.desc().nulls_last())
            .then_order_by(dialogs::id.desc())
            .offset(offset);
    } else {
        if let Some(Cursor::After { at, id }) = filter.cursor {
            query = query.filter(
                sql::<Bool>("(dialogs.last_message_at, dialogs.id) < (")
                    .bind::<diesel::sql_types::Timestamptz, _>(at)
                    .sql(", ")
                    .bind::<BigInt, _>(id)
                    .sql(")"),
            );
        }
        query = query
            .order_by(dialogs::last_message_at.desc().nulls_last())
            .then_order_by(dialogs::id.desc());
    }
    Ok(query.limit(filter.limit + 1).load::<ListRow>(conn)?)
}

/// How many dialogs with unread messages each active status has, over `visible` accounts
/// (R14: always every account the user can see, whatever the list's filter).
pub fn unread_by_status(
    conn: &mut PgConnection,
    user_id: i64,
    visible: &[i64],
) -> Result<Vec<(String, i64)>, DbError> {
    Ok(dialogs::table
        .left_join(
            dialog_reads::table.on(dialog_reads::dialog_id
                .eq(dialogs::id)
                .and(dialog_reads::user_id.eq(user_id))),
        )
        .filter(dialogs::account_id.eq_any(visible))
        .filter(dialogs::status.ne("closed"))
        .filter(sql::<Bool>(UNREAD_SQL))
        .group_by(dialogs::status)
        .select((dialogs::status, diesel::dsl::count_star()))
        .load(conn)?)
}
