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
