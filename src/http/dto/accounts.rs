//! Channel accounts and the rights on them (R1–R11).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An account as the API shows it: every setting, never its credentials.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountResponse {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub lead_source: bool,
    pub require_close_reason: bool,
    pub create_clients: bool,
    pub responsible: Option<ResponsibleBody>,
    pub auto_link_interests: bool,
    pub everyone_may_view: bool,
    /// Messages from group chats are taken.
    pub group_chats: bool,
    pub priority: i32,
    pub department_id: Option<i64>,
    pub enabled: bool,
    /// Whether credentials are stored (they are never shown).
    pub has_credentials: bool,
    /// A demo account: its messenger and clients are simulated by this server.
    pub demo: bool,
    pub created_at: DateTime<Utc>,
    /// The caller's rights on it.
    pub my_rights: RightsBody,
}

/// A responsible: a user or a role (R6).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponsibleBody {
    pub user_id: Option<i64>,
    pub role_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RightsBody {
    pub view: bool,
    pub send: bool,
    pub admin: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// `telegram`, `vk`, `viber` or `whatsapp`.
    pub kind: String,
    pub name: String,
    /// Write-only; shaped by kind (API.md).
    #[schema(value_type = Object)]
    pub credentials: serde_json::Value,
    #[serde(default)]
    pub lead_source: bool,
    #[serde(default)]
    pub require_close_reason: bool,
    #[serde(default = "yes")]
    pub create_clients: bool,
    pub responsible: Option<ResponsibleBody>,
    #[serde(default)]
    pub auto_link_interests: bool,
    #[serde(default)]
    pub everyone_may_view: bool,
    #[serde(default)]
    pub priority: i32,
    pub department_id: Option<i64>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Take messages from group chats (VK conversations, Telegram groups); default on.
    #[serde(default = "yes")]
    pub group_chats: bool,
}

fn yes() -> bool {
    true
}

/// Only the fields present change; `responsible: null` removes the responsible.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountRequest {
    pub name: Option<String>,
    /// Write-only. Merged into the stored credentials: a field given replaces that
    /// field, `null` removes it, a field left out stays.
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<serde_json::Value>,
    pub lead_source: Option<bool>,
    pub require_close_reason: Option<bool>,
    pub create_clients: Option<bool>,
    #[serde(default, deserialize_with = "super::people::present")]
    #[schema(value_type = Option<ResponsibleBody>)]
    pub responsible: Option<Option<ResponsibleBody>>,
    pub auto_link_interests: Option<bool>,
    pub everyone_may_view: Option<bool>,
    pub priority: Option<i32>,
    #[serde(default, deserialize_with = "super::people::present")]
    #[schema(value_type = Option<i64>)]
    pub department_id: Option<Option<i64>>,
    pub enabled: Option<bool>,
    pub group_chats: Option<bool>,
}

/// A grant on an account for a user or a role (R9).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    pub user_id: Option<i64>,
    pub role_id: Option<i64>,
    #[serde(default)]
    pub view: bool,
    #[serde(default)]
    pub send: bool,
    #[serde(default)]
    pub admin: bool,
}

/// An update the channel sent that could not be stored: acknowledged to the channel (so
/// the updates behind it flow) and kept here, with its body, for the account's
/// administrators.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailedUpdateResponse {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    /// Why it could not be stored.
    pub error: String,
    /// The update as the channel sent it (a webhook's body or one polled update).
    pub raw: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FailedUpdatesQuery {
    /// Only updates with a smaller id (the next page).
    pub before: Option<i64>,
    /// At most this many (1–200, default 50).
    pub limit: Option<u32>,
}

/// A channel kind and its credential fields, for building the account form (R1).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelKindBody {
    /// `telegram`, `vk`, `viber` or `whatsapp`.
    pub kind: &'static str,
    pub fields: Vec<CredentialFieldBody>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialFieldBody {
    pub name: &'static str,
    pub required: bool,
    /// `text`, `secret` (write-only), `choice`, `url` or `number`.
    #[serde(rename = "type")]
    pub field_type: &'static str,
    /// For `choice`: the values, the first the default.
    pub choices: Vec<&'static str>,
    /// Only the program's administrators may set it.
    pub admin_only: bool,
}
