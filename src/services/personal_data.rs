//! The personal-data kit (R47): an account's retention and a client's erasure, with the
//! stored files they free deleted after their transaction committed, and the daily run of
//! every account's retention.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

use crate::db::data_access::{self as reads, ConsentRow};
use crate::db::personal_data::{self as rows, ExportedFile, Removed};
use crate::db::{self, DbError, DbPool, audit};

/// How often the retention of every account is applied.
pub const DAILY: Duration = Duration::from_secs(24 * 3600);
/// How long the log of who read a client's data is kept.
const ACCESS_LOG_DAYS: i64 = 3 * 365;

/// Records that `user` (with the credential `credential`) read a client's data (R47).
pub async fn note_read(
    pool: &DbPool,
    user: i64,
    credential: Option<i64>,
    what: &'static str,
    client_id: Option<i64>,
    dialog_id: Option<i64>,
) -> Result<(), DbError> {
    db::run(pool, move |conn| {
        reads::note_read(conn, user, credential, what, client_id, dialog_id)
    })
    .await
}

/// Switches an account's retention on (`months`) or off (`None`), audited in `db`;
/// `None` when there is no such account.
pub async fn set_retention(
    pool: &DbPool,
    account_id: i64,
    months: Option<u32>,
    actor: i64,
) -> Result<Option<()>, DbError> {
    db::run(pool, move |conn| {
        rows::set_retention(conn, account_id, months, actor)
    })
    .await
}

/// Everything stored about a client as one document and its files, the export in the
/// audit log (one transaction); `None` when there is no such client.
pub async fn export_client(
    pool: &DbPool,
    client_id: i64,
    actor: i64,
) -> Result<Option<(serde_json::Value, Vec<ExportedFile>)>, DbError> {
    db::run(pool, move |conn| {
        use diesel::Connection;
        conn.transaction(|conn| {
            let found = rows::export_client(conn, client_id)?;
            if found.is_some() {
                audit::note(
                    conn,
                    Some(actor),
                    "client_exported",
                    format!("client:{client_id}"),
                    serde_json::json!({}),
                )?;
            }
            Ok(found)
        })
    })
    .await
}

/// Applies an account's retention now; `None` when the account has none (or is gone).
pub async fn apply_retention(
    pool: &DbPool,
    media_dir: &Path,
    account_id: i64,
    actor: Option<i64>,
) -> Result<Option<Removed>, DbError> {
    let done = db::run(pool, move |conn| {
        rows::apply_retention(conn, account_id, actor, Utc::now())
    })
    .await?;
    Ok(done.map(|(removed, files)| {
        delete_files(media_dir, &files);
        removed
    }))
}

/// Erases a client on request; `None` when there is no such client.
pub async fn erase_client(
    pool: &DbPool,
    media_dir: &Path,
    client_id: i64,
    actor: i64,
    reason: String,
) -> Result<Option<Removed>, DbError> {
    let done = db::run(pool, move |conn| {
        rows::erase_client(conn, client_id, actor, &reason, Utc::now())
    })
    .await?;
    Ok(done.map(|(removed, files)| {
        delete_files(media_dir, &files);
        removed
    }))
}

/// Deletes stored files whose rows are gone. A file that cannot be deleted is logged by
/// name (ours, random: no personal data) and left for the administrator.
fn delete_files(media_dir: &Path, names: &[String]) {
    for name in names {
        // Names are ours (`store_upload`, downloads): no separators, but never trust one.
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            continue;
        }
        match std::fs::remove_file(media_dir.join(name)) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(file = %name, %error, "a removed file stays on disk"),
        }
    }
}

/// Runs every account's retention once a day (the first run a minute after start), and
/// forgets reads of personal data older than the access log keeps.
pub async fn run_daily(pool: DbPool, media_dir: PathBuf) {
    tokio::time::sleep(Duration::from_secs(60)).await;
    loop {
        run_all(&pool, &media_dir).await;
        tokio::time::sleep(DAILY).await;
    }
}

async fn run_all(pool: &DbPool, media_dir: &Path) {
    let accounts = match db::run(pool, rows::accounts_with_retention).await {
        Ok(accounts) => accounts,
        Err(error) => {
            tracing::warn!(%error, "retention: the accounts cannot be read; next run tomorrow");
            return;
        }
    };
    for account_id in accounts {
        match apply_retention(pool, media_dir, account_id, None).await {
            Ok(Some(removed)) => tracing::info!(
                account_id,
                messages = removed.messages,
                files = removed.files,
                "retention applied"
            ),
            Ok(None) => {}
            Err(error) => tracing::warn!(account_id, %error, "retention failed; next run tomorrow"),
        }
    }
    let before = Utc::now() - chrono::Duration::days(ACCESS_LOG_DAYS);
    if let Err(error) = db::run(pool, move |conn| {
        crate::db::data_access::forget_old_reads(conn, before)
    })
    .await
    {
        tracing::warn!(%error, "the access log was not pruned");
    }
}

/// Records, audited, a consent an operator was given (or told withdrawn) by the
/// interlocutor of a dialog.
pub async fn record_consent(
    pool: &DbPool,
    interlocutor: i64,
    given: bool,
    note: String,
    user: i64,
    dialog_id: i64,
) -> Result<ConsentRow, DbError> {
    db::run(pool, move |conn| {
        conn.build_transaction().run(|conn| {
            let row = reads::record_consent(
                conn,
                interlocutor,
                given,
                reads::CONSENT_OPERATOR,
                &note,
                Some(user),
            )?;
            audit::note(
                conn,
                Some(user),
                if given {
                    "consent_given"
                } else {
                    "consent_withdrawn"
                },
                format!("interlocutor:{interlocutor}"),
                serde_json::json!({"dialog_id": dialog_id}),
            )?;
            Ok(row)
        })
    })
    .await
}
