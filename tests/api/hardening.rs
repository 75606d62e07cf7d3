//! Issue #21, the outside attack: each defect it found, reproduced as the attacker did it
//! and now refused or harmless. Poison updates (NUL, a message the database refuses) on
//! webhook and polling accounts; the dashboards' stream re-checking its caller; per-user
//! and per-token stream caps; bodies bounded before they are buffered and rights checked
//! before they are read; pictures shown inline only when their bytes are pictures; the
//! idempotency store keyed per credential and never replaying a secret; slow bodies cut.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channels::{TG_SECRET, WAIT, eventually, telegram_account, telegram_hook, tg_text};
use crate::fakes::FakeChannel;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// Makes the database refuse inbound messages whose text is exactly `text` (a check
/// constraint): "a message the database rejects for another reason than NUL".
fn refuse_text(app: &TestApp, text: &str) {
    use diesel::RunQueryDsl;
    let mut conn = app.db.connect();
    diesel::sql_query(format!(
        "ALTER TABLE messages ADD CONSTRAINT test_refused CHECK (text <> '{text}')"
    ))
    .execute(&mut conn)
    .unwrap();
}

fn with_name(mut update: Value, first_name: &str) -> Value {
    update["message"]["from"]["first_name"] = json!(first_name);
    update["message"]["chat"]["first_name"] = json!(first_name);
    update
}

async fn failed_updates(app: &TestApp, account: i64) -> Vec<Value> {
    let answer = app
        .admin()
        .await
        .get(&format!("/api/v1/accounts/{account}/failed-updates"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body.as_array().unwrap().clone()
}

#[actix_web::test]
async fn h1_a_nul_or_a_refused_update_never_blocks_a_webhook_account() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = telegram_account(&app, &fake, "webhook").await;
    refuse_text(&app, "отказ");

    // NUL in the text and in the sender's name: stored, each NUL shown as U+FFFD.
    let nul = with_name(tg_text(1, 501, 1, "до\u{0}после"), "Ив\u{0}ан");
    assert_eq!(
        telegram_hook(&app, account, &nul, TG_SECRET).await,
        StatusCode::OK
    );
    // Refused by the database: acknowledged (the channel would redeliver it for ever),
    // kept with its body for the administrators.
    let refused = tg_text(2, 502, 1, "отказ");
    assert_eq!(
        telegram_hook(&app, account, &refused, TG_SECRET).await,
        StatusCode::OK
    );
    let normal = tg_text(3, 503, 1, "обычное");
    assert_eq!(
        telegram_hook(&app, account, &normal, TG_SECRET).await,
        StatusCode::OK
    );

    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE text = 'до\u{FFFD}после'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM interlocutors WHERE display_name LIKE 'Ив\u{FFFD}ан%'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE text = 'обычное'"),
        1
    );
    let failed = failed_updates(&app, account).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["raw"].as_str().unwrap().contains("отказ"),
        "{failed:?}"
    );
    assert!(
        !failed[0]["error"].as_str().unwrap().is_empty(),
        "{failed:?}"
    );

    // Only the account's administrators see them.
    let viewer = app.add_user("viewer", "viewer-password", false).await;
    app.grant(account, json!([{"user_id": viewer, "view": true}]))
        .await;
    let viewer = app.login("viewer", "viewer-password").await;
    let answer = viewer
        .get(&format!("/api/v1/accounts/{account}/failed-updates"))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
}

#[actix_web::test]
async fn h1_a_nul_or_a_refused_update_never_blocks_a_polling_account() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    refuse_text(&app, "отказ");
    fake.push_update(tg_text(10, 601, 1, "\u{0}"));
    fake.push_update(tg_text(11, 602, 1, "отказ"));
    fake.push_update(tg_text(12, 603, 1, "первое"));
    fake.push_update(tg_text(13, 603, 2, "второе"));
    let account = telegram_account(&app, &fake, "polling").await;
    eventually(
        &app,
        "SELECT count(*) FROM messages WHERE text IN ('первое', 'второе', '\u{FFFD}')",
        "3",
    )
    .await;
    // The poll moved past all four.
    let deadline = Instant::now() + WAIT;
    while !fake
        .calls("/getupdates")
        .iter()
        .any(|c| c.body["offset"] == 14)
    {
        assert!(
            Instant::now() < deadline,
            "the poll never moved past the bad updates"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = failed_updates(&app, account).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["raw"]
            .as_str()
            .unwrap()
            .contains("\"update_id\":11"),
        "{failed:?}"
    );
}

