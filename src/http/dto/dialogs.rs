//! Dialogs, their messages and the actions on them; clients' conversations; close reasons
//! and their report.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::unread::SectionCounts;

/// `GET /api/v1/dialogs` filters (R13–R16).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DialogListQuery {
    /// `new` (new and returned), `in_work` (accepted by the caller; every operator's with
    /// `all_operators=true`) or `all` (default).
    pub section: Option<String>,
    /// In `in_work`: every operator's accepted dialogs the caller may see, not only theirs.
    pub all_operators: Option<bool>,
    /// Show closed dialogs too (only in `all`).
    pub closed: Option<bool>,
    /// Part of a message, or of the client's, contact person's or interlocutor's name.
    pub q: Option<String>,
    pub account_id: Option<i64>,
    /// The responsible user.
    pub user_id: Option<i64>,
    pub department_id: Option<i64>,
    /// Unread dialogs first, in the accounts' priority order.
    pub priority: Option<bool>,
    /// Only dialogs with a reply that failed and was not sent again (R44).
    pub undelivered: Option<bool>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountRef {
    pub id: i64,
    pub name: String,
    /// `telegram`, `vk`, `viber` or `whatsapp`.
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InterlocutorRef {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientRef {
    pub id: i64,
    pub name: String,
    /// `client` or `prospect`.
    pub kind: String,
}

/// Who handles a dialog: a user, or a role while it waits.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResponsibleRef {
    pub user_id: Option<i64>,
    pub user_name: Option<String>,
    pub role_id: Option<i64>,
}

/// A dialog as the list and the dialog pane show it (R17, R33, R34).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DialogItem {
    pub id: i64,
    pub number: i64,
    /// The operator's name for the dialog, or "Диалог №{number}".
    pub title: String,
    pub custom_title: bool,
    /// `new`, `accepted`, `returned` or `closed`.
    pub status: String,
    pub account: AccountRef,
    pub interlocutor: InterlocutorRef,
    pub client: Option<ClientRef>,
    pub responsible: ResponsibleRef,
    pub is_lead: bool,
    pub interest_id: Option<i64>,
    /// The linked interest's title.
    pub interest_title: Option<String>,
    /// A reply of the dialog failed and was not sent again (R44): a red mark in the list.
    pub undelivered: bool,
    pub close_reason_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_message_preview: String,
    /// Whether the caller has unread messages in it (bold in the list). In a live
    /// `dialog` event's row (nobody's read mark) it says whether the dialog has an inbound
    /// message at all: compare `last_inbound_message_id` with your `read_up_to`.
    pub unread: bool,
    /// The newest message the client sent.
    pub last_inbound_message_id: Option<i64>,
    /// The newest message the caller has read (null in a live event's row).
    pub read_up_to: Option<i64>,
    /// How many dialogs there are with this client (R34).
    pub dialogs_with_client: i64,
    pub version: i64,
}

/// The caller's possibilities on one dialog, for the buttons of the dialog pane.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DialogActions {
    pub reply: bool,
    pub accept: bool,
    pub close: bool,
    pub redirect: bool,
    pub rename: bool,
    pub accept_lead: bool,
    pub link_interest: bool,
    /// The channel has a page for this dialog on its own site (R29): VK always, Telegram
    /// when the person has a username.
    pub open_on_site: bool,
    /// The account fetches its messages (long polling), so "fetch now" can bring them
    /// sooner (R30); a webhook account's messages come by themselves.
    pub fetch_now: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DialogDetail {
    #[serde(flatten)]
    pub dialog: DialogItem,
    pub close_comment: Option<String>,
    /// The account requires a close reason (R4).
    pub require_close_reason: bool,
    /// WhatsApp: free text can be sent until then (24 hours after the client's last
    /// message); later only the client can reopen the window by writing.
    pub reply_window_closes_at: Option<DateTime<Utc>>,
    /// A website visitor's dialog (R40): the page, referrer and browser they came from
    /// and the contact they left.
    pub visit: Option<VisitBody>,
    pub actions: DialogActions,
}

