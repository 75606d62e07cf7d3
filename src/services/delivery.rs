//! Delivery you can trust (R44): a reply whose sending failed is queued once more as the
//! same message (a new outbox attempt; the channel's idempotency key where it has one),
//! and this process's sender is woken for it.

use crate::channels::Channels;
use crate::db::{self, DbPool, outbox};
use crate::error::ApiError;

/// Sends a failed reply again; 409 `not_failed` for a message that did not fail.
pub async fn retry(
    pool: &DbPool,
    channels: &Channels,
    dialog_id: i64,
    message_id: i64,
) -> Result<(), ApiError> {
    let retried = db::run(pool, move |conn| outbox::retry(conn, dialog_id, message_id)).await?;
    let Some(account_id) = retried else {
        return Err(ApiError::Conflict {
            code: "not_failed",
            message: "only a reply whose sending failed is sent again".into(),
        });
    };
    channels.wake(account_id);
    Ok(())
}
