//! Personal tasks and assignments (R27, R28), created from dialogs.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::schema::{task_assignees, tasks, users};
use super::{DbError, events};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tasks, check_for_backend(diesel::pg::Pg))]
pub struct TaskRow {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub dialog_id: Option<i64>,
    pub client_id: Option<i64>,
    pub author_id: i64,
    pub status: String,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: String,
    pub title: String,
    pub description: String,
    pub dialog_id: Option<i64>,
    pub client_id: Option<i64>,
    pub author_id: i64,
    pub due_at: Option<DateTime<Utc>>,
    pub assignee_ids: Vec<i64>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct CreatedTask {
    pub row: TaskRow,
    pub assignee_ids: Vec<i64>,
}

/// Creates a task with its assignees and a `task` event for each of them; `None` when an
/// assignee does not exist or is disabled (nothing is written).
pub fn create(conn: &mut PgConnection, new: &NewTask) -> Result<Option<CreatedTask>, DbError> {
    conn.transaction(|conn| {
        let live: i64 = users::table
            .filter(users::id.eq_any(&new.assignee_ids))
            .filter(users::disabled.eq(false))
            .count()
            .get_result(conn)?;
        if live != new.assignee_ids.len() as i64 {
            return Ok(None);
        }
        let row: TaskRow = diesel::insert_into(tasks::table)
            .values((
                tasks::kind.eq(&new.kind),
                tasks::title.eq(&new.title),
                tasks::description.eq(&new.description),
                tasks::dialog_id.eq(new.dialog_id),
                tasks::client_id.eq(new.client_id),
                tasks::author_id.eq(new.author_id),
                tasks::due_at.eq(new.due_at),
                tasks::created_at.eq(new.now),
                tasks::updated_at.eq(new.now),
            ))
            .returning(TaskRow::as_returning())
            .get_result(conn)?;
        let assignees: Vec<_> = new
            .assignee_ids
            .iter()
            .map(|user| (task_assignees::task_id.eq(row.id), task_assignees::user_id.eq(user)))
            .collect();
        diesel::insert_into(task_assignees::table)
            .values(&assignees)
            .execute(conn)?;
        let notices: Vec<events::NewEvent> = new
            .assignee_ids
            .iter()
            .map(|user| events::NewEvent {
                kind: "task",
                account_id: None,
                dialog_id: new.dialog_id,
                user_id: Some(*user),
                payload: json!({"task_id": row.id, "title": row.title, "kind": row.kind, "due_at": row.due_at}),
            })
            .collect();
        events::append(conn, &notices)?;
        Ok(Some(CreatedTask {
            row,
            assignee_ids: new.assignee_ids.clone(),
        }))
    })
}

fn with_assignees(
    conn: &mut PgConnection,
    rows: Vec<TaskRow>,
) -> Result<Vec<CreatedTask>, DbError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let pairs: Vec<(i64, i64)> = task_assignees::table
        .filter(task_assignees::task_id.eq_any(&ids))
        .order(task_assignees::user_id.asc())
        .select((task_assignees::task_id, task_assignees::user_id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let assignee_ids = pairs
                .iter()
                .filter(|(task, _)| *task == row.id)
                .map(|(_, user)| *user)
                .collect();
            CreatedTask { row, assignee_ids }
        })
        .collect())
}

/// Tasks of a user (assigned to them, or written by them when `mine` is false too),
/// open first by due date; `status` None means every status.
pub fn list_for(
    conn: &mut PgConnection,
    user_id: i64,
    include_authored: bool,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<CreatedTask>, DbError> {
    let assigned = task_assignees::table
        .filter(task_assignees::user_id.eq(user_id))
        .select(task_assignees::task_id);
    let mut query = tasks::table
        .order((tasks::due_at.asc().nulls_last(), tasks::id.desc()))
        .limit(limit)
        .select(TaskRow::as_select())
        .into_boxed();
    query = if include_authored {
        query.filter(tasks::id.eq_any(assigned).or(tasks::author_id.eq(user_id)))
    } else {
        query.filter(tasks::id.eq_any(assigned))
    };
    if let Some(status) = status {
        query = query.filter(tasks::status.eq(status.to_owned()));
    }
    let rows = query.load(conn)?;
    with_assignees(conn, rows)
}

/// The open tasks about a client (on the client or on one of their dialogs) that `user_id`
/// may see: every assignment, and their own personal tasks (R43's panel); soonest due first.
pub fn open_about_client(
    conn: &mut PgConnection,
    client_id: i64,
    user_id: i64,
    limit: i64,
) -> Result<Vec<CreatedTask>, DbError> {
    use super::schema::dialogs;
    let of_client = dialogs::table
        .filter(dialogs::client_id.eq(client_id))
        .select(dialogs::id);
    let rows = tasks::table
        .filter(tasks::status.eq("open"))
        .filter(
            tasks::client_id
                .eq(client_id)
                .or(tasks::dialog_id.eq_any(of_client.nullable())),
        )
        .filter(tasks::kind.ne("personal").or(tasks::author_id.eq(user_id)))
        .order((tasks::due_at.asc().nulls_last(), tasks::id.desc()))
        .limit(limit)
        .select(TaskRow::as_select())
        .load(conn)?;
    with_assignees(conn, rows)
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Option<CreatedTask>, DbError> {
    let row: Option<TaskRow> = tasks::table
        .find(id)
        .select(TaskRow::as_select())
        .first(conn)
        .optional()?;
    Ok(with_assignees(conn, row.into_iter().collect())?.pop())
}

#[derive(Debug, Clone, Default)]
pub struct TaskChanges {
    pub status: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub due_at: Option<Option<DateTime<Utc>>>,
}

/// Changes a task and tells its author and assignees (`task` events).
pub fn update(
    conn: &mut PgConnection,
    id: i64,
    changes: &TaskChanges,
    now: DateTime<Utc>,
) -> Result<Option<CreatedTask>, DbError> {
    conn.transaction(|conn| {
        let completed = changes
            .status
            .as_deref()
            .map(|s| (s != "open").then_some(now));
        let updated: Option<TaskRow> = diesel::update(tasks::table.find(id))
            .set((
                changes.status.as_deref().map(|s| tasks::status.eq(s.to_owned())),
                changes.title.as_deref().map(|t| tasks::title.eq(t.to_owned())),
                changes
                    .description
                    .as_deref()
                    .map(|d| tasks::description.eq(d.to_owned())),
                changes.due_at.map(|d| tasks::due_at.eq(d)),
                completed.map(|c| tasks::completed_at.eq(c)),
                tasks::updated_at.eq(now),
            ))
            .returning(TaskRow::as_returning())
            .get_result(conn)
            .optional()?;
        let Some(row) = updated else {
            return Ok(None);
        };
        let Some(task) = with_assignees(conn, vec![row])?.pop() else {
            return Ok(None);
        };
        let mut people = task.assignee_ids.clone();
        people.push(task.row.author_id);
        people.sort_unstable();
        people.dedup();
        let notices: Vec<events::NewEvent> = people
            .iter()
            .map(|user| events::NewEvent {
                kind: "task",
                account_id: None,
                dialog_id: task.row.dialog_id,
                user_id: Some(*user),
                payload: json!({"task_id": task.row.id, "title": task.row.title, "kind": task.row.kind,
                                "status": task.row.status, "due_at": task.row.due_at}),
            })
            .collect();
        events::append(conn, &notices)?;
        Ok(Some(task))
    })
}
