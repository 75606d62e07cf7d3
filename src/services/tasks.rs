//! Tasks (R6): given from a dialog, changed by whoever is involved. `db::tasks` writes a
//! task, its assignees and its event in one transaction; this module says who may.

use chrono::Utc;

use crate::db::tasks::{self, CreatedTask, NewTask, TaskChanges};
use crate::db::{self, DbPool};
use crate::error::ApiError;

/// Whether a user may change a task: its author, one of its assignees, or an
/// administrator acting as one.
pub fn may_change(task: &CreatedTask, user: i64, is_admin: bool) -> bool {
    task.row.author_id == user || task.assignee_ids.contains(&user) || is_admin
}

/// Gives a task; 422 when an assignee does not exist or is disabled.
pub async fn create(pool: &DbPool, new: NewTask) -> Result<CreatedTask, ApiError> {
    db::run(pool, move |conn| tasks::create(conn, &new))
        .await?
        .ok_or_else(|| ApiError::invalid("assignee_ids", "assignee_ids: no such user"))
}

/// Changes a task `user` may change ([`may_change`]); 404 when there is none or they may
/// not (a task of others is not revealed).
pub async fn update(
    pool: &DbPool,
    id: i64,
    changes: TaskChanges,
    user: i64,
    is_admin: bool,
) -> Result<CreatedTask, ApiError> {
    db::run(pool, move |conn| {
        let Some(task) = tasks::find(conn, id)? else {
            return Ok(None);
        };
        if !may_change(&task, user, is_admin) {
            return Ok(None);
        }
        tasks::update(conn, id, &changes, Utc::now())
    })
    .await?
    .ok_or(ApiError::NotFound("task"))
}
