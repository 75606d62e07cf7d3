//! Sessions, users, roles, departments, tokens, settings and operations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `{"items": [...], "next_cursor": "..." | null}`: one page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `?cursor=&limit=` of a paged list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub login: String,
    /// Write-only.
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub user: MeResponse,
    /// Send it back in the `X-CSRF-Token` header of every unsafe request made with the
    /// session cookie.
    pub csrf_token: String,
}

/// The signed-in user, their roles and what they may do.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    #[serde(flatten)]
    pub user: UserResponse,
    pub roles: Vec<RoleResponse>,
    pub department: Option<DepartmentResponse>,
    /// What the current credential allows: every scope for a browser session, the
    /// token's scopes for an API token.
    pub scopes: Vec<String>,
    /// For a browser session: the anti-CSRF token (also returned at login).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub department_id: Option<i64>,
    pub role_ids: Vec<i64>,
    pub is_admin: bool,
    pub disabled: bool,
    /// The language of the user's interface: `ru` or `en`.
    pub locale: String,
    pub created_at: DateTime<Utc>,
    /// R46: `online` (at work) or `away`, as the user set it (`PUT /me/status`).
    pub status: String,
    /// Since when the status holds.
    pub status_since: DateTime<Utc>,
}

/// The caller's status (R46).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStatusRequest {
    /// `online` (at work) or `away`.
    pub status: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub login: String,
    /// Write-only; 8 to 128 characters.
    pub password: String,
    pub display_name: String,
    pub department_id: Option<i64>,
    #[serde(default)]
    pub role_ids: Vec<i64>,
    #[serde(default)]
    pub is_admin: bool,
    pub locale: Option<String>,
}

/// Only the fields present change; `department_id: null` removes the department.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub login: Option<String>,
    /// Write-only. Changing it ends the user's browser sessions.
    pub password: Option<String>,
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub department_id: Option<Option<i64>>,
    pub role_ids: Option<Vec<i64>>,
    pub is_admin: Option<bool>,
    /// Disabling ends the user's sessions and stops their tokens at once.
    pub disabled: Option<bool>,
    pub locale: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleResponse {
    pub id: i64,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepartmentResponse {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDepartmentRequest {
    pub name: String,
    pub parent_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub id: i64,
    pub name: String,
    pub user_id: i64,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenResponse {
    #[serde(flatten)]
    pub token: TokenResponse,
    /// The token itself: shown this once, send it as `Authorization: Bearer <token>`.
    pub token_secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    pub name: String,
    /// Any of `read`, `write`, `admin`, `monitor`.
    pub scopes: Vec<String>,
    /// The user the token acts as (default: the caller).
    pub user_id: Option<i64>,
    /// Days until the token expires (default: never).
    pub expires_in_days: Option<u32>,
}

/// Global switches of the installation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// R2: with it off, no channel receives or sends.
    pub integration_enabled: Option<bool>,
    /// R47: the hosts the channels may connect to besides each account's API host
    /// (`api.example.com`, or `*.example.com` for a domain and every name under it).
    /// `null`, the default, allows each platform's documented media hosts (docs/SECURITY.md);
    /// a list replaces them; left out, it stays as it is.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub outbound_hosts: Option<Option<Vec<String>>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Tells a field given as `null` (Some(None)) from a field left out (None).
pub(super) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// R46: what the caller says they do now. Clients repeat it before it lapses (viewing
/// holds 45 s, typing 6 s, being at the workstation 75 s).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceRequest {
    /// The dialog the claim is about; required for `viewing`, `typing` and `left`.
    pub dialog_id: Option<i64>,
    /// `viewing` or `typing` (in the dialog), `left` (the dialog), or `here` (at the
    /// workstation, in no dialog in particular).
    pub claim: String,
}

/// R46: who is where now, as far as the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceBody {
    /// Who views or types in the dialogs of the caller's accounts (the caller too).
    pub viewers: Vec<ViewerPresence>,
    /// Every operator heard from lately, with whether they are `online`, `away` (as
    /// they set it) or `offline` (not heard from for 75 s).
    pub operators: Vec<OperatorPresenceBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ViewerPresence {
    pub dialog_id: i64,
    pub user_id: i64,
    pub display_name: String,
    /// `viewing` or `typing`.
    pub activity: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorPresenceBody {
    pub user_id: i64,
    pub display_name: String,
    /// `online`, `away` or `offline`.
    pub availability: String,
}

/// R45: the server's VAPID public key, the browser's `applicationServerKey`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushKeyBody {
    /// The P-256 public key, uncompressed, base64url without padding.
    pub public_key: String,
}

/// R45: a browser's push subscription (its `PushSubscription.endpoint`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushSubscriptionRequest {
    /// The push service's URL for this browser.
    pub endpoint: String,
}