/// Creates a token through the API; (its id, its secret).
async fn token(app: &TestApp, user: i64, scopes: &[&str]) -> (i64, String) {
    let answer = app
        .admin()
        .await
        .post(
            "/api/v1/tokens",
            json!({"name": "attack", "scopes": scopes, "user_id": user}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    (
        answer.body["id"].as_i64().unwrap(),
        answer.body["token_secret"].as_str().unwrap().to_owned(),
    )
}

#[actix_web::test]
async fn h2_the_dashboard_stream_drops_a_lost_account_and_ends_on_revocation() {
    let app = spawn_app_with(|c| c.monitor_interval_secs = 1).await;
    let account = app.create_account("telegram", json!({})).await;
    let user = app.add_user("dashboard", "dashboard-password", false).await;
    app.grant(account, json!([{"user_id": user, "view": true}]))
        .await;
    let (token_id, secret) = token(&app, user, &["monitor"]).await;
    let (status, stream) = app
        .with_token(&secret)
        .events("/api/v1/monitor/events", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut stream = stream.unwrap();
    app.inbound(account, "client-1", "первый").await;
    let seen = stream.until(WAIT, |e| e.event == "status").await;
    assert!(seen.iter().any(|e| e.event == "status"), "{seen:?}");

    // The grant goes: the account's dialogs no longer reach this dashboard.
    app.grant(account, json!([])).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.inbound(account, "client-2", "второй").await;
    let seen = stream
        .until(Duration::from_secs(3), |e| e.event == "status")
        .await;
    assert!(
        !seen.iter().any(|e| e.event == "status"),
        "a lost account's dialog reached the dashboard: {seen:?}"
    );

    // The token is revoked: the open stream ends at once.
    let answer = app
        .admin()
        .await
        .delete(&format!("/api/v1/tokens/{token_id}"))
        .await;
    assert!(answer.status.is_success(), "{}", answer.text);
    assert!(
        stream.closed_within(Duration::from_secs(5)).await,
        "a revoked token's dashboard stream kept sending"
    );
}

#[actix_web::test]
async fn h3_one_credential_cannot_take_every_stream() {
    let app = spawn_app_with(|c| {
        c.max_streams_per_token = 3;
        c.max_streams_per_user = 5;
    })
    .await;
    let reader = app.add_user("reader", "reader-password", false).await;
    let (_, first) = token(&app, reader, &["read"]).await;
    let (_, second) = token(&app, reader, &["read"]).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let (status, stream) = app.with_token(&first).events("/api/v1/events", None).await;
        assert_eq!(status, StatusCode::OK);
        open.push(stream.unwrap());
    }
    let refused = app.with_token(&first).get("/api/v1/events").await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    assert_eq!(refused.error(), "too_many_streams_for_token");
    for _ in 0..2 {
        let (status, stream) = app.with_token(&second).events("/api/v1/events", None).await;
        assert_eq!(status, StatusCode::OK);
        open.push(stream.unwrap());
    }
    let refused = app.with_token(&second).get("/api/v1/events").await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    assert_eq!(refused.error(), "too_many_streams_for_user");
    // Everyone else still gets theirs.
    let (status, _admin_stream) = app.admin().await.events("/api/v1/events", None).await;
    assert_eq!(status, StatusCode::OK);
    drop(open);
}

#[actix_web::test]
async fn h4_a_view_only_user_s_reply_body_is_refused_before_it_is_read() {
    let app = spawn_app().await;
    let account = app.create_account("telegram", json!({})).await;
    let dialog = app.dialog_of(account, "client-9", "здравствуйте").await;
    let user = app.add_user("looker", "looker-password", false).await;
    app.grant(account, json!([{"user_id": user, "view": true}]))
        .await;
    let looker = app.login("looker", "looker-password").await;
    // 60 MB declared, a few bytes sent: refused at once, with and without a key.
    for key in [None, Some("reply-1")] {
        let mut request = looker
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/dialogs/{dialog}/messages"),
            )
            .header("content-type", "application/json")
            .body(big_body(60 * 1024 * 1024));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let answer = looker.send(request).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
    }
}

fn big_body(bytes: usize) -> Vec<u8> {
    let mut body = br#"{"text": ""#.to_vec();
    body.resize(bytes - 2, b'a');
    body.extend_from_slice(br#""}"#);
    body
}

/// The real binary on a database of its own, for what must be measured in its own
/// process (memory, connections): (child, port).
async fn start_binary(app: &TestApp, extra: &[&str]) -> (std::process::Child, u16) {
    let port = crate::helpers::free_port();
    let data = crate::helpers::data_dir_of(&app.db).join(format!("binary-{port}"));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_dialogi"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(&data)
        .args(extra)
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start dialogi");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "dialogi did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, port)
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[actix_web::test]
async fn h4_sixteen_concurrent_oversized_keyed_bodies_hold_no_memory() {
    let app = spawn_app().await;
    let (mut child, port) = start_binary(&app, &[]).await;
    let base = format!("http://127.0.0.1:{port}");
    let (admin, csrf) = crate::helpers::sign_in_at(
        &base,
        crate::helpers::ADMIN_LOGIN,
        crate::helpers::ADMIN_PASSWORD,
    )
    .await;
    let before = rss_bytes(child.id());
    const BODY: usize = 69 * 1024 * 1024;
    let mut sends = Vec::new();
    for i in 0..16 {
        let (admin, base, csrf) = (admin.clone(), base.clone(), csrf.clone());
        sends.push(tokio::spawn(async move {
            let request = admin
                .post(format!("{base}/api/v1/clients"))
                .header("content-type", "application/json")
                .header("x-csrf-token", csrf)
                .header("Idempotency-Key", format!("big-{i}"));
            // Half declare their length, half come chunked (no length to refuse up front).
            let request = if i % 2 == 0 {
                request.body(big_body(BODY))
            } else {
                let chunks = (0..BODY / (1024 * 1024)).map(|_| {
                    Ok::<_, std::io::Error>(actix_web::web::Bytes::from(vec![b' '; 1024 * 1024]))
                });
                request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                    chunks,
                )))
            };
            match request.send().await {
                Ok(response) => Some(response.status()),
                // The server may close the connection on a body it refused.
                Err(_) => None,
            }
        }));
    }
    let mut statuses = Vec::new();
    for send in sends {
        statuses.push(send.await.unwrap());
    }
    let after = rss_bytes(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        statuses
            .iter()
            .flatten()
            .all(|s| *s == StatusCode::PAYLOAD_TOO_LARGE),
        "{statuses:?}"
    );
    let growth = after.saturating_sub(before);
    assert!(
        growth <= 64 * 1024 * 1024,
        "the server grew by {} MB under 16 oversized bodies",
        growth / (1024 * 1024)
    );
}

