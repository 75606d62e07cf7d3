//! Workstation queries at scale: 100,000 dialogs and 1,000,000 messages in a private
//! PostgreSQL, then the list (each section), the counters, search by a word, by part of
//! an order number and by a client's name (Cyrillic), a client's dialogs and a second
//! page, each asked over HTTP many times by an operator who sees every account. Prints
//! p50/p99 per query and the plans of the list's main queries (the suite's `queries`
//! scenario).
//!
//! Run: `bash bench/run queries` (about three minutes). Sizes: `BENCH_DIALOGS`,
//! `BENCH_MESSAGES_PER_DIALOG`, `BENCH_REQUESTS`.

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::{PgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::common::{self, env_number, percentile_ms};
use dialogi::config::{Config, SecretString};
use dialogi::db;
use dialogi::startup::Application;

/// Fills the database with generated data in a few set-based statements.
fn fill(conn: &mut PgConnection, dialogs: usize, per_dialog: usize) {
    let sql = format!(
        r#"
SET synchronous_commit = off;
INSERT INTO channel_accounts (kind, name, priority, credentials)
SELECT k, 'Bench ' || k, p, '{{"token":"x"}}'::jsonb
FROM (VALUES ('telegram', 4), ('vk', 3), ('viber', 2), ('whatsapp', 1)) AS a(k, p);

INSERT INTO clients (kind, name)
SELECT CASE WHEN i % 5 = 0 THEN 'prospect' ELSE 'client' END,
       (ARRAY['Алексей','Мария','Сергей','Ольга','Николай','Татьяна','Игорь','Наталья'])[1 + i % 8]
       || ' ' || (ARRAY['Соколов','Кузнецов','Попов','Васильев','Морозов','Новиков','Фёдоров','Волков'])[1 + (i / 8) % 8]
       || ' ' || i
FROM generate_series(1, {dialogs}) AS i;

INSERT INTO interlocutors (account_id, external_id, display_name, client_id)
SELECT 1 + i % 4, 'u' || i, c.name, c.id
FROM generate_series(1, {dialogs}) AS i JOIN clients c ON c.id = i;

INSERT INTO dialogs (account_id, interlocutor_id, client_id, status, responsible_user_id,
                     created_at, accepted_at, closed_at, last_message_at, last_message_preview)
SELECT il.account_id, il.id, il.client_id,
       CASE WHEN il.id % 10 = 0 THEN 'new' WHEN il.id % 10 = 1 THEN 'accepted'
            WHEN il.id % 10 = 2 THEN 'returned' ELSE 'closed' END,
       CASE WHEN il.id % 10 = 1 THEN 1 ELSE NULL END,
       now() - make_interval(mins => il.id::int),
       CASE WHEN il.id % 10 = 1 THEN now() - make_interval(mins => il.id::int) END,
       CASE WHEN il.id % 10 >= 3 THEN now() - make_interval(mins => il.id::int) END,
       now() - make_interval(mins => il.id::int),
       'Последнее сообщение ' || il.id
FROM interlocutors il;

INSERT INTO messages (dialog_id, account_id, direction, text, channel_message_id, delivery, created_at)
SELECT d.id, d.account_id,
       CASE WHEN m % 2 = 0 THEN 'in' ELSE 'out' END,
       (ARRAY['Здравствуйте, сколько стоит','Подскажите по доставке в Казань','Спасибо, оплатил счёт',
              'Когда будет поступление','Hello, do you ship to Riga','Нужна консультация по установке',
              'Можно оплатить картой','Заказ до сих пор не пришёл'])[1 + (d.id + m) % 8] || ' #' || d.id || '-' || m,
       CASE WHEN m % 2 = 0 THEN 'b:' || d.id || ':' || m END,
       CASE WHEN m % 2 = 1 THEN 'read' END,
       d.created_at + make_interval(secs => m)
FROM dialogs d, generate_series(0, {last}) AS m;

UPDATE dialogs d SET last_inbound_message_id = x.max_id
FROM (SELECT dialog_id, max(id) AS max_id FROM messages WHERE direction = 'in' GROUP BY dialog_id) x
WHERE x.dialog_id = d.id;
INSERT INTO dialog_reads (dialog_id, user_id, last_read_message_id)
SELECT id, 1, last_inbound_message_id FROM dialogs WHERE id % 3 = 0 AND last_inbound_message_id IS NOT NULL;
SELECT setval('dialog_number_seq', (SELECT max(number) FROM dialogs));
ANALYZE;
"#,
        last = per_dialog.saturating_sub(1)
    );
    conn.batch_execute(&sql).expect("fill the bench database");
}

fn explain(conn: &mut PgConnection, sql: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    diesel::sql_query(format!(
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"
    ))
    .load::<Line>(conn)
    .expect("explain")
    .into_iter()
    .map(|l| l.line)
    .collect::<Vec<_>>()
    .join("\n")
}

/// Fills the database, then asks every query `requests` times per round, `runs` rounds;
/// the report section with every round, the medians and the target's verdict.
pub fn section(runs: usize) -> String {
    let dialogs = env_number("BENCH_DIALOGS", 100_000);
    let per_dialog = env_number("BENCH_MESSAGES_PER_DIALOG", 10);
    let requests = env_number("BENCH_REQUESTS", 200);
    let cluster = common::BenchCluster::start("list", &[("shared_buffers", "256MB")]);
    let url = cluster.url.clone();
    let mut conn = cluster.connect();
    let operator = common::insert_user(&mut conn, "operator", "Оператор", false);
    let started = Instant::now();
    fill(&mut conn, dialogs, per_dialog);
    conn.batch_execute(&format!(
        "INSERT INTO account_grants (account_id, user_id, can_view, can_send) \
         SELECT id, {}, true, true FROM channel_accounts",
        operator.id
    ))
    .unwrap();
    // As autovacuum leaves a table soon after a bulk load: statistics and visibility map.
    // One statement each: VACUUM cannot run inside the implicit transaction of a batch.
    conn.batch_execute("VACUUM ANALYZE").unwrap();
    conn.batch_execute("CHECKPOINT").unwrap();
    let fill_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "filled {dialogs} dialogs, {} messages in {fill_secs:.1} s",
        dialogs * per_dialog
    );

    let system = actix_web::rt::System::new();
    let report = system.block_on(async {
        let config = Config {
            listen: "127.0.0.1:0".into(),
            database_url: Some(SecretString::new(url.clone())),
            db_pool_size: 8,
            workers: Some(2),
            ..Config::default()
        };
        let app = Application::build(config, db::build_pool(&url, 8)).unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let login = client
            .post(format!("{base}/api/v1/session"))
            .json(&json!({"login": "operator", "password": "bench-password"}))
            .send()
            .await
            .unwrap();
        assert!(login.status().is_success());
        let first: Value = client
            .get(format!("{base}/api/v1/dialogs?limit=50"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
        let client_id = first["items"][0]["client"]["id"].as_i64().unwrap_or(1);
        let queries = [
            ("list: New", "/api/v1/dialogs?section=new".to_owned()),
            (
                "list: In work",
                "/api/v1/dialogs?section=in_work".to_owned(),
            ),
            ("list: All", "/api/v1/dialogs?section=all".to_owned()),
            (
                "list: All with closed",
                "/api/v1/dialogs?section=all&closed=true".to_owned(),
            ),
            (
                "list: second page",
                format!("/api/v1/dialogs?section=all&closed=true&cursor={cursor}"),
            ),
            (
                "list: channel priority",
                "/api/v1/dialogs?priority=true".to_owned(),
            ),
            ("counters", "/api/v1/dialogs/counters".to_owned()),
            (
                "search: a word in 1/8 of messages",
                "/api/v1/dialogs?closed=true&q=%D0%BA%D0%B0%D0%B7%D0%B0%D0%BD%D1%8C".to_owned(),
            ),
            (
                "search: an order number",
                format!("/api/v1/dialogs?closed=true&q=%23{}-4", dialogs / 2),
            ),
            (
                "search: part of an order number (1 dialog in 9)",
                "/api/v1/dialogs?closed=true&q=%237".to_owned(),
            ),
            (
                "search: a client's name",
                "/api/v1/dialogs?closed=true&q=%D0%BC%D0%BE%D1%80%D0%BE%D0%B7%D0%BE%D0%B2%2012"
                    .to_owned(),
            ),
            (
                "a client's dialogs",
                format!("/api/v1/clients/{client_id}/dialogs"),
            ),
        ];
        // The first ask of a user's counters reads their read marks (the keeper holds
        // them afterwards): timed apart from the rounds.
        let t = Instant::now();
        let first = client
            .get(format!("{base}/api/v1/dialogs/counters"))
            .send()
            .await
            .unwrap();
        assert!(first.status().is_success(), "counters: {}", first.status());
        first.bytes().await.unwrap();
        let first_counters_ms = t.elapsed().as_secs_f64() * 1000.0;
        // Per query: the p50s and p99s of each round.
        let mut measured: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); queries.len()];
        for round in 0..runs {
            for ((name, path), (p50s, p99s)) in queries.iter().zip(measured.iter_mut()) {
                let mut times = Vec::with_capacity(requests);
                for _ in 0..requests {
                    let t = Instant::now();
                    let response = client.get(format!("{base}{path}")).send().await.unwrap();
                    assert!(
                        response.status().is_success(),
                        "{name}: {}",
                        response.status()
                    );
                    response.bytes().await.unwrap();
                    times.push(t.elapsed());
                }
                times.sort();
                let (p50, p99) = (percentile_ms(&times, 0.5), percentile_ms(&times, 0.99));
                eprintln!("round {round}: {name:<30} p50 {p50:>7.2} ms   p99 {p99:>7.2} ms");
                p50s.push(p50);
                p99s.push(p99);
            }
        }
        drop(handle.stop(true));
        eprintln!("a user's first counters: {first_counters_ms:.2} ms");
        let cell = |values: &[f64]| {
            let each: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
            (each.join(" / "), crate::util::median(values))
        };
        let rows = queries
            .iter()
            .zip(&measured)
            .map(|((name, _), (p50s, p99s))| {
                let ((p50s, _), (p99s, p99)) = (cell(p50s), cell(p99s));
                format!(
                    "| {name} | {p50s} | {p99s} | {p99:.2} ms | {} |",
                    if p99 <= 20.0 { "**met**" } else { "**missed**" }
                )
            })
            .collect::<Vec<_>>();
        (rows, first_counters_ms)
    });
    let (report, first_counters_ms) = report;

    let visible = "ARRAY[1,2,3,4]::bigint[]";
    let search = |pattern: &str| {
        format!(
            "SELECT d.id FROM dialogs d WHERE d.account_id = ANY({visible}) AND d.id IN (\
             SELECT m.dialog_id FROM messages m WHERE m.text ILIKE '{pattern}' \
             UNION SELECT d.id FROM dialogs d JOIN interlocutors i ON i.id = d.interlocutor_id WHERE i.display_name ILIKE '{pattern}' \
             UNION SELECT d.id FROM dialogs d JOIN clients c ON c.id = d.client_id WHERE c.name ILIKE '{pattern}' \
             UNION SELECT d.id FROM dialogs d JOIN contact_persons p ON p.client_id = d.client_id WHERE p.name ILIKE '{pattern}') \
             ORDER BY d.last_message_at DESC NULLS LAST, d.id DESC LIMIT 51"
        )
    };
    let plans = [
        (
            "All, newest first",
            format!(
                "SELECT d.id FROM dialogs d LEFT JOIN dialog_reads r ON r.dialog_id = d.id AND r.user_id = {op} \
                 WHERE d.status IN ('new','returned','accepted') AND d.account_id = ANY({visible}) \
                 ORDER BY d.last_message_at DESC NULLS LAST, d.id DESC LIMIT 51",
                op = operator.id
            ),
        ),
        (
            "counters, once per process: the tracked dialogs",
            "SELECT id, account_id, status, last_inbound_message_id FROM dialogs \
             WHERE status <> 'closed' AND last_inbound_message_id IS NOT NULL"
                .to_owned(),
        ),
        (
            "counters, once per user: their read marks on active dialogs",
            format!(
                "SELECT r.dialog_id, r.last_read_message_id FROM dialog_reads r JOIN dialogs d ON d.id = r.dialog_id \
                 WHERE r.user_id = {op} AND d.status <> 'closed'",
                op = operator.id
            ),
        ),
        (
            "channel priority, the unread half (the read half is the same with IS NOT TRUE)",
            format!(
                "SELECT d.id FROM dialogs d LEFT JOIN dialog_reads r ON r.dialog_id = d.id AND r.user_id = {op} \
                 WHERE d.status IN ('new','returned','accepted') AND d.account_id = ANY({visible}) \
                 AND (d.last_inbound_message_id > COALESCE(r.last_read_message_id, 0)) IS TRUE \
                 ORDER BY d.account_priority DESC, d.last_message_at DESC NULLS LAST, d.id DESC LIMIT 51",
                op = operator.id
            ),
        ),
        (
            "search walk: a word in 1/8 of messages, newest dialogs first",
            format!(
                "SELECT d.id FROM dialogs d WHERE d.account_id = ANY({visible}) \
                 AND d.last_message_at >= COALESCE((SELECT b.last_message_at FROM dialogs b \
                 WHERE b.account_id = ANY({visible}) ORDER BY b.last_message_at DESC NULLS LAST, b.id DESC \
                 OFFSET 203 LIMIT 1), '-infinity') \
                 AND (EXISTS (SELECT 1 FROM interlocutors i WHERE i.id = d.interlocutor_id AND i.display_name ILIKE (SELECT '%казань%'::text) OFFSET 0) \
                 OR EXISTS (SELECT 1 FROM clients c WHERE c.id = d.client_id AND c.name ILIKE (SELECT '%казань%'::text) OFFSET 0) \
                 OR EXISTS (SELECT 1 FROM contact_persons p WHERE p.client_id = d.client_id AND p.name ILIKE (SELECT '%казань%'::text) OFFSET 0) \
                 OR EXISTS (SELECT 1 FROM messages m WHERE m.dialog_id = d.id AND m.text ILIKE (SELECT '%казань%'::text) OFFSET 0)) \
                 ORDER BY d.last_message_at DESC NULLS LAST, d.id DESC LIMIT 51"
            ),
        ),
        ("search: a client's name", search("%морозов 12%")),
        (
            "search: an order number",
            search(&format!("%#{}-4%", dialogs / 2)),
        ),
    ];
    let mut plan_text = String::new();
    for (name, sql) in &plans {
        let plan = explain(&mut conn, sql);
        eprintln!("-- {name}\n{plan}\n");
        plan_text.push_str(&format!("\n{name}:\n```\n{plan}\n```\n"));
    }
    drop(conn);
    drop(cluster);

    format!(
        "## Workstation queries\n\n{dialogs} dialogs, {} messages (filled, vacuumed and analyzed in {fill_secs:.0} s); \
         {runs} rounds of {requests} sequential HTTP requests per query by an operator who sees all four accounts, \
         against the server in this process (2 workers); target p99 ≤ 20 ms for each. \
         The counters are kept in memory from the event log; a user's first ask, which reads their read marks, \
         took {first_counters_ms:.1} ms and is not in the rounds.\n\n\
         | query (target p99 ≤ 20 ms) | p50 ms, each round | p99 ms, each round | median p99 | verdict |\n|---|---|---|---|---|\n{}\n{plan_text}",
        dialogs * per_dialog,
        report.join("\n")
    )
}
