//! Internal notes (R42): a line of the dialog only staff see, never sent to a channel; its
//! mentions notify (one transaction in `db::notes` with its events).

use crate::db::dialogs::DialogRow;
use crate::db::messages::FeedItem;
use crate::db::{self, DbPool, notes};
use crate::error::ApiError;

/// Adds a note by `author` to `dialog` mentioning `mentioned`, and returns it as the feed
/// shows it.
pub async fn add(
    pool: &DbPool,
    dialog: DialogRow,
    author: i64,
    text: String,
    mentioned: Vec<i64>,
) -> Result<FeedItem, ApiError> {
    db::run(pool, move |conn| {
        let id = notes::add(conn, &dialog, author, &text, &mentioned)?;
        db::messages::feed_items(conn, &[id])
    })
    .await?
    .into_iter()
    .next()
    .ok_or(ApiError::NotFound("message"))
}

/// The notes of `dialog` that mention `user` are seen (they leave «Моя работа»).
pub async fn seen(pool: &DbPool, user: i64, dialog: i64) -> Result<(), ApiError> {
    db::run(pool, move |conn| {
        notes::seen(conn, user, dialog, chrono::Utc::now())
    })
    .await?;
    Ok(())
}
