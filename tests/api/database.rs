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
