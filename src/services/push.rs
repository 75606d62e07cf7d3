//! Web push (R45): a user's browsers subscribed to their push services. The endpoint is
//! checked by the caller (only the browsers' push services, or `--push-host`).

use crate::db::{self, DbPool, push};
use crate::error::ApiError;

/// Subscribes a browser of `user` (again: the same endpoint is kept once).
pub async fn subscribe(pool: &DbPool, user: i64, endpoint: String) -> Result<(), ApiError> {
    db::run(pool, move |conn| push::subscribe(conn, user, &endpoint)).await?;
    Ok(())
}

/// Forgets a browser of `user`; 404 when it was not subscribed.
pub async fn unsubscribe(pool: &DbPool, user: i64, endpoint: String) -> Result<(), ApiError> {
    let removed = db::run(pool, move |conn| push::unsubscribe(conn, user, &endpoint)).await?;
    if removed {
        Ok(())
    } else {
        Err(ApiError::NotFound("push subscription"))
    }
}
