//! Internal notes (R42): messages of a dialog that only staff see, never sent to a
//! channel, and the users a note mentions, until they open the dialog.
//!
//! A note changes no state of the dialog (status, responsible, preview): it is appended
//! like an edit or a reaction, with its `message` event in the same transaction, and a
//! user-scoped `mention` event for each user it names.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz};
use serde_json::json;

use super::dialogs::DialogRow;
use super::schema::{mentions, messages};
use super::{DbError, events};

/// Stores a note by `author` with the users it mentions; returns its message id.
pub fn add(
    conn: &mut PgConnection,
    dialog: &DialogRow,
    author: i64,
    text: &str,
    mentioned: &[i64],
) -> Result<i64, DbError> {
    conn.transaction(|conn| {
        let id: i64 = diesel::insert_into(messages::table)
            .values((
                messages::dialog_id.eq(dialog.id),
                messages::account_id.eq(dialog.account_id),
                messages::direction.eq("note"),
                messages::author_user_id.eq(author),
                messages::text.eq(text),
                messages::system_data.eq(json!({"mentions": mentioned})),
            ))
            .returning(messages::id)
            .get_result(conn)?;
        let rows: Vec<_> = mentioned
            .iter()
            .map(|user| {
                (
                    mentions::message_id.eq(id),
                    mentions::user_id.eq(*user),
                    mentions::dialog_id.eq(dialog.id),
                )
            })
            .collect();
        diesel::insert_into(mentions::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .execute(conn)?;
        let preview = super::dialogs::preview(text, false);
        let mut new = vec![events::NewEvent {
            kind: "message",
            account_id: Some(dialog.account_id),
            dialog_id: Some(dialog.id),
            user_id: None,
            payload: json!({
                "dialog_id": dialog.id,
                "message_id": id,
                "direction": "note",
                "system_kind": null,
                "preview": preview,
            }),
        }];
        new.extend(mentioned.iter().map(|user| events::NewEvent {
            kind: "mention",
            account_id: Some(dialog.account_id),
            dialog_id: Some(dialog.id),
            user_id: Some(*user),
            payload: json!({
                "dialog_id": dialog.id,
                "message_id": id,
                "by": author,
                "preview": preview,
            }),
        }));
        events::append(conn, &new)?;
        Ok(id)
    })
}

/// Of `logins`, the enabled users who may view `account_id` (an administrator, a grant of
/// theirs or their role's, or an account everyone may view): `(login, id)`.
pub fn viewers_among(
    conn: &mut PgConnection,
    account_id: i64,
    logins: &[String],
) -> Result<Vec<(String, i64)>, DbError> {
    Ok(viewers(conn, account_id)?
        .into_iter()
        .filter(|v| logins.iter().any(|l| l.eq_ignore_ascii_case(&v.login)))
        .map(|v| (v.login, v.id))
        .collect())
}

/// A user who may view an account's dialogs.
#[derive(Debug, Clone, QueryableByName)]
pub struct Viewer {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub login: String,
    #[diesel(sql_type = Text)]
    pub display_name: String,
}

/// Every enabled user who may view `account_id`'s dialogs, by name.
pub fn viewers(conn: &mut PgConnection, account_id: i64) -> Result<Vec<Viewer>, DbError> {
    Ok(diesel::sql_query(
        "SELECT u.id, u.login, u.display_name FROM users u WHERE NOT u.disabled AND ( \
           u.is_admin \
           OR EXISTS (SELECT 1 FROM channel_accounts a WHERE a.id = $1 AND a.everyone_may_view) \
           OR EXISTS (SELECT 1 FROM account_grants g WHERE g.account_id = $1 \
             AND (g.can_view OR g.can_send OR g.can_admin) AND (g.user_id = u.id \
               OR g.role_id IN (SELECT r.role_id FROM user_roles r WHERE r.user_id = u.id)))) \
         ORDER BY u.display_name, u.id",
    )
    .bind::<BigInt, _>(account_id)
    .load(conn)?)
}

/// A note that names the user and that they have not seen yet.
#[derive(Debug, Clone, QueryableByName)]
pub struct Unseen {
    #[diesel(sql_type = BigInt)]
    pub dialog_id: i64,
    #[diesel(sql_type = BigInt)]
    pub message_id: i64,
    #[diesel(sql_type = Text)]
    pub author_name: String,
    #[diesel(sql_type = Text)]
    pub text: String,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
}

/// The notes that mention `user_id` and wait to be seen, newest first.
pub fn unseen(conn: &mut PgConnection, user_id: i64) -> Result<Vec<Unseen>, DbError> {
    Ok(diesel::sql_query(
        "SELECT m.dialog_id, m.message_id, COALESCE(u.display_name, '') AS author_name, \
           msg.text, msg.created_at AS at \
         FROM mentions m JOIN messages msg ON msg.id = m.message_id \
         LEFT JOIN users u ON u.id = msg.author_user_id \
         WHERE m.user_id = $1 AND m.seen_at IS NULL ORDER BY m.message_id DESC LIMIT 200",
    )
    .bind::<BigInt, _>(user_id)
    .load(conn)?)
}

/// The user opened the dialog: its mentions of them are seen.
pub fn seen(
    conn: &mut PgConnection,
    user_id: i64,
    dialog_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        mentions::table
            .filter(mentions::user_id.eq(user_id))
            .filter(mentions::dialog_id.eq(dialog_id))
            .filter(mentions::seen_at.is_null()),
    )
    .set(mentions::seen_at.eq(now))
    .execute(conn)?)
}

/// The logins a text names with `@` (letters, digits, `.`, `_`, `-`), each once.
pub fn mentioned_logins(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i] == '@' && (i == 0 || !chars[i - 1].is_alphanumeric());
        if starts {
            let login: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .collect();
            let login = login.trim_end_matches(['.', '-']).to_owned();
            i += 1 + login.chars().count();
            if !login.is_empty() && !found.iter().any(|f| f.eq_ignore_ascii_case(&login)) {
                found.push(login);
            }
        } else {
            i += 1;
        }
    }
    found
}

/// The newest notes in any dialog with the client (R43's panel), newest first.
pub fn of_client(conn: &mut PgConnection, client_id: i64, limit: i64) -> Result<Vec<i64>, DbError> {
    use super::schema::dialogs;
    Ok(messages::table
        .inner_join(dialogs::table.on(dialogs::id.eq(messages::dialog_id)))
        .filter(dialogs::client_id.eq(client_id))
        .filter(messages::direction.eq("note"))
        .order(messages::id.desc())
        .limit(limit)
        .select(messages::id)
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::mentioned_logins;

    #[test]
    fn r42_mentions_are_logins_after_an_at_sign_each_once() {
        assert_eq!(
            mentioned_logins("@boris посмотри, и @anna.k тоже. @Boris!"),
            vec!["boris", "anna.k"]
        );
        assert_eq!(
            mentioned_logins("почта ivan@example.ru — не упоминание"),
            Vec::<String>::new()
        );
        assert_eq!(mentioned_logins("@ одна собака"), Vec::<String>::new());
        assert_eq!(mentioned_logins("(@vera)"), vec!["vera"]);
    }
}