/// Where a website visitor came from and what they told us (R40).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VisitBody {
    pub page_url: Option<String>,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// When they agreed to the processing of their personal data.
    pub consent_at: Option<DateTime<Utc>>,
    /// A client already known by the phone or e-mail the visitor left: a suggestion for
    /// the operator, never merged by itself.
    pub same_client: Option<SameClient>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SameClient {
    pub id: i64,
    pub name: String,
    /// `phone` or `email`.
    pub by: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DialogPage {
    pub items: Vec<DialogItem>,
    pub next_cursor: Option<String>,
}

/// Dialogs with unread messages per section, over every account the caller sees (R14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Counters {
    pub new: i64,
    pub in_work: i64,
    pub all: i64,
}

impl From<SectionCounts> for Counters {
    fn from(counts: SectionCounts) -> Self {
        Counters {
            new: counts.new,
            in_work: counts.in_work,
            all: counts.all,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentItem {
    pub id: i64,
    /// `image`, `file`, `link`, `audio` or `video`.
    pub kind: String,
    pub file_name: String,
    pub mime_type: Option<String>,
    pub size_bytes: Option<i64>,
    /// Where to get it: `/api/v1/attachments/{id}` for files, the page for a link.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageItem {
    pub id: i64,
    pub dialog_id: i64,
    /// `in`, `out` or `system`.
    pub direction: String,
    pub text: String,
    /// The operator who wrote it, or who caused the system line.
    pub author: Option<AuthorRef>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    /// When the interlocutor deleted the message on the channel (WhatsApp); its text is
    /// then empty and kept in the edit history.
    pub deleted_at: Option<DateTime<Utc>>,
    /// When its text and files were removed: by the account's retention or when the
    /// client's data was erased on request (R47). The message's row and times stay.
    pub redacted_at: Option<DateTime<Utc>>,
    pub attachments: Vec<AttachmentItem>,
    /// Outbound only: `pending`, `sent`, `delivered`, `read` or `failed`.
    pub delivery: Option<String>,
    pub delivery_error: Option<String>,
    /// System lines: `accepted`, `redirected`, `closed`, `renamed`, `interest_linked`, `lead_accepted`.
    pub system_kind: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub system_data: Option<serde_json::Value>,
    /// Inbound messages of a group conversation: the member who wrote it.
    pub sender: Option<ChatMember>,
    /// What it holds besides text and files (R48), when anything: `content` is one of
    /// `{"kind": "location", latitude, longitude, title?, address?}`,
    /// `{"kind": "contact", name, phones?, emails?}`, `{"kind": "sticker", emoji?}`,
    /// `{"kind": "poll", question, options}`, `{"kind": "dice", emoji, value}`,
    /// `{"kind": "unsupported", platform_kind}`; `quote` is the message it answers,
    /// `{author?, text}`.
    #[schema(value_type = Option<Object>)]
    pub extras: Option<serde_json::Value>,
}

/// A member of a group conversation on the channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatMember {
    /// The member's id on the channel.
    pub external_id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuthorRef {
    pub user_id: i64,
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub items: Vec<MessageItem>,
    /// Pass as `before` for older messages; null when there are none.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    /// Messages older than this message id.
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// Up to 4096 characters; may be empty when files are attached.
    #[serde(default)]
    pub text: String,
    /// Files to send with the message (at most 5, 10 MB each).
    #[serde(default)]
    pub attachments: Vec<UploadBody>,
}

/// Whom the dialog may be redirected to (R26): the users and roles who may answer on its
/// account.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedirectTargets {
    pub user_ids: Vec<i64>,
    pub role_ids: Vec<i64>,
}

/// A new text for a reply already sent (`PATCH /dialogs/{id}/messages/{message_id}`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessageRequest {
    /// 1 to 4096 characters.
    pub text: String,
}

/// The operators' reaction to a client's message (`PUT …/messages/{message_id}/reaction`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionRequest {
    /// One of 👍 ❤ 🔥 🙏 👌 😁, or null to take the reaction back.
    pub emoji: Option<String>,
}

