//! Reading dialogs (API.md "Dialogs", R13–R17, R33, R34): the list with its sections,
//! filters, search and paging, the counters, one dialog with the caller's possible
//! actions, and a dialog's messages. Every query is scoped to the accounts the caller may
//! see; a dialog they may not see is 404.

use std::sync::Arc;

use actix_web::{get, web};
use chrono::{DateTime, Utc};

use super::AppState;
use super::accounts::access;
use super::auth::Caller;
use super::dto::{
    AccountRef, AttachmentItem, AuthorRef, ClientRef, Counters, DialogActions, DialogDetail,
    DialogItem, DialogListQuery, DialogPage, InterlocutorRef, MessageItem, MessagePage,
    MessagesQuery, ResponsibleRef,
};
use crate::db::accounts::AccessMap;
use crate::db::dialog_list::{self, Cursor, ListFilter, ListRow};
use crate::db::dialogs::DialogRow;
use crate::db::messages::{self, AttachmentRow, FeedItem};
use crate::db::{self, clients};
use crate::domain::access::Rights;
use crate::domain::dialog::{self as machine, Actor as Who, Command, Target};
use crate::domain::sections::Section;
use crate::domain::{AccountId, RoleId};
use crate::error::ApiError;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;
const MAX_SEARCH_CHARS: usize = 200;

/// "Диалог №{number}" unless an operator named it (R33).
pub fn title_of(row: &DialogRow) -> String {
    row.title
        .clone()
        .unwrap_or_else(|| format!("Диалог №{}", row.number))
}

pub fn item_of(row: &ListRow, dialogs_with_client: i64) -> DialogItem {
    let d = &row.dialog;
    DialogItem {
        id: d.id,
        number: d.number,
        title: title_of(d),
        custom_title: d.title.is_some(),
        status: d.status.clone(),
        account: AccountRef {
            id: d.account_id,
            name: row.account_name.clone(),
            kind: row.account_kind.clone(),
        },
        interlocutor: InterlocutorRef {
            name: row.interlocutor_name.clone(),
        },
        client: match (d.client_id, &row.client_name, &row.client_kind) {
            (Some(id), Some(name), Some(kind)) => Some(ClientRef {
                id,
                name: name.clone(),
                kind: kind.clone(),
            }),
            _ => None,
        },
        responsible: ResponsibleRef {
            user_id: d.responsible_user_id,
            user_name: row.responsible_name.clone(),
            role_id: d.responsible_role_id,
        },
        is_lead: d.is_lead,
        interest_id: d.interest_id,
        interest_title: row.interest_title.clone(),
        undelivered: row.undelivered,
        close_reason_id: d.close_reason_id,
        created_at: d.created_at,
        accepted_at: d.accepted_at,
        closed_at: d.closed_at,
        last_message_at: d.last_message_at,
        last_message_preview: d.last_message_preview.clone(),
        unread: row.unread(),
        last_inbound_message_id: d.last_inbound_message_id,
        read_up_to: row.read_up_to,
        dialogs_with_client,
        version: d.version,
    }
}

/// Items for rows, with each client's dialog count (R34).
pub fn items_of(
    conn: &mut diesel::PgConnection,
    rows: &[ListRow],
) -> Result<Vec<DialogItem>, db::DbError> {
    let mut client_ids: Vec<i64> = rows.iter().filter_map(|r| r.dialog.client_id).collect();
    client_ids.sort_unstable();
    client_ids.dedup();
    let counts = clients::dialog_counts(conn, &client_ids)?;
    Ok(rows
        .iter()
        .map(|row| {
            let count = row
                .dialog
                .client_id
                .and_then(|c| counts.iter().find(|(id, _)| *id == c).map(|(_, n)| *n))
                .unwrap_or(1);
            item_of(row, count)
        })
        .collect())
}

/// The caller as the state machine sees them on one account.
pub fn who(access: &AccessMap, account_id: i64) -> Who {
    access.actor_on(AccountId(account_id))
}

fn parse_limit(limit: Option<u32>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit: between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(i64::from(limit))
}

fn parse_cursor(raw: Option<&str>, by_priority: bool) -> Result<Option<Cursor>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let bad = || ApiError::invalid("cursor", "cursor: not a cursor this list gave");
    if by_priority {
        let offset = raw
            .strip_prefix('o')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0);
        return offset.map(|n| Some(Cursor::Offset(n))).ok_or_else(bad);
    }
    let (micros, id) = raw
        .strip_prefix('t')
        .and_then(|rest| rest.split_once('_'))
        .ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .ok_or_else(bad)?;
    let id = id.parse::<i64>().map_err(|_| bad())?;
    Ok(Some(Cursor::After { at, id }))
}

