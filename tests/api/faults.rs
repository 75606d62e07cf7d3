//! Faults (issue #9): PostgreSQL stops and starts again while a channel keeps delivering
//! webhooks. This test runs its own PostgreSQL cluster (the shared one serves every other
//! test), so it can stop it. Every update the channel delivers is acknowledged only once
//! it is stored; what was refused is delivered again, as Telegram does; in the end every
//! message is stored once.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::StatusCode;
use serde_json::{Value, json};

use dialogi::config::{Config, SecretString};
use dialogi::db::{
    self,
    embedded::{EmbeddedOptions, EmbeddedPostgres},
};
use dialogi::startup::Application;

use crate::channels::{TG_SECRET, tg_text};
use crate::fakes::FakeChannel;
use crate::helpers::insert_user;

/// Starts a cluster in `root` on a keeper thread; sending on the returned channel stops
/// it (and the call returns when it has stopped).
fn start_cluster(root: PathBuf) -> (String, mpsc::Sender<mpsc::Sender<()>>) {
    let (url_tx, url_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<mpsc::Sender<()>>();
    std::thread::spawn(move || {
        let options = EmbeddedOptions {
            unsafe_fast: true,
            ..EmbeddedOptions::new(&root)
        };
        let mut cluster =
            EmbeddedPostgres::start(&options).expect("start the fault test's PostgreSQL");
        url_tx.send(cluster.url("dialogi")).expect("send the URL");
        if let Ok(done) = stop_rx.recv() {
            cluster.stop();
            let _ = done.send(());
        }
    });
    (url_rx.recv().expect("the cluster's URL"), stop_tx)
}

fn stop(cluster: &mpsc::Sender<mpsc::Sender<()>>) {
    let (done_tx, done_rx) = mpsc::channel();
    cluster.send(done_tx).expect("stop the cluster");
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the cluster stops");
}

/// Signs in as the admin (cookie kept by `http`) and connects a Telegram account that
/// calls `fake`; the CSRF token and the account's webhook URL.
async fn connect_telegram(
    http: &reqwest::Client,
    address: &str,
    fake: &FakeChannel,
) -> (String, String) {
    let session: Value = http
        .post(format!("{address}/api/v1/session"))
        .json(&json!({"login": "admin", "password": "admin-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let account: Value = http
        .post(format!("{address}/api/v1/accounts"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"kind": "telegram", "name": "Telegram", "credentials": {"token": "123:test", "mode": "webhook", "webhook_secret": TG_SECRET, "api_url": fake.url}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook = format!("{address}/hooks/telegram/{}", account["id"]);
    (csrf, hook)
}

async fn webhook(http: &reqwest::Client, url: &str, update: &Value) -> StatusCode {
    http.post(url)
        .header("X-Telegram-Bot-Api-Secret-Token", TG_SECRET)
        .json(update)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

#[actix_web::test]
async fn faults_postgres_stops_and_starts_while_webhooks_flow_and_nothing_is_lost_or_doubled() {
    let root = std::env::temp_dir()
        .join("dialogi-tests")
        .join(std::process::id().to_string())
        .join("fault-postgres");
    let _ = std::fs::remove_dir_all(&root);
    let (url, cluster) = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || start_cluster(root))
            .await
            .unwrap()
    };
    {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = PgConnection::establish(&url).expect("connect");
            db::run_migrations(&mut conn).expect("migrate");
            insert_user(&mut conn, "admin", "admin-password-1", true);
        })
        .await
        .unwrap();
    }
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database_url: Some(SecretString::new(url.clone())),
        db_pool_size: 4,
        workers: Some(1),
        data_dir: root.join("data"),
        ..Config::default()
    };
    let app = Application::build(config, db::build_pool(&url, 4)).expect("build the app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let hub = app.hub();
    actix_web::rt::spawn(app.run_until_stopped());

    let fake = FakeChannel::start().await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let (_, hook) = connect_telegram(&http, &address, &fake).await;
    let updates: Vec<Value> = (1..=20)
        .map(|i| tg_text(i, 1000 + i % 4, i, &format!("сообщение {i}")))
        .collect();

    let mut refused = Vec::new();
    let mut acknowledged = 0;
    for update in &updates[..8] {
        match webhook(&http, &hook, update).await {
            StatusCode::OK => acknowledged += 1,
            _ => refused.push(update.clone()),
        }
    }
    tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || stop(&cluster)
    })
    .await
    .unwrap();
    // While the database is down: the channel is told to deliver again, and the server
    // says it is not ready.
    for update in &updates[8..11] {
        match webhook(&http, &hook, update).await {
            StatusCode::OK => acknowledged += 1,
            status => {
                assert!(status.is_server_error(), "{status}");
                refused.push(update.clone());
            }
        }
    }
    let ready = http
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);

    let (_, restarted) = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || start_cluster(root))
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        != StatusCode::OK
    {
        assert!(
            Instant::now() < deadline,
            "the server did not reconnect by itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The channel delivers the refused updates again, then the rest.
    let mut redelivered = 0;
    for update in refused.iter().chain(&updates[11..]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if webhook(&http, &hook, update).await == StatusCode::OK {
                acknowledged += 1;
                break;
            }
            assert!(Instant::now() < deadline, "an update is never accepted");
            redelivered += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // A late duplicate of an update that was stored: acknowledged, not stored again.
    assert_eq!(webhook(&http, &hook, &updates[0]).await, StatusCode::OK);

    let (stored, distinct): (i64, i64) = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            #[derive(diesel::QueryableByName)]
            struct Counts {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                stored: i64,
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                distinct_ids: i64,
            }
            let mut conn = PgConnection::establish(&url).expect("connect");
            let counts: Counts = diesel::sql_query(
                "SELECT count(*) AS stored, count(DISTINCT channel_message_id) AS distinct_ids \
                 FROM messages WHERE direction = 'in'",
            )
            .get_result(&mut conn)
            .expect("count");
            (counts.stored, counts.distinct_ids)
        })
        .await
        .unwrap()
    };
    let sent = updates.len() as i64;
    println!(
        "postgres restart: sent {sent}, acknowledged {acknowledged}, refused while down {}, \
         retries {redelivered}, stored {stored}, duplicated {}, lost {}",
        refused.len(),
        stored - distinct,
        sent - distinct
    );
    assert_eq!(stored, sent, "every update is stored once");
    assert_eq!(distinct, sent, "no duplicates");
    drop(handle.stop(false));
    hub.shutdown();
    drop(restarted);
    drop(cluster);
}

