//! The demo company for `dialogi demo` and `dialogi --demo`: makes the operators' shared
//! password, fills the database (see `db::demo`) and says how to sign in.

use chrono::Utc;
use diesel::PgConnection;

use crate::db::demo as seed;
use crate::domain::people::Password;
use crate::security;

/// Whether the database has no accounts and no dialogs, so demo data may go in.
pub fn is_empty(conn: &mut PgConnection) -> anyhow::Result<bool> {
    Ok(seed::is_empty(conn)?)
}

/// Fills an empty database and returns a summary to print, with the operators' password.
pub fn fill(conn: &mut PgConnection) -> anyhow::Result<String> {
    if !is_empty(conn)? {
        anyhow::bail!(
            "the database already has channel accounts or dialogs; demo data goes only into an empty one"
        );
    }
    let password = security::new_password()?;
    let hash = security::hash_password(&Password::parse(&password)?)?;
    let summary = seed::fill(conn, &hash, Utc::now())?;
    Ok(format!(
        "Demo company ready: {} channel accounts, {} clients, {} dialogs, {} messages.\n\
         Operators {} sign in with the password {password}",
        summary.accounts,
        summary.clients,
        summary.dialogs,
        summary.messages,
        summary.operators.join(", "),
    ))
}
