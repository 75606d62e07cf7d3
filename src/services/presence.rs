//! Presence (R46): a user's claim — viewing or typing in a dialog, or here at all — sent
//! to every process as a notification, never stored as an event.

use crate::db::{self, DbPool};
use crate::domain::presence::Claim;
use crate::error::ApiError;

/// Tells every process's streams that `user` makes `claim` (in `dialog`: its id and
/// account, for the claims about a dialog).
pub async fn claim(
    pool: &DbPool,
    user: i64,
    dialog: Option<(i64, i64)>,
    claim: Claim,
) -> Result<(), ApiError> {
    db::run(pool, move |conn| {
        db::presence::signal(conn, user, dialog, claim)
    })
    .await?;
    Ok(())
}