/// A file sent by an operator, in the JSON body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadBody {
    /// Shown to the client; path separators are removed.
    pub file_name: String,
    /// e.g. `image/jpeg`; images are sent as pictures, anything else as a document.
    pub mime_type: Option<String>,
    /// The file's bytes in standard base64.
    pub content_base64: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyResponse {
    pub message: MessageItem,
    pub dialog: DialogItem,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// Read up to this message (default: the newest).
    pub up_to_message_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadResponse {
    pub last_read_message_id: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    pub reason_id: Option<i64>,
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectRequest {
    pub user_id: Option<i64>,
    pub role_id: Option<i64>,
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// The new name; null goes back to "Диалог №{number}".
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadRequest {
    /// The interest's title.
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// In minor units (kopecks, cents).
    pub amount_minor: Option<i64>,
    /// ISO 4217, e.g. `RUB`.
    pub currency: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInterestRequest {
    pub interest_id: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRequest {
    /// `personal` (for oneself, R27) or `assignment` (for others, R28).
    pub kind: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub assignee_ids: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskResponse {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub dialog_id: Option<i64>,
    pub client_id: Option<i64>,
    pub author_id: i64,
    pub assignee_ids: Vec<i64>,
    pub status: String,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteLink {
    pub url: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ClientSearchQuery {
    /// Part of a message text.
    pub q: String,
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AttachmentsQuery {
    /// `image`, `link` or `file` (anything that is not an image or a link).
    pub kind: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientAttachment {
    /// A link found in a message's text has `id` 0 and its address as `url` and
    /// `file_name`.
    #[serde(flatten)]
    pub attachment: AttachmentItem,
    pub dialog_id: i64,
    /// The dialog's number (as the list shows it: «Диалог №…»).
    pub dialog_number: i64,
    pub message_id: i64,
    /// When its message was written.
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CloseReasonItem {
    pub id: i64,
    pub name: String,
    pub is_default: bool,
    pub archived: bool,
    pub position: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCloseReason {
    pub name: String,
    #[serde(default)]
    pub position: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCloseReason {
    pub name: Option<String>,
    pub archived: Option<bool>,
    pub position: Option<i32>,
    /// Make it the default reason (the previous default stops being one).
    pub is_default: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CloseReasonReportQuery {
    /// Dialogs closed at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Dialogs closed before this time.
    pub to: Option<DateTime<Utc>>,
    pub account_id: Option<i64>,
    /// The user who closed them.
    pub user_id: Option<i64>,
    /// Only dialogs that were leads (R3): the analysis of why leads were rejected.
    pub leads_only: Option<bool>,
    /// The periods of `by_period`: `day`, `week` or `month` (default), in UTC.
    pub period: Option<String>,
    /// `json` (default) or `csv` (one line per group and reason, for spreadsheets).
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CloseReasonReportRow {
    pub reason_id: Option<i64>,
    pub reason: String,
    pub count: i64,
    /// Share of all closed dialogs in the report, 0 to 1.
    pub share: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CloseReasonReport {
    pub total: i64,
    /// By reason, most frequent first.
    pub rows: Vec<CloseReasonReportRow>,
    /// By account, each with its reasons.
    pub by_account: Vec<ReportGroup>,
    /// By the user who closed (`id` absent: closed automatically).
    pub by_user: Vec<ReportGroup>,
    /// By period (`id` absent; `name` is the period's first day), oldest first.
    pub by_period: Vec<ReportGroup>,
}

/// Closed dialogs of one account, user or period, with shares of the whole report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportGroup {
    pub id: Option<i64>,
    pub name: String,
    pub count: i64,
    /// Share of all closed dialogs in the report.
    pub share: f64,
    /// This group's closed dialogs by reason; their shares are of the group's count.
    pub reasons: Vec<CloseReasonReportRow>,
}
