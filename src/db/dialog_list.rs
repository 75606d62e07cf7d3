//! The workstation's dialog list (R13–R17): sections, filters, search, channel priority,
//! keyset paging, unread marks per user, and the section counters. Every query is scoped
//! in SQL to the accounts the caller may see.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz};

use super::DbError;
use super::dialogs::DialogRow;
use super::messages::like_pattern;
use super::schema::{
    channel_accounts, clients, dialog_reads, dialogs, interests, interlocutors, users,
};
use crate::domain::dialog::DialogStatus;
use crate::domain::unread::Tracked;

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
    pub search: Option<String>,
    /// Unread dialogs first, by the account's priority (R16).
    pub by_priority: bool,
    pub cursor: Option<Cursor>,
    pub limit: i64,
    /// Only dialogs with a reply that failed (R44: "Не доставлено").
    pub undelivered: bool,
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
    /// The account's rule that closing needs a reason (the dialog pane's actions).
    pub require_close_reason: bool,
    /// The linked interest's title.
    pub interest_title: Option<String>,
    /// A reply of the dialog failed and was not sent again (R44).
    pub undelivered: bool,
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

/// How many of the newest dialogs (per row of the page) a search first looks through one
/// by one, before it falls back to collecting every match: a common word fills the page
/// from the first few dozen, a rare one costs this many cheap checks and then its index.
const SEARCH_WALK_PER_ROW: i64 = 4;

/// A first walk that found at least one match in this many dialogs walks on (see
/// [`longer_walk`]): from there, finding a page one by one is cheaper than collecting
/// every match.
const SEARCH_DENSE_ONE_IN: i64 = 25;

/// The longest second walk, in first walks.
const SEARCH_WALK_GROWTH: i64 = 10;

/// After a first walk over the newest `walked` dialogs found `found` of the `wanted`
/// rows: how far a second walk should look, or `None` to collect every match instead.
///
/// Walking costs each dialog it passes (about 15–30 µs at 100k dialogs); collecting
/// costs each matching message, and a text in one dialog of ten (an order number's
/// first digits) matches about a tenth of all messages: 0.4 s at 1M messages, where
/// walking on fills the page in 15 ms. So where the first walk saw matches often enough
/// (one in [`SEARCH_DENSE_ONE_IN`] or more), the second looks half again as far as that
/// density needs for a page, at most [`SEARCH_WALK_GROWTH`] times the first.
fn longer_walk(walked: i64, found: i64, wanted: i64) -> Option<i64> {
    if found == 0 || found * SEARCH_DENSE_ONE_IN < walked || found >= wanted {
        return None;
    }
    Some((walked * wanted * 3 / (2 * found)).min(walked * SEARCH_WALK_GROWTH))
}

/// Which of the selected dialogs one query reads.
#[derive(Debug, Clone, Copy)]
enum Part<'a> {
    /// All of them (a search collects the matching dialogs through its trigram indexes).
    All,
    /// Those with unread messages for the caller (`true`), or those without.
    Unread(bool),
    /// These, which the search walk found (the search itself is already applied).
    Only(&'a [i64]),
}

/// The filters of the list that every query of it applies: they name `dialogs` columns
/// only, so the same text serves the full page query and the narrow search walk.
macro_rules! scoped {
    ($query:expr, $filter:expr) => {{
        let filter: &ListFilter = $filter;
        let mut query = $query.filter(dialogs::status.eq_any(filter.statuses.clone()));
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
        if let Some(client) = filter.client_id {
            query = query.filter(dialogs::client_id.eq(client));
        }
        if filter.undelivered {
            query = query.filter(sql::<Bool>(UNDELIVERED_SQL));
        }
        if let Some(department) = filter.department_id {
            // The account's department (R11), or the responsible user's.
            query = query.filter(
                sql::<Bool>(
                    "(dialogs.account_id IN (SELECT a.id FROM channel_accounts a WHERE a.department_id = ",
                )
                .bind::<BigInt, _>(department)
                .sql(") OR dialogs.responsible_user_id IN (SELECT u.id FROM users u WHERE u.department_id = ")
                .bind::<BigInt, _>(department)
                .sql("))"),
            );
        }
        if let (false, Some(Cursor::After { at, id })) = (filter.by_priority, filter.cursor) {
            query = query.filter(
                sql::<Bool>("(dialogs.last_message_at, dialogs.id) < (")
                    .bind::<Timestamptz, _>(at)
                    .sql(", ")
                    .bind::<BigInt, _>(id)
                    .sql(")"),
            );
        }
        query
    }};
}

