//! What the database itself guarantees, whatever the application does, and migrations
//! that go up, down and up again.

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::{PgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;

use dialogi::db;

use crate::helpers::TestDatabase;

fn violation(conn: &mut PgConnection, sql: &str) -> (DatabaseErrorKind, String) {
    match diesel::sql_query(sql).execute(conn) {
        Err(Error::DatabaseError(kind, info)) => {
            (kind, info.constraint_name().unwrap_or_default().to_owned())
        }
        other => panic!("expected the database to refuse `{sql}`, got {other:?}"),
    }
}

fn seed(conn: &mut PgConnection) {
    conn.batch_execute(
        "INSERT INTO channel_accounts (id, kind, name) VALUES (1, 'telegram', 'Бот продаж');
         INSERT INTO interlocutors (id, account_id, external_id, display_name) VALUES (1, 1, '100', 'Иван');
         INSERT INTO dialogs (id, account_id, interlocutor_id) VALUES (1, 1, 1);
         SELECT setval('channel_accounts_id_seq', 100), setval('interlocutors_id_seq', 100),
                setval('dialogs_id_seq', 100);",
    )
    .expect("seed an account, an interlocutor and a dialog");
}

#[test]
fn r19_the_database_refuses_a_second_active_dialog_for_the_same_interlocutor_and_account() {
    let db = TestDatabase::create();
    let mut conn = db.connect();
    seed(&mut conn);
    let (kind, constraint) = violation(
        &mut conn,
        "INSERT INTO dialogs (account_id, interlocutor_id, status) VALUES (1, 1, 'returned')",
    );
    assert!(matches!(kind, DatabaseErrorKind::UniqueViolation));
    assert_eq!(constraint, "dialogs_one_active_per_interlocutor");

    // Once the dialog is closed, the next message may open a new one.
    conn.batch_execute(
        "UPDATE dialogs SET status = 'closed', closed_at = now() WHERE id = 1;
         INSERT INTO dialogs (account_id, interlocutor_id) VALUES (1, 1);",
    )
    .expect("a new dialog after the old one closed");
    // The same person on another account has a dialog of their own there.
    conn.batch_execute(
        "INSERT INTO channel_accounts (id, kind, name) VALUES (2, 'vk', 'Группа ВК');
         INSERT INTO interlocutors (id, account_id, external_id) VALUES (2, 2, '100');
         INSERT INTO dialogs (account_id, interlocutor_id) VALUES (2, 2);",
    )
    .expect("a dialog on another account");
}

#[test]
fn the_database_stores_one_copy_of_each_channel_message() {
    let db = TestDatabase::create();
    let mut conn = db.connect();
    seed(&mut conn);
    conn.batch_execute(
        "INSERT INTO messages (dialog_id, account_id, direction, text, channel_message_id)
         VALUES (1, 1, 'in', 'Здравствуйте', '100:1')",
    )
    .expect("the first copy");
    let (kind, constraint) = violation(
        &mut conn,
        "INSERT INTO messages (dialog_id, account_id, direction, text, channel_message_id)
         VALUES (1, 1, 'in', 'Здравствуйте', '100:1')",
    );
    assert!(matches!(kind, DatabaseErrorKind::UniqueViolation));
    assert_eq!(constraint, "messages_channel_message_key");
    // Messages without a channel id (system lines, unsent replies) do not collide.
    conn.batch_execute(
        "INSERT INTO messages (dialog_id, account_id, direction, system_kind) VALUES (1, 1, 'system', 'accepted');
         INSERT INTO messages (dialog_id, account_id, direction, system_kind) VALUES (1, 1, 'system', 'accepted');
         INSERT INTO messages (dialog_id, account_id, direction, text, delivery) VALUES (1, 1, 'out', 'Добрый день', 'pending');",
    )
    .expect("messages without channel ids");
}

#[test]
fn the_database_refuses_invalid_statuses_and_inconsistent_rows() {
    let db = TestDatabase::create();
    let mut conn = db.connect();
    seed(&mut conn);
    let refused = [
        "UPDATE dialogs SET status = 'archived' WHERE id = 1",
        // Accepted means somebody took it.
        "UPDATE dialogs SET status = 'accepted' WHERE id = 1",
        // Closed and closed_at go together.
        "UPDATE dialogs SET status = 'closed' WHERE id = 1",
        "INSERT INTO channel_accounts (kind, name) VALUES ('icq', 'Old')",
        "INSERT INTO messages (dialog_id, account_id, direction) VALUES (1, 1, 'sideways')",
        // Outbound messages have a delivery state, inbound ones do not.
        "INSERT INTO messages (dialog_id, account_id, direction, text) VALUES (1, 1, 'out', 'x')",
        "INSERT INTO clients (kind, name) VALUES ('lead', 'X')",
        "INSERT INTO auth_tokens (kind, user_id, token_hash) VALUES ('forever', 1, '\\x00')",
    ];
    for sql in refused {
        let (kind, _) = violation(&mut conn, sql);
        assert!(
            matches!(
                kind,
                DatabaseErrorKind::CheckViolation | DatabaseErrorKind::ForeignKeyViolation
            ),
            "{sql}: {kind:?}"
        );
    }
    let (kind, _) = violation(&mut conn, "DELETE FROM audit_log");
    assert!(
        matches!(kind, DatabaseErrorKind::Unknown),
        "the audit log is append-only"
    );
    conn.batch_execute("INSERT INTO audit_log (action) VALUES ('x')")
        .expect("appending works");
    let (kind, _) = violation(&mut conn, "UPDATE audit_log SET action = 'y'");
    assert!(matches!(kind, DatabaseErrorKind::Unknown));
}

#[test]
fn migrations_run_up_down_and_up_again() {
    let db = TestDatabase::create_empty();
    let mut conn = db.connect();
    let total = MigrationSource::<Pg>::migrations(&db::MIGRATIONS)
        .expect("read the embedded migrations")
        .len();
    assert_eq!(db::run_migrations(&mut conn).expect("up"), total);
    assert!(db::migrations_complete(&mut conn).expect("status"));
    let reverted = conn.revert_all_migrations(db::MIGRATIONS).expect("down");
    assert_eq!(reverted.len(), total);
    assert_eq!(
        user_tables(&mut conn),
        vec!["__diesel_schema_migrations".to_owned()]
    );
    assert!(!db::migrations_complete(&mut conn).expect("status"));
    assert_eq!(db::run_migrations(&mut conn).expect("up again"), total);
    assert!(user_tables(&mut conn).len() > 20);
}

fn user_tables(conn: &mut PgConnection) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        tablename: String,
    }
    diesel::sql_query(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .load::<Table>(conn)
    .expect("list tables")
    .into_iter()
    .map(|t| t.tablename)
    .collect()
}

