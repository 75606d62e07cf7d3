//! `dialogi demo`: a believable company in an empty database, and never over real data.

use diesel::RunQueryDsl;

use crate::helpers::TestDatabase;

fn count(conn: &mut diesel::PgConnection, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT ({sql})::bigint AS n"))
        .get_result::<Count>(conn)
        .expect("count")
        .n
}

#[test]
fn the_demo_fills_an_empty_database_with_a_living_company_once() {
    let db = TestDatabase::create();
    let mut conn = db.connect();
    let summary = dialogi::demo::fill(&mut conn).expect("fill the demo");
    assert!(summary.contains("password"), "{summary}");

    assert_eq!(
        count(
            &mut conn,
            "SELECT count(DISTINCT kind) FROM channel_accounts"
        ),
        4
    );
    assert!(count(&mut conn, "SELECT count(*) FROM dialogs") >= 200);
    for status in ["new", "accepted", "returned", "closed"] {
        assert!(
            count(
                &mut conn,
                &format!("SELECT count(*) FROM dialogs WHERE status = '{status}'")
            ) > 0,
            "no {status} dialogs"
        );
    }
    assert!(
        count(
            &mut conn,
            "SELECT count(*) FROM clients WHERE kind = 'prospect'"
        ) > 0
    );
    assert!(count(&mut conn, "SELECT count(*) FROM contact_persons") > 0);
    assert!(count(&mut conn, "SELECT count(*) FROM interests") > 0);
    assert!(
        count(
            &mut conn,
            "SELECT count(*) FROM messages WHERE text ~ '[А-Яа-я]'"
        ) > 100
    );
    assert!(
        count(
            &mut conn,
            "SELECT count(*) FROM messages WHERE text ~ '^[A-Za-z]'"
        ) > 10
    );
    assert!(count(&mut conn, "SELECT count(*) FROM users WHERE NOT is_admin") >= 5);
    // Every dialog shows its last message, and closed ones say why.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM dialogs WHERE last_message_at IS NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM dialogs WHERE status = 'closed' AND close_reason_id IS NULL"
        ),
        0
    );
    // Some active dialogs wait unread, so the counters have something to count.
    assert!(
        count(
            &mut conn,
            "SELECT count(*) FROM dialogs d WHERE status <> 'closed' AND NOT EXISTS \
             (SELECT 1 FROM dialog_reads r WHERE r.dialog_id = d.id \
              AND r.last_read_message_id >= d.last_inbound_message_id)"
        ) > 0
    );

    let dialogs = count(&mut conn, "SELECT count(*) FROM dialogs");
    let again = dialogi::demo::fill(&mut conn);
    assert!(
        again.is_err(),
        "a second demo over existing data is refused"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM dialogs"), dialogs);
}