/// The list's rows: each dialog with its account, interlocutor, client, the caller's read
/// mark and its responsible user, the same joins for a page and for one dialog.
macro_rules! joined {
    ($user_id:expr) => {
        dialogs::table
            .inner_join(channel_accounts::table.on(channel_accounts::id.eq(dialogs::account_id)))
            .inner_join(interlocutors::table.on(interlocutors::id.eq(dialogs::interlocutor_id)))
            .left_join(clients::table.on(clients::id.nullable().eq(dialogs::client_id)))
            .left_join(
                dialog_reads::table.on(dialog_reads::dialog_id
                    .eq(dialogs::id)
                    .and(dialog_reads::user_id.eq($user_id))),
            )
            .left_join(users::table.on(users::id.nullable().eq(dialogs::responsible_user_id)))
            .left_join(interests::table.on(interests::id.nullable().eq(dialogs::interest_id)))
    };
}

/// What a `ListRow` holds, in its order, from `joined!`.
macro_rules! row_columns {
    () => {
        (
            DialogRow::as_select(),
            channel_accounts::name,
            channel_accounts::kind,
            interlocutors::display_name,
            clients::name.nullable(),
            clients::kind.nullable(),
            dialog_reads::last_read_message_id.nullable(),
            users::display_name.nullable(),
            channel_accounts::require_close_reason,
            interests::title.nullable(),
            sql::<Bool>(UNDELIVERED_SQL),
        )
    };
}

/// Whether the dialog has a reply that failed and was not sent again (R44).
const UNDELIVERED_SQL: &str =
    "EXISTS (SELECT 1 FROM outbox o WHERE o.dialog_id = dialogs.id AND o.status = 'failed')";

/// One page of the list; fetches `limit + 1` rows so the caller knows whether more follow.
pub fn page(conn: &mut PgConnection, filter: &ListFilter) -> Result<Vec<ListRow>, DbError> {
    conn.transaction(|conn| {
        diesel::sql_query(JOINS_AS_WRITTEN).execute(conn)?;
        page_as_written(conn, filter)
    })
}

/// A page's statement joins six tables and its text varies with its filters, so it is
/// planned on every run: PostgreSQL's search over the join orders took about 9 ms of a
/// 10 ms list page (at 100k dialogs, on the benchmark machine), running it about 1 ms.
/// Every filter and the order are on `dialogs`, and each join looks one row up by its
/// key, so the order as written (dialogs first) is the plan: the planner is told to keep
/// it, for this transaction only, and plans in under 2 ms.
const JOINS_AS_WRITTEN: &str = "SET LOCAL join_collapse_limit = 1";

fn page_as_written(conn: &mut PgConnection, filter: &ListFilter) -> Result<Vec<ListRow>, DbError> {
    let wanted = filter.limit + 1;
    if filter.by_priority {
        return priority_page(conn, filter);
    }
    if let Some(needle) = filter.search.as_deref() {
        let walked = wanted * SEARCH_WALK_PER_ROW;
        let mut found = search_walk(conn, filter, needle, walked)?;
        if let Some(further) = longer_walk(walked, found.len() as i64, wanted) {
            // From the top again: the first stretch's checks (a few ms) are repeated so
            // the second walk stays the same one statement, bounded the same way.
            found = search_walk(conn, filter, needle, further)?;
        }
        if (found.len() as i64) < wanted {
            found = search_collect(conn, filter, needle)?;
        }
        return load(conn, filter, Part::Only(&found), 0, wanted);
    }
    load(conn, filter, Part::All, 0, wanted)
}

