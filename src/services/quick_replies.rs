//! Quick replies (R41): templates and their files. Rights are the handler's
//! (`domain::quick_replies`); this module owns the writes and the files on disk — a file
//! is stored before its row and removed again when the row could not be written, and a
//! template's files leave the data folder once its deletion committed.

use chrono::Utc;

use crate::channels::Channels;
use crate::db::quick_replies::{
    self as rows, MAX_FILES, NewQuickReply, NewQuickReplyFile, QuickReplyFileRow, QuickReplyRow,
};
use crate::db::{self, DbPool};
use crate::error::ApiError;

/// A file for a template, its bytes decoded.
#[derive(Debug)]
pub struct TemplateFile {
    pub file_name: String,
    pub mime_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// Creates templates in one statement: every one or none (an import is all or nothing).
pub async fn create(
    pool: &DbPool,
    new: Vec<NewQuickReply>,
) -> Result<Vec<QuickReplyRow>, ApiError> {
    Ok(db::run(pool, move |conn| rows::insert(conn, &new)).await?)
}

/// Changes a template's name or text; 404 when it is gone.
pub async fn update(
    pool: &DbPool,
    id: i64,
    name: Option<String>,
    text: Option<String>,
) -> Result<QuickReplyRow, ApiError> {
    db::run(pool, move |conn| {
        rows::update(conn, id, name.as_deref(), text.as_deref(), Utc::now())
    })
    .await?
    .ok_or(ApiError::NotFound("quick reply"))
}

/// Deletes a template and, once that committed, its files.
pub async fn delete(pool: &DbPool, channels: &Channels, id: i64) -> Result<(), ApiError> {
    let files = db::run(pool, move |conn| rows::delete(conn, id)).await?;
    channels.remove_uploads(&files.unwrap_or_default()).await;
    Ok(())
}

/// The error of a template that holds [`MAX_FILES`] already.
fn full() -> ApiError {
    ApiError::invalid(
        "files",
        format!("files: a template holds at most {MAX_FILES} files"),
    )
}

/// Adds a file to a template: refused (422) when it holds [`MAX_FILES`]; 507 when the
/// data folder cannot take it. A file whose row was not written (the template full or
/// gone meanwhile, the database) leaves the folder again.
pub async fn add_file(
    pool: &DbPool,
    channels: &Channels,
    reply_id: i64,
    file: TemplateFile,
) -> Result<QuickReplyFileRow, ApiError> {
    let held = db::run(pool, move |conn| rows::files_of(conn, &[reply_id])).await?;
    if held.len() as i64 >= MAX_FILES {
        return Err(full());
    }
    let size_bytes = file.bytes.len() as i64;
    let name = channels
        .store_upload(file.bytes)
        .await
        .map_err(ApiError::StorageFull)?;
    let new = NewQuickReplyFile {
        quick_reply_id: reply_id,
        file_name: file.file_name,
        mime_type: file.mime_type,
        size_bytes,
        storage_path: name.clone(),
    };
    match db::run(pool, move |conn| rows::add_file(conn, &new)).await {
        Ok(Some(file)) => Ok(file),
        other => {
            channels.remove_uploads(&[name]).await;
            match other {
                Err(error) => Err(error.into()),
                _ => Err(full()),
            }
        }
    }
}

/// Removes a file from a template, and from the data folder; 404 when there is none.
pub async fn remove_file(
    pool: &DbPool,
    channels: &Channels,
    reply_id: i64,
    file_id: i64,
) -> Result<(), ApiError> {
    let name = db::run(pool, move |conn| rows::remove_file(conn, reply_id, file_id))
        .await?
        .ok_or(ApiError::NotFound("file"))?;
    channels.remove_uploads(&[name]).await;
    Ok(())
}

/// Counts one use of a template (the list sorts by use).
pub async fn count_use(pool: &DbPool, id: i64) -> Result<(), ApiError> {
    db::run(pool, move |conn| rows::used(conn, id)).await?;
    Ok(())
}
