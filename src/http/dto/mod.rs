//! The wire contract: request and response bodies of the HTTP API, as API.md and the
//! OpenAPI document describe them. Request types deny unknown fields, so a misspelt field
//! is an error and not a silent no-op; write-only fields (passwords, tokens, channel
//! credentials) never appear in a response type. Conversions from `db` rows live beside
//! the handlers that use them.

mod accounts;
mod dialogs;
mod people;

pub use accounts::*;
pub use dialogs::*;
pub use people::*;