/// The priority order (R16): unread dialogs first, each half by the account's priority and
/// then newest first. The halves are read apart, each along the priority index, so a page
/// costs its own rows rather than a sort of every active dialog.
fn priority_page(conn: &mut PgConnection, filter: &ListFilter) -> Result<Vec<ListRow>, DbError> {
    let offset = match filter.cursor {
        Some(Cursor::Offset(n)) => n,
        _ => 0,
    };
    let end = offset + filter.limit + 1;
    let unread = load(conn, filter, Part::Unread(true), 0, end)?;
    let unread_count = unread.len() as i64;
    let mut rows: Vec<ListRow> = unread.into_iter().skip(offset as usize).collect();
    if unread_count < end {
        // Rows `offset..end` of "every unread one, then every read one": the read ones
        // from the first position past both the unread ones and the offset.
        let from = offset.max(unread_count);
        rows.extend(load(
            conn,
            filter,
            Part::Unread(false),
            from - unread_count,
            end - from,
        )?);
    }
    Ok(rows)
}

/// The search's first try: the newest dialogs the filter selects, checked one by one
/// (names by key, messages within the dialog) until a page is full. It looks only among
/// the newest `stretch` dialogs, so a rare word gives up soon and returns fewer than a
/// page; then the trigram indexes collect every match instead. A full page found here is
/// exact: it comes from a leading stretch of the list's order.
fn search_walk(
    conn: &mut PgConnection,
    filter: &ListFilter,
    needle: &str,
    stretch: i64,
) -> Result<Vec<i64>, DbError> {
    let pattern = like_pattern(needle);
    let wanted = filter.limit + 1;
    // Where the stretch ends: the last message time of its last dialog among the
    // statuses and accounts asked for (all of them when there are fewer).
    let (after_at, after_id) = match filter.cursor {
        Some(Cursor::After { at, id }) => (Some(at), Some(id)),
        _ => (None, None),
    };
    let bound = sql::<Bool>(
        "dialogs.last_message_at >= COALESCE((SELECT b.last_message_at FROM dialogs b WHERE b.status = ANY(",
    )
    .bind::<Array<Text>, _>(filter.statuses.clone())
    .sql(") AND (")
    .bind::<Nullable<Array<BigInt>>, _>(filter.visible_accounts.clone())
    .sql("::bigint[] IS NULL OR b.account_id = ANY(")
    .bind::<Nullable<Array<BigInt>>, _>(filter.visible_accounts.clone())
    .sql(")) AND (")
    .bind::<Nullable<BigInt>, _>(filter.account_id)
    .sql("::bigint IS NULL OR b.account_id = ")
    .bind::<Nullable<BigInt>, _>(filter.account_id)
    .sql(") AND (")
    .bind::<Nullable<Timestamptz>, _>(after_at)
    .sql("::timestamptz IS NULL OR (b.last_message_at, b.id) < (")
    .bind::<Nullable<Timestamptz>, _>(after_at)
    .sql(", ")
    .bind::<Nullable<BigInt>, _>(after_id)
    .sql(")) ORDER BY b.last_message_at DESC NULLS LAST, b.id DESC OFFSET ")
    .bind::<BigInt, _>(stretch - 1)
    .sql(" LIMIT 1), '-infinity')");
    // OFFSET 0 keeps each EXISTS a per-dialog check: without it the planner may turn one
    // into a hash of every match, which for a common word is the very cost avoided here.
    // The pattern is a sub-select's value, which the planner cannot see: each check reads
    // one row by its key, so there is nothing to choose, yet estimating a visible pattern
    // matches it against every sampled name (1,000 per name column), about 1 ms a search.
    let matches = sql::<Bool>(
        "(EXISTS (SELECT 1 FROM interlocutors i WHERE i.id = dialogs.interlocutor_id AND i.display_name ILIKE (SELECT ",
    )
    .bind::<Text, _>(pattern.clone())
    .sql(") OFFSET 0) OR EXISTS (SELECT 1 FROM clients c WHERE c.id = dialogs.client_id AND c.name ILIKE (SELECT ")
    .bind::<Text, _>(pattern.clone())
    .sql(") OFFSET 0) OR EXISTS (SELECT 1 FROM contact_persons p WHERE p.client_id = dialogs.client_id AND p.name ILIKE (SELECT ")
    .bind::<Text, _>(pattern.clone())
    .sql(") OFFSET 0) OR EXISTS (SELECT 1 FROM messages m WHERE m.dialog_id = dialogs.id AND m.text ILIKE (SELECT ")
    .bind::<Text, _>(pattern.clone())
    .sql(") OFFSET 0) OR dialogs.title ILIKE (SELECT ")
    .bind::<Text, _>(pattern)
    .sql(") OR dialogs.number = ")
    .bind::<BigInt, _>(dialog_number(needle).unwrap_or(-1))
    .sql(")");
    let query = scoped!(dialogs::table.select(dialogs::id).into_boxed(), filter);
    Ok(query
        .filter(bound)
        .filter(matches)
        .order_by(dialogs::last_message_at.desc().nulls_last())
        .then_order_by(dialogs::id.desc())
        .limit(wanted)
        .load(conn)?)
}

