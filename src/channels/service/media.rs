//! Files: a channel's media stored in the data folder once, operators' uploads, and the
//! files of an outbound message read back for its sender.

use std::path::PathBuf;

use super::Channels;
use crate::channels::{ChannelError, MediaRef};
use crate::db::outbox as rows;
use crate::db::{self, DbError};

impl Channels {
    /// Downloads an attachment into the data folder (once) and returns its path.
    pub async fn stored_media(
        &self,
        attachment_id: i64,
    ) -> Result<Option<(PathBuf, Option<String>, String)>, ChannelError> {
        let pool = self.inner.pool.clone();
        let found = db::run(&pool, move |conn| {
            rows::find_attachment(conn, attachment_id)
        })
        .await
        .map_err(|e| ChannelError::Api(e.to_string()))?;
        let Some(attachment) = found else {
            return Ok(None);
        };
        // A link is a page the client chose: it is shown, never fetched by the server.
        if attachment.kind == "link" {
            return Ok(None);
        }
        if let Some(path) = &attachment.storage_path {
            let path = self.inner.media_dir.join(path);
            if path.exists() {
                return Ok(Some((path, attachment.mime_type, attachment.file_name)));
            }
        }
        let channel = self
            .channel(attachment.account_id)
            .await
            .ok_or_else(|| ChannelError::Unsupported("the account is disabled".into()))?;
        let file = channel
            .download(&MediaRef {
                channel_file_id: attachment.channel_file_id.clone(),
                url: attachment.url.clone(),
            })
            .await?;
        // The name on disk is ours: the attachment's id, never a name from outside.
        let name = attachment.id.to_string();
        let path = self.inner.media_dir.join(&name);
        let dir = self.inner.media_dir.clone();
        let bytes = file.bytes;
        let size = bytes.len() as i64;
        let on_disk = name.clone();
        tokio::task::spawn_blocking(move || write_whole(&dir, &on_disk, &bytes))
            .await
            .map_err(|e| ChannelError::Api(e.to_string()))?
            .map_err(ChannelError::Storage)?;
        let mime = file.mime_type.clone();
        db::run(&pool, move |conn| {
            rows::attachment_stored(conn, attachment_id, &name, size, mime.as_deref())
        })
        .await
        .map_err(|e| ChannelError::Api(e.to_string()))?;
        Ok(Some((
            path,
            attachment.mime_type.or(file.mime_type),
            attachment.file_name,
        )))
    }

    /// The folder of stored files.
    pub fn media_dir(&self) -> &std::path::Path {
        &self.inner.media_dir
    }

    /// Where a stored file of ours lives (`name` is a name we generated).
    pub fn media_path(&self, name: &str) -> PathBuf {
        self.inner.media_dir.join(name)
    }

    /// Stores an operator's file under the data folder with a random name of ours and
    /// returns that name.
    pub async fn store_upload(&self, bytes: Vec<u8>) -> std::io::Result<String> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
        let name = format!("out-{}", hex::encode(random));
        let (dir, file) = (self.inner.media_dir.clone(), name.clone());
        tokio::task::spawn_blocking(move || write_whole(&dir, &file, &bytes))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(name)
    }

    /// Stores several files, all or none: when one cannot be written, those stored
    /// before it are removed again. Returns their names, in order.
    pub async fn store_uploads(&self, files: Vec<Vec<u8>>) -> std::io::Result<Vec<String>> {
        let mut names = Vec::with_capacity(files.len());
        for bytes in files {
            match self.store_upload(bytes).await {
                Ok(name) => names.push(name),
                Err(error) => {
                    self.remove_uploads(&names).await;
                    return Err(error);
                }
            }
        }
        Ok(names)
    }

    /// Deletes stored uploads whose message was not written.
    pub async fn remove_uploads(&self, names: &[String]) {
        let paths: Vec<PathBuf> = names.iter().map(|n| self.inner.media_dir.join(n)).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for path in paths {
                let _ = std::fs::remove_file(path);
            }
        })
        .await;
    }

    /// Reads the files of an outbound message from the data folder.
    pub(in crate::channels) async fn outgoing_files(
        &self,
        message_id: i64,
    ) -> Result<Vec<crate::channels::OutgoingFile>, DbError> {
        let rows = db::run(&self.inner.pool, move |conn| {
            rows::files_of(conn, message_id)
        })
        .await?;
        let dir = self.inner.media_dir.clone();
        let files = tokio::task::spawn_blocking(move || {
            rows.into_iter()
                .map(|row| {
                    let name = row.storage_path.clone().unwrap_or_default();
                    let bytes = std::fs::read(dir.join(&name)).map_err(|e| (name, e))?;
                    Ok(crate::channels::OutgoingFile {
                        attachment_id: row.id,
                        kind: row.kind,
                        file_name: row.file_name,
                        mime_type: row.mime_type,
                        bytes,
                    })
                })
                .collect::<Result<Vec<_>, (String, std::io::Error)>>()
        })
        .await
        .map_err(|_| DbError::Cancelled)?;
        // A file missing from this server's data folder (several processes need a shared
        // one) is an error, not a message sent without it.
        files.map_err(|(name, error)| {
            tracing::error!(file = %name, error = %error, "an outbound file is missing from the data folder");
            DbError::Invariant("an outbound file is missing from the data folder")
        })
    }

    /// Media links from channels can expire (Viber): fetch them right after the commit.
    pub(super) fn fetch_media_later(&self, message_id: i64) {
        let me = self.clone();
        self.inner.arbiter.spawn(async move {
            let pool = me.inner.pool.clone();
            let Ok(list) = db::run(&pool, move |conn| rows::attachments_to_fetch(conn, message_id)).await else {
                return;
            };
            for attachment in list {
                match me.stored_media(attachment.id).await {
                    Ok(_) => {}
                    Err(ChannelError::Storage(error)) => {
                        tracing::error!(attachment = attachment.id, error = %error, "media not stored: the data folder is full or cannot be written; the message is kept and the file is fetched again when opened");
                    }
                    Err(error) => {
                        tracing::warn!(attachment = attachment.id, error = %error, "media not downloaded; it is tried again when opened");
                    }
                }
            }
        });
    }
}

/// Writes `bytes` to `dir/name` whole or not at all: into a temporary file of its own that
/// is synced and then renamed, and removed when anything fails (a full disk leaves no half
/// file for anyone to serve later).
fn write_whole(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
    let partial = dir.join(format!("{name}.{}.part", hex::encode(random)));
    let written = std::fs::File::create(&partial).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let done = written.and_then(|()| std::fs::rename(&partial, dir.join(name)));
    if done.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    done
}