/// An inbound message for `dialog`, decided by the state machine as its actor would.
fn inbound_change(conn: &mut PgConnection, dialog: i64, key: &str) -> db::dialogs::Change {
    use dialogi::domain::dialog::{self as machine, Actor, Command};
    let row = db::dialogs::find(conn, dialog).unwrap().unwrap();
    let state = row.state(false);
    let system = Actor {
        user: dialogi::domain::UserId(0),
        roles: Vec::new(),
        rights: dialogi::domain::access::Rights::ALL,
    };
    let events = machine::decide(&state, &Command::Inbound, &system).unwrap();
    let after = events.iter().fold(state, machine::apply);
    db::dialogs::Change {
        dialog_id: dialog,
        account_id: row.account_id,
        expected_version: row.version,
        actor: None,
        events,
        after,
        content: Some(db::dialogs::NewContent::Inbound {
            text: format!("сообщение {key}"),
            channel_message_id: key.to_owned(),
            channel_sent_at: None,
            attachments: Vec::new(),
            sender: None,
            extras: Default::default(),
        }),
        close_reason_id: None,
        comment: None,
        new_interest: None,
        now: chrono::Utc::now(),
    }
}

#[test]
fn group_commit_gives_each_change_its_own_result_and_keeps_nothing_of_a_failed_one() {
    let db = TestDatabase::create();
    let mut conn = db.connect();
    conn.batch_execute(
        "INSERT INTO channel_accounts (id, kind, name) VALUES (1, 'telegram', 'Бот продаж');
         INSERT INTO interlocutors (id, account_id, external_id) VALUES (1, 1, '1'), (2, 1, '2'), (3, 1, '3');
         INSERT INTO dialogs (id, account_id, interlocutor_id) VALUES (1, 1, 1), (2, 1, 2), (3, 1, 3);",
    )
    .unwrap();

    // Three dialogs in one batch: one transaction, each its own message and events.
    let changes: Vec<_> = (1..=3)
        .map(|d| inbound_change(&mut conn, d, &format!("a{d}")))
        .collect();
    let results = db::dialogs::commit_batch(&mut conn, &changes);
    let committed: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    for (d, one) in (1..=3).zip(&committed) {
        assert_eq!(one.dialog.id, d);
        assert_eq!(one.dialog.version, 1);
        assert_eq!(one.message_ids.len(), 1);
        assert_eq!(one.dialog.last_inbound_message_id, Some(one.message_ids[0]));
        assert_eq!(one.dialog.last_message_preview, format!("сообщение a{d}"));
        assert_eq!(one.event_ids.len(), 2, "a message and a dialog event");
    }
    let event_ids: Vec<i64> = committed.iter().flat_map(|c| c.event_ids.clone()).collect();
    assert!(event_ids.windows(2).all(|w| w[0] < w[1]), "{event_ids:?}");

    // Dialog 2 changed meanwhile (another process), and dialog 3's message is a copy of
    // one already stored: those two fail alone, dialog 1's message is committed.
    let mut changes: Vec<_> = (1..=3)
        .map(|d| inbound_change(&mut conn, d, &format!("b{d}")))
        .collect();
    conn.batch_execute("UPDATE dialogs SET version = version + 1 WHERE id = 2")
        .unwrap();
    if let Some(db::dialogs::NewContent::Inbound {
        channel_message_id, ..
    }) = &mut changes[2].content
    {
        *channel_message_id = "a3".into();
    }
    let results = db::dialogs::commit_batch(&mut conn, &changes);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(results[1], Err(db::DbError::VersionConflict)),
        "{:?}",
        results[1]
    );
    let duplicate = results[2].as_ref().map(|_| ()).unwrap_err().constraint();
    assert_eq!(
        duplicate.map(|(_, name)| name),
        Some("messages_channel_message_key".to_owned())
    );
    let stored: Vec<(i64, i64)> = diesel::sql_query(
        "SELECT dialog_id, count(*) AS n FROM messages GROUP BY dialog_id ORDER BY dialog_id",
    )
    .load::<Stored>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|s| (s.dialog_id, s.n))
    .collect();
    assert_eq!(stored, vec![(1, 2), (2, 1), (3, 1)]);
}

#[derive(diesel::QueryableByName)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    dialog_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