#[actix_web::test]
async fn h5_only_real_pictures_are_shown_inline_and_svg_never_is() {
    let app = spawn_app().await;
    let account = app.create_account("telegram", json!({})).await;
    let dialog = app.dialog_of(account, "client-5", "файлы").await;
    let admin = app.admin().await;
    use base64::Engine as _;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let cases: [(&str, &str, &[u8], Option<&str>); 5] = [
        ("a.svg", "image/SVG+xml", svg, None),
        ("b.svg", "image/svg+xml", svg, None),
        ("c.png", "image/png", crate::fakes::PNG, Some("image/png")),
        // A picture whatever the case of its declared type.
        ("e.png", "image/PNG", crate::fakes::PNG, Some("image/png")),
        // A picture's type on something that is not one: a download.
        (
            "d.png",
            "image/png",
            b"<html><script>alert(1)</script>",
            None,
        ),
    ];
    for (name, mime, bytes, shown_as) in cases {
        let answer = admin
            .post(
                &format!("/api/v1/dialogs/{dialog}/messages"),
                json!({"text": "", "attachments": [{"file_name": name, "mime_type": mime, "content_base64": encode(bytes)}]}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        let id = answer.body["message"]["attachments"][0]["id"]
            .as_i64()
            .or_else(|| answer.body["attachments"][0]["id"].as_i64())
            .unwrap_or_else(|| panic!("an attachment id in {}", answer.text));
        // Sent to the channel as a picture exactly when it is one (one policy everywhere).
        let kind = answer.body["message"]["attachments"][0]["kind"]
            .as_str()
            .or_else(|| answer.body["attachments"][0]["kind"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            kind,
            if shown_as.is_some() { "image" } else { "file" },
            "{name}"
        );
        let file = admin.get(&format!("/api/v1/attachments/{id}")).await;
        assert_eq!(file.status, StatusCode::OK);
        let disposition = file
            .header("content-disposition")
            .unwrap_or_default()
            .to_owned();
        match shown_as {
            Some(mime) => {
                assert_eq!(file.header("content-type"), Some(mime), "{name}");
                assert!(disposition.starts_with("inline"), "{name}: {disposition}");
            }
            None => {
                assert_eq!(
                    file.header("content-type"),
                    Some("application/octet-stream"),
                    "{name}"
                );
                assert!(
                    disposition.starts_with("attachment"),
                    "{name}: {disposition}"
                );
                assert!(
                    file.header("content-security-policy")
                        .is_some_and(|csp| csp.contains("sandbox")),
                    "{name}"
                );
            }
        }
    }
}

#[actix_web::test]
async fn h6_a_token_s_secret_is_never_replayed_to_any_credential() {
    let app = spawn_app().await;
    let admin_id = app.count("SELECT id FROM users WHERE login = 'admin'");
    let (_, strong) = token(&app, admin_id, &["read", "write", "admin"]).await;
    let (_, weak) = token(&app, admin_id, &["read", "write"]).await;
    let create = |secret: &str| {
        let client = app.with_token(secret);
        async move {
            client
                .send(
                    client
                        .request(reqwest::Method::POST, "/api/v1/tokens")
                        .header("Idempotency-Key", "new-token-1")
                        .json(&json!({"name": "crm", "scopes": ["read"]})),
                )
                .await
        }
    };
    let first = create(&strong).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let secret = first.body["token_secret"].as_str().unwrap().to_owned();
    // The same key from a weaker token of the same user: its own key space, and it may
    // not create tokens at all.
    let weaker = create(&weak).await;
    assert_eq!(weaker.status, StatusCode::FORBIDDEN, "{}", weaker.text);
    assert!(!weaker.text.contains(&secret));
    // The same credential's retry: not replayed, because the answer held a secret.
    let retry = create(&strong).await;
    assert_eq!(retry.status, StatusCode::CONFLICT, "{}", retry.text);
    assert_eq!(retry.error(), "idempotent_answer_not_kept");
    assert!(!retry.text.contains(&secret));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM idempotency_keys WHERE response_body::text LIKE '%{secret}%'"
        )),
        0,
        "the secret was stored"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM auth_tokens WHERE name = 'crm'"),
        1
    );
}