/// The dialog list (R13–R17): a section, filters, search, paging.
#[utoipa::path(
    tag = "dialogs",
    params(DialogListQuery),
    responses((status = 200, body = DialogPage), (status = 401, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody))
)]
#[get("")]
pub async fn list_dialogs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<DialogListQuery>,
) -> Result<web::Json<DialogPage>, ApiError> {
    let query = query.into_inner();
    let section = match query.section.as_deref() {
        None => Section::All,
        Some(raw) => Section::parse(raw)
            .ok_or_else(|| ApiError::invalid("section", "section: new, in_work or all"))?,
    };
    let show_closed = query.closed.unwrap_or(false);
    let limit = parse_limit(query.limit)?;
    let by_priority = query.priority.unwrap_or(false);
    let cursor = parse_cursor(query.cursor.as_deref(), by_priority)?;
    let search = match query.q.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(q) if q.chars().count() > MAX_SEARCH_CHARS => {
            return Err(ApiError::invalid(
                "q",
                format!("q: at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        Some(q) => Some(q.to_owned()),
    };
    let access = access(&state, &caller).await?;
    let filter = ListFilter {
        user_id: caller.user_id.0,
        visible_accounts: Some(access.visible()),
        statuses: section
            .statuses(show_closed)
            .into_iter()
            .map(|s| s.as_str())
            .collect(),
        account_id: query.account_id,
        // "In work" is the caller's own accepted dialogs (R13: once accepted a dialog
        // "станет доступен только ему"), unless every operator's are asked for.
        responsible_user_id: match section {
            Section::InWork if !query.all_operators.unwrap_or(false) => {
                Some(query.user_id.unwrap_or(caller.user_id.0))
            }
            _ => query.user_id,
        },
        responsible_of: None,
        department_id: query.department_id,
        client_id: None,
        search,
        by_priority,
        cursor,
        undelivered: query.undelivered.unwrap_or(false),
        limit,
    };
    let page = db::run(&state.pool, move |conn| {
        let mut rows = dialog_list::page(conn, &filter)?;
        let more = rows.len() as i64 > filter.limit;
        rows.truncate(filter.limit as usize);
        let next = match (more, rows.last()) {
            (true, Some(_)) if filter.by_priority => {
                let offset = match filter.cursor {
                    Some(Cursor::Offset(n)) => n,
                    _ => 0,
                };
                Some(format!("o{}", offset + filter.limit))
            }
            (true, Some(last)) => last
                .dialog
                .last_message_at
                .map(|at| format!("t{}_{}", at.timestamp_micros(), last.dialog.id)),
            _ => None,
        };
        Ok(DialogPage {
            items: items_of(conn, &rows)?,
            next_cursor: next,
        })
    })
    .await?;
    Ok(web::Json(page))
}

/// Dialogs with unread messages per section, over every account the caller may see (R14).
#[utoipa::path(tag = "dialogs", responses((status = 200, body = Counters)))]
#[get("/counters")]
pub async fn counters(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Counters>, ApiError> {
    let user_id = caller.user_id.0;
    let access = super::accounts::access(&state, &caller).await?;
    // Everything committed before this request counts (a read just marked, a dialog just
    // accepted), wherever it was committed.
    let committed = db::run(&state.pool, db::events::latest_id).await?;
    Ok(web::Json(
        counters_of(&state, user_id, access.visible(), committed).await?,
    ))
}

/// A user's counters over `visible` accounts, including every event up to `at_least`:
/// dialogs with unread messages, by section (closed ones count nowhere). Kept in memory
/// (`UnreadKeeper`); counted in the database when the keeper cannot answer in time.
pub async fn counters_of(
    state: &AppState,
    user_id: i64,
    visible: Vec<i64>,
    at_least: i64,
) -> Result<Counters, ApiError> {
    if let Some(kept) = state.unread.counters(user_id, &visible, at_least).await {
        return Ok(Counters::from(kept));
    }
    let by_status = db::run(&state.pool, move |conn| {
        dialog_list::unread_by_status(conn, user_id, &visible)
    })
    .await?;
    let count = |section: Section| -> i64 {
        by_status
            .iter()
            .filter(|(status, mine, _)| {
                machine::DialogStatus::parse(status)
                    .is_some_and(|s| section.statuses(false).contains(&s))
                    && (section != Section::InWork || *mine)
            })
            .map(|(_, _, n)| n)
            .sum()
    };
    Ok(Counters {
        new: count(Section::New),
        in_work: count(Section::InWork),
        all: count(Section::All),
    })
}

/// The dialog, the caller's rights on its account; 404 when they may not see it.
pub async fn visible_dialog(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<(DialogRow, Arc<AccessMap>), ApiError> {
    let access = super::accounts::access(state, caller).await?;
    let row = db::run(&state.pool, move |conn| db::dialogs::find(conn, id))
        .await?
        .ok_or(ApiError::NotFound("dialog"))?;
    if !access.rights(AccountId(row.account_id)).view {
        return Err(ApiError::NotFound("dialog"));
    }
    Ok((row, access))
}

/// What the caller could do now, by asking the state machine.
fn actions(row: &DialogRow, require_reason: bool, who: &Who) -> DialogActions {
    let state = row.state(require_reason);
    let can = |command: Command| machine::decide(&state, &command, who).is_ok();
    let role = who.roles.first().copied().unwrap_or(RoleId(0));
    DialogActions {
        reply: can(Command::Reply),
        accept: can(Command::Accept) && state.status != machine::DialogStatus::Accepted,
        close: can(Command::Close { reason_given: true }),
        redirect: can(Command::Redirect {
            to: Target::Role(role),
        }),
        rename: can(Command::Rename {
            title: Some("-".into()),
        }),
        accept_lead: can(Command::AcceptLead),
        link_interest: can(Command::LinkInterest {
            interest: crate::domain::InterestId(0),
        }),
        // What the channel can do is filled in by `detail_of`.
        open_on_site: false,
        fetch_now: false,
    }
}

/// The full view of one dialog for the caller.
pub async fn detail(state: &AppState, caller: &Caller, id: i64) -> Result<DialogDetail, ApiError> {
    let (row, access) = visible_dialog(state, caller, id).await?;
    detail_of(state, caller, &row, &access).await
}

/// The full view of a dialog the caller was already found to see (`row` gives its
/// account and interlocutor, which no command changes); its state is read afresh, in
/// one trip to the database.
pub async fn detail_of(
    state: &AppState,
    caller: &Caller,
    row: &DialogRow,
    access: &AccessMap,
) -> Result<DialogDetail, ApiError> {
    let who = who(access, row.account_id);
    let user_id = caller.user_id.0;
    let (id, interlocutor_id) = (row.id, row.interlocutor_id);
    let found = db::run(&state.pool, move |conn| {
        let Some(row) = dialog_list::one(conn, user_id, id)? else {
            return Ok(None);
        };
        // WhatsApp takes free text only within 24 hours of the client's last message.
        let window = if row.account_kind == "whatsapp" {
            db::clients::last_inbound_at(conn, interlocutor_id)?
                .map(|at| at + crate::channels::whatsapp::SERVICE_WINDOW)
        } else {
            None
        };
        let (fresh, require_reason) = (row.dialog.clone(), row.require_close_reason);
        let person = db::clients::interlocutor(conn, interlocutor_id)?;
        // R40: where a website visitor came from and the contact they left.
        let visit = if row.account_kind == "web" {
            match db::widget::visit_of(conn, interlocutor_id)? {
                Some(visit) => {
                    let same = db::widget::same_client(
                        conn,
                        visit.phone.as_deref(),
                        visit.email.as_deref(),
                        row.dialog.client_id,
                    )?;
                    Some((visit, same))
                }
                None => None,
            }
        } else {
            None
        };
        let item = items_of(conn, std::slice::from_ref(&row))?.pop();
        Ok(item.map(|item| (item, fresh, require_reason, (window, visit), person)))
    })
    .await?;
    let Some((item, fresh, require_reason, (reply_window, visit), person)) = found else {
        return Err(ApiError::NotFound("dialog"));
    };
    let mut actions = actions(&fresh, require_reason, &who);
    if let Some(channel) = state.channels.channel(fresh.account_id).await {
        actions.fetch_now = channel.polls();
        actions.open_on_site = person.is_some_and(|p| {
            channel
                .dialog_link(&p.external_id, p.username.as_deref())
                .is_some()
        });
    }
    Ok(DialogDetail {
        actions,
        close_comment: fresh.close_comment,
        require_close_reason: require_reason,
        reply_window_closes_at: reply_window,
        visit: visit.map(|(v, same)| super::dto::VisitBody {
            page_url: v.page_url,
            referrer: v.referrer,
            user_agent: v.user_agent,
            phone: v.phone,
            email: v.email,
            consent_at: v.consent_at,
            same_client: same.map(|(id, name, by)| super::dto::SameClient { id, name, by }),
        }),
        dialog: item,
    })
}

/// One dialog with the caller's possible actions.
#[utoipa::path(tag = "dialogs", params(("id" = i64, Path)), responses((status = 200, body = DialogDetail), (status = 404, body = crate::error::ErrorBody)))]
#[get("/{id}")]
pub async fn get_dialog(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<DialogDetail>, ApiError> {
    let id = id.into_inner();
    let found = detail(&state, &caller, id).await?;
    super::personal_data::note_dialog_read(&state, &caller, id).await?;
    Ok(web::Json(found))
}

pub fn attachment_item(a: AttachmentRow) -> AttachmentItem {
    let is_link = a.kind == "link";
    AttachmentItem {
        id: a.id,
        kind: a.kind,
        file_name: a.file_name,
        mime_type: a.mime_type,
        size_bytes: a.size_bytes,
        // Files are served by us (the channel's links expire or need its token); a
        // link stays the page it points to.
        url: if is_link {
            a.url
        } else {
            Some(format!("/api/v1/attachments/{}", a.id))
        },
    }
}

pub fn message_item(feed: FeedItem) -> MessageItem {
    let m = feed.message;
    MessageItem {
        id: m.id,
        dialog_id: m.dialog_id,
        direction: m.direction,
        text: m.text,
        author: m.author_user_id.map(|user_id| AuthorRef {
            user_id,
            name: feed.author_name,
        }),
        created_at: m.created_at,
        edited_at: m.edited_at,
        deleted_at: m.deleted_at,
        redacted_at: m.redacted_at,
        attachments: feed.attachments.into_iter().map(attachment_item).collect(),
        delivery: m.delivery,
        delivery_error: m.delivery_error,
        system_kind: m.system_kind,
        system_data: m.system_data,
        sender: m.sender.and_then(|sender| {
            Some(super::dto::ChatMember {
                external_id: sender["external_id"].as_str()?.to_owned(),
                name: sender["name"].as_str().unwrap_or_default().to_owned(),
            })
        }),
        extras: m.content,
    }
}

/// A page of a dialog's messages and system lines, oldest first within the page; pass
/// `next_cursor` as `before` for older ones.
#[utoipa::path(
    tag = "dialogs",
    params(("id" = i64, Path), MessagesQuery),
    responses((status = 200, body = MessagePage), (status = 404, body = crate::error::ErrorBody))
)]
#[get("/{id}/messages")]
pub async fn list_messages(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<MessagesQuery>,
) -> Result<web::Json<MessagePage>, ApiError> {
    let id = id.into_inner();
    visible_dialog(&state, &caller, id).await?;
    if query.before.is_none() {
        // Opening the dialog (older pages are the same reading on).
        super::personal_data::note_dialog_read(&state, &caller, id).await?;
        // The notes that mention the reader are seen now (R42).
        crate::services::notes::seen(&state.pool, caller.user_id.0, id).await?;
    }
    message_page(&state, id, &query).await
}

/// A page of a dialog's messages, oldest first, with the cursor to the older ones.
pub async fn message_page(
    state: &AppState,
    id: i64,
    query: &MessagesQuery,
) -> Result<web::Json<MessagePage>, ApiError> {
    let limit = parse_limit(query.limit)?;
    let before = query.before;
    let mut feed = db::run(&state.pool, move |conn| {
        messages::feed(conn, id, before, limit + 1)
    })
    .await?;
    let more = feed.len() as i64 > limit;
    feed.truncate(limit as usize);
    let next_cursor = if more {
        feed.last().map(|f| f.message.id.to_string())
    } else {
        None
    };
    feed.reverse();
    Ok(web::Json(MessagePage {
        items: feed.into_iter().map(message_item).collect(),
        next_cursor,
    }))
}

/// Rights on an account of a dialog the caller sees.
pub fn rights_on(access: &AccessMap, row: &DialogRow) -> Rights {
    access.rights(AccountId(row.account_id))
}