/// The real `dialogi` binary on `port`, on the database at `url`.
fn start_binary(url: &str, port: u16, data_dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_dialogi"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .env("DATABASE_URL", url)
        .env("DIALOGI_ADMIN_PASSWORD", "admin-password-1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start dialogi")
}

async fn until_ready(http: &reqwest::Client, address: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{address}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "dialogi was not ready within a minute"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// For a test of the real binary: its own database, a free port, its address and a data
/// folder named after the test.
async fn binary_place(
    test: &str,
) -> (
    crate::helpers::TestDatabase,
    u16,
    String,
    std::path::PathBuf,
) {
    let db = tokio::task::spawn_blocking(crate::helpers::TestDatabase::create)
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let address = format!("http://127.0.0.1:{port}");
    let data_dir = std::env::temp_dir()
        .join("dialogi-tests")
        .join(std::process::id().to_string())
        .join(format!("{test}-{}", db.name));
    (db, port, address, data_dir)
}

#[actix_web::test]
async fn faults_the_server_killed_mid_load_loses_no_acknowledged_message_and_sends_every_reply() {
    let (db, port, address, data_dir) = binary_place("kill").await;
    let mut server = start_binary(&db.url, port, &data_dir);
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    until_ready(&http, &address).await;
    let fake = FakeChannel::start().await;

    let (csrf, hook) = connect_telegram(&http, &address, &fake).await;

    // Five operators' replies, one per dialog, queued just before the kill.
    for chat in 1..=5 {
        assert_eq!(
            webhook(&http, &hook, &tg_text(chat, 5000 + chat, 1, "вопрос")).await,
            StatusCode::OK
        );
    }
    let dialogs: Value = http
        .get(format!("{address}/api/v1/dialogs?section=all"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (i, dialog) in dialogs["items"].as_array().unwrap().iter().enumerate() {
        let sent = http
            .post(format!(
                "{address}/api/v1/dialogs/{}/messages",
                dialog["id"]
            ))
            .header("X-CSRF-Token", &csrf)
            .json(&json!({"text": format!("ответ {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), StatusCode::CREATED);
    }

    // Inbound load from four senders; the server is killed in the middle of it.
    let updates: Vec<Value> = (100..300)
        .map(|i| tg_text(i, 7000 + i % 16, i, &format!("поток {i}")))
        .collect();
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let mut senders = Vec::new();
    for lane in 0..4 {
        let (http, hook, acknowledged) = (http.clone(), hook.clone(), acknowledged.clone());
        let mine: Vec<Value> = updates.iter().skip(lane).step_by(4).cloned().collect();
        senders.push(actix_web::rt::spawn(async move {
            let mut refused = Vec::new();
            for update in mine {
                if webhook(&http, &hook, &update).await == StatusCode::OK {
                    acknowledged
                        .lock()
                        .unwrap()
                        .push(update["update_id"].as_i64().unwrap());
                } else {
                    refused.push(update);
                }
            }
            refused
        }));
    }
    while acknowledged.lock().unwrap().len() < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().expect("SIGKILL the server");
    let _ = server.wait();
    let mut refused = Vec::new();
    for sender in senders {
        refused.extend(sender.await.unwrap());
    }
    let acknowledged_before = acknowledged.lock().unwrap().clone();

    let mut server = start_binary(&db.url, port, &data_dir);
    until_ready(&http, &address).await;
    // The channel delivers again what was not acknowledged.
    for update in &refused {
        let deadline = Instant::now() + Duration::from_secs(30);
        while webhook(&http, &hook, update).await != StatusCode::OK {
            assert!(Instant::now() < deadline, "a redelivery is never accepted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let count = |sql: &'static str| {
        let url = db.url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                #[derive(diesel::QueryableByName)]
                struct N {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                let mut conn = PgConnection::establish(&url).expect("connect");
                diesel::sql_query(sql)
                    .get_result::<N>(&mut conn)
                    .expect("count")
                    .n
            })
            .await
            .unwrap()
        }
    };
    let stored =
        count("SELECT count(*) AS n FROM messages WHERE direction = 'in' AND text LIKE 'поток %'")
            .await;
    let distinct = count("SELECT count(DISTINCT channel_message_id) AS n FROM messages WHERE direction = 'in' AND text LIKE 'поток %'").await;
    // Every reply reaches Telegram after the restart; none more than twice.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let sent = fake.calls("/sendmessage");
        let all = (0..5).all(|i| sent.iter().any(|c| c.body["text"] == format!("ответ {i}")));
        if all {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a reply was never sent after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent = fake.calls("/sendmessage");
    let most = (0..5)
        .map(|i| {
            sent.iter()
                .filter(|c| c.body["text"] == format!("ответ {i}"))
                .count()
        })
        .max()
        .unwrap_or(0);
    let total = updates.len() as i64;
    println!(
        "kill -9 mid-load: sent {total}, acknowledged before the kill {}, redelivered {}, stored {stored}, \
         duplicated {}, lost {}; replies 5, sent at most {most} times each",
        acknowledged_before.len(),
        refused.len(),
        stored - distinct,
        total - distinct
    );
    assert_eq!(stored, total, "every update is stored");
    assert_eq!(distinct, total, "none twice");
    assert!(most <= 2, "a reply went out {most} times");
    server.kill().ok();
    let _ = server.wait();
    drop(db);
}

#[actix_web::test]
async fn faults_a_channel_answering_garbage_is_retried_until_it_answers_properly() {
    let app = crate::helpers::spawn_app().await;
    let fake = FakeChannel::start().await;
    let telegram = crate::channels::telegram_account(&app, &fake, "webhook").await;
    let vk = crate::channels::vk_account(&app, &fake, "callback").await;
    crate::channels::telegram_hook(&app, telegram, &tg_text(1, 31, 1, "привет"), TG_SECRET).await;
    let event = crate::channels::vk_event(
        "g1",
        "message_new",
        crate::channels::vk_message(1, 32, "привет", json!([])),
    );
    crate::channels::hook(
        &app,
        &format!("/hooks/vk/{vk}"),
        &serde_json::to_vec(&event).unwrap(),
        &[],
    )
    .await;
    // Each channel answers its first send with an HTML error page.
    fake.schedule(&[crate::fakes::Answer::Garbage, crate::fakes::Answer::Garbage]);
    let admin = app.admin().await;
    for account in [telegram, vk] {
        let dialog = app.count(&format!(
            "SELECT id FROM dialogs WHERE account_id = {account}"
        ));
        let sent = admin
            .post(
                &format!("/api/v1/dialogs/{dialog}/messages"),
                json!({"text": "ответ"}),
            )
            .await;
        assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    }
    crate::channels::eventually(
        &app,
        "SELECT count(*) FROM messages WHERE direction = 'out' AND delivery = 'sent'",
        "2",
    )
    .await;
    let attempts = app.count("SELECT sum(attempts) FROM outbox");
    assert_eq!(attempts, 4, "one garbage answer and one success each");
}

#[actix_web::test]
async fn hostile_input_oversize_bodies_unicode_and_huge_texts() {
    let app = crate::helpers::spawn_app().await;
    let fake = FakeChannel::start().await;
    let telegram = crate::channels::telegram_account(&app, &fake, "webhook").await;
    let path = format!("/hooks/telegram/{telegram}");
    // Over the 1 MB webhook limit: refused, nothing stored.
    let huge = vec![b' '; 2 * 1024 * 1024];
    let (status, _) = crate::channels::hook(
        &app,
        &path,
        &huge,
        &[("X-Telegram-Bot-Api-Secret-Token", TG_SECRET.into())],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Right-to-left text, zero-width joiners and 4-byte emoji are kept exactly.
    let tricky = "שלום \u{200f}مرحبا\u{200d} 👩‍👩‍👧 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{feff}конец";
    assert_eq!(
        crate::channels::telegram_hook(&app, telegram, &tg_text(1, 41, 1, tricky), TG_SECRET).await,
        StatusCode::OK
    );
    let stored = crate::channels::text_of(
        &app,
        "SELECT text FROM messages WHERE channel_message_id = '41:1'",
    );
    assert_eq!(stored.as_deref(), Some(tricky));
    let found = app
        .admin()
        .await
        .get("/api/v1/dialogs?q=%F0%9F%91%A9")
        .await;
    assert_eq!(
        found.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        found.text
    );
    // A text longer than what is stored is cut, not refused (a refusal would come back forever).
    let long: String = "я".repeat(150_000);
    assert_eq!(
        crate::channels::telegram_hook(&app, telegram, &tg_text(2, 42, 1, &long), TG_SECRET).await,
        StatusCode::OK
    );
    assert_eq!(
        app.count("SELECT length(text) FROM messages WHERE channel_message_id = '42:1'"),
        100_000
    );
}

/// How long a timing-out channel holds a send: longer than the accounts' `timeout_secs`.
const HOLD: Duration = Duration::from_secs(3);

/// One account of each channel, calling a fake of its own with a 1-second call timeout,
/// each with a dialog opened by an inbound message: (kind, fake, account, dialog).
async fn accounts_with_short_timeouts(
    app: &crate::helpers::TestApp,
) -> Vec<(&'static str, FakeChannel, i64)> {
    use crate::channels::{VK_SECRET, hook, telegram_hook, vk_event, vk_message};
    let mut made = Vec::new();
    for kind in ["telegram", "vk", "viber", "whatsapp"] {
        let fake = FakeChannel::start().await;
        let credentials = match kind {
            "telegram" => {
                json!({"token": "123:test", "mode": "webhook", "webhook_secret": TG_SECRET, "api_url": fake.url})
            }
            "vk" => json!({"group_id": 4242, "access_token": "vk-token", "secret": VK_SECRET,
                           "confirmation": "c", "mode": "callback", "api_url": format!("{}/method", fake.url)}),
            "viber" => json!({"auth_token": "viber-token", "api_url": format!("{}/pa", fake.url)}),
            _ => json!({"phone_number_id": "106540352242922", "access_token": "wa-token",
                        "app_secret": "wa-secret", "verify_token": "v", "api_url": fake.url}),
        };
        let mut credentials = credentials;
        credentials["timeout_secs"] = json!(1);
        let account = app
            .create_account(kind, json!({"credentials": credentials}))
            .await;
        let status = match kind {
            "telegram" => {
                telegram_hook(app, account, &tg_text(1, 61, 1, "вопрос"), TG_SECRET).await
            }
            "vk" => {
                let event = vk_event("t1", "message_new", vk_message(1, 62, "вопрос", json!([])));
                hook(
                    app,
                    &format!("/hooks/vk/{account}"),
                    &serde_json::to_vec(&event).unwrap(),
                    &[],
                )
                .await
                .0
            }
            "viber" => {
                let body = serde_json::to_vec(
                    &json!({"event": "message", "timestamp": 1_687_200_046_080_u64,
                    "message_token": 5_851_650_804_048_782_400_u64,
                    "sender": {"id": "viber-user-63", "name": "Дарья", "api_version": 10},
                    "message": {"type": "text", "text": "вопрос"}, "silent": false}),
                )
                .unwrap();
                let signature = dialogi::channels::hmac_hex(b"viber-token", &body);
                hook(
                    app,
                    &format!("/hooks/viber/{account}"),
                    &body,
                    &[("X-Viber-Content-Signature", signature)],
                )
                .await
                .0
            }
            _ => {
                let body = serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                    "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505550064"}],
                    "messages": [{"from": "16505550064", "id": "wamid.T1", "timestamp": "1739321024",
                                  "type": "text", "text": {"body": "вопрос"}}]}}]}]}))
                .unwrap();
                let signature = format!(
                    "sha256={}",
                    dialogi::channels::hmac_hex(b"wa-secret", &body)
                );
                hook(
                    app,
                    &format!("/hooks/whatsapp/{account}"),
                    &body,
                    &[("X-Hub-Signature-256", signature)],
                )
                .await
                .0
            }
        };
        assert_eq!(status, StatusCode::OK, "{kind}: the inbound message");
        made.push((kind, fake, account));
    }
    made
}

