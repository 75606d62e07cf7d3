//! Tasks (R27, R28) and "my work" (R6): a user's tasks, and the active dialogs they — or a
//! role of theirs — are responsible for. Both change live: task changes reach the author
//! and the assignees as `task` events, dialogs as `dialog` events.

use actix_web::{get, patch, web};

use super::AppState;
use super::auth::Caller;
use super::dialogs::items_of;
use super::dto::{MentionItem, MyWork, TaskContext, TaskResponse, TasksQuery, UpdateTaskRequest};
use crate::db::dialog_list::{self, ListFilter};
use crate::db::tasks::{self, CreatedTask, TaskChanges};
use crate::db::{self, users};
use crate::error::ApiError;

pub fn task_response(task: CreatedTask) -> TaskResponse {
    TaskResponse {
        id: task.row.id,
        kind: task.row.kind,
        title: task.row.title,
        description: task.row.description,
        dialog_id: task.row.dialog_id,
        client_id: task.row.client_id,
        author_id: task.row.author_id,
        assignee_ids: task.assignee_ids,
        status: task.row.status,
        due_at: task.row.due_at,
        created_at: task.row.created_at,
    }
}

fn status_filter(value: Option<&str>) -> Result<Option<&'static str>, ApiError> {
    match value.unwrap_or("open") {
        "open" => Ok(Some("open")),
        "done" => Ok(Some("done")),
        "cancelled" => Ok(Some("cancelled")),
        "all" => Ok(None),
        _ => Err(ApiError::invalid(
            "status",
            "status: open, done, cancelled or all",
        )),
    }
}

/// The caller's tasks: assigned to them (`mine=true`, the default) or also written by
/// them for others (`mine=false`).
#[utoipa::path(tag = "tasks", params(TasksQuery), responses((status = 200, body = Vec<TaskResponse>), (status = 422, body = crate::error::ErrorBody)))]
#[get("")]
pub async fn list_tasks(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TasksQuery>,
) -> Result<web::Json<Vec<TaskResponse>>, ApiError> {
    let status = status_filter(query.status.as_deref())?;
    let authored = !query.mine.unwrap_or(true);
    let me = caller.user_id.0;
    let found = db::run(&state.pool, move |conn| {
        tasks::list_for(conn, me, authored, status, 500)
    })
    .await?;
    Ok(web::Json(found.into_iter().map(task_response).collect()))
}

/// Change a task: mark it done or cancelled (or open again), rename it, move its due
/// date. Its author and assignees may.
#[utoipa::path(tag = "tasks", params(("id" = i64, Path)), request_body = UpdateTaskRequest, responses((status = 200, body = TaskResponse), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
#[patch("/{id}")]
pub async fn update_task(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateTaskRequest>,
) -> Result<web::Json<TaskResponse>, ApiError> {
    let id = id.into_inner();
    let body = body.into_inner();
    let status = match body.status.as_deref() {
        None => None,
        Some(s @ ("open" | "done" | "cancelled")) => Some(s.to_owned()),
        Some(_) => {
            return Err(ApiError::invalid(
                "status",
                "status: open, done or cancelled",
            ));
        }
    };
    let title = match body.title.as_deref().map(str::trim) {
        None => None,
        Some(t) if !t.is_empty() && t.chars().count() <= 300 => Some(t.to_owned()),
        Some(_) => return Err(ApiError::invalid("title", "title: 1 to 300 characters")),
    };
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 10_000)
    {
        return Err(ApiError::invalid(
            "description",
            "description: at most 10,000 characters",
        ));
    }
    let changes = TaskChanges {
        status,
        title,
        description: body.description,
        due_at: body.due_at,
    };
    let me = caller.user_id.0;
    let is_admin = caller.is_admin && caller.has_scope(crate::domain::people::Scope::Admin);
    let task = crate::services::tasks::update(&state.pool, id, changes, me, is_admin).await?;
    Ok(web::Json(task_response(task)))
}

/// "My work": the caller's open tasks, and the active dialogs they or one of their roles
/// are responsible for (R6), on the accounts they may see.
#[utoipa::path(tag = "tasks", responses((status = 200, body = MyWork)))]
#[get("/my-work")]
pub async fn my_work(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<MyWork>, ApiError> {
    let me = caller.user_id.0;
    let visible = super::accounts::access(&state, &caller).await?.visible();
    let (tasks, dialogs, task_context, mentions) = db::run(&state.pool, move |conn| {
        let roles: Vec<i64> = users::roles_of(conn, &[me])?
            .into_iter()
            .map(|(_, role)| role)
            .collect();
        let filter = ListFilter {
            user_id: me,
            visible_accounts: Some(visible),
            statuses: vec!["new", "accepted", "returned"],
            account_id: None,
            responsible_user_id: None,
            responsible_of: Some((me, roles)),
            department_id: None,
            client_id: None,
            search: None,
            by_priority: false,
            cursor: None,
            limit: 500,
            undelivered: false,
        };
        let rows = dialog_list::page(conn, &filter)?;
        let dialogs = items_of(conn, &rows)?;
        let tasks = tasks::list_for(conn, me, false, Some("open"), 500)?;
        let mut context = Vec::with_capacity(tasks.len());
        for task in &tasks {
            let dialog = match task.row.dialog_id {
                Some(id) => db::dialogs::find(conn, id)?,
                None => None,
            };
            let client_id = task
                .row
                .client_id
                .or(dialog.as_ref().and_then(|d| d.client_id));
            let client_name = match client_id {
                Some(id) => db::clients::find_client(conn, id)?.map(|c| c.name),
                None => None,
            };
            let author_name = users::find(conn, task.row.author_id)?.map(|u| u.display_name);
            context.push(TaskContext {
                task_id: task.row.id,
                dialog_title: dialog.as_ref().map(super::dialogs::title_of),
                client_name,
                author_name,
            });
        }
        let mut mentions = Vec::new();
        for unseen in db::notes::unseen(conn, me)? {
            let dialog = db::dialogs::find(conn, unseen.dialog_id)?;
            mentions.push(MentionItem {
                dialog_id: unseen.dialog_id,
                dialog_title: dialog.as_ref().map(super::dialogs::title_of),
                message_id: unseen.message_id,
                author_name: unseen.author_name,
                text: unseen.text,
                at: unseen.at,
            });
        }
        Ok((tasks, dialogs, context, mentions))
    })
    .await?;
    Ok(web::Json(MyWork {
        tasks: tasks.into_iter().map(task_response).collect(),
        dialogs,
        task_context,
        mentions,
    }))
}
