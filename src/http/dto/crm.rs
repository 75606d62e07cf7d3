//! Clients, contact persons, interests, tasks and "my work".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{DialogItem, TaskResponse};

/// `GET /api/v1/clients` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ClientsQuery {
    /// Part of the name, phone or e-mail.
    pub q: Option<String>,
    /// `client` or `prospect`.
    pub kind: Option<String>,
    /// The id of the last client of the previous page.
    pub cursor: Option<i64>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientCardBody {
    pub id: i64,
    /// `client` or `prospect` (R5).
    pub kind: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub notes: String,
    /// Set when this client was merged into another one.
    pub merged_into_id: Option<i64>,
    /// When its personal data was erased on request (R47): names and contact details are
    /// placeholders since.
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientPage {
    pub items: Vec<ClientCardBody>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<i64>,
}

/// A client's card: the client, contact persons, interests and the count of dialogs.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientDetail {
    pub client: ClientCardBody,
    pub contacts: Vec<ContactBody>,
    pub interests: Vec<InterestBody>,
    pub dialogs: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    pub name: String,
    /// `client` (default) or `prospect`.
    pub kind: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub notes: Option<String>,
}

/// Fields left out stay; `null` clears phone or e-mail. `kind: "client"` promotes a
/// prospect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientRequest {
    pub name: Option<String>,
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeClientRequest {
    /// The client that turned out to be this one; it is merged into the path's client.
    pub from_client_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MergeResponse {
    pub client: ClientCardBody,
    pub moved_interlocutors: usize,
    pub moved_dialogs: usize,
    pub moved_interests: usize,
    pub moved_contacts: usize,
    pub moved_tasks: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactBody {
    pub id: i64,
    pub client_id: i64,
    pub name: String,
    pub position: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContactRequest {
    pub name: String,
    pub position: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// `GET /api/v1/interests` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InterestsQuery {
    pub client_id: Option<i64>,
    /// `active`, `won` or `lost`.
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InterestBody {
    pub id: i64,
    pub client_id: i64,
    pub title: String,
    pub description: String,
    /// `active`, `won` or `lost`.
    pub status: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub responsible_user_id: Option<i64>,
    /// The dialog the interest was created from ("accept lead", R22).
    pub basis_dialog_id: Option<i64>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InterestDetail {
    pub interest: InterestBody,
    /// The dialogs linked to it, newest first (the client's: every user may read them).
    pub dialogs: Vec<DialogItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInterestRequest {
    pub client_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub amount_minor: Option<i64>,
    /// ISO 4217, e.g. `RUB`.
    pub currency: Option<String>,
    pub responsible_user_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInterestRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    /// `active`, `won` or `lost`.
    pub status: Option<String>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub amount_minor: Option<Option<i64>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<i64>)]
    pub responsible_user_id: Option<Option<i64>>,
}

/// `GET /api/v1/tasks` filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TasksQuery {
    /// Only tasks assigned to the caller or written by them for themselves (default true).
    pub mine: Option<bool>,
    /// `open` (default), `done`, `cancelled` or `all`.
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskRequest {
    /// `open`, `done` or `cancelled`.
    pub status: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub due_at: Option<Option<DateTime<Utc>>>,
}

/// "My work" (R6, R27, R28): the caller's open tasks and the active dialogs they — or a
/// role of theirs — are responsible for.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyWork {
    pub tasks: Vec<TaskResponse>,
    pub dialogs: Vec<DialogItem>,
    /// What a task row names (R28): its dialog's title, its client, its author.
    pub task_context: Vec<TaskContext>,
    /// Notes that mention the caller and that they have not opened yet (R42), newest
    /// first; opening the dialog clears them.
    pub mentions: Vec<MentionItem>,
}

/// A note that mentions the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct MentionItem {
    pub dialog_id: i64,
    pub dialog_title: Option<String>,
    pub message_id: i64,
    pub author_name: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// A note for colleagues: never sent to the channel (R42).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// 1–4096 characters; `@login` mentions a colleague who may view the dialog.
    pub text: String,
}

/// A colleague who may view a dialog (whom a note may mention).
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewerBody {
    pub id: i64,
    pub login: String,
    pub display_name: String,
}

/// The names a task row shows beside the task's ids.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskContext {
    pub task_id: i64,
    pub dialog_title: Option<String>,
    pub client_name: Option<String>,
    pub author_name: Option<String>,
}

/// An automatic processing rule (R8). `conditions` all hold for a message to match
/// (`account`, `channel`, `text_contains`, `text_matches`, `client_known`, `time_of_day`,
/// `weekdays`); `actions` run in order (`assign`, `redirect`, `auto_reply`, `close`,
/// `link_interest`, `mark_lead`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleBody {
    pub id: i64,
    /// The account whose messages it processes; absent for every account.
    pub account_id: Option<i64>,
    pub name: String,
    /// Rules run by position, then id.
    pub position: i32,
    pub enabled: bool,
    /// When it matched, later rules do not run.
    pub stop_processing: bool,
    #[schema(value_type = Vec<Object>)]
    pub conditions: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub actions: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRuleRequest {
    pub account_id: Option<i64>,
    pub name: String,
    pub position: Option<i32>,
    pub enabled: Option<bool>,
    pub stop_processing: Option<bool>,
    /// e.g. `[{"type": "text_contains", "value": "цена"}]`; empty matches every message.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub conditions: Option<serde_json::Value>,
    /// e.g. `[{"type": "auto_reply", "text": "{client}, мы ответим в течение часа"}]`.
    #[schema(value_type = Vec<Object>)]
    pub actions: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRuleRequest {
    pub name: Option<String>,
    pub position: Option<i32>,
    pub enabled: Option<bool>,
    pub stop_processing: Option<bool>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub conditions: Option<serde_json::Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub actions: Option<serde_json::Value>,
}

/// A quick reply (R41): a template inserted into the composer with "/".
#[derive(Debug, Serialize, ToSchema)]
pub struct QuickReplyBody {
    pub id: i64,
    /// `personal`, `account` or `global`.
    pub scope: String,
    /// For an account's template.
    pub account_id: Option<i64>,
    pub name: String,
    /// May hold `{client.name}`, `{operator.name}`, `{dialog.number}`, `{account.name}`,
    /// filled in when it is inserted.
    pub text: String,
    /// How often it was inserted (the list sorts by it).
    pub uses: i64,
    /// Whether the caller may change or delete it.
    pub may_edit: bool,
    /// Files added to the reply with the text (at most five), in the order they were added.
    pub files: Vec<QuickReplyFileBody>,
}

/// A file of a quick reply: `GET /quick-replies/{id}/files/{file_id}` serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuickReplyFileBody {
    pub id: i64,
    pub file_name: String,
    pub mime_type: Option<String>,
    pub size_bytes: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQuickReplyRequest {
    /// `personal` (default), `account` (with `account_id`) or `global`.
    pub scope: Option<String>,
    pub account_id: Option<i64>,
    pub name: String,
    pub text: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateQuickReplyRequest {
    pub name: Option<String>,
    pub text: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QuickRepliesQuery {
    /// Only the templates usable in this account's dialogs (its own, personal, global).
    pub account_id: Option<i64>,
}

/// Templates to import: CSV with a header row `name,text` (as the export writes it; other
/// columns are ignored), all of one scope.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportQuickRepliesRequest {
    pub csv: String,
    pub scope: Option<String>,
    pub account_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedBody {
    pub created: usize,
}

/// R43: everything the panel beside a dialog shows about its client, in one answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientPanel {
    pub dialog_id: i64,
    /// The client or prospect; absent while the interlocutor is linked to none.
    pub client: Option<ClientCardBody>,
    pub contacts: Vec<ContactBody>,
    pub interests: Vec<InterestBody>,
    /// Every dialog with the client on every channel, newest first (this one too).
    pub dialogs: Vec<DialogItem>,
    /// Open tasks about the client: every assignment, and the caller's own personal tasks.
    pub tasks: Vec<TaskResponse>,
    /// The newest notes colleagues left in the client's dialogs (R42).
    pub notes: Vec<super::MessageItem>,
}

/// A website account's widget (R40).
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetSnippet {
    /// The widget's public id (`data-account`); it tells nothing of the account's id.
    pub widget_id: String,
    /// The line of HTML for the site's pages, with this server's address as the caller
    /// reached it (behind a proxy, the public one).
    pub snippet: String,
}