/// The search's second try, when the walk found less than a page: every matching dialog
/// collected through the trigram indexes, and the page's ids taken from them in the list's
/// order. Only ids: planning the union inside the page query with its five joins took
/// several times longer than running it.
fn search_collect(
    conn: &mut PgConnection,
    filter: &ListFilter,
    needle: &str,
) -> Result<Vec<i64>, DbError> {
    let query = scoped!(dialogs::table.select(dialogs::id).into_boxed(), filter);
    Ok(query
        .filter(matching_ids(needle))
        .order_by(dialogs::last_message_at.desc().nulls_last())
        .then_order_by(dialogs::id.desc())
        .limit(filter.limit + 1)
        .load(conn)?)
}

/// `dialogs.id IN` the ids of every dialog whose messages, interlocutor, client or
/// client's contact persons match `needle`: one set, each branch served by its own
/// trigram index, so the planner never evaluates an OR across four joins row by row.
fn matching_ids<QS>(needle: &str) -> Box<dyn BoxableExpression<QS, Pg, SqlType = Bool>> {
    let pattern = like_pattern(needle);
    Box::new(sql::<Bool>("dialogs.id IN (SELECT m.dialog_id FROM messages m WHERE m.text ILIKE ")
        .bind::<Text, _>(pattern.clone())
        .sql(" UNION SELECT d.id FROM dialogs d JOIN interlocutors i ON i.id = d.interlocutor_id WHERE i.display_name ILIKE ")
        .bind::<Text, _>(pattern.clone())
        .sql(" UNION SELECT d.id FROM dialogs d JOIN clients c ON c.id = d.client_id WHERE c.name ILIKE ")
        .bind::<Text, _>(pattern.clone())
        .sql(" UNION SELECT d.id FROM dialogs d JOIN contact_persons p ON p.client_id = d.client_id WHERE p.name ILIKE ")
        .bind::<Text, _>(pattern.clone())
        .sql(" UNION SELECT d.id FROM dialogs d WHERE d.title ILIKE ")
        .bind::<Text, _>(pattern)
        .sql(" UNION SELECT d.id FROM dialogs d WHERE d.number = ")
        .bind::<BigInt, _>(dialog_number(needle).unwrap_or(-1))
        .sql(")"))
}

/// A dialog's number as an operator types it: `136`, `№136`, `# 136`, `Диалог №136`.
fn dialog_number(needle: &str) -> Option<i64> {
    let digits = needle
        .trim()
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .trim();
    let prefix = &needle.trim()[..needle.trim().len() - digits.len()];
    let prefix_ok = prefix
        .trim()
        .trim_end_matches(['№', '#'])
        .trim()
        .to_lowercase();
    (matches!(prefix_ok.as_str(), "" | "диалог" | "dialog") && !digits.is_empty())
        .then(|| digits.parse().ok())
        .flatten()
        .filter(|n| *n > 0)
}

