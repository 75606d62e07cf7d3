//! The personal-data kit (R47): retention, erasure, the access log, consents.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What a removal touched (or, in a preview, would).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RemovedBody {
    /// Dialogs whose messages lost their texts and files.
    pub dialogs: i64,
    pub messages: i64,
    pub files: i64,
    /// The files' size as the channels gave it.
    pub bytes: i64,
}

/// An account's retention: texts and files of dialogs closed more than `months` months
/// ago are removed daily; the dialogs and their statistics stay.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RetentionBody {
    /// In force now (`null`: kept for ever).
    pub months: Option<u32>,
    /// The months the preview is for (`?months=`, else the ones in force).
    pub preview_months: Option<u32>,
    /// Dialogs closed before this moment are due.
    pub cutoff: Option<DateTime<Utc>>,
    /// What a run now would remove.
    pub preview: Option<RemovedBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RetentionQuery {
    /// Preview this many months (1–120) instead of the ones in force.
    pub months: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRequest {
    /// 1–120, or `null` to keep everything.
    pub months: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Why (the client's request, its date and channel): kept in the audit log.
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccessLogQuery {
    /// Reads of this client's card and of its dialogs.
    pub client_id: Option<i64>,
    /// Reads by this user.
    pub user_id: Option<i64>,
    /// Only entries with a smaller id (the next page).
    pub before: Option<i64>,
    /// At most this many (1–200, default 50).
    pub limit: Option<u32>,
}

/// One read of personal data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: i64,
    pub user_name: String,
    /// `client` (the card, its dialogs, files or search), `dialog`, or `export`.
    pub what: String,
    pub client_id: Option<i64>,
    pub dialog_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessPage {
    pub items: Vec<AccessEntry>,
    /// Pass as `before` for older entries.
    pub next_cursor: Option<i64>,
}

/// A consent given or withdrawn by an interlocutor.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentBody {
    pub id: i64,
    pub interlocutor_id: i64,
    pub given: bool,
    /// `channel` (subscribed, allowed messages, blocked), `widget` (the website form),
    /// `operator` (recorded by a user).
    pub source: String,
    pub note: String,
    pub recorded_by: Option<i64>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    pub given: bool,
    /// How and where it was given (e.g. "по телефону 6 декабря").
    #[serde(default)]
    pub note: String,
}