#[actix_web::test]
async fn h7_fifty_slow_bodies_are_all_cut_off_within_the_timeout() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = telegram_account(&app, &fake, "webhook").await;
    let (mut child, port) = start_binary(
        &app,
        &[
            "--body-timeout-secs",
            "8",
            "--body-min-bytes-per-sec",
            "1024",
        ],
    )
    .await;
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(std::thread::spawn(move || {
            let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            socket
                .write_all(
                    format!(
                        "POST /hooks/telegram/{account} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let begun = Instant::now();
            let mut answer = Vec::new();
            // A byte every two seconds, until the server answers or closes (20 s at most).
            while begun.elapsed() < Duration::from_secs(20) {
                if socket.write_all(b"{").is_err() {
                    break;
                }
                let mut buffer = [0u8; 1024];
                match socket.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => answer.extend_from_slice(&buffer[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
                if !answer.is_empty() {
                    // Read to the end: the server closes the connection after its answer.
                    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                    let mut rest = Vec::new();
                    let closed = socket.read_to_end(&mut rest).is_ok();
                    answer.extend_from_slice(&rest);
                    return (begun.elapsed(), String::from_utf8_lossy(&answer).into_owned(), closed);
                }
            }
            (begun.elapsed(), String::from_utf8_lossy(&answer).into_owned(), false)
        }));
    }
    let results: Vec<_> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    let _ = child.kill();
    let _ = child.wait();
    for (took, answer, closed) in &results {
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{answer:?} after {took:?}"
        );
        assert!(*closed, "the connection stayed open after the 408");
        assert!(
            *took <= Duration::from_secs(11),
            "cut off only after {took:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[actix_web::test]
async fn h8_r20_a_dialog_someone_took_is_renamed_and_planned_by_them_alone() {
    let app = spawn_app().await;
    let account = app.create_account("telegram", json!({})).await;
    let anna = app.add_user("anna", "anna-password", false).await;
    let boris = app.add_user("boris", "boris-password", false).await;
    app.grant(
        account,
        json!([{"user_id": anna, "send": true}, {"user_id": boris, "send": true}]),
    )
    .await;
    let dialog = app.dialog_of(account, "client-20", "вопрос").await;
    let anna = app.login("anna", "anna-password").await;
    let boris = app.login("boris", "boris-password").await;
    let taken = anna
        .post(&format!("/api/v1/dialogs/{dialog}/accept"), json!({}))
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.text);

    let renamed = boris
        .patch(
            &format!("/api/v1/dialogs/{dialog}"),
            json!({"title": "Моё"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::CONFLICT, "{}", renamed.text);
    assert_eq!(renamed.error(), "dialog_taken");
    let task = json!({"kind": "personal", "title": "Перезвонить"});
    let planned = boris
        .post(&format!("/api/v1/dialogs/{dialog}/tasks"), task.clone())
        .await;
    assert_eq!(planned.status, StatusCode::CONFLICT, "{}", planned.text);
    assert_eq!(app.count("SELECT count(*) FROM tasks"), 0);

    // The taker may; so may the administrator.
    let renamed = anna
        .patch(
            &format!("/api/v1/dialogs/{dialog}"),
            json!({"title": "Заказ"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let planned = anna
        .post(&format!("/api/v1/dialogs/{dialog}/tasks"), task.clone())
        .await;
    assert_eq!(planned.status, StatusCode::CREATED, "{}", planned.text);
    let planned = app
        .admin()
        .await
        .post(&format!("/api/v1/dialogs/{dialog}/tasks"), task)
        .await;
    assert_eq!(planned.status, StatusCode::CREATED, "{}", planned.text);
}

#[actix_web::test]
async fn h9_a_rule_cannot_hand_dialogs_to_someone_who_may_not_answer() {
    let app = spawn_app().await;
    let account = app.create_account("telegram", json!({})).await;
    // A second account, where `sender` has no rights.
    app.create_account("vk", json!({})).await;
    let viewer = app.add_user("viewer", "viewer-password", false).await;
    let sender = app.add_user("sender", "sender-password", false).await;
    app.grant(
        account,
        json!([{"user_id": viewer, "view": true}, {"user_id": sender, "send": true}]),
    )
    .await;
    let admin = app.admin().await;
    let rule = |user: i64, account_id: Option<i64>| {
        json!({"name": "Назначить", "account_id": account_id,
               "actions": [{"type": "assign", "user_id": user}]})
    };
    // As a manual redirect to the viewer is refused, so is a rule's.
    let refused = admin
        .post("/api/v1/rules", rule(viewer, Some(account)))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    // A global rule acts on every account, the other one too, where `sender` has no rights.
    let refused = admin.post("/api/v1/rules", rule(sender, None)).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    let saved = admin
        .post("/api/v1/rules", rule(sender, Some(account)))
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);
    assert_eq!(app.count("SELECT count(*) FROM rules"), 1);
}

#[actix_web::test]
async fn h10_h11_links_other_than_http_are_not_clickable_and_overrides_leave_file_names() {
    let app = spawn_app().await;
    let fake = FakeChannel::start().await;
    let account = crate::channels::vk_account(&app, &fake, "callback").await;
    let links = json!([
        {"type": "link", "link": {"url": "javascript:alert(document.cookie)", "title": "Счёт"}},
        {"type": "link", "link": {"url": "data:text/html,<script>alert(1)</script>", "title": ""}},
        {"type": "link", "link": {"url": "https://example.org/order", "title": "Заказ"}},
        {"type": "doc", "doc": {"id": 1, "owner_id": 1, "title": "invoice\u{202E}fdp.exe", "size": 10, "ext": "exe", "url": format!("{}/media/doc.exe", fake.url)}}
    ]);
    let event = crate::channels::vk_event(
        "links-1",
        "message_new",
        crate::channels::vk_message(31, 326_596_496, "ссылки", links),
    );
    let (status, _) = crate::channels::hook(
        &app,
        &format!("/hooks/vk/{account}"),
        &serde_json::to_vec(&event).unwrap(),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, items) = crate::channels::only_dialog(&app, account).await;
    let attachments = items
        .iter()
        .find(|m| m["text"] == "ссылки")
        .map(|m| m["attachments"].as_array().unwrap().clone())
        .unwrap();
    let urls: Vec<Value> = attachments
        .iter()
        .filter(|a| a["kind"] == "link")
        .map(|a| a["url"].clone())
        .collect();
    assert_eq!(
        urls,
        vec![Value::Null, Value::Null, json!("https://example.org/order")],
        "{attachments:?}"
    );
    let names: Vec<&str> = attachments
        .iter()
        .map(|a| a["file_name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"invoicefdp.exe"), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.chars().any(|c| ('\u{202A}'..='\u{202E}').contains(&c))),
        "{names:?}"
    );
}