/// `limit` rows of `part` of the list from `offset`, with everything a row shows.
fn load(
    conn: &mut PgConnection,
    filter: &ListFilter,
    part: Part<'_>,
    offset: i64,
    limit: i64,
) -> Result<Vec<ListRow>, DbError> {
    let query = joined!(filter.user_id).select(row_columns!()).into_boxed();
    let mut query = scoped!(query, filter);

    match part {
        Part::Only(ids) => query = query.filter(dialogs::id.eq_any(ids.to_vec())),
        Part::Unread(true) => query = query.filter(sql::<Bool>(UNREAD_SQL)),
        Part::Unread(false) => query = query.filter(sql::<Bool>(UNREAD_SQL).eq(false)),
        Part::All => {}
    }
    if let (Some(needle), false) = (filter.search.as_deref(), matches!(part, Part::Only(_))) {
        query = query.filter(matching_ids(needle));
    }

    if filter.by_priority {
        // Within one part the unread mark is the same for every row; the account's
        // priority is its copy on the dialog, which the priority index holds.
        query = query
            .order_by(dialogs::account_priority.desc())
            .then_order_by(dialogs::last_message_at.desc().nulls_last())
            .then_order_by(dialogs::id.desc());
    } else {
        query = query
            .order_by(dialogs::last_message_at.desc().nulls_last())
            .then_order_by(dialogs::id.desc());
    }
    Ok(query.offset(offset).limit(limit).load::<ListRow>(conn)?)
}

/// One dialog as a list row for `user_id`, whatever its status: the dialog pane and every
/// action's answer. A statement of fixed text, so each connection prepares it once (a
/// page's text varies with its filters).
pub fn one(
    conn: &mut PgConnection,
    user_id: i64,
    dialog_id: i64,
) -> Result<Option<ListRow>, DbError> {
    Ok(joined!(user_id)
        .filter(dialogs::id.eq(dialog_id))
        .select(row_columns!())
        .first(conn)
        .optional()?)
}

/// These dialogs as list rows without anyone's read mark (the live `dialog` events carry
/// them; each client knows its own read marks), each with how many dialogs its client
/// has, in one trip.
pub fn rows_of(
    conn: &mut PgConnection,
    dialog_ids: &[i64],
) -> Result<Vec<(ListRow, i64)>, DbError> {
    if dialog_ids.is_empty() {
        return Ok(Vec::new());
    }
    type Counted = (
        DialogRow,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        bool,
        Option<String>,
        bool,
        Option<i64>,
    );
    // A subquery of diesel's own (not SQL text): the statement stays prepared and its
    // plan cached, which a literal would prevent.
    diesel::alias!(dialogs as same_client: SameClient);
    let (d, a, k, i, cn, ck, r, u, rc, it, un) = row_columns!();
    let rows: Vec<Counted> = joined!(0_i64)
        .filter(dialogs::id.eq_any(dialog_ids))
        .select((
            d,
            a,
            k,
            i,
            cn,
            ck,
            r,
            u,
            rc,
            it,
            un,
            same_client
                .filter(same_client.field(dialogs::client_id).eq(dialogs::client_id))
                .count()
                .single_value(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                dialog,
                account_name,
                account_kind,
                interlocutor_name,
                client_name,
                client_kind,
                read_up_to,
                responsible_name,
                require_close_reason,
                interest_title,
                undelivered,
                count,
            )| {
                let row = ListRow {
                    dialog,
                    account_name,
                    account_kind,
                    interlocutor_name,
                    client_name,
                    client_kind,
                    read_up_to,
                    responsible_name,
                    require_close_reason,
                    interest_title,
                    undelivered,
                };
                (row, count.unwrap_or(0).max(1))
            },
        )
        .collect())
}

