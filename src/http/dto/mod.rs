//! The wire contract: request and response bodies of the HTTP API, as API.md and the
//! OpenAPI document describe them. Request types deny unknown fields, so a misspelt field
//! is an error and not a silent no-op; write-only fields (passwords, tokens, channel
//! credentials) never appear in a response type. Conversions from `db` rows live beside
//! the handlers that use them.

mod accounts;
mod dialogs;
mod people;
mod privacy;

pub use accounts::*;
pub use dialogs::*;
pub use people::*;
pub use privacy::*;
mod crm;
pub use crm::*;

/// For PATCH fields where `null` clears and a missing field stays: `Some(None)` is an
/// explicit null.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
