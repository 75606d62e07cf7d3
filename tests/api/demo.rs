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
        6
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
    // One operator is away (R46), the others at work.
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM users WHERE status = 'away' AND status_since < now()"
        ),
        1
    );

    let dialogs = count(&mut conn, "SELECT count(*) FROM dialogs");
    let again = dialogi::demo::fill(&mut conn);
    assert!(
        again.is_err(),
        "a second demo over existing data is refused"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM dialogs"), dialogs);
}

/// Reads one text value with SQL.
fn text(conn: &mut diesel::PgConnection, sql: &str) -> Option<String> {
    #[derive(diesel::QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        t: Option<String>,
    }
    diesel::sql_query(format!("SELECT ({sql})::text AS t"))
        .get_result::<Text>(conn)
        .ok()
        .and_then(|t| t.t)
}

/// Waits until `done` holds (checked every 200 ms) or `wait` passes.
async fn within(wait: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    done()
}

#[actix_web::test]
async fn r28_the_demo_lives_offline_its_channels_deliver_and_its_clients_write_back() {
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use std::time::Duration;

    let db = TestDatabase::create();
    let port = crate::helpers::free_port();
    let data = std::env::temp_dir().join(format!("dialogi-demo-{}-{port}", std::process::id()));
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_dialogi"))
        .args(["--demo", "--demo-activity", "1-2", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&data)
        .env("DATABASE_URL", &db.url)
        .env("DIALOGI_ADMIN_PASSWORD", "demo-admin-password")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start dialogi --demo");
    let base = format!("http://127.0.0.1:{port}");
    let ready = within(Duration::from_secs(60), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    assert!(ready, "the demo server did not start");
    let (http, csrf) = crate::helpers::sign_in_at(&base, "admin", "demo-admin-password").await;
    let accounts: Value = http
        .get(format!("{base}/api/v1/accounts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let accounts: Vec<(i64, String)> = accounts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["demo"] == true)
        .map(|a| {
            (
                a["id"].as_i64().unwrap(),
                a["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(accounts.len(), 6, "{accounts:?}");
    let mut conn = db.connect();

    // New clients write by themselves, through the real webhooks.
    let seeded = count(&mut conn, "SELECT count(*) FROM dialogs");
    assert!(
        within(Duration::from_secs(30), || count(
            &mut conn,
            "SELECT count(*) FROM dialogs"
        ) > seeded)
        .await,
        "no new client dialog appeared by itself"
    );

    for (account, kind) in &accounts {
        // A dialog of this account nobody has taken: one a new client opened.
        let sql = format!(
            "SELECT max(id) FROM dialogs WHERE account_id = {account} AND status = 'new' \
             AND created_at > now() - interval '10 minutes'"
        );
        assert!(
            // The simulated clients pick an account at random, a message every 1–2 s: a
            // minute is plenty alone, but not always beside the whole suite on two cores.
            within(Duration::from_secs(180), || text(&mut conn, &sql).is_some()).await,
            "no new dialog on the {kind} account"
        );
        let dialog: i64 = text(&mut conn, &sql).unwrap().parse().unwrap();
        let reply = http
            .post(format!("{base}/api/v1/dialogs/{dialog}/messages"))
            .header("x-csrf-token", &csrf)
            .json(&json!({"text": "Здравствуйте! Сейчас всё проверим."}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::CREATED, "{kind}");
        let message = reply.json::<Value>().await.unwrap()["message"]["id"]
            .as_i64()
            .unwrap();
        // Viber and WhatsApp report delivery and reading, VK reading (`message_read`);
        // Telegram and MAX tell a bot neither, so "sent" is as far as it goes.
        let last_state = if matches!(kind.as_str(), "viber" | "whatsapp" | "vk") {
            "read"
        } else {
            "sent"
        };
        let state_sql = format!("SELECT delivery FROM messages WHERE id = {message}");
        assert!(
            within(Duration::from_secs(20), || text(&mut conn, &state_sql)
                .as_deref()
                == Some(last_state))
            .await,
            "{kind}: the reply stayed {:?}",
            text(&mut conn, &state_sql)
        );
        // The client answers after a typing pause (the demo's website visitors write
        // through the widget and do not come back to answer).
        if kind == "web" {
            continue;
        }
        let answer_sql = format!(
            "SELECT count(*) FROM messages WHERE dialog_id = {dialog} AND direction = 'in' AND id > {message}"
        );
        assert!(
            within(Duration::from_secs(30), || count(&mut conn, &answer_sql)
                > 0)
            .await,
            "{kind}: the client never answered"
        );
    }

    // The demo company's site carries the website chat, which answers that page's origin.
    let site = reqwest::get(format!("{base}/demo/site")).await.unwrap();
    assert_eq!(site.status(), StatusCode::OK);
    let page = site.text().await.unwrap();
    let widget = page
        .split("data-account=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page embeds the widget")
        .to_owned();
    let config = reqwest::Client::new()
        .get(format!("{base}/widget/{widget}/config"))
        .header("origin", &base)
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), StatusCode::OK);
    assert_eq!(
        config.headers()["access-control-allow-origin"],
        base.as_str()
    );

    // A real account pointed at the simulator by hand is refused there: the simulator
    // answers demo accounts only.
    let simulator = text(
        &mut conn,
        "SELECT credentials->>'api_url' FROM channel_accounts WHERE demo AND kind = 'telegram'",
    )
    .unwrap();
    let real = http
        .post(format!("{base}/api/v1/accounts"))
        .header("x-csrf-token", &csrf)
        .json(
            &json!({"kind": "telegram", "name": "Настоящий бот", "credentials": {
            "token": "123456:real-token", "mode": "webhook", "webhook_secret": "real-secret",
            "api_url": simulator}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(real.status(), StatusCode::CREATED);
    let real = real.json::<Value>().await.unwrap();
    assert_eq!(real["demo"], false);
    let real_id = real["id"].as_i64().unwrap();
    let update = json!({"update_id": 1, "message": {"message_id": 1, "date": 1_700_000_000,
        "chat": {"id": 42, "type": "private", "first_name": "Пётр"},
        "from": {"id": 42, "is_bot": false, "first_name": "Пётр"}, "text": "Здравствуйте"}});
    let hooked = http
        .post(format!("{base}/hooks/telegram/{real_id}"))
        .header("X-Telegram-Bot-Api-Secret-Token", "real-secret")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(hooked.status(), StatusCode::OK);
    let dialog: i64 = text(
        &mut conn,
        &format!("SELECT max(id) FROM dialogs WHERE account_id = {real_id}"),
    )
    .unwrap()
    .parse()
    .unwrap();
    let reply = http
        .post(format!("{base}/api/v1/dialogs/{dialog}/messages"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"text": "Ответ настоящему клиенту"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_ne!(
        text(
            &mut conn,
            &format!(
                "SELECT delivery FROM messages WHERE dialog_id = {dialog} AND direction = 'out'"
            )
        )
        .as_deref(),
        Some("sent"),
        "the simulator took a real account's message"
    );
    assert_eq!(
        count(
            &mut conn,
            &format!(
                "SELECT count(*) FROM messages WHERE dialog_id = {dialog} AND direction = 'in'"
            )
        ),
        1,
        "a simulated client answered a real account's dialog"
    );

    // The same demo in a real browser: it says it is a demo, clients write while the page
    // is open, a dialog opens on a desktop and on a phone. With SCREENSHOTS=1 this writes
    // README's screenshots.
    let e2e = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let browser = tokio::process::Command::new("node")
        .arg(e2e.join("demo.mjs"))
        .env("APP_URL", &base)
        .env("LOGIN", "admin")
        .env("PASSWORD", "demo-admin-password")
        .env("CHROMIUM", crate::browser::chromium())
        .env(
            "SCREENSHOTS",
            std::env::var("SCREENSHOTS").unwrap_or_default(),
        )
        .kill_on_drop(true)
        .output();
    let browser = tokio::time::timeout(Duration::from_secs(180), browser)
        .await
        .expect("the demo's browser run finishes within 3 minutes")
        .expect("node runs (install Node.js)");
    let output = String::from_utf8_lossy(&browser.stdout);
    println!("{output}");
    assert!(
        browser.status.success(),
        "the demo in the browser: {output}{}",
        String::from_utf8_lossy(&browser.stderr)
    );

    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
}