/// The text of a send call as each channel's API carries it.
fn sent_text(body: &Value) -> Option<&str> {
    body["text"]["body"]
        .as_str()
        .or_else(|| body["text"].as_str())
        .or_else(|| body["message"].as_str())
}

/// Replies `text` in the account's dialog after scheduling `answer` on its fake; waits
/// until every reply is marked sent; then (sent, attempts, delivered to the chat).
async fn reply_through_a_slow_channel(
    app: &crate::helpers::TestApp,
    accounts: &[(&'static str, FakeChannel, i64)],
    answer: crate::fakes::Answer,
    text: &str,
) -> Vec<(&'static str, i64, usize)> {
    let admin = app.admin().await;
    let mut messages = Vec::new();
    for (_, fake, account) in accounts {
        fake.schedule(&[answer]);
        let dialog = app.count(&format!(
            "SELECT id FROM dialogs WHERE account_id = {account}"
        ));
        let sent = admin
            .post(
                &format!("/api/v1/dialogs/{dialog}/messages"),
                json!({"text": text}),
            )
            .await;
        assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
        messages.push(sent.body["message"]["id"].as_i64().unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for ((kind, _, _), message) in accounts.iter().zip(&messages) {
        loop {
            let delivery = crate::channels::text_of(
                app,
                &format!("SELECT delivery FROM messages WHERE id = {message}"),
            );
            if delivery.as_deref() == Some("sent") {
                break;
            }
            assert_ne!(
                delivery.as_deref(),
                Some("failed"),
                "{kind}: a timeout is not a failure"
            );
            assert!(
                Instant::now() < deadline,
                "{kind}: the reply was never sent ({delivery:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A late answer's delivery lands after the retry's: wait it out.
    tokio::time::sleep(HOLD).await;
    accounts
        .iter()
        .zip(&messages)
        .map(|((kind, fake, _), message)| {
            let attempts = app.count(&format!(
                "SELECT attempts FROM outbox WHERE message_id = {message}"
            ));
            let delivered = fake
                .delivered()
                .iter()
                .filter(|body| sent_text(body) == Some(text))
                .count();
            (*kind, attempts, delivered)
        })
        .collect()
}

#[actix_web::test]
async fn faults_a_channel_api_that_times_out_gets_the_reply_once_and_at_most_once_more_without_a_key()
 {
    let app = crate::helpers::spawn_app().await;
    let accounts = accounts_with_short_timeouts(&app).await;

    // The channel holds the request past the client's timeout and never acts on it: the
    // outbox retries, and the reply reaches the chat exactly once on every channel.
    let hung = reply_through_a_slow_channel(
        &app,
        &accounts,
        crate::fakes::Answer::Hang(HOLD),
        "ответ после зависания",
    )
    .await;
    for (kind, attempts, delivered) in &hung {
        println!(
            "channel hangs ({kind}): sent 1, timed out {}, attempts {attempts}, delivered {delivered}, \
             duplicated {}, lost {}",
            attempts - 1,
            delivered.saturating_sub(1),
            1 - (*delivered).min(1)
        );
        assert_eq!(*delivered, 1, "{kind}: the reply reaches the chat once");
        assert_eq!(
            *attempts, 2,
            "{kind}: one timed-out attempt, one that went through"
        );
    }

    // The channel delivers but answers too late: the sender cannot know, and retries. VK
    // drops the retry (the same random_id); Telegram, Viber and WhatsApp have no such key
    // and may show it twice — the documented limit (docs/GUARANTEES.md), never more.
    let late = reply_through_a_slow_channel(
        &app,
        &accounts,
        crate::fakes::Answer::LateOk(HOLD),
        "ответ с опоздавшим подтверждением",
    )
    .await;
    for (kind, attempts, delivered) in &late {
        println!(
            "channel answers late ({kind}): sent 1, timed out {}, attempts {attempts}, delivered {delivered}, \
             duplicated {}, lost {}",
            attempts - 1,
            delivered.saturating_sub(1),
            1 - (*delivered).min(1)
        );
        assert!(*delivered >= 1, "{kind}: the reply is lost");
        if *kind == "vk" {
            assert_eq!(*delivered, 1, "vk: random_id keeps a retry from doubling");
        } else {
            assert!(*delivered <= 2, "{kind}: delivered {delivered} times");
        }
    }
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE direction = 'out' AND delivery <> 'sent'"),
        0
    );
}

/// The largest file the server may write on the "nearly full disk" (RLIMIT_FSIZE): small
/// files fit, the fake's big file ([`crate::fakes::BIG_FILE_BYTES`]) does not.
const FILE_SIZE_LIMIT: u64 = 64 * 1024;

/// The real `dialogi` binary whose writes to files stop at [`FILE_SIZE_LIMIT`] bytes: a
/// write past it fails half-way (EFBIG), as on a disk that fills during the write. No
/// mount, no root: a resource limit of the child process. Its log lines are collected.
#[allow(unsafe_code)]
fn start_binary_on_a_nearly_full_disk(
    url: &str,
    port: u16,
    data_dir: &std::path::Path,
) -> (
    std::process::Child,
    std::sync::Arc<std::sync::Mutex<String>>,
) {
    use std::io::Read as _;
    use std::os::unix::process::CommandExt as _;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dialogi"));
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .env("DATABASE_URL", url)
        .env("DIALOGI_ADMIN_PASSWORD", "admin-password-1")
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        // A pipe, not a file: the file size limit does not apply to it.
        .stderr(std::process::Stdio::piped());
    // SAFETY: between fork and exec the child only calls setrlimit and signal, both
    // async-signal-safe; nothing is allocated and no lock is taken.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: FILE_SIZE_LIMIT,
                rlim_max: FILE_SIZE_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Past the limit a write fails with EFBIG instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = command.spawn().expect("start dialogi");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stderr = child.stderr.take().expect("the server's stderr");
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    (child, log)
}

/// Every file in the media folder: (name, size).
fn media_files(data_dir: &std::path::Path) -> Vec<(String, u64)> {
    std::fs::read_dir(data_dir.join("media"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                    (e.file_name().to_string_lossy().into_owned(), size)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[actix_web::test]
async fn faults_a_full_disk_refuses_uploads_with_507_keeps_inbound_messages_and_leaves_no_half_file()
 {
    use base64::Engine as _;
    let (db, port, address, data_dir) = binary_place("full-disk").await;
    let (mut server, log) = start_binary_on_a_nearly_full_disk(&db.url, port, &data_dir);
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    until_ready(&http, &address).await;
    let fake = FakeChannel::start().await;
    let (csrf, hook) = connect_telegram(&http, &address, &fake).await;
    let sql = |query: String| {
        let url = db.url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                #[derive(diesel::QueryableByName)]
                struct Row {
                    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
                    t: Option<String>,
                }
                let mut conn = PgConnection::establish(&url).expect("connect");
                diesel::sql_query(format!("SELECT ({query})::text AS t"))
                    .get_result::<Row>(&mut conn)
                    .expect("query")
                    .t
            })
            .await
            .unwrap()
        }
    };

    // Inbound: a photo too big for the disk. The message is stored and acknowledged; its
    // file is not, and says so when opened.
    let photo = json!({"update_id": 1, "message": {"message_id": 1, "date": 1_700_000_002,
        "chat": {"id": 71, "type": "private", "first_name": "Иван"},
        "from": {"id": 71, "is_bot": false, "first_name": "Иван"},
        "photo": [{"file_id": "big-photo", "file_unique_id": "ub", "file_size": crate::fakes::BIG_FILE_BYTES, "width": 900, "height": 900}],
        "caption": "большое фото"}});
    assert_eq!(webhook(&http, &hook, &photo).await, StatusCode::OK);
    let attachment = sql("SELECT a.id FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.text = 'большое фото'".into())
        .await
        .expect("the inbound message and its attachment are stored");
    // The download right after the commit fails to store the file, and logs why.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.lock().unwrap().contains("media not stored") {
        assert!(
            Instant::now() < deadline,
            "no log line about the file: {}",
            log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let opened = http
        .get(format!("{address}/api/v1/attachments/{attachment}"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body: Value = opened.json().await.unwrap();
    assert_eq!(body["error"], "storage_full", "{body}");
    assert!(body["message"].as_str().unwrap().contains("full"), "{body}");
    assert_eq!(
        sql(format!(
            "SELECT storage_path FROM attachments WHERE id = {attachment}"
        ))
        .await,
        None,
        "a file that was not stored is not recorded as stored"
    );

    // Uploads: a reply whose files do not fit is refused whole with 507 and stores
    // nothing; a reply with a small file still goes.
    let dialog = sql("SELECT max(id) FROM dialogs".into()).await.unwrap();
    let file = |name: &str, bytes: &[u8]| {
        json!({"file_name": name, "mime_type": "image/png",
               "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes)})
    };
    let reply = |body: Value| {
        let (http, csrf) = (http.clone(), csrf.clone());
        let url = format!("{address}/api/v1/dialogs/{dialog}/messages");
        async move {
            let answer = http
                .post(url)
                .header("X-CSRF-Token", csrf)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = answer.status();
            (status, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let big = crate::fakes::big_file();
    let (status, refused) = reply(json!({"text": "не влезет",
        "attachments": [file("small.png", crate::fakes::PNG), file("big.png", &big)]}))
    .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{refused}");
    assert_eq!(refused["error"], "storage_full", "{refused}");
    let (status, small) =
        reply(json!({"text": "влезет", "attachments": [file("small.png", crate::fakes::PNG)]}))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    let stored_refused = sql("SELECT count(*) FROM messages WHERE text = 'не влезет'".into())
        .await
        .unwrap();
    assert_eq!(stored_refused, "0", "a refused reply leaves no message");

    // No half-written file, no file of the refused reply: every file in the media folder
    // is an attachment's, whole.
    let check_files = || async {
        let files = media_files(&data_dir);
        for (name, size) in &files {
            let recorded = sql(format!(
                "SELECT size_bytes FROM attachments WHERE storage_path = '{}'",
                name.replace('\'', "''")
            ))
            .await;
            assert_eq!(
                recorded,
                Some(size.to_string()),
                "{name} ({size} bytes) is not a whole file of an attachment"
            );
        }
        files.len()
    };
    let files_while_full = check_files().await;

    // Space is freed (the server restarts without the limit): the same attachment is
    // fetched again and served whole, and the refused reply goes through.
    server.kill().ok();
    let _ = server.wait();
    let mut server = start_binary(&db.url, port, &data_dir);
    until_ready(&http, &address).await;
    let opened = http
        .get(format!("{address}/api/v1/attachments/{attachment}"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    assert_eq!(opened.bytes().await.unwrap().as_ref(), big.as_slice());
    let (status, retried) = reply(json!({"text": "не влезет",
        "attachments": [file("small.png", crate::fakes::PNG), file("big.png", &big)]}))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{retried}");
    let files_after = check_files().await;
    let half_files = media_files(&data_dir)
        .iter()
        .filter(|(name, _)| name.ends_with(".part"))
        .count();
    println!(
        "full disk: inbound 1, acknowledged 1, stored 1, file refused while full 1 (507), served whole after space came back 1; \
         replies 2 while full: refused 1 (507), sent 1; files on disk while full {files_while_full}, after {files_after}; \
         half-written 0 (found {half_files}), duplicated 0, lost 0"
    );
    assert_eq!(half_files, 0);
    server.kill().ok();
    let _ = server.wait();
    drop(db);
}