/// How many dialogs with unread messages each active status has, over `visible` accounts
/// (R14: always every account the user can see, whatever the list's filter).
/// Unread active dialogs of `visible` accounts for `user_id`, by status and by whether
/// the user is their responsible ("In work" counts only one's own, R13).
pub fn unread_by_status(
    conn: &mut PgConnection,
    user_id: i64,
    visible: &[i64],
) -> Result<Vec<(String, bool, i64)>, DbError> {
    let rows: Vec<(String, Option<i64>, i64)> = dialogs::table
        .left_join(
            dialog_reads::table.on(dialog_reads::dialog_id
                .eq(dialogs::id)
                .and(dialog_reads::user_id.eq(user_id))),
        )
        .filter(dialogs::account_id.eq_any(visible))
        .filter(super::dialogs::IsActive)
        .filter(sql::<Bool>(UNREAD_SQL))
        .group_by((dialogs::status, dialogs::responsible_user_id))
        .select((
            dialogs::status,
            dialogs::responsible_user_id,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(status, responsible, n)| (status, responsible == Some(user_id), n))
        .collect())
}

/// The dialogs the kept counters track (active, with an inbound message), read in one
/// snapshot with the newest event it includes: every event after that id is a change
/// the snapshot does not hold yet (event ids follow commit order, see `events`).
pub fn tracked_dialogs(conn: &mut PgConnection) -> Result<(i64, Vec<(i64, Tracked)>), DbError> {
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(|conn| {
            let through = super::events::latest_id(conn)?;
            type Row = (i64, i64, String, Option<i64>, Option<i64>);
            let rows: Vec<Row> = dialogs::table
                .filter(super::dialogs::IsActive)
                .filter(dialogs::last_inbound_message_id.is_not_null())
                .select((
                    dialogs::id,
                    dialogs::account_id,
                    dialogs::status,
                    dialogs::responsible_user_id,
                    dialogs::last_inbound_message_id,
                ))
                .load(conn)?;
            let tracked = rows
                .into_iter()
                .filter_map(|(id, account_id, status, responsible, last_inbound)| {
                    let status = DialogStatus::parse(&status)?;
                    Some((
                        id,
                        Tracked::of(account_id, status, responsible, last_inbound)?,
                    ))
                })
                .collect();
            Ok((through, tracked))
        })
}

/// A user's read marks on active dialogs: (dialog, newest message read).
pub fn read_marks(conn: &mut PgConnection, user_id: i64) -> Result<Vec<(i64, i64)>, DbError> {
    Ok(dialog_reads::table
        .inner_join(dialogs::table.on(dialogs::id.eq(dialog_reads::dialog_id)))
        .filter(dialog_reads::user_id.eq(user_id))
        .filter(super::dialogs::IsActive)
        .select((dialog_reads::dialog_id, dialog_reads::last_read_message_id))
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::{dialog_number, longer_walk};

    #[test]
    fn r15_a_dialog_number_is_found_however_it_is_typed() {
        for typed in [
            "136",
            " 136 ",
            "№136",
            "№ 136",
            "#136",
            "Диалог №136",
            "диалог 136",
        ] {
            assert_eq!(dialog_number(typed), Some(136), "{typed:?}");
        }
        for not_a_number in ["", "Иван", "доставка 136", "0", "12a", "+7 900"] {
            assert_eq!(dialog_number(not_a_number), None, "{not_a_number:?}");
        }
    }

    #[test]
    fn r15_a_rare_text_is_collected_after_the_first_walk() {
        // Nothing, or one match in 204 dialogs: its index is the cheaper way.
        assert_eq!(longer_walk(204, 0, 51), None);
        assert_eq!(longer_walk(204, 1, 51), None);
        assert_eq!(longer_walk(204, 8, 51), None);
    }

    #[test]
    fn r15_a_frequent_text_walks_on_as_far_as_its_density_needs() {
        // One dialog in ten (11 of 204 seen), 51 rows wanted: ~950 dialogs, half again.
        assert_eq!(longer_walk(204, 11, 51), Some(1418));
        // Nearly a page already: a little further.
        assert_eq!(longer_walk(204, 50, 51), Some(312));
        // Just above the density threshold (one in 25): 1.5 × 204 × 51 / 9.
        assert_eq!(longer_walk(204, 9, 51), Some(1734));
        // Where that would pass ten first walks, ten first walks.
        assert_eq!(longer_walk(100, 4, 51), Some(1000));
    }

    #[test]
    fn r15_a_full_page_needs_no_second_walk() {
        assert_eq!(longer_walk(204, 51, 51), None);
    }
}
